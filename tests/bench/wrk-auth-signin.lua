-- wrk-auth-signin.lua: password sign-in through the auth API
-- (POST /auth/v1/token?grant_type=password) for one account, with the
-- publishable key from KILN_BENCH_AUTH_KEY and the credentials from
-- KILN_BENCH_EMAIL / KILN_BENCH_PASSWORD. Reports like wrk-done.lua.
local key = os.getenv("KILN_BENCH_AUTH_KEY") or ""
wrk.method = "POST"
wrk.path = "/auth/v1/token?grant_type=password"
wrk.headers["apikey"] = key
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Supabase-Api-Version"] = "2024-01-01"
wrk.body = string.format('{"email":"%s","password":"%s"}',
  os.getenv("KILN_BENCH_EMAIL") or "", os.getenv("KILN_BENCH_PASSWORD") or "")
dofile((os.getenv("KILN_BENCH_DIR") or ".") .. "/wrk-done.lua")
