-- Signed WhatsApp Cloud API deliveries, each with its own message id, sent on a fixed
-- schedule: request n goes out at start + n/rate whatever the latency so far, so a slow
-- answer does not lower the rate offered (wrk's plain delay() would).
dofile(os.getenv("BENCH_LUA") .. "/report.lua")
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } lp_timespec; int clock_gettime(int, lp_timespec *); ]]
local ts = ffi.new("lp_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local deliveries = dofile(os.getenv("BENCH_BODIES"))
local rate = tonumber(os.getenv("BENCH_RATE"))
local i, slot, start = 0, 0, nil
init = function(args)
  i = tonumber(os.getenv("BENCH_THREAD_OFFSET") or "0")  -- where to start in the list
end
request = function()
  i = i + 1
  local d = deliveries[(i % #deliveries) + 1]
  return wrk.format("POST", "/provider/meta",
    {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = d[2]}, d[1])
end
-- Called before each request on any connection: each call takes the next free slot.
delay = function()
  local now = now_ms()
  start = start or now
  local at = start + slot * 1000 / rate
  slot = slot + 1
  return math.max(0, math.floor(at - now))
end
