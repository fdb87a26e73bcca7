# shellcheck shell=bash disable=SC2154
# Sourced by tests/bench/run (see docs/bench.md).
# Data API: GET one row by primary key (/rest/v1/pgbench_accounts?aid=eq.N,
# a random N per request, publishable key verified by kiln.authenticate on
# every request) vs pgbench -S -M prepared (the raw limit), and vs pgbench
# replaying the exact statements the daemon sends per request the way it
# sends them: prepared, in one pipeline (one round trip).
if [ -n "${KILN_URL:-}" ]; then
  psql_bench -c "CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE" >/dev/null 2>&1
  KILN_BENCH_APIKEY=$(psql_bench -A -t -c "SELECT kiln.create_api_key('publishable')")
  psql_bench -c "GRANT SELECT ON public.pgbench_accounts TO anon; NOTIFY kiln, 'reload schema'"
  export KILN_BENCH_APIKEY KILN_BENCH_DIR=$bench_dir
  export KILN_BENCH_ROWS=$((BENCH_SCALE * 100000))
  for _ in $(seq 50); do
    s=$(curl -s -o /dev/null -w '%{http_code}' -H "apikey: $KILN_BENCH_APIKEY" \
        "$KILN_URL/rest/v1/pgbench_accounts?select=aid&aid=eq.1")
    [ "$s" = 200 ] && break
    sleep 0.1
  done
  [ "$s" = 200 ] || die "GET /rest/v1/pgbench_accounts answered $s after the schema reload"
  cat >"$root/rest-replay.sql" <<SQL
\set aid random(1, $KILN_BENCH_ROWS)
\startpipeline
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SELECT kiln.authenticate('$KILN_BENCH_APIKEY', '{"request_id":"0123456789abcdef0123456789abcdef","client_ip":"127.0.0.1"}'::jsonb);
SELECT coalesce(pg_catalog.json_agg(j0), '[]')::text AS body, pg_catalog.count(*) AS page_rows, NULL::bigint AS total FROM (SELECT k0."aid" AS "aid", k0."bid" AS "bid", k0."abalance" AS "abalance" FROM "public"."pgbench_accounts" AS k0 WHERE k0."aid" = :aid LIMIT 1000) AS j0;
COMMIT;
\endpipeline
SQL
  chmod a+r "$root/rest-replay.sql"
fi
figure "Data API: GET one row by PK vs pgbench -S -M prepared" "pgbench -S -M prepared" \
  "pgbench_rate -S -M prepared" \
  "wrk_rate ${KILN_URL:-}/ -s $bench_dir/wrk-rest-pk.lua"
if [ -n "${KILN_URL:-}" ]; then
  figure "Data API: GET one row by PK vs pgbench replaying its statements" "pgbench -M prepared, same SQL, pipelined" \
    "pgbench_rate -M prepared -f $root/rest-replay.sql" \
    "wrk_rate ${KILN_URL:-}/ -s $bench_dir/wrk-rest-pk.lua"
fi
