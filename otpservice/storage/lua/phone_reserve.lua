-- Send, step 2 (phone tag): per-phone budgets, resend rules, and a send lock for the slot.
-- KEYS[1] verification (the client+purpose slot)   KEYS[2] send lock   KEYS[3] send log (zset)
-- KEYS[4] undelivered marker: the id of the slot's last SMS that a report said did not arrive
-- ARGV[1] client   ARGV[2] exempt from budgets "1"/"0"   ARGV[3] lock token   ARGV[4] lock ms
-- ARGV[5] limit 10 min  ARGV[6] window ms  ARGV[7] limit 24 h  ARGV[8] window ms  ARGV[9] max sends
-- Returns {"new"} | {"resend", rid, sends, undelivered sms id or ""} | {"limited", policy, retry_ms}
local now = now_ms()

local busy = redis.call('PTTL', KEYS[2])
if busy > 0 then return {'limited', 'send_in_progress', tostring(busy)} end

local v = load_verification(KEYS[1])
local resend = v ~= nil and v[STATUS] == 'pending' and v[CLIENT] == ARGV[1] and v[EXPIRES] > now
local undelivered = ''
if resend then
  if v[SENDS] >= tonumber(ARGV[9]) then
    return {'limited', 'max_sends', tostring(v[EXPIRES] - now)}
  end
  local mark = redis.call('GET', KEYS[4])
  if mark and v[SMS_ID] ~= '' and mark == v[SMS_ID] then undelivered = mark end
  if v[RESEND_AT] > now then
    if undelivered == '' then
      return {'limited', 'resend_cooldown', tostring(v[RESEND_AT] - now)}
    end
    -- The last SMS did not arrive: this resend skips the cooldown, once per verification.
    redis.call('SET', KEYS[4], '!', 'KEEPTTL')
  end
end

if ARGV[2] ~= '1' then
  local day, tenmin = tonumber(ARGV[8]), tonumber(ARGV[6])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - day)
  local l24 = tonumber(ARGV[7])
  if l24 > 0 and redis.call('ZCARD', KEYS[3]) >= l24 then
    local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    return {'limited', 'phone_24h', tostring(tonumber(oldest[2]) + day - now)}
  end
  local l10 = tonumber(ARGV[5])
  if l10 > 0 then
    local recent = redis.call('ZRANGEBYSCORE', KEYS[3], now - tenmin, '+inf', 'WITHSCORES')
    local count = #recent / 2
    if count >= l10 then
      -- The window frees up when the oldest send that keeps it full ages out.
      local first = tonumber(recent[2 * (count - l10) + 2])
      return {'limited', 'phone_10m', tostring(first + tenmin - now)}
    end
  end
  -- The log's member is the token's first 12 hex digits (48 bits, unique among a phone's
  -- few sends a day): short members keep the per-phone log small.
  redis.call('ZADD', KEYS[3], now, string.sub(ARGV[3], 1, 12))
  redis.call('PEXPIRE', KEYS[3], day)
end

redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
if resend then return {'resend', v[RID], tostring(v[SENDS]), undelivered} end
return {'new'}
