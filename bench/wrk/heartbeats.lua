-- Heartbeats round the 10,000 leased instances bench/registry.mjs registers: hb-(I mod 100)/hbI.
local h = 0

request = function()
  local n = h % 10000
  h = h + 1
  return wrk.format("PUT", "/v1/services/hb-" .. (n % 100) .. "/instances/hb" .. n .. "/heartbeat")
end
