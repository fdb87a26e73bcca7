# shellcheck shell=bash disable=SC2154
# Sourced by tests/bench/run (see docs/bench.md).
# HTTP layer: the cost of serving a tiny response, nothing else.
# Kiln GET /health (no database) vs nginx serving a static file with the
# same bytes and the same extra headers, both with BENCH_SERVER_THREADS
# workers, keep-alive, no access log.
figure "HTTP layer: GET /health vs nginx static file" "nginx" \
  "wrk_rate $NGINX_URL/health" \
  "wrk_rate ${KILN_URL:-}/health"
