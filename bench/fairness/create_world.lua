-- wrk script for bench/fairness/fairness.sh: the other tenant. Each request
-- creates a world (POST /v1/worlds, a write transaction), paced by
-- FAIRNESS_DELAY_MS so the measure is the latency of a steady, modest stream
-- of writes rather than of wrk's own queue.
-- Environment: FAIRNESS_TOKEN (bearer), FAIRNESS_DELAY_MS.

local token = os.getenv("FAIRNESS_TOKEN") or ""
local pause = tonumber(os.getenv("FAIRNESS_DELAY_MS") or "10")
local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
local n = 0

function delay()
  return pause
end

function request()
  n = n + 1
  return wrk.format("POST", "/v1/worlds", headers, string.format('{"name":"light %d","seed":%d}', n, n))
end
