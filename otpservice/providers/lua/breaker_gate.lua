-- May this send use the provider? KEYS[1] breaker hash (under {g}).
-- ARGV: probe token, probe lease ms.
-- Returns {"closed"} | {"probe"} (this caller holds the one half-open probe) | {"open", wait_ms}.
local key = KEYS[1]
local token, lease = ARGV[1], tonumber(ARGV[2])
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local st = redis.call("HGET", key, "st")
if not st or st == "closed" then
  return {"closed"}
end
local free_at
if st == "open" then
  free_at = tonumber(redis.call("HGET", key, "until") or "0")
else -- half: someone probes until the lease runs out
  free_at = tonumber(redis.call("HGET", key, "pexp") or "0")
end
if now < free_at then
  return {"open", tostring(free_at - now)}
end
redis.call("HSET", key, "st", "half", "probe", token, "pexp", now + lease)
redis.call("PEXPIRE", key, math.max(redis.call("PTTL", key), lease * 2))
return {"probe"}
