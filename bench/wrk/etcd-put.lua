-- etcd's v3 put through its HTTP API, a new key each time. Keys and values travel in base64: KEY_PREFIX is the
-- base64 of the registry's key prefix, then PREFIX (4 base64 characters, one per run) and an 8-digit counter, which
-- are base64 characters too, so the whole key is valid base64 of a unique key. VALUE: the stored record, in base64.
local key_prefix = os.getenv("KEY_PREFIX") .. os.getenv("PREFIX")
local value = os.getenv("VALUE")
local i = 0

request = function()
  i = i + 1
  local body = '{"key":"' .. key_prefix .. string.format("%08d", i) .. '","value":"' .. value .. '"}'
  return wrk.format("POST", "/v3/kv/put", { ["Content-Type"] = "application/json" }, body)
end
