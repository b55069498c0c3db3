-- GET /api/v1/intents?limit=50&offset=N, N going round 0..159: more distinct pages than a
-- reader keeps (store/sqlite/core.py: ReadCache), so every page is read from the database.
dofile("common.lua")
local n = 0

function request()
   n = (n + 1) % 160
   return wrk.format("GET", "/api/v1/intents?limit=50&offset=" .. n)
end

function response(status, headers, body)
   count(status)
end
