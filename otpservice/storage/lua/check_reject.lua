-- Check, step 3 after a wrong code on the last attempt (phone tag): mark the verification spent.
-- KEYS[1] verification. ARGV[1] rid
-- Returns the status after the check.
local v = load_verification(KEYS[1])
if not v or v[RID] ~= ARGV[1] then return 'unknown' end
if v[STATUS] ~= 'pending' then return v[STATUS] end
if v[ATTEMPTS] <= 0 then
  v[STATUS] = 'max_attempts_reached'
  save_verification(KEYS[1], v)
  return 'max_attempts_reached'
end
return 'pending'
