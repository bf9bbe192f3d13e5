-- The fraud guard, prepended to shared_reserve (see redis_store.load_script_source).
-- Conversion per prefix and per country: a zset of numbers sent to and not approved
-- (member = phone tag, score = last send ms) and one of numbers approved (score = the send).
-- "Settled" numbers: sent longer than the settle time ago, or approved; a prefix whose
-- settled numbers in the window reach the minimum with a conversion below the threshold
-- is blocked; until then at most that many unconverted numbers may be in flight (settling).
-- A prefix with strikes (blocked before, not yet decayed) is on probation: one settled
-- unconverted number blocks it again, and it gets one number in flight.
--
-- Guard keys, from index G:  G+0 prefix block  G+1 prefix strikes  G+2 prefix sent
-- G+3 prefix approved  G+4 country block  G+5 country strikes  G+6 country sent
-- G+7 country approved  G+8 returning marker (the phone)  G+9 prefix would-be block
-- G+10 country alert flag  G+11 budget alert times (hash)  G+12 block index (zset)
-- Events go to ctx.stream (the shared stream, shared_reserve's KEYS[4]) through emit_event.

local function guard_params(spec)
  local p = {}
  for n in string.gmatch(spec, '[^,]+') do p[#p + 1] = tonumber(n) end
  return {mode = p[1], window = p[2], settle = p[3], min = p[4], conv = p[5], block = p[6],
          esc = p[7], max = p[8], decay = p[9], cmin = p[10], cconv = p[11]}
end

local function guard_event(stream, etype, ctx, data)
  emit_event(stream, etype, ctx.client, '', ctx.country, ctx.prefix, ctx.masked, data)
end

-- Counts over the window: settled numbers, approvals, numbers still settling (young), and
-- the oldest young send's time.
local function guard_counts(sent, approved, g, now)
  redis.call('ZREMRANGEBYSCORE', sent, '-inf', now - g.window)
  redis.call('ZREMRANGEBYSCORE', approved, '-inf', now - g.window)
  local old = redis.call('ZCOUNT', sent, '-inf', now - g.settle)
  local young = redis.call('ZCOUNT', sent, '(' .. (now - g.settle), '+inf')
  local ok = redis.call('ZCARD', approved)
  return old + ok, ok, young
end

local function low(approvals, total, conv_milli)
  return approvals * 1000 < conv_milli * total
end

-- A block that escalates with strikes; the evidence is the block's value and its event.
local function guard_block(block_key, strikes_key, index_key, member, g, evidence, ctx, stream)
  local strikes = tonumber(redis.call('GET', strikes_key) or '0')
  local ms = math.min(g.block * (g.esc ^ strikes), g.max)
  ms = math.floor(ms)
  evidence.strikes = strikes + 1
  evidence.block_seconds = ms / 1000
  evidence.window_seconds = g.window / 1000
  evidence.mode = 'enforce'
  redis.call('SET', block_key, cjson.encode(evidence), 'PX', ms)
  redis.call('SET', strikes_key, strikes + 1, 'PX', ms + g.decay)
  local now = evidence.at
  redis.call('ZREMRANGEBYSCORE', index_key, '-inf', now)
  redis.call('ZADD', index_key, now + ms, member)
  redis.call('PEXPIRE', index_key, g.max + 1000)
  guard_event(stream, 'guard.blocked', ctx, evidence)
  return ms
end

-- Before the budgets: a live block refuses at once (enforce mode only).
local function guard_refusal(G, mode)
  if mode ~= 2 then return nil end
  local ttl = redis.call('PTTL', KEYS[G])
  if ttl > 0 then return ttl end
  ttl = redis.call('PTTL', KEYS[G + 4])
  if ttl > 0 then return ttl end
  return nil
end

-- After the budgets passed: judge the country, then the prefix (this send not yet counted).
-- Returns {refuse_ms or nil, flag} where flag names what happened ("" = nothing).
local function guard_judge(G, g, ctx, now, country_blockable)
  local stream = ctx.stream
  local flag = ''
  local function note(f) if flag == '' then flag = f else flag = flag .. '+' .. f end end

  local cs, cok, cyoung = guard_counts(KEYS[G + 6], KEYS[G + 7], g, now)
  local country_low = cs >= g.cmin and low(cok, cs, g.cconv)
  if country_low then
    local cevidence = {scope = 'country', country = ctx.country, sends = cs, approvals = cok,
                       settling = cyoung, at = now, window_seconds = g.window / 1000}
    if country_blockable and g.mode == 2 then
      local ms = guard_block(KEYS[G + 4], KEYS[G + 5], KEYS[G + 12], 'c:' .. ctx.country, g,
        cevidence, ctx, stream)
      redis.call('DEL', KEYS[G + 6], KEYS[G + 7])
      return {ms, 'country_blocked'}
    end
    if redis.call('SET', KEYS[G + 10], '1', 'PX', g.block, 'NX') then
      cevidence.mode = g.mode == 2 and 'enforce' or 'monitor'
      guard_event(stream, 'guard.country_alert', ctx, cevidence)
      note('country_alert')
    end
  end

  local settled, ok, young = guard_counts(KEYS[G + 2], KEYS[G + 3], g, now)
  -- How much evidence blocks, and how many unconverted numbers may be in flight: a prefix
  -- with strikes is on probation (one of each); in a country whose conversion is low, a
  -- prefix that has not converted yet gets one number in flight and is blocked on two.
  local min, cap = g.min, g.min
  if tonumber(redis.call('GET', KEYS[G + 1]) or '0') > 0 then
    min, cap = 1, 1
  elseif country_low and ok == 0 then
    min, cap = math.min(2, g.min), 1
  end
  local evidence = {scope = 'prefix', prefix = ctx.prefix, country = ctx.country,
                    sends = settled, approvals = ok, settling = young, at = now}
  if settled >= min and low(ok, settled, g.conv) then
    if g.mode == 2 then
      local ms = guard_block(KEYS[G], KEYS[G + 1], KEYS[G + 12], 'p:' .. ctx.prefix, g,
        evidence, ctx, stream)
      redis.call('DEL', KEYS[G + 2], KEYS[G + 3])
      return {ms, 'guard_blocked'}
    end
    if redis.call('SET', KEYS[G + 9], '1', 'PX', g.block, 'NX') then
      evidence.mode = 'monitor'
      evidence.block_seconds = g.block / 1000
      evidence.window_seconds = g.window / 1000
      guard_event(stream, 'guard.blocked', ctx, evidence)
      note('monitor_blocked')
    end
  elseif g.mode == 2 and young >= cap and low(ok, settled + young, g.conv) then
    -- As many unconverted numbers in flight as may be: the next waits until the oldest
    -- of them has had its chance to convert.
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[G + 2], '(' .. (now - g.settle), '+inf',
      'WITHSCORES', 'LIMIT', 0, 1)
    return {math.max(tonumber(oldest[2]) + g.settle - now, 1), 'guard_settling'}
  end
  return {nil, flag}
end

-- The send goes ahead: it joins the prefix's and the country's unconverted numbers.
-- Returns "1" when the number was not yet among them (a definite failure takes it out).
local function guard_record(G, g, tag, now)
  local added = '0'
  if not redis.call('ZSCORE', KEYS[G + 2], tag) then added = '1' end
  redis.call('ZADD', KEYS[G + 2], now, tag)
  redis.call('PEXPIRE', KEYS[G + 2], g.window)
  redis.call('ZADD', KEYS[G + 6], now, tag)
  redis.call('PEXPIRE', KEYS[G + 6], g.window)
  return added
end

-- A refusal by a shared budget is an alert: one event per budget window.
local function budget_alert(G, ctx, policy, counter_key, retry_ms, now)
  local last = tonumber(redis.call('HGET', KEYS[G + 11], counter_key) or '0')
  if last > now then return false end
  redis.call('HSET', KEYS[G + 11], counter_key, now + retry_ms)
  redis.call('PEXPIRE', KEYS[G + 11], 86400000 * 2)
  guard_event(ctx.stream, 'budget.exhausted', ctx,
    {policy = policy, retry_seconds = math.ceil(retry_ms / 1000)})
  return true
end
