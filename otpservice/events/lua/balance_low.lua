-- A balance poll's reading: provider.balance_low once when the balance falls to or below the
-- threshold (by whichever instance polls first), not at every poll; armed again once it is
-- above. KEYS[1] the balance state (under {g})  KEYS[2] the shared event stream
-- ARGV[1] local SMS left  ARGV[2] threshold  ARGV[3] international TL  ARGV[4] provider name.
-- Returns 1 when it emitted the event.
local low = tonumber(ARGV[1]) <= tonumber(ARGV[2])
local was = redis.call('HGET', KEYS[1], 'low') == '1'
redis.call('HSET', KEYS[1], 'low', low and '1' or '0', 'sms', ARGV[1])
if low and not was then
  emit_event(KEYS[2], 'provider.balance_low', '', '', '', '', '',
    {local_sms = tonumber(ARGV[1]), threshold = tonumber(ARGV[2]),
     international_tl = tonumber(ARGV[3]), provider = ARGV[4]})
  return 1
end
return 0
