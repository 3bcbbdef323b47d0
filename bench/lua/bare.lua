dofile(os.getenv("BENCH_LUA") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message": "what is in the workspace?", "session_id": "bare"}'
wrk.path = "/echo"
