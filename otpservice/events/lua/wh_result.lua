-- The outcome of one attempt, applied only by the holder of the lease (a stale report of an
-- instance whose lease ran out changes nothing).
-- KEYS: see webhooks.lua.  ARGV[1] event id  ARGV[2] lease  ARGV[3] ok | fail | gone
-- ARGV[4] status ("500", "timeout"...)  ARGV[5] delay ms before the next attempt
-- ARGV[6] max attempts  ARGV[7] max dead letters.
-- Returns {delivered | retry | exhausted | gone | stale, events moved to the dead letters}.
local id = ARGV[1]
local score = redis.call('ZSCORE', KEYS[1], id)
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return {'stale', 0} end
local now = now_ms()
local meta = meta_of(id)
meta.n = (meta.n or 0) + 1
if ARGV[3] == 'ok' then
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  return {'delivered', 0}
end
local max_dead = tonumber(ARGV[7])
if ARGV[3] == 'gone' then
  -- 410: the receiver asks us to stop. Nothing more goes there until an admin enables it.
  redis.call('HSET', KEYS[5], 'disabled', '1', 'disabled_at', now, 'disabled_status', ARGV[4])
  dead_letter(id, meta, 'endpoint_gone', ARGV[4], now, max_dead)
  local rest = redis.call('ZRANGE', KEYS[1], 0, -1)
  for _, other in ipairs(rest) do
    dead_letter(other, meta_of(other), 'endpoint_disabled', '', now, max_dead)
  end
  return {'gone', #rest + 1}
end
if meta.n >= tonumber(ARGV[6]) then
  dead_letter(id, meta, 'exhausted', ARGV[4], now, max_dead)
  return {'exhausted', 1}
end
meta.s = ARGV[4]
redis.call('HSET', KEYS[4], id, cjson.encode(meta))
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), id)
return {'retry', 0}
