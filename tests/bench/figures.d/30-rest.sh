# shellcheck shell=bash disable=SC2154
# Sourced by tests/bench/run (see docs/bench.md).
# Data API figures, on pgbench_accounts (scale BENCH_SCALE):
#   - GET one row by primary key (/rest/v1/pgbench_accounts?aid=eq.N, a
#     random N per request, publishable key verified by kiln.authenticate on
#     every request) vs pgbench -S -M prepared (the raw limit), and vs
#     pgbench replaying the exact statements the daemon sends per request
#     the way it sends them: prepared, with the same parameters as bind
#     parameters, in one pipeline (one round trip, one implicit transaction:
#     kiln.authenticate(key, request id, ip, read-only), the SELECT, sync; a read
#     by primary key returns its row without json_agg, docs/rest.md);
#   - the same GET with a user JWT (role authenticated) vs with the
#     publishable key (anon): what verifying a user token costs;
#   - GET a page of 100 rows as JSON vs pgbench replaying its statements;
#   - rows without a ratio: the p99 latency of the one-row GET (median and
#     min-max over its kiln runs, from wrk) and the daemon's RSS, idle at
#     start (05-rss.sh) and its peak under load (VmHWM after these figures).
if [ -n "${KILN_URL:-}" ]; then
  psql_bench -c "CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE" >/dev/null 2>&1
  KILN_BENCH_APIKEY=$(psql_bench -A -t -c "SELECT kiln.create_api_key('publishable')")
  psql_bench -c "GRANT SELECT ON public.pgbench_accounts TO anon, authenticated; NOTIFY kiln, 'reload schema'"
  KILN_BENCH_JWT=$(psql_bench -A -t -c "SELECT kiln.rotate_signing_key('HS256') IS NULL" \
    -c "SELECT kiln.sign_jwt(jsonb_build_object('iss', 'kiln', 'aud', 'authenticated',
          'role', 'authenticated', 'sub', gen_random_uuid(), 'session_id', gen_random_uuid(),
          'email', 'bench@example.com', 'exp', extract(epoch FROM now())::int8 + 7200))" | tail -n 1)
  # What kiln.authenticate gets from the daemon for a GET besides the token
  # (tx.c): a request id, the client ip, read-only.
  KILN_BENCH_REQID=0123456789abcdef0123456789abcdef
  export KILN_BENCH_APIKEY KILN_BENCH_JWT KILN_BENCH_REQID KILN_BENCH_DIR=$bench_dir
  export KILN_BENCH_ROWS=$((BENCH_SCALE * 100000))
  for _ in $(seq 50); do
    s=$(curl -s -o /dev/null -w '%{http_code}' -H "apikey: $KILN_BENCH_APIKEY" \
        "$KILN_URL/rest/v1/pgbench_accounts?select=aid&aid=eq.1")
    [ "$s" = 200 ] && break
    sleep 0.1
  done
  [ "$s" = 200 ] || die "GET /rest/v1/pgbench_accounts answered $s after the schema reload"
  s=$(curl -s -o /dev/null -w '%{http_code}' -H "apikey: $KILN_BENCH_APIKEY" \
      -H "Authorization: Bearer $KILN_BENCH_JWT" "$KILN_URL/rest/v1/pgbench_accounts?select=aid&aid=eq.1")
  [ "$s" = 200 ] || die "GET /rest/v1/pgbench_accounts with a user JWT answered $s"
  # The daemon's statements, as it sends them: the same text, the token,
  # request id, client ip and read-only flag as bind parameters (pgbench -M
  # prepared turns :apikey, :reqid, :ip, :ro and :aid into $n), one pipeline
  # per request, no BEGIN/COMMIT.
  auth_sql='SELECT kiln.authenticate(:apikey, :reqid, :ip, :ro);'
  cat >"$root/rest-replay.sql" <<SQL
