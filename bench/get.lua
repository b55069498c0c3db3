-- GET /api/v1/intents/{id}, spread over the intents given as arguments.
dofile("common.lua")
local paths, i = {}, 0

function init(args)
   for _, id in ipairs(args) do
      paths[#paths + 1] = "/api/v1/intents/" .. id
   end
end

function request()
   i = i % #paths + 1
   return wrk.format("GET", paths[i])
end

function response(status, headers, body)
   count(status)
end
