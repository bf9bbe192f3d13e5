-- Read only: a page of one endpoint's dead letters, newest first, as one consistent view.
-- KEYS: see webhooks.lua.  ARGV[1] offset  ARGV[2] count.
-- Returns {total, id, died ms, meta JSON, body, ...}.
local ids = redis.call('ZREVRANGE', KEYS[2], tonumber(ARGV[1]),
  tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1, 'WITHSCORES')
local out = {redis.call('ZCARD', KEYS[2])}
for i = 1, #ids, 2 do
  out[#out + 1] = ids[i]
  out[#out + 1] = ids[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[4], ids[i]) or '{}'
  out[#out + 1] = redis.call('HGET', KEYS[3], ids[i]) or ''
end
return out