\set aid random(1, $KILN_BENCH_ROWS)
\startpipeline
$auth_sql
SELECT (pg_catalog.row_to_json(j0))::text AS body FROM (SELECT k0."aid" AS "aid", k0."bid" AS "bid", k0."abalance" AS "abalance" FROM "public"."pgbench_accounts" AS k0 WHERE k0."aid" = :aid) AS j0;
\endpipeline
SQL
  cat >"$root/rest-replay-page.sql" <<SQL
\set aid random(1, $((KILN_BENCH_ROWS - 100)))
\startpipeline
$auth_sql
SELECT coalesce(pg_catalog.json_agg(j0), '[]')::text AS body, pg_catalog.count(*) AS page_rows, NULL::bigint AS total FROM (SELECT k0."aid" AS "aid", k0."bid" AS "bid", k0."abalance" AS "abalance" FROM "public"."pgbench_accounts" AS k0 WHERE k0."aid" >= :aid ORDER BY k0."aid" ASC LIMIT 100) AS j0;
\endpipeline
SQL
  chmod a+r "$root/rest-replay.sql" "$root/rest-replay-page.sql"
fi
replay_args='-M prepared -D "apikey=$KILN_BENCH_APIKEY" -D "reqid=$KILN_BENCH_REQID" -D ip=127.0.0.1 -D ro=true'
pk_figure="Data API: GET one row by PK vs pgbench -S -M prepared"
figure "$pk_figure" "pgbench -S -M prepared" \
  "pgbench_rate -S -M prepared" \
  "wrk_rate ${KILN_URL:-}/ -s $bench_dir/wrk-rest-pk.lua"
if [ -n "${KILN_URL:-}" ]; then
  figure "Data API: GET one row by PK vs pgbench replaying its statements" \
    "pgbench -M prepared, same SQL and parameters, pipelined" \
    "pgbench_rate $replay_args -f $root/rest-replay.sql" \
    "wrk_rate $KILN_URL/ -s $bench_dir/wrk-rest-pk.lua"
  figure "Data API: GET one row by PK, user JWT vs publishable key (target >= 0.95)" \
    "kiln, publishable key (anon)" \
    "wrk_rate $KILN_URL/ -s $bench_dir/wrk-rest-pk.lua" \
    "export KILN_BENCH_BEARER=\$KILN_BENCH_JWT; wrk_rate $KILN_URL/ -s $bench_dir/wrk-rest-pk.lua"
  figure "Data API: GET 100 rows vs pgbench replaying its statements (target >= 0.8)" \
    "pgbench -M prepared, same SQL and parameters, pipelined" \
    "pgbench_rate $replay_args -f $root/rest-replay-page.sql" \
    "wrk_rate $KILN_URL/ -s $bench_dir/wrk-rest-page.lua"

  # p99 of the one-row GET's kiln runs (wrk's latency, in runs.tsv).
  if wanted "$pk_figure"; then
    mapfile -t p99s < <(awk -F'\t' -v f="$pk_figure" '$1 == f && $3 == "kiln" && $2 != "warmup" {
      if (match($7, /p99 [0-9.]+ ms/)) print substr($7, RSTART + 4, RLENGTH - 7) }' "$runs_tsv")
    if [ "${#p99s[@]}" -gt 0 ]; then
      read -r lo hi < <(minmax "${p99s[@]}")
      rows+=("| Data API: GET one row by PK, p99 latency (wrk -c$BENCH_CONNECTIONS) | $(median "${p99s[@]}") ms | – | – | $lo–$hi ms |")
    fi
  fi
  # Resident set size: idle at start, and the peak over the whole run.
  if wanted "Data API: daemon RSS" && [ -r "/proc/$kiln_pid/status" ]; then
    peak_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$kiln_pid/status")
    rows+=("| Data API: daemon RSS, idle at start / peak under load (targets 16 / 64 MiB) | $(awk -v i="${kiln_rss_idle_kb:-0}" -v p="$peak_kb" 'BEGIN { printf "%.1f / %.1f MiB", i / 1024, p / 1024 }') | – | – | – |")
  fi
fi
