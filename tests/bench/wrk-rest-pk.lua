-- wrk-rest-pk.lua: GET one pgbench_accounts row by primary key through the
-- data API, a random aid per request (as pgbench -S picks one), with the
-- publishable key from KILN_BENCH_APIKEY as apikey and, unless
-- KILN_BENCH_BEARER is set (e.g. a user JWT), as the bearer token too.
-- Reports like wrk-done.lua.
local key = os.getenv("KILN_BENCH_APIKEY") or ""
local bearer = os.getenv("KILN_BENCH_BEARER") or key
local rows = tonumber(os.getenv("KILN_BENCH_ROWS") or "100000")
wrk.headers["apikey"] = key
wrk.headers["Authorization"] = "Bearer " .. bearer
wrk.headers["Accept-Profile"] = "public"
request = function()
  return wrk.format("GET", "/rest/v1/pgbench_accounts?select=aid,bid,abalance&aid=eq." ..
    math.random(1, rows))
end
dofile((os.getenv("KILN_BENCH_DIR") or ".") .. "/wrk-done.lua")
