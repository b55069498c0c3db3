-- Shared by the scenario scripts (loaded with dofile; wrk runs from this directory).
-- Counts responses by outcome per thread and prints one machine-readable line at the end.
ok, conflicts, failed = 0, 0, 0
local threads = {}

function count(status)
   if status < 300 then
      ok = ok + 1
   elseif status == 409 then
      conflicts = conflicts + 1
   else
      failed = failed + 1
   end
end

function setup(thread)
   table.insert(threads, thread)
end

function done(summary, latency, requests)
   local o, c, f = 0, 0, 0
   for _, thread in ipairs(threads) do
      o = o + thread:get("ok")
      c = c + thread:get("conflicts")
      f = f + thread:get("failed")
   end
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d ok=%d conflicts=%d failed=%d socket_errors=%d"
         .. " p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.duration, o, c, f,
      e.connect + e.read + e.write + e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

-- wrk.format replaces wrk.headers (the -H flags) when given a table: merge them instead.
function headers_with(extra)
   local merged = {}
   for k, v in pairs(wrk.headers) do
      merged[k] = v
   end
   for k, v in pairs(extra) do
      merged[k] = v
   end
   return merged
end
