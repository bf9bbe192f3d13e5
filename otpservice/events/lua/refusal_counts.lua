-- Refusals decided before any script ran (events/refusals.py), written a second's worth at a
-- time with the refusing scripts' own helper (events.lua's count_refusal): the same fields,
-- the same per-day hash and retention, the minute from Redis's clock.
-- KEYS[1] today's shared refusal counts (otp:{g}:rf:<day>)
-- ARGV[1] their ttl ms; then groups of four: ARGV[i] client, ARGV[i+1] policy,
-- ARGV[i+2] country (ISO, or ''), ARGV[i+3] how many
-- Returns the number of groups written.
local groups = 0
for i = 2, #ARGV - 3, 4 do
  count_refusal(KEYS[1], ARGV[1], ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]))
  groups = groups + 1
end
return groups
