-- Check, step 3 after a wrong code on the last attempt (phone tag): mark the verification spent.
-- KEYS[1] verification hash. ARGV[1] rid
-- Returns the status after the check.
local v = redis.call('HMGET', KEYS[1], 'st', 'rid', 'a')
if v[2] ~= ARGV[1] or v[1] ~= 'pending' then return v[1] or 'unknown' end
if tonumber(v[3]) <= 0 then
  redis.call('HSET', KEYS[1], 'st', 'max_attempts_reached')
  return 'max_attempts_reached'
end
return 'pending'
