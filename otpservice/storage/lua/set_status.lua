-- Cancel, or approve out of band (phone tag): end a pending verification, and record it
-- (verification.canceled or verification.approved).
-- KEYS[1] verification   KEYS[2] event stream
-- ARGV[1] client  ARGV[2] rid (binary)  ARGV[3] new status  ARGV[4] id head
-- Returns {"ok"} | {"notfound", reason}
local v = load_verification(KEYS[1])
if not v or v[CLIENT] ~= ARGV[1] or v[RID] ~= ARGV[2] then return {'notfound', 'unknown'} end
if v[STATUS] ~= 'pending' then return {'notfound', v[STATUS]} end
if v[EXPIRES] <= now_ms() then return {'notfound', 'expired'} end
v[STATUS] = ARGV[3]
save_verification(KEYS[1], v)
if ARGV[3] == 'canceled' then
  emit_verification_event(KEYS[2], 'verification.canceled', v, ARGV[4], {})
else
  emit_verification_event(KEYS[2], 'verification.' .. ARGV[3], v, ARGV[4],
    {attempts_remaining = v[ATTEMPTS], out_of_band = true})
end
return {'ok'}
