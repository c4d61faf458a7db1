-- wrk script for the Dedicated Tokenizer (bench/tokenizer/run.sh sets the environment).
--   BENCH_PATH      /grant/verify (as the application) or /detokenize (as the user)
--   BENCH_JWT_VAR   name of the variable holding the JWT to send (BENCH_APP_JWT / BENCH_USER_JWT)
--   BENCH_TOKENS    comma-separated tokens the session has read grants for
--   BENCH_SESSION   that session id
-- Requests cycle through the tokens, so lookups are not all for one key.
local tokens = {}
for t in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do
  tokens[#tokens + 1] = t
end
local session = os.getenv("BENCH_SESSION") or "bench-session"
local path = os.getenv("BENCH_PATH") or "/grant/verify"
local jwt = os.getenv(os.getenv("BENCH_JWT_VAR") or "BENCH_APP_JWT")
local headers = { ["content-type"] = "application/json", ["authorization"] = jwt }

-- Pre-build the requests once: wrk's Lua runs per request, keep it cheap.
local requests = {}
for i, t in ipairs(tokens) do
  local body
  if path == "/grant/verify" then
    body = '{"sessionId":"' .. session .. '","tokenId":"' .. t .. '","grantType":"read_token"}'
  else
    body = '{"tokenId":"' .. t .. '"}'
  end
  requests[i] = wrk.format("POST", path, headers, body)
end

local i = 0
request = function()
  i = i % #requests + 1
  return requests[i]
end
