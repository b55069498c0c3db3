-- POST .../state where every in-flight request owns its intent: a request takes a free intent
-- and its response (which carries id and version) returns it. With as many intents as
-- connections (load.py adds spares), no two requests ever race: every patch should succeed.
dofile("common.lua")
local free, version, n = {}, {}, 0

function init(args)
   for _, id in ipairs(args) do
      free[#free + 1] = id
      version[id] = 1
   end
end

function request()
   local id = table.remove(free) or next(version)  -- fallback would only show as a 409
   n = n + 1
   return wrk.format("POST", "/api/v1/intents/" .. id .. "/state",
      headers_with({ ["If-Match"] = tostring(version[id]) }),
      '{"patches":[{"op":"set","path":"/n","value":' .. n .. '}]}')
end

function response(status, headers, body)
   count(status)
   local id = string.match(body, '^{"id":"([^"]+)"')
   if id then
      version[id] = tonumber(string.match(body, '"version":(%d+)'))
      free[#free + 1] = id
   end
end
