-- Signed WhatsApp Cloud API deliveries, each with its own message id, paced to a total rate.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")
local deliveries = dofile(os.getenv("BENCH_BODIES"))
local connections = tonumber(os.getenv("BENCH_CONNECTIONS"))
local rate = tonumber(os.getenv("BENCH_RATE"))
local i = 0
init = function(args)
  i = tonumber(os.getenv("BENCH_THREAD_OFFSET") or "0")  -- where to start in the list
end
request = function()
  i = i + 1
  local d = deliveries[(i % #deliveries) + 1]
  return wrk.format("POST", "/provider/meta",
    {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = d[2]}, d[1])
end
-- Each connection waits so that all of them together send about `rate` requests a second.
delay = function()
  return math.floor(1000 * connections / rate)
end
