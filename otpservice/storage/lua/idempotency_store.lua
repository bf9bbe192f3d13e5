-- Send, last step (shared tag): keep a 201 answer for replay under its idempotency key.
-- KEYS[1] idempotency hash. ARGV[1] fingerprint  ARGV[2] body  ARGV[3] ttl ms
if redis.call('HGET', KEYS[1], 'fp') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'st', 'done', 'body', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
