-- Send, step 2 (phone tag): per-phone budgets, resend rules, and a send lock for the slot.
-- The slot is client + purpose + requester network, so a resend, its cooldown and max_sends
-- only ever concern one network's own verification.
-- KEYS[1] verification (the slot)   KEYS[2] send lock   KEYS[3] send log (zset)
-- KEYS[4] undelivered marker: the id of the slot's last SMS that a report said did not arrive
-- KEYS[5] trust marker ("network\ndevice" that last approved on the phone)
-- KEYS[6] the partition's refusal counts for today
-- ARGV[1] client   ARGV[2] test number "1"/"0"   ARGV[3] lock token   ARGV[4] lock ms
-- ARGV[5] max sends   ARGV[6] requester's bucket   ARGV[7] requester network   ARGV[8] device
-- ARGV[9] 10-min window ms   ARGV[10] 24-h window ms
-- ARGV[11..16] limits: ceiling 10 min, 24 h; network share 10 min, 24 h; reserved 10 min, 24 h
-- ARGV[17] sends per test number per 24 h
-- ARGV[18] country (ISO)   ARGV[19] refusal counts' ttl ms
-- The log's members are "<bucket>:<token's first 12 hex>": "*" = the reserved share,
-- "t" = a test number, else the requester network's bucket.
-- Returns {"new"} | {"resend", rid, sends, undelivered sms id or ""} | {"limited", policy, retry_ms}
local now = now_ms()
local function refuse(policy, retry_ms)
  count_refusal(KEYS[6], ARGV[19], ARGV[1], policy, ARGV[18])
  return {'limited', policy, tostring(retry_ms)}
end

local busy = redis.call('PTTL', KEYS[2])
if busy > 0 then return refuse('send_in_progress', busy) end

local v = load_verification(KEYS[1])
local resend = v ~= nil and v[STATUS] == 'pending' and v[CLIENT] == ARGV[1] and v[EXPIRES] > now
local undelivered = ''
local skip_cooldown = false
if resend then
  if v[SENDS] >= tonumber(ARGV[5]) then
    return refuse('max_sends', v[EXPIRES] - now)
  end
  local mark = redis.call('GET', KEYS[4])
  if mark and v[SMS_ID] ~= '' and mark == v[SMS_ID] then undelivered = mark end
  if v[RESEND_AT] > now then
    if undelivered == '' then
      return refuse('resend_cooldown', v[RESEND_AT] - now)
    end
    skip_cooldown = true
  end
end

local tenmin, day = tonumber(ARGV[9]), tonumber(ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - day)
local sent = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')  -- oldest first

-- The send times of the log entries that `keep(bucket)` selects, in the day and in 10 min.
local function times(keep)
  local d, m = {}, {}
  for i = 1, #sent, 2 do
    local at = tonumber(sent[i + 1])
    if keep(string.match(sent[i], '^([^:]*)')) then
      d[#d + 1] = at
      if at > now - tenmin then m[#m + 1] = at end
    end
  end
  return d, m
end

-- nil when there is room, else the policy and when the window frees up: the send that
-- keeps it full ages out.
local function full(d, m, l10, l24, p10, p24)
  if l24 > 0 and #d >= l24 then return p24, d[#d - l24 + 1] + day - now end
  if l10 > 0 and #m >= l10 then return p10, m[#m - l10 + 1] + tenmin - now end
  return nil
end

local bucket = ARGV[6]
local policy, wait
if ARGV[2] == '1' then
  bucket = 't'
  local d, m = times(function() return true end)
  policy, wait = full(d, m, 0, tonumber(ARGV[17]), '', 'test_number_day')
else
  local reserved = false
  local res24 = tonumber(ARGV[16])
  if res24 > 0 then
    local marker = redis.call('GET', KEYS[5])
    if marker then
      local net, dev = string.match(marker, '^([^\n]*)\n(.*)$')
      reserved = (ARGV[7] ~= '-' and ARGV[7] == net) or (ARGV[8] ~= '' and ARGV[8] == dev)
    end
  end
  if reserved then
    local d, m = times(function(b) return b == '*' end)
    if full(d, m, tonumber(ARGV[15]), res24, '', '') then
      reserved = false  -- the reserve is spent: the requester joins everyone else
    else
      bucket = '*'
    end
  end
  if not reserved then
    local d, m = times(function(b) return b ~= '*' and b ~= 't' end)
    policy, wait = full(d, m, tonumber(ARGV[11]), tonumber(ARGV[12]), 'phone_10m', 'phone_24h')
    if not policy then
      d, m = times(function(b) return b == bucket end)
      policy, wait = full(
        d, m, tonumber(ARGV[13]), tonumber(ARGV[14]), 'phone_net_10m', 'phone_net_24h')
    end
  end
end
if policy then return refuse(policy, wait) end

-- The last SMS did not arrive: this resend skips the cooldown, once per verification.
if skip_cooldown then redis.call('SET', KEYS[4], '!', 'KEEPTTL') end
redis.call('ZADD', KEYS[3], now, bucket .. ':' .. string.sub(ARGV[3], 1, 12))
redis.call('PEXPIRE', KEYS[3], day)
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
if resend then return {'resend', v[RID], tostring(v[SENDS]), undelivered} end
return {'new'}
