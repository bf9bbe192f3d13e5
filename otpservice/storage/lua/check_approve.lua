-- Check, step 3 after a right code (phone tag): approve with compare-and-set on the hash,
-- so a resend or a concurrent approval in between wins; clear the failure streak.
-- KEYS[1] verification hash   KEYS[2] failure streak   KEYS[3] failures 24 h
-- ARGV[1] rid  ARGV[2] hash that was verified  ARGV[3] attempt token
-- Returns {"approved", attempts_left} | {"notfound", reason}
local v = redis.call('HMGET', KEYS[1], 'st', 'rid', 'h', 'a')
if v[2] ~= ARGV[1] or v[3] ~= ARGV[2] then return {'notfound', 'unknown'} end
-- The code was right: it is not a failure, whoever approved first.
redis.call('ZREM', KEYS[3], ARGV[3])
if v[1] ~= 'pending' then return {'notfound', v[1]} end
redis.call('HSET', KEYS[1], 'st', 'approved')
redis.call('DEL', KEYS[2])
return {'approved', v[4]}
