-- Send, step 3 (phone tag): store the new code's hash once the provider accepted the SMS,
-- and record it: verification.created (a new one) and send.accepted, in the same step.
-- A new verification starts fresh; a resend restarts expiry and keeps attempts (never a reset).
-- KEYS[1] verification   KEYS[2] send lock   KEYS[3] the partition's event stream
-- KEYS[4] the partition's expiry index (member: the id head, score: expires at)
-- ARGV[1] lock token  ARGV[2] "new"/"resend"  ARGV[3] rid (binary)  ARGV[4] code hash (binary)
-- ARGV[5] ttl ms  ARGV[6] cooldown base ms  ARGV[7] max checks  ARGV[8] sms id  ARGV[9] client
-- ARGV[10] e164  ARGV[11] purpose  ARGV[12] locale  ARGV[13] max sends  ARGV[14] test "1"/"0"
-- ARGV[15] keep the previous code valid until its own expiry "1"/"0"
-- ARGV[16] country (ISO)  ARGV[17] prefix drop digits  ARGV[18] SMS parts  ARGV[19] id head
-- Returns the verification's fields, or {"lost"} when the lock or the slot changed.
local now = now_ms()
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {'lost'} end
-- Expiry falls on a whole second, rounded up: the API states it to the second, and it is
-- both "valid until" and "a new verification from": acting at that second is neither early
-- nor late. (The resend time need not: the API rounds it up, which only ever waits longer.)
local ex = math.ceil((now + tonumber(ARGV[5])) / 1000) * 1000
local v
if ARGV[2] == 'resend' then
  v = load_verification(KEYS[1])
  if not v or v[STATUS] ~= 'pending' or v[RID] ~= ARGV[3] or v[EXPIRES] <= now then
    redis.call('DEL', KEYS[2])
    return {'lost'}
  end
  v[SENDS] = v[SENDS] + 1
  -- A late SMS still works: the code it carries stays valid until its own expiry (one only).
  if ARGV[15] == '1' and v[EXPIRES] > now then
    v[PREV_HASH], v[PREV_EXPIRES] = v[HASH], v[EXPIRES]
  else
    v[PREV_HASH], v[PREV_EXPIRES] = nil, nil
  end
  v[HASH] = ARGV[4]
  v[EXPIRES] = ex
  v[SMS_ID] = ARGV[8]
  v[RESEND_AT] = now + math.floor(tonumber(ARGV[6]) * 2 ^ (v[SENDS] - 1))
else
  -- A pending verification replaced in its slot has expired (a resend would have kept it):
  -- if the sweeper has not recorded that yet, this is the instance that noticed first.
  local old = load_verification(KEYS[1])
  if old and old[STATUS] == 'pending' then
    emit_verification_event(KEYS[3], 'verification.expired', old, ARGV[19],
      {sends = old[SENDS], attempts_remaining = old[ATTEMPTS]})
  end
  v = {}
  v[RID], v[CLIENT], v[PHONE], v[PURPOSE], v[LOCALE] = ARGV[3], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
  v[STATUS], v[HASH], v[SENDS], v[MAX_SENDS] = 'pending', ARGV[4], 1, tonumber(ARGV[13])
  v[ATTEMPTS], v[EXPIRES], v[RESEND_AT] = tonumber(ARGV[7]), ex, now + tonumber(ARGV[6])
  v[CREATED], v[SMS_ID], v[TEST] = now, ARGV[8], tonumber(ARGV[14])
  v[COUNTRY], v[DROP] = ARGV[16], tonumber(ARGV[17])
end
save_verification(KEYS[1], v)
redis.call('DEL', KEYS[2])
redis.call('ZADD', KEYS[4], v[EXPIRES], ARGV[19])
local test = v[TEST] == 1
if ARGV[2] ~= 'resend' then
  emit_verification_event(KEYS[3], 'verification.created', v, ARGV[19], {
    purpose = v[PURPOSE], locale = v[LOCALE], max_attempts = v[ATTEMPTS],
    max_sends = v[MAX_SENDS], expires_at = v[EXPIRES], test = test})
end
emit_verification_event(KEYS[3], 'send.accepted', v, ARGV[19], {
  sms_id = v[SMS_ID], parts = tonumber(ARGV[18]), send = v[SENDS], expires_at = v[EXPIRES],
  test = test})
return v
