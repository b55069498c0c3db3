-- POST .../state on one hot intent from every connection: each request sends the newest
-- version this client has seen, so most lose the race with a 409 carrying current_version.
dofile("common.lua")
local path, version, n = nil, 1, 0

function init(args)
   path = "/api/v1/intents/" .. args[1] .. "/state"
end

function request()
   n = n + 1
   return wrk.format("POST", path, headers_with({ ["If-Match"] = tostring(version) }),
      '{"patches":[{"op":"set","path":"/n","value":' .. n .. '}]}')
end

function response(status, headers, body)
   count(status)
   local seen = tonumber(string.match(body, '"version":(%d+)')
      or string.match(body, '"current_version":(%d+)'))
   if seen and seen > version then
      version = seen
   end
end
