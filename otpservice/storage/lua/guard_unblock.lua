-- Lift a guard block (shared tag), with its event naming the admin key's name.
-- KEYS[1] block  KEYS[2] strikes  KEYS[3] block index  KEYS[4] event stream
-- KEYS[5] would-be block (monitor) or alert flag
-- ARGV[1] index member ("p:<prefix>" / "c:<country>")  ARGV[2] admin name  ARGV[3] country
-- ARGV[4] prefix  ARGV[5] forget strikes "1"/"0"
-- Returns the evidence of the lifted block, or false when nothing was blocked.
local evidence = redis.call('GET', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[5])
if not evidence then return false end
redis.call('DEL', KEYS[1])
if ARGV[5] == '1' then redis.call('DEL', KEYS[2]) end
local data = cjson.decode(evidence)
data.admin = ARGV[2]
data.strikes_forgotten = ARGV[5] == '1'
emit_event(KEYS[4], 'guard.unblocked', '', '', ARGV[3], ARGV[4], '', data)
return evidence
