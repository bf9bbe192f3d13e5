-- Send, undo of step 2 (phone tag): drop our send lock; refund the per-phone budget if asked.
-- KEYS[1] send lock   KEYS[2] send log. ARGV[1] lock token   ARGV[2] refund "1"/"0"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[2] == '1' then redis.call('ZREM', KEYS[2], string.sub(ARGV[1], 1, 12)) end
return 'ok'
