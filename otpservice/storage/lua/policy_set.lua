-- A runtime policy change (shared tag): the overrides, their version and the audit event,
-- in one step; refused when another change landed since the caller read the version.
-- KEYS[1] overrides (hash: variable -> value)   KEYS[2] version   KEYS[3] shared event stream
-- ARGV[1] version the change was validated against   ARGV[2] admin key's name
-- ARGV[3] JSON object of variables to set   ARGV[4] JSON list of variables to reset
-- ARGV[5] JSON object of the values the event may show (no phone numbers)
-- Returns {"ok", new version} | {"conflict", current version}
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current ~= tonumber(ARGV[1]) then return {'conflict', tostring(current)} end
local set = cjson.decode(ARGV[3])
local reset = cjson.decode(ARGV[4])
local names = {}
for name, value in pairs(set) do
  redis.call('HSET', KEYS[1], name, value)
  names[#names + 1] = name
end
for _, name in ipairs(reset) do redis.call('HDEL', KEYS[1], name) end
local version = redis.call('INCR', KEYS[2])
table.sort(names)
local shown = cjson.decode(ARGV[5])
emit_event(KEYS[3], 'policy.changed', '', '', '', '', '',
  {admin = ARGV[2], set = shown, reset = reset, version = version})
return {'ok', tostring(version)}
