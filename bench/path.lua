-- GET the path given as the argument (a list page, a search, the counts).
dofile("common.lua")
local path

function init(args)
   path = args[1]
end

function request()
   return wrk.format("GET", path)
end

function response(status, headers, body)
   count(status)
end
