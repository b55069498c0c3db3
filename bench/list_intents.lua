-- GET /api/v1/intents?limit=50: the first page of the newest intents (210 exist).
dofile("common.lua")

function request()
   return wrk.format("GET", "/api/v1/intents?limit=50")
end

function response(status, headers, body)
   count(status)
end
