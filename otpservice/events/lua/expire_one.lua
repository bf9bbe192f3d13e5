-- The expiry sweeper's claim of one due verification (partition tag): whichever instance
-- removes it from the index records verification.expired, once, if it was still pending.
-- KEYS[1] the partition's expiry index   KEYS[2] verification   KEYS[3] event stream
-- ARGV[1] the index member (the id head: tag + slot, 32 hex)
-- Returns expired | ended | later | gone
local now = now_ms()
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 'gone' end
local v = load_verification(KEYS[2])
if v and v[STATUS] == 'pending' and v[EXPIRES] > now then
  -- A resend moved the expiry: wait for the new one.
  redis.call('ZADD', KEYS[1], v[EXPIRES], ARGV[1])
  return 'later'
end
if tonumber(score) > now then return 'later' end
redis.call('ZREM', KEYS[1], ARGV[1])
if not v or v[STATUS] ~= 'pending' then return 'ended' end
redis.call('DEL', KEYS[2])
emit_verification_event(KEYS[3], 'verification.expired', v, ARGV[1],
  {sends = v[SENDS], attempts_remaining = v[ATTEMPTS]})
return 'expired'
