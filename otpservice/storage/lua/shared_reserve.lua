-- Send, step 1 (shared tag): idempotency claim, the fraud guard and the shared send budgets.
-- Checks everything first and increments only when all pass: a refused request changes
-- nothing (but a block the guard decides, and one alert per exhausted budget window).
-- KEYS[1] idempotency hash   KEYS[2] prefix block flag   KEYS[3] prefix numbers (zset)
-- KEYS[4] the shared event stream (prefix.blocked, the guard's and the budgets' events)
-- KEYS[5..] fixed-window counters, in the order of ARGV[9]'s budgets
-- KEYS[G..] the guard's keys (guard.lua), G = ARGV[14]
-- KEYS[R] today's refusal counts (events.lua's count_refusal), R = ARGV[18]
-- ARGV[1] idempotency on "1"/"0"   ARGV[2] request fingerprint   ARGV[3] claim ttl ms
-- ARGV[4] phone member for the prefix set   ARGV[5] burst numbers (0 = off)
-- ARGV[6] burst window ms   ARGV[7] block ms   ARGV[8] limits on "1"/"0"
-- ARGV[9] the budgets: "limit,fresh_limit,period_ms,alert,policy;..." (limit 0 = off;
--   fresh_limit applies to numbers without a recent approval; alert "1": a refusal alerts)
-- ARGV[10] client  ARGV[11] country (ISO)  ARGV[12] number prefix (for the event)
-- ARGV[13] guard spec (guard_params)   ARGV[14] G   ARGV[15] guard may judge this number
-- "1"/"0" (not on the safe list)   ARGV[16] country blockable "1"/"0"   ARGV[17] masked phone
-- ARGV[18] R   ARGV[19] refusal counts' ttl ms
-- Returns {"ok", added_member, guard_added, flag} | {"replay", body} | {"in_progress", ttl_ms}
--       | {"conflict"} | {"limited", policy, retry_ms, flag}
-- flag: "blocked_now" (burst rule), "guard_blocked", "country_blocked", "guard_settling",
--       "budget_alert", "monitor_blocked", "country_alert" or ""
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

local added, gadded, flag = '0', '0', ''
local function refuse(policy, retry_ms, why)
  count_refusal(KEYS[tonumber(ARGV[18])], ARGV[19], ARGV[10], policy, ARGV[11])
  return {'limited', policy, tostring(retry_ms), why}
end
if ARGV[8] == '1' then
  local G = tonumber(ARGV[14])
  local mode = tonumber(string.match(ARGV[13], '^%d+'))  -- the rest is parsed when judging
  local ctx = {client = ARGV[10], country = ARGV[11], prefix = ARGV[12], masked = ARGV[17],
               stream = KEYS[4]}
  -- A number approved recently is a returning customer: the guard never refuses it, and
  -- it may use the budgets' reserved share.
  local returning = redis.call('EXISTS', KEYS[G + 8]) == 1
  local judged = mode > 0 and ARGV[15] == '1' and not returning
  if judged then
    local ttl = guard_refusal(G, mode)
    if ttl then return refuse('fraud_guard', ttl, '') end
  end

  local blocked = redis.call('PTTL', KEYS[2])
  if blocked > 0 then return refuse('prefix_blocked', blocked, '') end

  -- Parsed as they are checked: a refusal stops at the budget that refuses.
  local budgets = {}
  for limit, fresh, period, alert, policy in
      string.gmatch(ARGV[9], '(%d+),(%d+),(%d+),(%d),([%w_:]+)') do
    local i = #budgets + 1
    local cap = tonumber(limit)
    if not returning then cap = tonumber(fresh) end
    budgets[i] = {cap, period}
    if cap > 0 then
      local count = tonumber(redis.call('GET', KEYS[4 + i]) or '0')
      if count >= cap then
        local ttl = redis.call('PTTL', KEYS[4 + i])
        if ttl < 0 then ttl = tonumber(period) end
        if alert == '1' and budget_alert(G, ctx, policy, KEYS[4 + i], ttl, now) then
          flag = 'budget_alert'
        end
        return refuse(policy, ttl, flag)
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
        return refuse('prefix_blocked', ARGV[7], 'blocked_now')
      end
      added = '1'
    end
  end

  local g = judged and guard_params(ARGV[13])
  if judged then
    local verdict = guard_judge(G, g, ctx, now, ARGV[16] == '1')
    if verdict[1] then
      return refuse('fraud_guard', verdict[1], verdict[2])
    end
    flag = verdict[2]
  end

  if burst > 0 then
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
  -- Only numbers the guard judges are its evidence: a returning customer or a safe number
  -- neither counts against its prefix nor for it.
  if judged then gadded = guard_record(G, g, ARGV[4], now) end
end

if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'st', 'inflight', 'fp', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return {'ok', added, gadded, flag}
