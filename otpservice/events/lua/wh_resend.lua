-- Dead letters back into the queue, due now with a fresh retry schedule: one (ARGV[1] an event
-- id) or the oldest ARGV[2] (ARGV[1] = ''), while the backlog has room (ARGV[3]).
-- KEYS: see webhooks.lua.  Returns how many were queued.
local ids
if ARGV[1] ~= '' then
  if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
  ids = {ARGV[1]}
else
  ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)
end
local now = now_ms()
local moved = 0
for _, id in ipairs(ids) do
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then break end
  redis.call('ZREM', KEYS[2], id)
  redis.call('HSET', KEYS[4], id, cjson.encode({n = 0, resent = now}))
  redis.call('ZADD', KEYS[1], now, id)
  moved = moved + 1
end
return moved
