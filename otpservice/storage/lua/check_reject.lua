-- Check, step 3 after a wrong code (phone tag): record check.failed; the check that held
-- the last attempt also marks the verification spent (verification.max_attempts_reached).
-- KEYS[1] verification   KEYS[2] event stream
-- ARGV[1] rid  ARGV[2] attempts left after this check (as check_reserve answered)  ARGV[3] id head
-- Returns the status after the check.
local v = load_verification(KEYS[1])
if not v or v[RID] ~= ARGV[1] then return 'unknown' end
local left = tonumber(ARGV[2])
emit_verification_event(KEYS[2], 'check.failed', v, ARGV[3], {attempts_remaining = left})
if v[STATUS] ~= 'pending' then return v[STATUS] end
if left <= 0 and v[ATTEMPTS] <= 0 then
  v[STATUS] = 'max_attempts_reached'
  save_verification(KEYS[1], v)
  emit_verification_event(KEYS[2], 'verification.max_attempts_reached', v, ARGV[3], {})
  return 'max_attempts_reached'
end
return 'pending'
