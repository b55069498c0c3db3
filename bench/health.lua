-- GET /health: no auth, no database. A calibration floor for the framework and server.
dofile("common.lua")
wrk.path = "/health"

function response(status, headers, body)
   count(status)
end
