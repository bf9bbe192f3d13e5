-- Check, step 3 after a right code (phone tag): approve with compare-and-set on the hash that
-- matched (the current code's, or the previous one's while valid), so a resend or a concurrent
-- approval in between wins; clear the failure streak; record verification.approved (only the
-- approval that wins writes it); remember the approving network and device (they keep the
-- phone's reserved share).
-- KEYS[1] verification   KEYS[2] failure streak   KEYS[3] failures 24 h   KEYS[4] event stream
-- KEYS[5] trust marker
-- ARGV[1] rid  ARGV[2] hash that was verified  ARGV[3] attempt token  ARGV[4] id head
-- ARGV[5] checker's network ("-" = none)  ARGV[6] checker's device ("" = none)  ARGV[7] trust ms
-- Returns {"approved", attempts_left, phone} | {"notfound", reason}
local v = load_verification(KEYS[1])
if not v or v[RID] ~= ARGV[1] then return {'notfound', 'unknown'} end
if v[HASH] ~= ARGV[2] and previous_hash(v, now_ms()) ~= ARGV[2] then
  return {'notfound', 'unknown'}
end
-- The code was right: it is not a failure, whoever approved first.
redis.call('ZREM', KEYS[3], ARGV[3])
if v[STATUS] ~= 'pending' then return {'notfound', v[STATUS]} end
if v[EXPIRES] <= now_ms() then return {'notfound', 'expired'} end
v[STATUS] = 'approved'
save_verification(KEYS[1], v)
redis.call('DEL', KEYS[2])
emit_verification_event(KEYS[4], 'verification.approved', v, ARGV[4],
  {attempts_remaining = v[ATTEMPTS], out_of_band = false})
if v[TEST] ~= 1 then
  -- What the approval does not name (no address, no device) stays as the last one known.
  local net, dev = '-', ''
  local marker = redis.call('GET', KEYS[5])
  if marker then net, dev = string.match(marker, '^([^\n]*)\n(.*)$') end
  if ARGV[5] ~= '-' then net = ARGV[5] end
  if ARGV[6] ~= '' then dev = ARGV[6] end
  if net ~= '-' or dev ~= '' then redis.call('SET', KEYS[5], net .. '\n' .. dev, 'PX', ARGV[7]) end
end
return {'approved', tostring(v[ATTEMPTS]), v[PHONE]}
