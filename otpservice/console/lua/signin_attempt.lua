-- A sign-in attempt to the console from one network, throttled the way checks are: the
-- first `free` attempts go ahead at once; after them each waits base * 2^(n - free) ms
-- (capped) after the previous one. The attempt is counted before the key is compared, so
-- guesses sent in parallel all count; a right key clears the count (mode "ok").
-- KEYS[1]  otp:{g}:cs:f:<network>   hash: n = attempts not yet cleared, t = last one (ms)
-- ARGV     mode ("try" | "ok"), free, base_ms, cap_ms, keep_ms
-- Returns  0 when the attempt may go ahead (and is counted), else the ms still to wait.
local key = KEYS[1]
if ARGV[1] == "ok" then
  redis.call("DEL", key)
  return 0
end
local free = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local keep = tonumber(ARGV[5])
local clock = redis.call("TIME")
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local n = tonumber(redis.call("HGET", key, "n") or "0")
local last = tonumber(redis.call("HGET", key, "t") or "0")
if n >= free then
  local delay = math.min(cap, base * 2 ^ (n - free))
  local wait = last + delay - now
  if wait > 0 then
    return math.ceil(wait)
  end
end
redis.call("HSET", key, "n", n + 1, "t", now)
redis.call("PEXPIRE", key, keep)
return 0
