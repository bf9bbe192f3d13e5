-- The provider's answer for one message, applied only by the lease holder: a final state is
-- stored with its event (delivery.delivered / .undelivered / .out_of_coverage) in this same
-- step, once; a pending answer (or a failed poll) schedules the next poll, if any is left.
-- KEYS[1] delivery hash  KEYS[2] poll schedule  KEYS[3] the partition's event stream
-- ARGV[1] sms id  ARGV[2] lease  ARGV[3] delivered | not_delivered | out_of_coverage |
-- pending | error | deferred  ARGV[4] event type ('' unless final)  ARGV[5] operator
-- ARGV[6] sent at (provider's)  ARGV[7] provider code  ARGV[8] poll offsets after the send,
-- ms, comma-separated  ARGV[9] delay ms for a deferred poll.
-- Returns recorded | already | pending | ended | deferred | stale | gone.
local id = ARGV[1]
local score = redis.call('ZSCORE', KEYS[2], id)
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 'stale' end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], id)
  return 'gone'
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = ARGV[3]
if state == 'deferred' then  -- over the poll budget: try again soon, it was no poll
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[9]), id)
  return 'deferred'
end
local polls = redis.call('HINCRBY', KEYS[1], 'polls', 1)
if state == 'pending' or state == 'error' then
  local sent = tonumber(redis.call('HGET', KEYS[1], 'sent'))
  local offsets = {}
  for part in string.gmatch(ARGV[8], '[^,]+') do offsets[#offsets + 1] = tonumber(part) end
  local next_offset = offsets[polls + 1]
  if next_offset then
    redis.call('ZADD', KEYS[2], math.max(sent + next_offset, now), id)
    return 'pending'
  end
  redis.call('ZREM', KEYS[2], id)
  redis.call('HSET', KEYS[1], 'tracking', 'ended')
  return 'ended'
end
redis.call('ZREM', KEYS[2], id)
local previous = redis.call('HGET', KEYS[1], 'state')
if previous ~= 'pending' then return 'already' end
redis.call('HSET', KEYS[1], 'state', state, 'operator', ARGV[5], 'sent_at', ARGV[6],
  'code', ARGV[7], 'at', now)
local f = redis.call('HMGET', KEYS[1], 'c', 'v', 'cc', 'px', 'ph')
local data = {sms_id = id, state = state}
if ARGV[5] ~= '' then data.operator = ARGV[5] end
if ARGV[6] ~= '' then data.sent_at = ARGV[6] end
if ARGV[7] ~= '' then data.provider_code = ARGV[7] end
emit_event(KEYS[3], ARGV[4], f[1], f[2], f[3], f[4], f[5], data)
return 'recorded'
