-- Fold a partition's new events into its statistics (partition tag), exactly once: the
-- counters and the cursor move in one step, so the stats never scan the streams.
-- KEYS[1] event stream   KEYS[2] fold cursor   KEYS[3] the counters of one UTC day (hash)
-- ARGV[1] the day's first ms   ARGV[2] the next day's first ms   ARGV[3] most entries
-- ARGV[4] the counters' ttl ms
-- Returns {"done", "", folded, counts...} | {"day", ms of the first entry outside the day,
-- folded, counts...}; counts: metric, country, n (for the Prometheus counters).
local METRICS = {
  ['verification.created'] = 'started',
  ['delivery.delivered'] = 'delivered',
  ['verification.approved'] = 'approved',
  ['verification.expired'] = 'expired',
  ['verification.max_attempts_reached'] = 'exhausted',
  ['verification.canceled'] = 'canceled',
  ['send.failed'] = 'send_failed',
  ['check.failed'] = 'wrong_code',
}
local first, after = tonumber(ARGV[1]), tonumber(ARGV[2])
local cursor = redis.call('GET', KEYS[2]) or '0-0'
local entries = redis.call('XRANGE', KEYS[1], '(' .. cursor, '+', 'COUNT', tonumber(ARGV[3]))
local last, folded, outside = nil, 0, nil
local counts = {}
local function count(hour, metric, f, n)
  if n == 0 then return end
  redis.call('HINCRBY', KEYS[3], hour .. '|' .. metric .. '|' .. (f.c or '') .. '|' ..
    (f.cc or '') .. '|' .. (f.px or ''), n)
  local key = metric .. '|' .. (f.cc or '')
  counts[key] = (counts[key] or 0) + n
end
for _, entry in ipairs(entries) do
  local ms = tonumber(string.match(entry[1], '^(%d+)'))
  if ms < first or ms >= after then outside = ms break end
  local f = {}
  for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
  local hour = tostring(math.floor((ms - first) / 3600000))
  local metric = METRICS[f.t]
  if metric then count(hour, metric, f, 1) end
  if f.t == 'send.accepted' then
    local d = cjson.decode(f.d or '{}')
    if not d.test then  -- a configured test number: no SMS left
      count(hour, 'sent', f, 1)
      count(hour, 'parts', f, tonumber(d.parts) or 0)
    end
  end
  last, folded = entry[1], folded + 1
end
if last then
  redis.call('SET', KEYS[2], last)
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[4]))
end
local reply = {'done', '', folded}
if outside then reply[1], reply[2] = 'day', tostring(outside) end
for key, n in pairs(counts) do
  local metric, country = string.match(key, '^([^|]*)|(.*)$')
  reply[#reply + 1] = metric
  reply[#reply + 1] = country
  reply[#reply + 1] = n
end
return reply
