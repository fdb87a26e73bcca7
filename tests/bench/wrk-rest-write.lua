-- wrk-rest-write.lua: POST the 1,000-row JSON array in KILN_BENCH_WRITE_BODY
-- to the URL wrk was given, as postgrest-js sends .insert([...]) (publishable
-- key from KILN_BENCH_APIKEY, no Prefer: return=minimal is the default).
-- Reports like wrk-done.lua.
local key = os.getenv("KILN_BENCH_APIKEY") or ""
local f = assert(io.open(os.getenv("KILN_BENCH_WRITE_BODY") or "", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["apikey"] = key
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Content-Profile"] = "public"
dofile((os.getenv("KILN_BENCH_DIR") or ".") .. "/wrk-done.lua")
