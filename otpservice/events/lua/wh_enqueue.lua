-- One event for one endpoint: queue it (due now), or make it a dead letter when the endpoint
-- is disabled or its backlog is full. An event already held (queued or dead) is left alone,
-- so a stream entry handed out twice queues once.
-- KEYS: see webhooks.lua.  ARGV[1] event id  ARGV[2] body  ARGV[3] max backlog
-- ARGV[4] max dead letters.  Returns queued | duplicate | overflow | endpoint_disabled.
local id = ARGV[1]
if redis.call('HEXISTS', KEYS[3], id) == 1 then return 'duplicate' end
local now = now_ms()
redis.call('HSET', KEYS[3], id, ARGV[2])
local reason = nil
if redis.call('HGET', KEYS[5], 'disabled') == '1' then
  reason = 'endpoint_disabled'
elseif redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  reason = 'overflow'
end
if reason then
  dead_letter(id, {n = 0}, reason, '', now, tonumber(ARGV[4]))
  return reason
end
redis.call('HSET', KEYS[4], id, '{"n":0}')
redis.call('ZADD', KEYS[1], now, id)
return 'queued'
