# shellcheck shell=bash disable=SC2154
# Sourced by tests/bench/run (see docs/bench.md).
# What kiln_audit costs: tests/bench/audit.sh runs on a cluster of its own
# (named bench-audit, in this run's root, so the main cluster and the
# daemon stay idle meanwhile) and hands its figures back as rows of the
# main table: the server-CPU ratio with its min–max over the pairs, the
# wall-clock ratio in the label. audit.sh also writes its own, wider table
# to build/bench/audit.md. Its runs keep audit.sh's own length (short
# pairs, not BENCH_SECONDS). Skipped with BENCH_NO_KILN (no kiln side).
# Then, when valgrind is installed and BENCH_NO_INSTR is unset, audit.sh
# counts instructions per TPC-B transaction on each side (callgrind, same
# cluster, a few minutes): the same on every run, so those rows settle what
# this machine's wall-clock drift leaves open.
if wanted "Audit" && [ -z "$BENCH_NO_KILN" ]; then
  note "audit figures (tests/bench/audit.sh, BENCH_RUNS=$BENCH_RUNS)"
  audit_rows=$root/audit-rows.md
  if KILN_TEST_ROOT=$root BENCH_RUNS=$BENCH_RUNS BENCH_SCALE=$BENCH_SCALE \
       BENCH_ROWS_OUT=$audit_rows BENCH_OUT=$out_dir/audit.md \
       "$bench_dir/audit.sh" >"$root/audit.log" 2>&1 && [ -s "$audit_rows" ]; then
    while IFS= read -r line; do rows+=("$line"); done <"$audit_rows"
  else
    tail -n 5 "$root/audit.log" >&2
    rows+=("| Audit (tests/bench/audit.sh) | – | – | **INVALID**: $(tail -n 1 "$root/audit.log" | tr '|' '/') | – |")
    any_invalid=1
  fi
fi
if wanted "Audit" && [ -z "$BENCH_NO_KILN" ] && [ -z "${BENCH_NO_INSTR:-}" ] && command -v valgrind >/dev/null; then
  note "audit instruction counts (tests/bench/audit.sh, BENCH_AUDIT_MODE=instructions)"
  audit_instr_rows=$root/audit-instr-rows.md
  if KILN_TEST_ROOT=$root BENCH_SCALE=$BENCH_SCALE BENCH_AUDIT_MODE=instructions \
       BENCH_ROWS_OUT=$audit_instr_rows BENCH_OUT=$out_dir/audit-instructions.md \
       "$bench_dir/audit.sh" >"$root/audit-instr.log" 2>&1 && [ -s "$audit_instr_rows" ]; then
    while IFS= read -r line; do rows+=("$line"); done <"$audit_instr_rows"
  else
    tail -n 5 "$root/audit-instr.log" >&2
    rows+=("| Audit (instructions, tests/bench/audit.sh) | – | – | **INVALID**: $(tail -n 1 "$root/audit-instr.log" | tr '|' '/') | – |")
    any_invalid=1
  fi
fi
