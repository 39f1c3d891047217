-- Unique registrations, as bench/registry.mjs's instanceBody shapes them: PUT /v1/services/reg-N/instances/<PREFIX>-I
-- (PREFIX: one per run, so that every run creates instances and none updates one).
local prefix = os.getenv("PREFIX")
local i = 0

request = function()
  i = i + 1
  local body = string.format('{"host":"10.%d.%d.%d","port":8080,"ttl":"15m","tags":["v1"]}',
    math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256)
  return wrk.format("PUT", "/v1/services/reg-" .. (i % 1000) .. "/instances/" .. prefix .. "-" .. i,
    { ["Content-Type"] = "application/json" }, body)
end
