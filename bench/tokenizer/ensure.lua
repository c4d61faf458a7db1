-- wrk script: anonymous GET /session/ensure, the flood of issue 12 item 1 (each answer is a 302
-- with a fresh MAC'd state and its cookie; nothing is stored).
local req = wrk.format("GET", "/session/ensure?auth_provider=app")
request = function()
  return req
end
