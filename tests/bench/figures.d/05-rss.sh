# shellcheck shell=bash disable=SC2154
# Sourced by tests/bench/run (see docs/bench.md) before any load: the
# daemon's resident set size while idle (VmRSS, after the start-up checks'
# few requests). 30-rest.sh reports it next to the peak under load.
kiln_rss_idle_kb=
if [ -z "$BENCH_NO_KILN" ] && [ -r "/proc/$kiln_pid/status" ]; then
  kiln_rss_idle_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$kiln_pid/status")
fi
