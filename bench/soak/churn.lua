-- wrk script for bench/soak/soak.sh: the writing side of the soak. Each wrk
-- thread (run it with as many connections as threads: responses are matched
-- to the one request in flight) walks worlds through their life: create,
-- generate personas, wait for the job, run a few small simulations (waiting
-- for each), read the world back, and delete the oldest world once it holds
-- more than SOAK_KEEP_WORLDS. Deleting is what keeps the domain tables from
-- growing for the whole run, so a growing database points at the job table.
-- Environment: SOAK_TOKEN (bearer), SOAK_CHURN_DELAY_MS (pause before each
-- request), SOAK_KEEP_WORLDS.

local token = os.getenv("SOAK_TOKEN") or ""
local pause = tonumber(os.getenv("SOAK_CHURN_DELAY_MS") or "10")
local keep = tonumber(os.getenv("SOAK_KEEP_WORLDS") or "8")
local sims_per_world = 3
local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }

local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local ring = {}        -- live worlds of this thread, oldest first
local step = "create"  -- what request() sends next
local after_wait       -- the step after the awaited job succeeded
local world, job, sims, reads, polls = nil, nil, 0, 0, 0
local sent             -- kind of the request in flight

function init(args)
  math.randomseed(os.time() * 100 + (tid or 0))
end

function delay()
  return pause
end

local function post(path, body) return wrk.format("POST", path, headers, body) end
local function get(path) return wrk.format("GET", path, headers) end

function request()
  if step == "create" and #ring >= keep then
    sent = "delete"
    return wrk.format("DELETE", "/v1/worlds/" .. table.remove(ring, 1), headers)
  end
  sent = step
  if step == "create" then
    return post("/v1/worlds", string.format('{"name":"soak %d","seed":%d}', tid or 0, math.random(0, 1000000000)))
  elseif step == "generate" then
    return post("/v1/worlds/" .. world .. "/personas:generate", string.format('{"count":%d}', math.random(6, 12)))
  elseif step == "simulate" then
    return post("/v1/worlds/" .. world .. "/simulations", string.format('{"ticks":%d}', math.random(10, 40)))
  elseif step == "wait" then
    return get("/v1/jobs/" .. job)
  else -- read: the world, a page of its events, its personas, its simulations
    local paths = { "", "/events?limit=100", "/personas?limit=50", "/simulations" }
    return get("/v1/worlds/" .. world .. paths[reads % #paths + 1])
  end
end

function response(status, headers, body)
  if status >= 300 then
    -- A refused or lost request (its world deleted, its job already pruned)
    -- starts a new world rather than retrying forever; the API's own
    -- metrics count the statuses.
    if sent ~= "delete" then step = "create" end
    return
  end
  if sent == "create" then
    world = body:match('"id":(%d+)')
    table.insert(ring, world)
    sims = 0
    step = "generate"
  elseif sent == "generate" or sent == "simulate" then
    -- The job object is the first one in both answers.
    job = body:match('"job":{.-"id":(%d+)')
    after_wait = (sent == "generate") and "simulate" or "read"
    if sent == "simulate" then sims = sims + 1 end
    polls = 0
    step = "wait"
  elseif sent == "wait" then
    local state = body:match('"state":"(%a+)"')
    polls = polls + 1
    if state == "succeeded" then
      reads = 0
      step = after_wait
    elseif state ~= "queued" and state ~= "running" or polls > 3000 then
      step = "create"
    end
  elseif sent == "read" then
    reads = reads + 1
    if reads >= 4 then step = (sims < sims_per_world) and "simulate" or "create" end
  end
end
