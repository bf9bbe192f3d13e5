-- Send, step 3 (phone tag): store the new code's hash once the provider accepted the SMS.
-- A new verification starts fresh; a resend restarts expiry and keeps attempts (never a reset).
-- KEYS[1] verification hash   KEYS[2] send lock
-- ARGV[1] lock token  ARGV[2] "new"/"resend"  ARGV[3] rid  ARGV[4] code hash  ARGV[5] ttl ms
-- ARGV[6] cooldown base ms  ARGV[7] max checks  ARGV[8] sms id  ARGV[9] client  ARGV[10] e164
-- ARGV[11] purpose  ARGV[12] locale  ARGV[13] max sends  ARGV[14] test "1"/"0"
-- Returns the verification as a flat field list, or {"lost"} when the lock or the slot changed.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {'lost'} end
local ex = now + tonumber(ARGV[5])
if ARGV[2] == 'resend' then
  local v = redis.call('HMGET', KEYS[1], 'st', 'rid', 'n')
  if v[1] ~= 'pending' or v[2] ~= ARGV[3] then
    redis.call('DEL', KEYS[2])
    return {'lost'}
  end
  local n = tonumber(v[3]) + 1
  redis.call('HSET', KEYS[1], 'h', ARGV[4], 'n', n, 'ex', ex, 'sid', ARGV[8],
    'rs', now + math.floor(tonumber(ARGV[6]) * 2 ^ (n - 1)))
else
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'rid', ARGV[3], 'c', ARGV[9], 'ph', ARGV[10], 'pu', ARGV[11],
    'lo', ARGV[12], 'st', 'pending', 'h', ARGV[4], 'n', 1, 'ms', ARGV[13], 'a', ARGV[7],
    'ex', ex, 'rs', now + tonumber(ARGV[6]), 'cr', now, 'sid', ARGV[8], 't', ARGV[14])
end
redis.call('PEXPIREAT', KEYS[1], ex)
redis.call('DEL', KEYS[2])
return redis.call('HGETALL', KEYS[1])
