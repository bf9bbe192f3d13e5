-- The breaker as it stands (read only). KEYS[1] breaker hash (under {g}).
-- Returns {"closed"|"open"|"half", ms until a probe may go (0 when none)}.
local st = redis.call("HGET", KEYS[1], "st") or "closed"
if st == "closed" then return {st, "0"} end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free_at = tonumber(redis.call("HGET", KEYS[1], st == "open" and "until" or "pexp") or "0")
return {st, tostring(math.max(0, free_at - now))}
