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
#   (docs/auth.md, Performance).
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
