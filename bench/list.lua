-- GET .../events?limit=100 on an intent with more than 100 events.
dofile("common.lua")
local path

function init(args)
   path = "/api/v1/intents/" .. args[1] .. "/events?limit=100"
end

function request()
   return wrk.format("GET", path)
end

function response(status, headers, body)
   count(status)
end
