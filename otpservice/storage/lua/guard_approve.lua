-- After an approval (shared tag): the number converted. Its send moves from the prefix's
-- and the country's unconverted numbers to their approved ones (keeping the send's time),
-- and the number becomes a returning customer. A counter, not the verification's state:
-- the approval itself was already made, atomically, under the phone's tag.
-- KEYS[1] prefix sent  KEYS[2] prefix approved  KEYS[3] country sent  KEYS[4] country approved
-- KEYS[5] returning marker.  ARGV[1] phone member  ARGV[2] marker ms  ARGV[3] window ms
for i = 1, 3, 2 do
  local sent = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if sent then
    redis.call('ZREM', KEYS[i], ARGV[1])
    redis.call('ZADD', KEYS[i + 1], sent, ARGV[1])
    redis.call('PEXPIRE', KEYS[i + 1], ARGV[3])
  end
end
redis.call('SET', KEYS[5], '1', 'PX', ARGV[2])
return 'ok'
