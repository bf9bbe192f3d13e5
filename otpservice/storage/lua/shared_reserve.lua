-- Send, step 1 (shared tag): idempotency claim and the shared send budgets.
-- Checks everything first and increments only when all pass: a refused request changes nothing.
-- KEYS[1] idempotency hash   KEYS[2] prefix block flag   KEYS[3] prefix numbers (zset)
-- KEYS[4] the shared event stream (prefix.blocked)
-- KEYS[5..] fixed-window counters, in the order of ARGV[9]'s budgets
-- ARGV[1] idempotency on "1"/"0"   ARGV[2] request fingerprint   ARGV[3] claim ttl ms
-- ARGV[4] phone member for the prefix set   ARGV[5] burst numbers (0 = off)
-- ARGV[6] burst window ms   ARGV[7] block ms   ARGV[8] limits on "1"/"0"
-- ARGV[9] the budgets: "limit,period_ms,policy;..." (limit 0 = off)
-- ARGV[10] client  ARGV[11] country (ISO)  ARGV[12] number prefix (for the event)
-- Returns {"ok", added_member "1"/"0"} | {"replay", body} | {"in_progress", ttl_ms}
--       | {"conflict"} | {"limited", policy, retry_ms[, "blocked_now"]}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if ARGV[1] == '1' then
  local state = redis.call('HMGET', KEYS[1], 'st', 'fp', 'body')
  if state[1] then
    if state[2] ~= ARGV[2] then return {'conflict'} end
    if state[1] == 'done' then return {'replay', state[3]} end
    return {'in_progress', tostring(redis.call('PTTL', KEYS[1]))}
  end
end

local added = '0'
if ARGV[8] == '1' then
  local blocked = redis.call('PTTL', KEYS[2])
  if blocked > 0 then return {'limited', 'prefix_blocked', tostring(blocked)} end

  -- Parsed as they are checked: a refusal stops at the budget that refuses.
  local budgets = {}
  for limit, period, policy in string.gmatch(ARGV[9], '(%d+),(%d+),([%w_]+)') do
    local i = #budgets + 1
    budgets[i] = {tonumber(limit), period, policy}
    if budgets[i][1] > 0 then
      local count = tonumber(redis.call('GET', KEYS[4 + i]) or '0')
      if count >= budgets[i][1] then
        local ttl = redis.call('PTTL', KEYS[4 + i])
        if ttl < 0 then ttl = tonumber(period) end
        return {'limited', policy, tostring(ttl)}
      end
    end
  end

  local burst = tonumber(ARGV[5])
  if burst > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[6]))
    if not redis.call('ZSCORE', KEYS[3], ARGV[4]) then
      if redis.call('ZCARD', KEYS[3]) + 1 >= burst then
        -- The shape of SMS pumping: block the whole prefix and refuse this send.
        redis.call('SET', KEYS[2], '1', 'PX', ARGV[7])
        redis.call('DEL', KEYS[3])
        emit_event(KEYS[4], 'prefix.blocked', ARGV[10], '', ARGV[11], ARGV[12], '',
          {block_ms = tonumber(ARGV[7]), numbers = burst, window_ms = tonumber(ARGV[6])})
        return {'limited', 'prefix_blocked', ARGV[7], 'blocked_now'}
      end
      added = '1'
    end
    redis.call('ZADD', KEYS[3], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[3], ARGV[6])
  end

  for i, b in ipairs(budgets) do
    if b[1] > 0 then
      if redis.call('INCR', KEYS[4 + i]) == 1 or redis.call('PTTL', KEYS[4 + i]) < 0 then
        redis.call('PEXPIRE', KEYS[4 + i], b[2])
      end
    end
  end
end

if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'st', 'inflight', 'fp', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return {'ok', added}
