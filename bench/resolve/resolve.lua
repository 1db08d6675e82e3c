-- wrk script: POST /v1/resolve with BATCH random ids per request, ids read
-- from the file named by IDS; or, with MODE=redirect, GET /i/{id} of one.
local ids = {}
local batch = tonumber(os.getenv("BATCH") or "100")
local mode = os.getenv("MODE") or "resolve"
-- Resolve requests are built at start, this many, each of BATCH ids drawn
-- at random from the whole file, and sent in random order: building them
-- per request (100 random picks from a table of a million, then the
-- concatenation) kept wrk's own core busier than the tracker's at 1 M ids,
-- so the client's stalls showed in the tracker's p99. 10,000 batches of
-- 100 draw a million ids, so the tracker still reads its whole index.
-- Redirects are built at start too, one id each, 100,000 of them: drawn per
-- request from a table of a million ids, the client's garbage collector
-- walked that table over and over and wrk, not the tracker, set the rate.
local prebuilt = tonumber(os.getenv("PREBUILT") or
                          (mode == "redirect" and "100000" or "10000"))
local requests = {}

function init(args)
  local quote = mode ~= "redirect"
  for line in io.lines(os.getenv("IDS")) do
    ids[#ids + 1] = quote and ('"' .. line .. '"') or line
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  local n = #ids
  local pick = {}
  for r = 1, prebuilt do
    if mode == "redirect" then
      requests[r] = wrk.format("GET", "/i/" .. ids[math.random(n)])
    else
      for i = 1, batch do pick[i] = ids[math.random(n)] end
      requests[r] = wrk.format("POST", "/v1/resolve",
                               {["Content-Type"] = "application/json"},
                               '{"ids":[' .. table.concat(pick, ",") .. ']}')
    end
  end
  ids = nil
end

function request()
  return requests[math.random(prebuilt)]
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
