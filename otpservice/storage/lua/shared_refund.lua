-- Send, undo of step 1 (shared tag): give back what shared_reserve took.
-- KEYS as in shared_reserve. ARGV[1] release idempotency "1"/"0"   ARGV[2] refund budgets "1"/"0"
-- ARGV[3] phone member to remove from the prefix set ("" = none)   ARGV[4] budget counters
-- ARGV[5] G (shared_reserve's guard keys)   ARGV[6] phone member to remove from the guard's
-- unconverted numbers ("" = none)
if ARGV[1] == '1' and redis.call('HGET', KEYS[1], 'st') == 'inflight' then
  redis.call('DEL', KEYS[1])
end
if ARGV[2] == '1' then
  for i = 5, 4 + tonumber(ARGV[4]) do
    -- Only a live window is decremented: a window that rolled over already forgot the send.
    local count = tonumber(redis.call('GET', KEYS[i]) or '0')
    if count > 0 then redis.call('DECR', KEYS[i]) end
  end
  if ARGV[3] ~= '' then redis.call('ZREM', KEYS[3], ARGV[3]) end
  if ARGV[6] ~= '' then
    local G = tonumber(ARGV[5])
    redis.call('ZREM', KEYS[G + 2], ARGV[6])
    redis.call('ZREM', KEYS[G + 6], ARGV[6])
  end
end
return 'ok'
