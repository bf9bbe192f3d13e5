-- The outcome of one send through the provider. KEYS[1] breaker hash, KEYS[2] the shared
-- event stream (both under {g}).
-- ARGV: outcome ("ok"|"fail"), probe token ("" when not probing), window ms,
--       min failures, failure rate, cool-off ms, provider name, result code of a failure.
-- Returns {state after, transition ("" | "opened" | "closed")}.
local key, stream = KEYS[1], KEYS[2]
local ok = ARGV[1] == "ok"
local token = ARGV[2]
local window, min_failures = tonumber(ARGV[3]), tonumber(ARGV[4])
local rate, cooloff = tonumber(ARGV[5]), tonumber(ARGV[6])
local name, reason = ARGV[7], ARGV[8]
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = (window + cooloff) * 2
local st = redis.call("HGET", key, "st") or "closed"

local function open(failures, sends, probe)
  redis.call("DEL", key)
  redis.call("HSET", key, "st", "open", "until", now + cooloff)
  redis.call("PEXPIRE", key, ttl)
  emit_event(stream, "provider.breaker_opened", "", "", "", "", "", {
    provider = name, failures = failures, sends = sends, probe = probe,
    cooloff_seconds = cooloff / 1000, result_code = reason,
  })
  return {"open", "opened"}
end

if st == "half" then
  if token == "" or redis.call("HGET", key, "probe") ~= token then
    return {st, ""} -- a send that started before the breaker opened: it decides nothing
  end
  if not ok then
    return open(1, 1, true)
  end
  redis.call("DEL", key)
  emit_event(stream, "provider.breaker_closed", "", "", "", "", "", {provider = name})
  return {"closed", "closed"}
end
if st == "open" then
  return {st, ""}
end
-- closed: count in a fixed window
local ws = tonumber(redis.call("HGET", key, "ws") or "0")
if now - ws >= window then
  redis.call("HSET", key, "st", "closed", "ws", now, "n", 0, "f", 0)
end
local n = redis.call("HINCRBY", key, "n", 1)
local f = tonumber(redis.call("HGET", key, "f") or "0")
if not ok then
  f = redis.call("HINCRBY", key, "f", 1)
end
redis.call("PEXPIRE", key, ttl)
if not ok and min_failures > 0 and f >= min_failures and f >= rate * n then
  return open(f, n, false)
end
return {"closed", ""}
