-- Prepended to the webhook scripts that call dead_letter( (events/scripts.py).
-- One endpoint's keys, all under {g}: KEYS[1] q (ZSET event id -> due ms: backlog and retry
-- schedule), KEYS[2] dz (ZSET event id -> ms it died: dead letters), KEYS[3] b (HASH event id
-- -> body), KEYS[4] m (HASH event id -> JSON meta: n attempts, s last status, r reason),
-- KEYS[5] st (HASH: disabled, disabled_at, disabled_status, dead_dropped).
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function meta_of(id)
  local raw = redis.call('HGET', KEYS[4], id)
  if raw then return cjson.decode(raw) end
  return {n = 0}
end

-- Move one event to the dead letters; keep at most max_dead of them (the oldest go).
local function dead_letter(id, meta, reason, status, now, max_dead)
  meta.r, meta.s, meta.at = reason, status, now
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], now, id)
  redis.call('HSET', KEYS[4], id, cjson.encode(meta))
  local over = redis.call('ZCARD', KEYS[2]) - max_dead
  if over > 0 then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, over - 1)
    for _, old in ipairs(oldest) do
      redis.call('HDEL', KEYS[3], old)
      redis.call('HDEL', KEYS[4], old)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
    redis.call('HINCRBY', KEYS[5], 'dead_dropped', over)
  end
end
