-- Prepended to every script that calls emit_event( (see redis_store.py): the event of a
-- change is appended by the script that makes the change, to a stream in the same slot.
-- Fields (all strings): t type, c client, v verification id, cc ISO country, px number
-- prefix, ph masked phone, d JSON object of the type's own data. The entry id is the time.
-- Never a code, a hash, a key, a secret or a full phone number.
local function emit_event(stream_key, etype, client, vid, country, prefix, masked, data_table)
  local d = '{}'
  if data_table ~= nil and next(data_table) ~= nil then d = cjson.encode(data_table) end
  return redis.call('XADD', stream_key, '*', 't', etype, 'c', client or '', 'v', vid or '',
    'cc', country or '', 'px', prefix or '', 'ph', masked or '', 'd', d)
end

-- The number prefix and the mask of an E.164 number, as domain/phone.py computes them: the
-- prefix is the digits but the last `drop`, the mask stars the last max(4, drop); a prefix
-- longer than the mask's visible part (drop < 4) has its surplus starred (mask_prefix).
local function phone_prefix(e164, drop)
  if not e164 or e164 == '' then return '' end
  local digits = string.sub(e164, 2)
  local prefix = string.sub(digits, 1, math.max(#digits - drop, 1))
  local surplus = math.min(math.max(math.max(4, drop) - drop, 0), #prefix)
  return string.sub(prefix, 1, #prefix - surplus) .. string.rep('*', surplus)
end

local function phone_mask(e164, drop)
  if not e164 or e164 == '' then return '' end
  local hide = math.min(math.max(4, drop), #e164 - 1)
  return string.sub(e164, 1, #e164 - hide) .. string.rep('*', hide)
end

-- A public verification id from its 32-hex head (tag + slot) and its binary rid.
local function vid_of(head, rid)
  return head .. string.gsub(rid, '.', function(c) return string.format('%02x', string.byte(c)) end)
end

-- For scripts that also read a verification (verification.lua is prepended before this
-- file): the event of its change, with client, country, prefix and mask from the record.
-- `head` is the id's first 32 hex digits (phone tag + slot).
local function emit_verification_event(stream_key, etype, v, head, data_table)
  local drop = v[DROP] or 4
  return emit_event(stream_key, etype, v[CLIENT], vid_of(head, v[RID]), v[COUNTRY] or '',
    phone_prefix(v[PHONE], drop), phone_mask(v[PHONE], drop), data_table)
end

-- A refused request is no event (a flood would fill memory) but a count per minute, client,
-- policy and country, in a per-day hash that lives as long as the events do. `n` (default 1):
-- refusals counted in process and written together (events/lua/refusal_counts.lua).
local function count_refusal(key, ttl_ms, client, policy, country, n)
  local t = redis.call('TIME')
  local minute = math.floor(tonumber(t[1]) / 60)
  redis.call('HINCRBY', key, minute .. '|' .. (client or '') .. '|' .. policy .. '|' ..
    (country or ''), n or 1)
  redis.call('PEXPIRE', key, ttl_ms)
end
