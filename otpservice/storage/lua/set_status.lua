-- Cancel, or approve out of band (phone tag): end a pending verification.
-- KEYS[1] verification hash. ARGV[1] client  ARGV[2] rid  ARGV[3] new status
-- Returns {"ok"} | {"notfound", reason}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'st', 'c', 'rid', 'ex')
if not v[1] or v[2] ~= ARGV[1] or v[3] ~= ARGV[2] then return {'notfound', 'unknown'} end
if v[1] ~= 'pending' then return {'notfound', v[1]} end
if tonumber(v[4]) <= now then return {'notfound', 'expired'} end
redis.call('HSET', KEYS[1], 'st', ARGV[3])
return {'ok'}
