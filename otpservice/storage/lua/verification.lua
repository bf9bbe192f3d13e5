-- Prepended to every script that reads or writes a verification (see redis_store.py).
-- A verification is one string key holding a MessagePack array: one allocation instead of
-- a hash's per-field entries keeps a pending verification small. Fields, in order:
local RID, CLIENT, PHONE, PURPOSE, LOCALE, STATUS, HASH = 1, 2, 3, 4, 5, 6, 7
local SENDS, MAX_SENDS, ATTEMPTS, EXPIRES, RESEND_AT, CREATED, SMS_ID, TEST =
  8, 9, 10, 11, 12, 13, 14, 15
local COUNTRY, DROP = 16, 17
-- Only after a resend with OTP_ACCEPT_PREVIOUS_CODE: the code before it, until its own expiry.
-- Last, so that a record without them is still a plain array (cmsgpack packs a table with
-- holes as a map).
local PREV_HASH, PREV_EXPIRES = 18, 19
-- RID and the hashes are binary; times are epoch milliseconds; TEST is 1 or 0. COUNTRY (ISO)
-- and DROP (the prefix's dropped digits) let events name country, prefix and mask.

-- The previous code's hash while it is still valid, else "".
local function previous_hash(v, now)
  if v[PREV_HASH] and v[PREV_EXPIRES] > now then return v[PREV_HASH] end
  return ''
end

local function load_verification(key)
  local raw = redis.call('GET', key)
  if not raw then return nil end
  return cmsgpack.unpack(raw)
end

-- An ended verification's key lives until its expiry, as before; a pending one an hour past
-- it, so that the expiry sweeper (events/sweeper.py) still finds it to record
-- verification.expired. Readers treat it as expired from EXPIRES on.
local EXPIRY_GRACE_MS = 3600000

local function save_verification(key, v)
  local until_ms = v[EXPIRES]
  if v[STATUS] == 'pending' then until_ms = until_ms + EXPIRY_GRACE_MS end
  redis.call('SET', key, cmsgpack.pack(v), 'PXAT', until_ms)
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
