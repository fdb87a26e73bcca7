-- wrk-auth-refresh.lua: the refresh-token grant through the auth API
-- (POST /auth/v1/token?grant_type=refresh_token), every request rotating a
-- token: each thread starts with its share of the refresh tokens listed
-- one per line in KILN_BENCH_REFRESH_FILE (one session each) and uses the
-- successor each answer returns, so no token is presented twice. At the end
-- the tokens still unused are written back to the file for the next run
-- (a request in flight when wrk stops loses its session; the figure's setup
-- makes enough sessions for that). Reports like wrk-done.lua.
local key = os.getenv("KILN_BENCH_AUTH_KEY") or ""
local file = os.getenv("KILN_BENCH_REFRESH_FILE") or ""
local counter = 0
local threads = {}

-- Runs in the main state: numbers the threads (KILN_BENCH_THREADS of them).
setup = function(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

init = function(args)
  local all = {}
  for line in io.lines(file) do
    if #line > 0 then table.insert(all, line) end
  end
  tokens = {}
  local n = tonumber(os.getenv("KILN_BENCH_THREADS") or "1")
  for i, t in ipairs(all) do
    if (i - 1) % n == id then table.insert(tokens, t) end
  end
  last = tokens[1]
end

request = function()
  local t = table.remove(tokens, 1) or last
  return wrk.format("POST", "/auth/v1/token?grant_type=refresh_token", {
    ["apikey"] = key, ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json", ["X-Supabase-Api-Version"] = "2024-01-01",
  }, '{"refresh_token":"' .. t .. '"}')
end

response = function(status, headers, body)
  local t = body:match('"refresh_token": ?"([^"]+)"')
  if t then
    table.insert(tokens, t)
    last = t
  end
end

dofile((os.getenv("KILN_BENCH_DIR") or ".") .. "/wrk-done.lua")
local report = done
done = function(summary, latency, requests)
  local f = io.open(file, "w")
  for _, t in ipairs(threads) do
    for _, tok in ipairs(t:get("tokens") or {}) do f:write(tok, "\n") end
  end
  f:close()
  report(summary, latency, requests)
end
