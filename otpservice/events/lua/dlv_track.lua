-- Start tracking the delivery of one accepted SMS (from its send.accepted event); a message
-- already tracked is left alone, so an entry handed out twice schedules once.
-- KEYS[1] the message's delivery hash  KEYS[2] the partition's poll schedule (ZSET sms id ->
-- due ms).  ARGV[1] sms id  ARGV[2] verification id  ARGV[3] client  ARGV[4] country
-- ARGV[5] prefix  ARGV[6] masked phone  ARGV[7] sent (ms)  ARGV[8] first poll (ms)
-- ARGV[9] ttl ms.  Returns 1 when it starts tracking, 0 otherwise.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'c', ARGV[3], 'cc', ARGV[4], 'px', ARGV[5],
  'ph', ARGV[6], 'sent', ARGV[7], 'state', 'pending', 'polls', 0)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[9]))
redis.call('ZADD', KEYS[2], tonumber(ARGV[8]), ARGV[1])
return 1
