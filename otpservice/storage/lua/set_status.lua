-- Cancel, or approve out of band (phone tag): end a pending verification.
-- KEYS[1] verification. ARGV[1] client  ARGV[2] rid (binary)  ARGV[3] new status
-- Returns {"ok"} | {"notfound", reason}
local v = load_verification(KEYS[1])
if not v or v[CLIENT] ~= ARGV[1] or v[RID] ~= ARGV[2] then return {'notfound', 'unknown'} end
if v[STATUS] ~= 'pending' then return {'notfound', v[STATUS]} end
if v[EXPIRES] <= now_ms() then return {'notfound', 'expired'} end
v[STATUS] = ARGV[3]
save_verification(KEYS[1], v)
return {'ok'}
