-- Check, step 1 (phone tag): take one attempt before any hashing.
-- The attempt is counted as a failure right away (fail closed); check_approve gives it back.
-- KEYS[1] verification hash   KEYS[2] failure streak for phone+network   KEYS[3] failures 24 h (zset)
-- ARGV[1] client  ARGV[2] rid ("" = any, for lookups by phone)  ARGV[3] attempt token
-- ARGV[4] free failures  ARGV[5] delay base ms  ARGV[6] delay cap ms  ARGV[7] daily failure cap
-- Returns {"ok", rid, hash, attempts_left, purpose} | {"limited", policy, retry_ms}
--       | {"notfound", reason}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local day = 86400000

local v = redis.call('HMGET', KEYS[1], 'st', 'c', 'rid', 'a', 'ex', 'h', 'pu')
if not v[1] or v[2] ~= ARGV[1] or (ARGV[2] ~= '' and v[3] ~= ARGV[2]) then
  return {'notfound', 'unknown'}
end
if v[1] ~= 'pending' then return {'notfound', v[1]} end
if tonumber(v[5]) <= now then return {'notfound', 'expired'} end

local wait = tonumber(redis.call('HGET', KEYS[2], 'u') or '0') - now
if wait > 0 then return {'limited', 'check_delay', tostring(wait)} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - day)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[7]) then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {'limited', 'check_daily_failures', tostring(tonumber(oldest[2]) + day - now)}
end

local left = tonumber(v[4])
if left <= 0 then return {'notfound', 'max_attempts_reached'} end
redis.call('HSET', KEYS[1], 'a', left - 1)

redis.call('ZADD', KEYS[3], now, ARGV[3])
redis.call('PEXPIRE', KEYS[3], day)
local streak = redis.call('HINCRBY', KEYS[2], 'n', 1)
local free = tonumber(ARGV[4])
if streak >= free then
  local delay = math.floor(math.min(tonumber(ARGV[6]), tonumber(ARGV[5]) * 2 ^ (streak - free)))
  redis.call('HSET', KEYS[2], 'u', now + delay)
end
redis.call('PEXPIRE', KEYS[2], day)
return {'ok', v[3], v[6], tostring(left - 1), v[7]}
