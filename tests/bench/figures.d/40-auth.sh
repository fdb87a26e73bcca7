# shellcheck shell=bash disable=SC2154
# Sourced by tests/bench/run (see docs/bench.md).
# Auth API (issue 5's performance targets), each against its anchor in the
# same invocation:
# - password sign-in (POST /auth/v1/token?grant_type=password, one account)
#   vs the raw argon2id bound: pgbench running kiln.verify_password against
#   the same stored hash, both on 4 connections (the pool's size on this
#   machine); sign-in is bounded by argon2id, target >= 0.8;
# - the refresh-token grant (every request rotates a token of its own
#   session) vs pgbench -S -M prepared; target >= 0.5;
# - what bounds that figure: the same rotation as SQL, pgbench calling
#   auth.refresh_session on BENCH_CONNECTIONS sessions (one per client,
#   each transaction storing the successor in bench_refresh), vs pgbench -S
#   (docs/auth.md, Performance);
# - the backend CPU one refresh costs: one pgbench client calling
#   auth.refresh_session, its backend's utime + stime from /proc/PID/stat
#   over the run divided by the refreshes done (info; lower is better).
auth_pw='kiln bench passphrase 1'
auth_email=bench-signin@example.com
psql_bench -c "CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE" >/dev/null 2>&1 || true
psql_bench -c "SELECT kiln.rotate_signing_key('ES256') WHERE NOT EXISTS
                 (SELECT 1 FROM kiln.jwt_keys WHERE signing AND retired_at IS NULL)" >/dev/null
psql_bench -c "SELECT auth.admin_create_user(jsonb_build_object('email', '$auth_email',
                 'password', '$auth_pw', 'email_confirm', true))" >/dev/null
auth_hash=$(psql_bench -A -t -c "SELECT encrypted_password FROM auth.users WHERE email = '$auth_email'")
printf "SELECT kiln.verify_password('%s', '%s');\n" "$auth_pw" "$auth_hash" >"$root/argon2-verify.sql"
chmod a+r "$root/argon2-verify.sql"
# One session per pgbench client (:client_id), its current token in a row.
psql_bench -c "DROP TABLE IF EXISTS bench_refresh" \
  -c "CREATE TABLE bench_refresh (c int PRIMARY KEY, t text NOT NULL)" \
  -c "INSERT INTO bench_refresh SELECT g, auth.sign_in_password('$auth_email', '$auth_pw') ->> 'refresh_token'
        FROM generate_series(0, $((BENCH_CONNECTIONS - 1))) g" >/dev/null
printf "UPDATE bench_refresh SET t = auth.refresh_session(t) ->> 'refresh_token' WHERE c = :client_id;\n" \
  >"$root/refresh-sql.sql"
chmod a+r "$root/refresh-sql.sql"
# The CPU figure's session: row -1.
psql_bench -c "INSERT INTO bench_refresh SELECT -1, auth.sign_in_password('$auth_email', '$auth_pw') ->> 'refresh_token'" >/dev/null
printf "UPDATE bench_refresh SET t = auth.refresh_session(t) ->> 'refresh_token' WHERE c = -1;\n" \
  >"$root/refresh-cpu.sql"
chmod a+r "$root/refresh-cpu.sql"

# refresh_cpu_us: microseconds of backend CPU per refresh, one pgbench
# client; measured from 1 s into the run to its last second.
refresh_cpu_us() {
  local secs=${MEASURE_SECONDS:-$BENCH_SECONDS} pb pid t0 t1 n0 n1 rc=0 hz
  hz=$(getconf CLK_TCK)
  "$PG_BIN/pgbench" -n -c 1 -T "$((secs + 2))" -h 127.0.0.1 -p "$pg_port" -U postgres \
    -f "$root/refresh-cpu.sql" postgres >"$root/refresh-cpu.out" 2>&1 &
  pb=$!
  sleep 1
  pid=$(psql_bench -A -t -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1")
  count() { psql_bench -A -t -c "SELECT count(*) FROM auth.refresh_tokens"; }
  ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null; }
  n0=$(count); t0=$(ticks)
  sleep "$secs"
  t1=$(ticks); n1=$(count)
  wait "$pb" || rc=$?
  cat "$root/refresh-cpu.out" >&2
  if [ -z "$pid" ] || [ -z "$t0" ] || [ -z "$t1" ] || [ "$rc" -ne 0 ] || [ "$n1" -le "$n0" ]; then
    echo "0|us|pgbench or /proc/$pid/stat failed (exit $rc)|"
    return 0
  fi
  awk -v a="$t0" -v b="$t1" -v m="$n0" -v n="$n1" -v hz="$hz" \
    'BEGIN { printf "%.0f|us||%d refreshes, %.2f s of backend CPU\n", (b - a) / hz * 1e6 / (n - m), n - m, (b - a) / hz }'
}
if [ -n "${KILN_URL:-}" ]; then
  KILN_BENCH_AUTH_KEY=$(psql_bench -A -t -c "SELECT kiln.create_api_key('publishable')")
  KILN_BENCH_REFRESH_FILE=$root/refresh-tokens.txt
  # Sessions for every connection of every run: each run hands the unused
  # tokens to the next and loses the ones in flight when it stops.
  psql_bench -A -t -c "SELECT auth.sign_in_password('$auth_email', '$auth_pw') ->> 'refresh_token'
                         FROM generate_series(1, $((BENCH_CONNECTIONS * (BENCH_RUNS + 3))))" >"$KILN_BENCH_REFRESH_FILE"
  export KILN_BENCH_AUTH_KEY KILN_BENCH_REFRESH_FILE KILN_BENCH_DIR=$bench_dir KILN_BENCH_THREADS=$BENCH_CLIENT_THREADS
  export KILN_BENCH_EMAIL=$auth_email KILN_BENCH_PASSWORD=$auth_pw
fi
figure "Auth: password sign-ins vs argon2id verifications (4 connections; target >= 0.8)" \
  "pgbench kiln.verify_password, 4 clients" \
  "pgbench_rate -c 4 -j 2 -f $root/argon2-verify.sql" \
  "wrk_rate ${KILN_URL:-}/ -c 4 -t 2 -s $bench_dir/wrk-auth-signin.lua"
figure "Auth: refresh-token grant vs pgbench -S -M prepared (target >= 0.5)" "pgbench -S -M prepared" \
  "pgbench_rate -S -M prepared" \
  "wrk_rate ${KILN_URL:-}/ -s $bench_dir/wrk-auth-refresh.lua"
figure "Auth: refresh as SQL (pgbench auth.refresh_session) vs pgbench -S -M prepared" "pgbench -S -M prepared" \
  "pgbench_rate -S -M prepared" \
  "pgbench_rate -M prepared -f $root/refresh-sql.sql"
info "Auth: backend CPU per refresh (one pgbench client calling auth.refresh_session; lower is better)" \
  "refresh_cpu_us"
