-- Check, step 1 (phone tag): take one attempt before any hashing.
-- The attempt is counted as a failure right away (fail closed); check_approve gives it back.
-- KEYS[1] verification   KEYS[2] failure streak for phone+network   KEYS[3] failures 24 h (zset)
-- KEYS[4] trust marker ("network\ndevice" that last approved)
-- KEYS[5] the partition's refusal counts for today
-- ARGV[1] client  ARGV[2] rid, binary ("" = any, for lookups by phone)  ARGV[3] attempt token
-- ARGV[4] free failures  ARGV[5] delay base ms  ARGV[6] delay cap ms  ARGV[7] daily failure cap
-- ARGV[8] checker's network  ARGV[9] checker's device  ARGV[10] daily cap of a test number
-- ARGV[11] the day's length in ms   ARGV[12] refusal counts' ttl ms
-- A check that finds nothing pending counts as policy "not_found"; a delayed one by its policy.
-- Returns {"ok", rid, hash, attempts_left, purpose, previous hash or "", phone (E.164)}
--       | {"limited", policy, retry_ms}
--       | {"notfound", reason}
local now = now_ms()
local function refuse(policy, retry_ms, country)
  count_refusal(KEYS[5], ARGV[12], ARGV[1], policy, country)
  return {'limited', policy, tostring(retry_ms)}
end
local function not_found(reason, country)
  count_refusal(KEYS[5], ARGV[12], ARGV[1], 'not_found', country)
  return {'notfound', reason}
end
local day = tonumber(ARGV[11])

local v = load_verification(KEYS[1])
if not v or v[CLIENT] ~= ARGV[1] or (ARGV[2] ~= '' and v[RID] ~= ARGV[2]) then
  return not_found('unknown', '')
end
if v[STATUS] ~= 'pending' then return not_found(v[STATUS], v[COUNTRY]) end
if v[EXPIRES] <= now then return not_found('expired', v[COUNTRY]) end

local wait = tonumber(redis.call('HGET', KEYS[2], 'u') or '0') - now
if wait > 0 then return refuse('check_delay', wait, v[COUNTRY]) end

-- The phone-wide cap spares the network or device that last approved here, so failures from
-- elsewhere cannot lock the person out; a test number's fixed code gets its own small cap.
local cap = tonumber(ARGV[7])
if v[TEST] == 1 then
  cap = tonumber(ARGV[10])
else
  local marker = redis.call('GET', KEYS[4])
  if marker then
    local net, dev = string.match(marker, '^([^\n]*)\n(.*)$')
    if (ARGV[8] ~= '-' and ARGV[8] == net) or (ARGV[9] ~= '' and ARGV[9] == dev) then cap = 0 end
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - day)
if cap > 0 and redis.call('ZCARD', KEYS[3]) >= cap then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return refuse('check_daily_failures', tonumber(oldest[2]) + day - now, v[COUNTRY])
end

local left = v[ATTEMPTS]
if left <= 0 then return not_found('max_attempts_reached', v[COUNTRY]) end
v[ATTEMPTS] = left - 1
save_verification(KEYS[1], v)

redis.call('ZADD', KEYS[3], now, ARGV[3])
redis.call('PEXPIRE', KEYS[3], day)
local streak = redis.call('HINCRBY', KEYS[2], 'n', 1)
local free = tonumber(ARGV[4])
if streak >= free then
  local delay = math.floor(math.min(tonumber(ARGV[6]), tonumber(ARGV[5]) * 2 ^ (streak - free)))
  redis.call('HSET', KEYS[2], 'u', now + delay)
end
redis.call('PEXPIRE', KEYS[2], day)
return {'ok', v[RID], v[HASH], tostring(left - 1), v[PURPOSE], previous_hash(v, now), v[PHONE]}
