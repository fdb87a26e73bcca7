# shellcheck shell=bash disable=SC2154
# Sourced by tests/bench/run (see docs/bench.md).
# Pooled DB round trip: one HTTP request = one `SELECT 1` through kiln's
# connection pool (GET /health/ready), vs pgbench sending `SELECT 1` as a
# prepared statement over BENCH_CONNECTIONS direct connections to the same
# cluster. The ratio is what the HTTP hop and the pool cost on top of the
# database round trip itself.
printf 'SELECT 1;\n' >"$root/select1.sql"
chmod a+r "$root/select1.sql"
figure "Pooled DB round trip: GET /health/ready vs pgbench SELECT 1" "pgbench -M prepared" \
  "pgbench_rate -M prepared -f $root/select1.sql" \
  "wrk_rate ${KILN_URL:-}/health/ready"

# Reference for the data API issue: pgbench's built-in select-only script
# (a primary-key lookup on pgbench_accounts, scale BENCH_SCALE).
info "pgbench -S -M prepared (built-in select-only)" \
  "pgbench_rate -S -M prepared"
