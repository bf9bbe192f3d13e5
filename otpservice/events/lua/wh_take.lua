-- Take up to ARGV[1] due deliveries of one endpoint for ARGV[2] ms: their due time moves to
-- the end of that lease, which is the claim (another instance sees them again only if this
-- one has not reported by then: it died). Nothing while the endpoint is disabled.
-- KEYS: see webhooks.lua.  Returns {id, body, attempts so far, lease}...
if redis.call('HGET', KEYS[5], 'disabled') == '1' then return {} end
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local lease = now + tonumber(ARGV[2])
local out = {}
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], lease, id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
  out[#out + 1] = tostring(meta_of(id).n or 0)
  out[#out + 1] = tostring(lease)
end
return out
