"""Redis storage: the key schema, the Lua scripts, and the store that runs them."""
