-- Take up to ARGV[1] messages whose next poll is due, for ARGV[2] ms: their due time moves
-- to the end of that lease, which is the claim that makes one instance poll a message.
-- KEYS[1] the partition's poll schedule.  Returns {sms id, lease, ...}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local lease = now + tonumber(ARGV[2])
local out = {}
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], lease, id)
  out[#out + 1] = id
  out[#out + 1] = tostring(lease)
end
return out
