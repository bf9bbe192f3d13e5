-- Read a verification (phone tag), as a flat list in the record's field order.
-- KEYS[1] verification. Returns {} when there is none.
local v = load_verification(KEYS[1])
if not v then return {} end
return v
