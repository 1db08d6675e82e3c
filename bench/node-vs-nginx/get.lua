-- wrk script: every request GETs a random path from a list file.
--
--   wrk -t1 -c64 -d5s --latency -s get.lua http://127.0.0.1:PORT -- PATHS_FILE
--
-- PATHS_FILE holds one URL path ("/aa/bb/<id>.jpg") a line. The requests are
-- formatted once in init, so the per-request cost in wrk is one random pick
-- and the client stays as cheap as it can be. done() prints one
-- machine-readable line for bench/node-vs-nginx/run.

local requests = {}

function init(args)
  local file = args[1]
  if file == nil then error("usage: wrk ... -s get.lua URL -- PATHS_FILE") end
  local f = assert(io.open(file, "r"))
  for line in f:lines() do
    if line ~= "" then requests[#requests + 1] = wrk.format("GET", line) end
  end
  f:close()
  if #requests == 0 then error("no paths in " .. file) end
  -- Each thread draws its own sequence; os.time alone would give every
  -- thread started in the same second the same one.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end

function request()
  return requests[math.random(#requests)]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
      "RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d " ..
      "p99_us=%d p999_us=%d max_us=%d connect_errors=%d read_errors=%d " ..
      "write_errors=%d status_errors=%d timeouts=%d\n",
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, e.connect, e.read, e.write,
      e.status, e.timeout))
end
