-- A read-only plan: the model answers with one list_dir call.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/agent", nil,
    string.format('{"message": "what is in the workspace?", "session_id": "read-%d"}', n % 50))
end
