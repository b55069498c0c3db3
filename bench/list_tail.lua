-- GET .../events?cursor=51&limit=100 on an intent with 151 events: the last 100, a page
-- that reaches the end of the log, so it is read from the database every time (a full
-- page is answered from memory: api/event_pages.py).
dofile("common.lua")
local path

function init(args)
   path = "/api/v1/intents/" .. args[1] .. "/events?cursor=51&limit=100"
end

function request()
   return wrk.format("GET", path)
end

function response(status, headers, body)
   count(status)
end
