-- wrk script: POST /v1/resolve with BATCH random ids per request, ids read
-- from the file named by IDS; or, with MODE=redirect, GET /i/{id}.
local ids = {}
local batch = tonumber(os.getenv("BATCH") or "100")
local mode = os.getenv("MODE") or "resolve"

function init(args)
  -- Quoted once here, not per request: at 1 M ids the client's own
  -- string building (100 new strings a request) capped the rate it could
  -- send below what the tracker answers.
  local quote = mode ~= "redirect"
  for line in io.lines(os.getenv("IDS")) do
    ids[#ids + 1] = quote and ('"' .. line .. '"') or line
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  if mode == "redirect" then
    return wrk.format("GET", "/i/" .. ids[math.random(#ids)])
  end
  local pick = {}
  local n = #ids
  for i = 1, batch do pick[i] = ids[math.random(n)] end
  return wrk.format("POST", "/v1/resolve", {["Content-Type"] = "application/json"},
                    '{"ids":[' .. table.concat(pick, ",") .. ']}')
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
