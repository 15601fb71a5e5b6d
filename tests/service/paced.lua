-- wrk script for the overload test: POST the file LOAD_BODY (content type LOAD_CONTENT_TYPE,
-- plus the header LOAD_HEADER, "Name: value", if set), each connection starting a request
-- every LOAD_PACE_MS (at once if its answer took longer; 0: no pause), so that the offered
-- rate is set by the pacing, not by how fast the server answers (a shed request comes back
-- at once) nor how slowly (a machine shared with other work). Run with as many threads as
-- connections: each thread's one connection then alternates request() and response(), which
-- is what pairs a request with its answer and times them by status. wrk's own latency
-- figures mix answered and shed requests.
-- Prints one JSON line: counts, seconds, and latency percentiles (ms) of 200s and of 503s.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } wrk_timespec;
int clock_gettime(int clock_id, wrk_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("wrk_timespec")

local function now_ms()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
   return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local file = assert(io.open(os.getenv("LOAD_BODY"), "rb"))
local headers = {["Content-Type"] = os.getenv("LOAD_CONTENT_TYPE")}
local name, value = string.match(os.getenv("LOAD_HEADER") or "", "([^:]+):%s*(.*)")
if name then
   headers[name] = value
end
local post = wrk.format("POST", nil, headers, file:read("*a"))
file:close()
local pace = tonumber(os.getenv("LOAD_PACE_MS"))

-- Each thread's own: when its request went out, and each answer's latency by kind.
local sent
answered, shed, retry_after, other = {}, {}, 0, 0

function request()
   sent = now_ms()
   return post
end

function response(status, headers)
   local latency = now_ms() - sent
   if status == 200 then
      answered[#answered + 1] = latency
   elseif status == 503 then
      shed[#shed + 1] = latency
      if headers["Retry-After"] or headers["retry-after"] then
         retry_after = retry_after + 1
      end
   else
      other = other + 1
   end
end

function delay()
   if sent == nil then  -- wrk asks before the first request too
      return 0
   end
   return math.max(0, pace - (now_ms() - sent))
end

local threads = {}

function setup(thread)
   threads[#threads + 1] = thread
end

local function percentiles(latencies)
   table.sort(latencies)
   local function at(p)
      if #latencies == 0 then
         return -1
      end
      return latencies[math.max(1, math.ceil(#latencies * p / 100))]
   end
   return string.format('{"count": %d, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}',
      #latencies, at(50), at(99), at(100))
end

function done(summary)
   local all_answered, all_shed, with_retry_after, others = {}, {}, 0, 0
   for _, thread in ipairs(threads) do
      for _, latency in ipairs(thread:get("answered")) do
         all_answered[#all_answered + 1] = latency
      end
      for _, latency in ipairs(thread:get("shed")) do
         all_shed[#all_shed + 1] = latency
      end
      with_retry_after = with_retry_after + thread:get("retry_after")
      others = others + thread:get("other")
   end
   local e = summary.errors
   io.write(string.format(
      'LOAD_RESULT {"seconds": %.3f, "answered": %s, "shed": %s, "retry_after": %d, ' ..
      '"other_status": %d, "socket_errors": %d, "timeouts": %d}\n',
      summary.duration / 1e6, percentiles(all_answered), percentiles(all_shed),
      with_retry_after, others, e.connect + e.read + e.write, e.timeout))
end
