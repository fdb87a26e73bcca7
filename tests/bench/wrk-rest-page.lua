-- wrk-rest-page.lua: GET a page of 100 pgbench_accounts rows as JSON through
-- the data API (aid >= N ordered by aid, limit 100, a random N per request),
-- with the publishable key from KILN_BENCH_APIKEY. Reports like
-- wrk-done.lua.
local key = os.getenv("KILN_BENCH_APIKEY") or ""
local rows = tonumber(os.getenv("KILN_BENCH_ROWS") or "100000")
wrk.headers["apikey"] = key
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Accept-Profile"] = "public"
request = function()
  return wrk.format("GET", "/rest/v1/pgbench_accounts?select=aid,bid,abalance&aid=gte." ..
    math.random(1, rows - 100) .. "&order=aid&limit=100")
end
dofile((os.getenv("KILN_BENCH_DIR") or ".") .. "/wrk-done.lua")
