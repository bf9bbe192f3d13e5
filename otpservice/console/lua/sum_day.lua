-- Sums of one day's counters for the console's pages, added up inside Redis so a busy day's
-- thousands of fields never cross the network (read only: it changes nothing).
-- KEYS[1]  a day's statistics hash (fields hour|metric|client|country|prefix) or refusal
--          hash (fields minute|client|policy|country, the minute since the epoch)
-- ARGV[1]  "hourly": sums by hour|metric;  "refusals": sums by hour|policy (epoch hours);
--          "areas": sums by c|country|metric and p|prefix|metric for hours >= ARGV[2]
-- Returns  {key, n, key, n, ...}
local mode = ARGV[1]
local first_hour = tonumber(ARGV[2] or "0")
local flat = redis.call("HGETALL", KEYS[1])
local sums = {}
local function add(key, n)
  sums[key] = (sums[key] or 0) + n
end
for i = 1, #flat, 2 do
  local field, n = flat[i], tonumber(flat[i + 1])
  local a = string.find(field, "|", 1, true)
  local b = string.find(field, "|", a + 1, true)
  if mode == "hourly" then
    add(string.sub(field, 1, b - 1), n)
  elseif mode == "refusals" then
    local c = string.find(field, "|", b + 1, true)
    local hour = math.floor(tonumber(string.sub(field, 1, a - 1)) / 60)
    add(hour .. "|" .. string.sub(field, b + 1, c - 1), n)
  elseif tonumber(string.sub(field, 1, a - 1)) >= first_hour then
    local c = string.find(field, "|", b + 1, true)
    local d = string.find(field, "|", c + 1, true)
    local metric = string.sub(field, a + 1, b - 1)
    add("c|" .. string.sub(field, c + 1, d - 1) .. "|" .. metric, n)
    add("p|" .. string.sub(field, d + 1) .. "|" .. metric, n)
  end
end
local out = {}
for key, n in pairs(sums) do
  out[#out + 1] = key
  out[#out + 1] = n
end
return out
