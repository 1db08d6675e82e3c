-- wrk script: uploads JPEG bodies, every one with distinct bytes.
--
--   wrk -t1 -c16 -d5s --latency -s upload.lua http://127.0.0.1:PORT -- \
--       MODE BODIES_FILE RUN_TAG [PATH_PREFIX]
--
-- MODE "put":  PUT PATH_PREFIX/<aa>/<bb>/<tag>-<n>.jpg (nginx WebDAV, or a
--              Swift container with PATH_PREFIX /v1/<account>/<container>;
--              a new path each time; PATH_PREFIX defaults to "")
-- MODE "post": POST /v1/images (an imgstore tracker)
-- BODIES_FILE lists JPEG files, one path a line; they are read once in init
-- and used in turn. RUN_TAG (a number) must differ between runs: it goes into
-- every body and path, so no two uploads of a benchmark share bytes.
--
-- Distinct bytes: each body is a file followed by a 16-byte trailer, the
-- run tag and a per-thread counter in hex. Bytes after a JPEG's EOI marker
-- are ignored by decoders, and imgstore's check that FF D9 appears in the
-- last 4 KiB still holds, so every body stays a valid JPEG. Both servers get
-- exactly the same sequence of bodies.
--
-- done() prints one machine-readable line for bench/upload/run; "bad" counts
-- responses other than 201 (and 204 for a PUT that replaced a file).

local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
  threads[#threads + 1] = thread
end

local bodies = {}
local mode, tag, prefix
counter = 0
bad = 0
bytes_sent = 0

function init(args)
  mode, tag, prefix = args[1], tonumber(args[3]), args[4] or ""
  if (mode ~= "put" and mode ~= "post") or args[2] == nil or tag == nil then
    error("usage: wrk ... -s upload.lua URL -- put|post BODIES_FILE RUN_TAG [PATH_PREFIX]")
  end
  local list = assert(io.open(args[2], "r"))
  for path in list:lines() do
    if path ~= "" then
      local f = assert(io.open(path, "rb"))
      bodies[#bodies + 1] = f:read("*a")
      f:close()
    end
  end
  list:close()
  if #bodies == 0 then error("no bodies in " .. args[2]) end
  -- Threads of one run share the tag; the thread index keeps them apart.
  tag = tag * 256 + thread_index
  counter = 0
end

local post_headers = {["Content-Type"] = "image/jpeg"}
local put_headers = {["Content-Type"] = "image/jpeg"}

function request()
  counter = counter + 1
  local body = bodies[(counter - 1) % #bodies + 1] ..
               string.format("%08x%08x", tag % 4294967296, counter)
  bytes_sent = bytes_sent + #body
  if mode == "post" then
    return wrk.format("POST", "/v1/images", post_headers, body)
  end
  local path = prefix .. string.format("/%02x/%02x/%x-%x.jpg", counter % 256,
                                      math.floor(counter / 256) % 256, tag, counter)
  return wrk.format("PUT", path, put_headers, body)
end

function response(status, headers, body)
  if status ~= 201 and not (mode == "put" and status == 204) then
    bad = bad + 1
  end
end

function done(summary, latency, _)
  local e = summary.errors
  local nbad, sent, issued = 0, 0, 0
  for _, t in ipairs(threads) do
    nbad = nbad + (tonumber(t:get("bad")) or 0)
    sent = sent + (tonumber(t:get("bytes_sent")) or 0)
    issued = issued + (tonumber(t:get("counter")) or 0)
  end
  -- Bodies still in flight at the end were counted when issued; scale to
  -- the completed requests (wrk also calls request() once to check it).
  if issued > 0 then sent = sent * summary.requests / issued end
  io.write(string.format(
      "RESULT requests=%d duration_us=%d bytes_sent=%d p50_us=%d p90_us=%d " ..
      "p99_us=%d p999_us=%d max_us=%d bad_status=%d connect_errors=%d " ..
      "read_errors=%d write_errors=%d timeouts=%d\n",
      summary.requests, summary.duration, sent,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, nbad, e.connect, e.read, e.write,
      e.timeout))
end
