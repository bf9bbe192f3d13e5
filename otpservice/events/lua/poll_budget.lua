-- The global budget of delivery polls (all instances): a fixed one-minute window on Redis's
-- clock. KEYS[1] the budget hash (under {g})  ARGV[1] polls per minute  ARGV[2] polls wanted.
-- Returns {granted, ms until the window restarts}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local start = tonumber(redis.call('HGET', KEYS[1], 'start') or '0')
if now - start >= 60000 then
  start = now
  redis.call('HSET', KEYS[1], 'start', now, 'used', 0)
  redis.call('PEXPIRE', KEYS[1], 120000)
end
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
local granted = math.max(0, math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) - used))
if granted > 0 then redis.call('HINCRBY', KEYS[1], 'used', granted) end
return {granted, start + 60000 - now}
