-- Park then confirm: a write plan, then "confirm <token>" from the same session.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local tokens = {}
local sid = nil
init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  sid = "pc-" .. math.random(1, 1000000000)
end
request = function()
  if #tokens > 0 then
    local token = table.remove(tokens, 1)
    return wrk.format(nil, "/agent", nil,
      '{"message": "confirm ' .. token .. '", "session_id": "' .. sid .. '"}')
  end
  return wrk.format(nil, "/agent", nil, '{"message": "write the report", "session_id": "' .. sid .. '"}')
end
response = function(status, headers, body)
  local token = string.match(body, '"token":"([^"]+)"')
  if token then table.insert(tokens, token) end
end
