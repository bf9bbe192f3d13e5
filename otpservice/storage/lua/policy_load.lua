-- The runtime policy as one consistent read (shared tag): its version and its overrides.
-- KEYS[1] overrides (hash)   KEYS[2] version
-- Returns {version, name1, value1, name2, value2, ...}
local out = {tostring(redis.call('GET', KEYS[2]) or '0')}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields do out[#out + 1] = fields[i] end
return out
