-- Send, undo of step 2 (phone tag): drop our send lock; refund the per-phone budget if asked;
-- record a failed send (send.failed) when the provider did not take it.
-- KEYS[1] send lock   KEYS[2] send log   KEYS[3] the partition's event stream
-- ARGV[1] lock token   ARGV[2] refund "1"/"0"   ARGV[3] record a failed send "1"/"0"
-- ARGV[4] verification id   ARGV[5] client   ARGV[6] e164   ARGV[7] country (ISO)
-- ARGV[8] prefix drop digits   ARGV[9] error code   ARGV[10] provider result code ("" = none)
-- ARGV[11] may have sent "1"/"0"   ARGV[12] "new"/"resend"
-- ARGV[13] the requester's bucket (the send was logged under it, the reserve "*" or "t")
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[2] == '1' then
  local token = string.sub(ARGV[1], 1, 12)
  redis.call('ZREM', KEYS[2], ARGV[13] .. ':' .. token, '*:' .. token, 't:' .. token)
end
if ARGV[3] == '1' then
  local drop = tonumber(ARGV[8])
  emit_event(KEYS[3], 'send.failed', ARGV[5], ARGV[4], ARGV[7], phone_prefix(ARGV[6], drop),
    phone_mask(ARGV[6], drop), {error = ARGV[9], result_code = ARGV[10],
    may_have_sent = ARGV[11] == '1', resend = ARGV[12] == 'resend'})
end
return 'ok'
