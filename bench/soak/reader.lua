-- wrk script for bench/soak/soak.sh: the reading side of the soak. Each
-- thread (one connection per thread) lists the caller's worlds, then pages
-- through each world's whole timeline, 100 events a request, without pause:
-- a reader that is practically always inside a read transaction somewhere,
-- which is what could keep the WAL from ever being reset.
-- Environment: SOAK_TOKEN, SOAK_READ_DELAY_MS (pause before each request).

local token = os.getenv("SOAK_TOKEN") or ""
local pause = tonumber(os.getenv("SOAK_READ_DELAY_MS") or "0")
local headers = { ["Authorization"] = "Bearer " .. token }

local worlds = {}   -- ids still to read in this round
local world, cursor

function delay()
  return pause
end

function request()
  if world == nil then
    world = table.remove(worlds, 1)
    cursor = nil
  end
  if world == nil then
    return wrk.format("GET", "/v1/worlds?limit=100", headers)
  end
  local path = "/v1/worlds/" .. world .. "/events?limit=100"
  if cursor then path = path .. "&after=" .. cursor end
  return wrk.format("GET", path, headers)
end

function response(status, headers, body)
  if world == nil then
    if status == 200 then
      -- A world object has no other "id" field.
      for id in body:gmatch('"id":(%d+)') do table.insert(worlds, id) end
    end
    return
  end
  -- A world deleted under the reader answers 404: on to the next one.
  cursor = (status == 200) and body:match('"next_after":"(%d+)"') or nil
  if cursor == nil then world = nil end
end
