# shellcheck shell=bash disable=SC2154
# Sourced by tests/bench/run (see docs/bench.md).
# Data API: POST of 1,000 rows in one request (the array postgrest-js sends
# for .insert([...]), with columns=, return=minimal; publishable key
# verified by kiln.authenticate per request, row security on) vs pgbench
# running the equivalent multi-row INSERT of the same 1,000 rows as one
# prepared statement; and vs pgbench replaying the daemon's own transaction
# for that request (body inline where the daemon binds it), which separates
# the cost of the JSON expansion in Postgres from the HTTP side. All insert
# into the same table; the unit is requests (or transactions) per second,
# 1,000 rows each.
if [ -n "${KILN_URL:-}" ]; then
  psql_bench -c "CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE" >/dev/null 2>&1
  if [ -z "${KILN_BENCH_APIKEY:-}" ]; then
    KILN_BENCH_APIKEY=$(psql_bench -A -t -c "SELECT kiln.create_api_key('publishable')")
  fi
  psql_bench <<'SQL'
CREATE TABLE IF NOT EXISTS public.bench_write (
  id bigserial PRIMARY KEY, name text NOT NULL, qty int NOT NULL, note text);
ALTER TABLE public.bench_write ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS bench_insert ON public.bench_write;
CREATE POLICY bench_insert ON public.bench_write FOR INSERT TO anon WITH CHECK (true);
GRANT INSERT ON public.bench_write TO anon;
GRANT USAGE ON SEQUENCE public.bench_write_id_seq TO anon;
NOTIFY kiln, 'reload schema';
SQL
  export KILN_BENCH_APIKEY KILN_BENCH_DIR=$bench_dir
  # The same 1,000 rows on both sides.
  awk 'BEGIN {
    printf "["; for (i = 1; i <= 1000; i++) printf "%s{\"name\":\"row %d\",\"qty\":%d,\"note\":\"bench\"}", (i > 1 ? "," : ""), i, i; print "]"
  }' >"$root/rest-write-body.json"
  awk 'BEGIN {
    printf "INSERT INTO public.bench_write (name, qty, note) VALUES "
    for (i = 1; i <= 1000; i++) printf "%s('\''row %d'\'', %d, '\''bench'\'')", (i > 1 ? ", " : ""), i, i
    print ";"
  }' >"$root/rest-write-anchor.sql"
  # The daemon's own transaction for such a request, replayed as it sends
  # it (prepared, one pipeline, no BEGIN/COMMIT: the sync ends the implicit
  # transaction), with the body inline where it binds $1.
  {
    echo '\startpipeline'
    echo "SELECT kiln.authenticate('$KILN_BENCH_APIKEY', '0123456789abcdef0123456789abcdef', '127.0.0.1', false);"
    q="'"
    printf '%s%s' 'WITH kiln_written AS (INSERT INTO "public"."bench_write" AS k0 ("name", "qty", "note") SELECT kiln_row."name", kiln_row."qty", kiln_row."note" FROM pg_catalog.json_populate_recordset(NULL::"public"."bench_write", ' "$q"
    tr -d '\n' <"$root/rest-write-body.json"
    printf '%s\n' "$q::json) AS kiln_row RETURNING 1) SELECT $q$q::text AS body, kiln_n.n AS page_rows, NULL::bigint AS total FROM (SELECT pg_catalog.count(*) AS n FROM kiln_written) AS kiln_n;"
    echo '\endpipeline'
  } >"$root/rest-write-replay.sql"
  chmod a+r "$root/rest-write-body.json" "$root/rest-write-anchor.sql" "$root/rest-write-replay.sql"
  export KILN_BENCH_WRITE_BODY=$root/rest-write-body.json
  for _ in $(seq 50); do
    s=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "apikey: $KILN_BENCH_APIKEY" \
        -H 'Content-Type: application/json' --data-binary "@$KILN_BENCH_WRITE_BODY" \
        "$KILN_URL/rest/v1/bench_write?columns=name,qty,note")
    [ "$s" = 201 ] && break
    sleep 0.1
  done
  [ "$s" = 201 ] || die "POST /rest/v1/bench_write answered $s after the schema reload"
fi
figure "Data API: POST 1,000 rows vs pgbench multi-row INSERT" "pgbench -M prepared, INSERT of 1,000 rows" \
  "pgbench_rate -M prepared -f $root/rest-write-anchor.sql" \
  "wrk_rate '${KILN_URL:-}/rest/v1/bench_write?columns=name,qty,note' -s $bench_dir/wrk-rest-write.lua"
if [ -n "${KILN_URL:-}" ]; then
  figure "Data API: POST 1,000 rows vs pgbench replaying its statements" "pgbench -M prepared, same SQL, pipelined" \
    "pgbench_rate -M prepared -f $root/rest-write-replay.sql" \
    "wrk_rate '${KILN_URL:-}/rest/v1/bench_write?columns=name,qty,note' -s $bench_dir/wrk-rest-write.lua"
fi
