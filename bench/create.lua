-- POST /api/v1/intents: a new intent per request.
dofile("common.lua")
wrk.method = "POST"
wrk.path = "/api/v1/intents"
wrk.body = '{"title":"bench intent","state":{"n":0}}'

function response(status, headers, body)
   count(status)
end
