#!/usr/bin/env bash
# tests/bench/audit.sh: what kiln_audit costs, as ratios against anchors run
# in the same invocation on the same throwaway cluster. Prints a markdown
# table (also written to BENCH_OUT). Not a test: it fails only when it cannot
# measure, never because a ratio is low.
#
# Figures (ratios are the median of the per-pair ratios, with their min–max):
#   1. pgbench TPC-B (-c 2) with pgbench_accounts, _tellers, _branches
#      audited (row mode) vs not audited                     target >= 0.9
#      (2 x BENCH_RUNS + 1 rounds of a pair of short runs per side, each
#      side next to an unaudited run, see tpcb below; no CHECKPOINT before
#      a run: right after one, every first change of a page logs the whole
#      page, a cost both sides share that would push the ratio towards 1;
#      checkpoints come as they do in service, and the median of the pairs
#      keeps the one that lands in a run from deciding the figure)
#   2. the same with -c 8                                     target >= 0.8
#   (info) the same -c 2 runs with the PL/pgSQL trigger below on the three
#      tables instead: the reference the target was set against (0.73)
#   (info) and with the two floors of tests/bench/audit_floor.c instead: an
#      empty C AFTER ROW trigger, and one inserting a constant row of the
#      log's shape per change (what any row-per-change audit trigger costs
#      before it reads a value or hashes a byte)
#   3. INSERT of 100k rows into an audited table (statement mode) vs the
#      same table unaudited: time ratio                       target <= 1.5
#   4. the same 100k rows: a PL/pgSQL jsonb audit trigger writing the same
#      columns (the anchor, defined below) vs kiln's statement-level
#      capture: speed-up                                      target >= 3
#      (row-mode kiln capture of the same insert is reported as info;
#      2 x BENCH_RUNS + 1 rounds, the four tables' order rotating)
# Each figure has two ratios: wall (tps or elapsed time: the rate the
# targets speak of) and server CPU (CPU time of the cluster's processes per
# transaction or per insert, read from /proc: leaves out pgbench's share of
# the machine, so it is the stricter of the two).
#
# Environment (defaults in brackets):
#   BENCH_RUNS      runs per side [5]
#   BENCH_SECONDS   seconds per pgbench run [2]
#   BENCH_SCALE     pgbench -i scale [10]
#   BENCH_ROWS      rows of the bulk insert [100000]
#   BENCH_OUT       results file [<repo>/build/bench/audit.md]
#   BENCH_ROWS_OUT  also write the figures as rows of tests/bench/run's
#                   table to this file (figures.d/40-audit.sh sets it)
#   BENCH_AUDIT_MODE  instructions: count instructions per TPC-B transaction
#                   with callgrind instead of timing (below; needs valgrind)
#   BENCH_INSTR_TXNS  transactions per side in that mode [1000; below a few
#                   hundred the warm-up is not cancelled out]
#   BENCH_INSTR_SIDES the sides counted in that mode: off (the base) first,
#                   then any of empty row on plpgsql stmt (stmt: kiln_audit
#                   with statement capture) [off empty row on plpgsql]
#   KILN_TEST_ROOT  reuse this cluster root (tests/lib/cluster install)
#   PG_CONFIG       PostgreSQL to use [pg_config on PATH]
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cluster=$top/tests/lib/cluster
PG_CONFIG=${PG_CONFIG:-pg_config}
export PG_CONFIG
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_SECONDS=${BENCH_SECONDS:-2}
BENCH_SCALE=${BENCH_SCALE:-10}
BENCH_ROWS=${BENCH_ROWS:-100000}
if [ "${BENCH_AUDIT_MODE:-}" = instructions ]; then BENCH_OUT=${BENCH_OUT:-$top/build/bench/audit-instructions.md}; fi
BENCH_OUT=${BENCH_OUT:-$top/build/bench/audit.md}

die() { echo "bench-audit: $*" >&2; exit 1; }
note() { echo "bench-audit: $*" >&2; }
for v in BENCH_RUNS BENCH_SECONDS BENCH_SCALE BENCH_ROWS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done

name=bench-audit
root='' own_root='' started='' port=''
finish() {
  local rc=$?
  if [ -n "$started" ]; then "$cluster" stop "$root" "$name" || true; fi
  if [ -n "$own_root" ]; then rm -rf "$own_root"; fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${KILN_TEST_ROOT:-}" ]; then
  root=$KILN_TEST_ROOT
  if [ ! -e "$root/install/.done" ]; then "$cluster" install "$root"; fi
else
  own_root=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-audit.XXXXXX")
  root=$own_root
  "$cluster" install "$root"
fi
bindir=$("$cluster" bindir "$root")
# The reference triggers of audit_floor.c, built with PGXS into the
# cluster's copy of the server (never installed anywhere else).
floor_dir=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-floor.XXXXXX")
cp "$top/tests/bench/audit_floor.c" "$floor_dir/"
printf 'MODULES = audit_floor\nPGXS := $(shell $(PG_CONFIG) --pgxs)\ninclude $(PGXS)\n' >"$floor_dir/Makefile"
make -s -C "$floor_dir" PG_CONFIG="$PG_CONFIG" >"$floor_dir/build.log" 2>&1 \
  || { cat "$floor_dir/build.log" >&2; rm -rf "$floor_dir"; die "could not build tests/bench/audit_floor.c"; }
floor_lib=$root/install$($PG_CONFIG --pkglibdir)
cp "$floor_dir/audit_floor.so" "$floor_lib/" && chmod a+r "$floor_lib/audit_floor.so"
rm -rf "$floor_dir"
port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in 1 2 3 4 5; do
  port=$(( 20000 + RANDOM % 40000 ))
  port_is_free "$port" || continue
  if "$cluster" start "$root" "$name" "$port" 2>/dev/null; then started=1; break; fi
  "$cluster" stop "$root" "$name" || true
done
[ -n "$started" ] || die "could not start a cluster"

psql_b() { PGOPTIONS='-c client_min_messages=warning' "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"; }

note "setting up (pgbench scale $BENCH_SCALE, $BENCH_ROWS-row bulk tables)"
"$bindir/pgbench" -i -q -s "$BENCH_SCALE" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1 \
  || die "pgbench -i failed"
psql_b >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION kiln_audit CASCADE;
CREATE TABLE bulk_plain (id bigint PRIMARY KEY, name text, n int, at timestamptz, amount numeric);
CREATE TABLE bulk_kiln (LIKE bulk_plain INCLUDING ALL);
CREATE TABLE bulk_kiln_row (LIKE bulk_plain INCLUDING ALL);
CREATE TABLE bulk_plpgsql (LIKE bulk_plain INCLUDING ALL);
SELECT kiln.enable_audit('bulk_kiln', 'statement');
SELECT kiln.enable_audit('bulk_kiln_row', 'row');

-- The anchor: the usual PL/pgSQL audit trigger, one row per change with the
-- same columns as kiln.audit_log minus the chain (no hash, no primary key
-- index: cheaper than kiln's, which keeps the comparison conservative).
CREATE TABLE plpgsql_audit_log (
  at timestamptz NOT NULL, txid xid8 NOT NULL, db_user text NOT NULL,
  actor_role text, actor_user uuid, tenant_id uuid, session_id uuid,
  request_id text, client_ip text, table_schema text, table_name text,
  op text NOT NULL, pk jsonb, old jsonb, new jsonb);
CREATE FUNCTION plpgsql_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  o jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
  n jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
BEGIN
  INSERT INTO plpgsql_audit_log
  VALUES (statement_timestamp(), pg_current_xact_id(), current_user,
          NULL, NULL, NULL, NULL, current_setting('kiln.request_id', true), NULL,
          TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP,
          jsonb_build_object('id', COALESCE(n, o) -> 'id'), o, n);
  RETURN NULL;
END
$$;
CREATE TRIGGER plpgsql_audit AFTER INSERT OR UPDATE OR DELETE ON bulk_plpgsql
  FOR EACH ROW EXECUTE FUNCTION plpgsql_audit();

-- The floors (audit_floor.c): an empty C trigger, and one that inserts a
-- constant row of kiln.audit_log's shape into floor_log per change.
CREATE FUNCTION bench_floor_empty() RETURNS trigger LANGUAGE c AS '$libdir/audit_floor', 'bench_floor_empty';
CREATE FUNCTION bench_floor_row() RETURNS trigger LANGUAGE c AS '$libdir/audit_floor', 'bench_floor_row';
CREATE TABLE floor_log (LIKE kiln.audit_log);
CHECKPOINT;
SQL

# server_ticks: CPU time (clock ticks) used so far by this cluster's server:
# the postmaster, its live children, and (through the postmaster's cutime
# and cstime) the children it has reaped, i.e. finished backends. Robust to
# other load on the machine, unlike wall time.
server_ticks() {
  local pm p t=0 v
  pm=$(head -1 "$root/$name/data/postmaster.pid")
  v=$(sed 's/^.*) //' "/proc/$pm/stat" | awk '{print $12 + $13 + $14 + $15}')
  t=$((t + v))
  for p in $(ps -o pid= --ppid "$pm"); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
# settle: let the postmaster reap backends that just exited.
settle() { sleep 0.3; }

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

audit_pgbench() { # on|off|plpgsql|empty|row|stmt
  local t
  for t in pgbench_accounts pgbench_tellers pgbench_branches; do
    psql_b -c "DROP TRIGGER IF EXISTS plpgsql_audit ON $t" -c "DROP TRIGGER IF EXISTS bench_floor ON $t" >/dev/null
    case $1 in
      empty|row)
        psql_b -c "SELECT kiln.disable_audit('$t')" >/dev/null
        psql_b -c "CREATE TRIGGER bench_floor AFTER INSERT OR UPDATE OR DELETE ON $t FOR EACH ROW EXECUTE FUNCTION bench_floor_$1($( [ "$1" = row ] && echo "'floor_log'"))" >/dev/null ;;
      on) psql_b -c "SELECT kiln.enable_audit('$t')" >/dev/null ;;
      stmt) psql_b -c "SELECT kiln.enable_audit('$t', 'statement')" >/dev/null ;;
      off) psql_b -c "SELECT kiln.disable_audit('$t')" >/dev/null ;;
      plpgsql)
        psql_b -c "SELECT kiln.disable_audit('$t')" >/dev/null
        psql_b -c "CREATE TRIGGER plpgsql_audit AFTER INSERT OR UPDATE OR DELETE ON $t FOR EACH ROW EXECUTE FUNCTION plpgsql_audit()" >/dev/null ;;
    esac
  done
}
# pgbench_run CLIENTS: prints "tps server-CPU-microseconds-per-transaction"
pgbench_run() {
  local t0 t1 out tps n
  settle; t0=$(server_ticks)
  out=$("$bindir/pgbench" -n -M prepared -c "$1" -j 2 -T "$BENCH_SECONDS" -h 127.0.0.1 -p "$port" -U postgres postgres 2>/dev/null)
  settle; t1=$(server_ticks)
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | tail -1)
  n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
  [ -n "$tps" ] && [ -n "$n" ] && [ "$n" -gt 0 ] || return 0
  echo "$tps $(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}')"
}
# bulk_run TABLE: prints "wall-ms server-CPU-ms" of the bulk INSERT; every
# run starts right after a checkpoint, so that none lands inside one.
bulk_run() {
  local t0 t1 ms
  psql_b -c "TRUNCATE $1" >/dev/null
  psql_b -c 'TRUNCATE plpgsql_audit_log' >/dev/null
  psql_b -c 'CHECKPOINT' >/dev/null
  settle; t0=$(server_ticks)
  ms=$(psql_b -c '\timing on' -c "INSERT INTO $1 SELECT g, 'name ' || g, g % 100, statement_timestamp(), g * 1.5 FROM generate_series(1, $BENCH_ROWS) g" \
    | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
  settle; t1=$(server_ticks)
  [ -n "$ms" ] || return 0
  echo "$ms $(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", d * 1000 / hz}')"
}

# pair_stats "A..." "B..." EXPR: per-pair values of EXPR (awk, over a and b)
# for the i-th elements of the two space-separated lists; prints
# "median min max".
pair_stats() {
  local -a xs ys
  local i r=()
  read -r -a xs <<<"$1"; read -r -a ys <<<"$2"
  for i in "${!xs[@]}"; do
    r+=("$(awk -v a="${xs[$i]}" -v b="${ys[$i]}" "BEGIN {printf \"%.4f\", $3}")")
  done
  echo "$(median "${r[@]}") $(printf '%s\n' "${r[@]}" | sort -g | awk 'NR==1{lo=$1} {hi=$1} END{printf "%.2f %.2f", lo, hi}')"
}
f2() { awk -v x="$1" 'BEGIN {printf "%.2f", x}'; }

# tpcb CLIENTS SIDE...: runs 2 x BENCH_RUNS + 1 rounds; a round runs, for
# each SIDE of audit_pgbench (in an order that rotates every round), a pair
# of pgbench runs back to back: unaudited and SIDE, the unaudited one first
# in odd rounds and second in even ones. The speed of this shared machine
# drifts by a third from one run to the next (docs/bench.md); a side is
# only ever compared with the unaudited run right next to it. Prints for
# each side: "side plain-tps side-tps plain-cpu side-cpu" (medians) and the
# per-pair wall ratio (side/plain tps) and CPU ratio (plain/side CPU per
# transaction), each as "median min max", one line per side.
tpcb() {
  local clients=$1 i k n side v tps cpu first
  shift
  local -a sides=("$@")
  local -A T C OT OC
  n=${#sides[@]}
  for i in $(seq $((2 * BENCH_RUNS + 1))); do
    for k in $(seq 0 $((n - 1))); do
      side=${sides[$(( (i + k) % n ))]}
      for first in 0 1; do
        if [ $(( (i + first) % 2 )) = 1 ]; then
          audit_pgbench off
          v=$(pgbench_run "$clients"); [ -n "$v" ] || die "pgbench -c $clients failed"
          read -r tps cpu <<<"$v"
          OT[$side]+="$tps "; OC[$side]+="$cpu "
        else
          audit_pgbench "$side"
          v=$(pgbench_run "$clients"); [ -n "$v" ] || die "pgbench -c $clients failed"
          read -r tps cpu <<<"$v"
          T[$side]+="$tps "; C[$side]+="$cpu "
        fi
      done
    done
  done
  audit_pgbench off
  for side in "$@"; do
    # shellcheck disable=SC2086
    echo "$side $(median ${OT[$side]}) $(median ${T[$side]}) $(median ${OC[$side]}) $(median ${C[$side]})" \
         "$(pair_stats "${T[$side]}" "${OT[$side]}" 'a / b')" \
         "$(pair_stats "${OC[$side]}" "${C[$side]}" 'a / b')"
  done
}

# BENCH_AUDIT_MODE=instructions: instead of timing anything, count the
# instructions one backend executes per TPC-B transaction on each side
# (callgrind, the cluster's postmaster restarted under valgrind; pgbench -c 1
# runs N and then 2N transactions per side, and the difference of the two
# backends' totals over N leaves out connecting and warming up). The same
# every time, so it settles what wall-clock rounds on a shared machine
# cannot. Note that valgrind runs SHA-256 without the CPU's SHA
# instructions: kiln's row hashes count about ten times what they cost.
instr_total() { sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$1" | head -1; }
# instr_crypto FILE: of those, the instructions spent in libcrypto (the
# SHA-256 of kiln's row hashes; valgrind hides the SHA instructions from
# OpenSSL, which then runs its plain C-and-assembly rounds instead).
instr_crypto() {
  callgrind_annotate --auto=no --threshold=100 "$1" 2>/dev/null \
    | awk '/libcrypto/ {v = $1; gsub(",", "", v); s += v} END {printf "%d\n", s}'
}
# instr_quiet DIR: waits until no backend has written a new file for 2 s
# (backends under valgrind take their time to exit).
# instr_ratio SIDE BASE [CRYPTO]: none / side, the side without CRYPTO of its instructions.
instr_ratio() { awk -v a="$1" -v b="$2" -v c="${3:-0}" 'BEGIN {printf "%.3f", b / (a - c)}'; }
instr_quiet() {
  local a b
  a=$(ls "$1")
  for _ in $(seq 60); do
    sleep 2; b=$(ls "$1")
    [ "$a" = "$b" ] && return
    a=$b
  done
}
# instr_run DIR N: runs N transactions on one connection; prints the file
# its backend's counts went to (of the files written since, the largest:
# the setup's psql backends may still be finishing theirs).
instr_run() {
  local before f t best='' max=0
  instr_quiet "$1"
  before=$(ls "$1")
  "$bindir/pgbench" -n -M prepared -c 1 -t "$2" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1 \
    || die "pgbench -t $2 failed under valgrind"
  instr_quiet "$1"
  for f in $(comm -13 <(echo "$before") <(ls "$1") | grep '^cg\.'); do
    t=$(instr_total "$1/$f")
    if [ -n "$t" ] && [ "$t" -gt "$max" ]; then max=$t; best=$1/$f; fi
  done
  [ -n "$best" ] || die "no callgrind output for the pgbench backend"
  echo "$best"
}
instr_main() {
  local n=${BENCH_INSTR_TXNS:-1000} dir side f1 f2 v c base=''
  local -a rows=()
  command -v valgrind >/dev/null || die "BENCH_AUDIT_MODE=instructions needs valgrind (Debian package valgrind)"
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_INSTR_TXNS must be a positive integer (got '$n')"
  [[ ${BENCH_INSTR_SIDES:-off} =~ ^off(\ (empty|row|on|plpgsql|stmt))*$ ]] \
    || die "BENCH_INSTR_SIDES must be 'off' then any of empty row on plpgsql stmt (got '$BENCH_INSTR_SIDES')"
  dir=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-instr.XXXXXX")
  chmod 777 "$dir"
  "$cluster" stop "$root" "$name"
  "$cluster" run-as valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$dir/cg.%p" \
    "$bindir/postgres" -D "$root/$name/data" -p "$port" -k "$root/$name" \
    -c listen_addresses=127.0.0.1 -c fsync=off -c autovacuum=off >"$dir/server.log" 2>&1 &
  for _ in $(seq 120); do "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 1; done
  "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" || die "postgres did not start under valgrind"
  for side in ${BENCH_INSTR_SIDES:-off empty row on plpgsql}; do
    note "instructions: $side ($n and $((2 * n)) transactions)"
    audit_pgbench "$side"
    f1=$(instr_run "$dir" "$n")
    f2=$(instr_run "$dir" $((2 * n)))
    v=$(( ($(instr_total "$f2") - $(instr_total "$f1")) / n ))
    c=$(( ($(instr_crypto "$f2") - $(instr_crypto "$f1")) / n ))
    [ -n "$base" ] || base=$v
    rows+=("$side $v $c")
  done
  audit_pgbench off
  rm -rf "$dir"
  mkdir -p "$(dirname "$BENCH_OUT")"
  {
    echo "| side (pgbench TPC-B, 3 tables) | instructions per transaction | of which libcrypto | vs none | none / side (the rate ratio, if time follows instructions) | same without libcrypto |"
    echo "|---|---|---|---|---|---|"
    for v in "${rows[@]}"; do
      read -r side f1 c <<<"$v"
      case $side in
        off) side='no trigger' ;; empty) side='empty C AFTER ROW trigger (floor)' ;;
        row) side='constant log row per change (floor)' ;; on) side='kiln_audit' ;;
        stmt) side='kiln_audit, statement capture' ;;
        plpgsql) side='PL/pgSQL jsonb trigger (reference)' ;;
      esac
      echo "| $side | $f1 | $c | $(awk -v a="$f1" -v b="$base" 'BEGIN {printf "%+.1f%%", (a / b - 1) * 100}') |" \
           "$(instr_ratio "$f1" "$base") | $(instr_ratio "$f1" "$base" "$c") |"
    done
    echo
    echo "Backend instructions (callgrind), pgbench -M prepared -c 1, ($((2 * n)) - $n transactions) / $n; scale $BENCH_SCALE." \
         "valgrind runs SHA-256 without SHA instructions: kiln_audit's hashes count about ten times their cost," \
         "so its true figure lies between the last two columns (the SHA instructions hash a row in a few hundred cycles)."
  } | tee "$BENCH_OUT"
  # Rows for tests/bench/run's main table: each side against no trigger.
  if [ -n "${BENCH_ROWS_OUT:-}" ]; then
    for v in "${rows[@]}"; do
      read -r side f1 c <<<"$v"
      case $side in
        off) continue ;;
        empty) side='(floor) an empty C AFTER ROW trigger' ;;
        row) side='(floor) a C trigger inserting a constant log row per change' ;;
        on) side='kiln_audit, 3 tables' ;;
        stmt) side='kiln_audit with statement capture, 3 tables' ;;
        plpgsql) side='(reference) the PL/pgSQL jsonb trigger' ;;
      esac
      echo "| Audit (instructions): TPC-B, $side vs none: none / side of backend instructions per transaction (callgrind; without libcrypto: $(instr_ratio "$f1" "$base" "$c")) | $f1 | $base | $(instr_ratio "$f1" "$base") | one count |"
    done >"$BENCH_ROWS_OUT"
  fi
}
if [ "${BENCH_AUDIT_MODE:-}" = instructions ]; then
  instr_main
  exit 0
elif [ -n "${BENCH_AUDIT_MODE:-}" ]; then
  die "BENCH_AUDIT_MODE must be empty or 'instructions' (got '$BENCH_AUDIT_MODE')"
fi

note "TPC-B -c 2 ($((2 * BENCH_RUNS + 1)) rounds of pairs of ${BENCH_SECONDS}s runs, unaudited next to each of kiln_audit, the PL/pgSQL trigger, the two floors)"
while read -r side a b c d e f g h i j; do
  case $side in
    on) tp2=$a ta2=$b cp2=$c ca2=$d w2=$e w2lo=$f w2hi=$g c2=$h c2lo=$i c2hi=$j ;;
    plpgsql) gp2=$b gc2=$d gw2=$e gw2lo=$f gw2hi=$g gcr2=$h gcr2lo=$i gcr2hi=$j ;;
    empty) ep2=$b ec2=$d ew2=$e ew2lo=$f ew2hi=$g ecr2=$h ecr2lo=$i ecr2hi=$j ;;
    row) rp2=$b rc2=$d rw2=$e rw2lo=$f rw2hi=$g rcr2=$h rcr2lo=$i rcr2hi=$j ;;
  esac
done < <(tpcb 2 on plpgsql empty row)
note "TPC-B -c 8 ($((2 * BENCH_RUNS + 1)) pairs of ${BENCH_SECONDS}s runs)"
read -r _ tp8 ta8 cp8 ca8 w8 w8lo w8hi c8 c8lo c8hi < <(tpcb 8 on)

note "bulk insert of $BENCH_ROWS rows ($((2 * BENCH_RUNS + 1)) rounds of the four tables)"
bp=() bk=() br=() bg=() cbp=() cbk=() cbr=() cbg=()
tables=(bulk_plain bulk_kiln bulk_plpgsql bulk_kiln_row)
for i in $(seq $((2 * BENCH_RUNS + 1))); do
  # rotate the order, so that no table always runs first
  for j in 0 1 2 3; do
    t=${tables[$(( (i + j) % 4 ))]}
    v=$(bulk_run "$t"); [ -n "$v" ] || die "bulk insert into $t failed"
    read -r ms cpu <<<"$v"
    case $t in
      bulk_plain) bp+=("$ms"); cbp+=("$cpu") ;; bulk_kiln) bk+=("$ms"); cbk+=("$cpu") ;;
      bulk_plpgsql) bg+=("$ms"); cbg+=("$cpu") ;; bulk_kiln_row) br+=("$ms"); cbr+=("$cpu") ;;
    esac
  done
done
mp=$(median "${bp[@]}"); mk=$(median "${bk[@]}"); mg=$(median "${bg[@]}"); mr=$(median "${br[@]}")
cmp=$(median "${cbp[@]}"); cmk=$(median "${cbk[@]}"); cmg=$(median "${cbg[@]}"); cmr=$(median "${cbr[@]}")
# Per-round ratios (the four tables of a round ran back to back).
read -r wk wklo wkhi < <(pair_stats "${bk[*]}" "${bp[*]}" 'a / b')
read -r ck cklo ckhi < <(pair_stats "${cbk[*]}" "${cbp[*]}" 'a / b')
read -r wg wglo wghi < <(pair_stats "${bg[*]}" "${bk[*]}" 'a / b')
read -r cg cglo cghi < <(pair_stats "${cbg[*]}" "${cbk[*]}" 'a / b')
read -r wr wrlo wrhi < <(pair_stats "${br[*]}" "${bp[*]}" 'a / b')
read -r cr crlo crhi < <(pair_stats "${cbr[*]}" "${cbp[*]}" 'a / b')

problems=$(psql_b -At -c 'SELECT count(*) FROM kiln.audit_verify()')

# cell MEDIAN LO HI: "0.85 (0.83–0.88)"
cell() { echo "$(f2 "$1") ($2–$3)"; }

mkdir -p "$(dirname "$BENCH_OUT")"
{
  echo "| figure | anchor | kiln_audit | ratio (wall) | ratio (server CPU) | target |"
  echo "|---|---|---|---|---|---|"
  echo "| pgbench TPC-B -c 2, 3 tables audited: tps (server CPU µs/txn) | $tp2 ($cp2) | $ta2 ($ca2) | $(cell "$w2" "$w2lo" "$w2hi") | $(cell "$c2" "$c2lo" "$c2hi") | >= 0.9 |"
  echo "| pgbench TPC-B -c 8, 3 tables audited: tps (server CPU µs/txn) | $tp8 ($cp8) | $ta8 ($ca8) | $(cell "$w8" "$w8lo" "$w8hi") | $(cell "$c8" "$c8lo" "$c8hi") | >= 0.8 |"
  echo "| (reference) pgbench TPC-B -c 2, the PL/pgSQL jsonb trigger on the 3 tables: tps (server CPU µs/txn) | $tp2 ($cp2) | $gp2 ($gc2) | $(cell "$gw2" "$gw2lo" "$gw2hi") | $(cell "$gcr2" "$gcr2lo" "$gcr2hi") | info (0.73 where the target was set) |"
  echo "| (floor) same runs, an empty C AFTER ROW trigger on the 3 tables: tps (server CPU µs/txn) | $tp2 ($cp2) | $ep2 ($ec2) | $(cell "$ew2" "$ew2lo" "$ew2hi") | $(cell "$ecr2" "$ecr2lo" "$ecr2hi") | info |"
  echo "| (floor) same runs, a C trigger inserting a constant log row per change: tps (server CPU µs/txn) | $tp2 ($cp2) | $rp2 ($rc2) | $(cell "$rw2" "$rw2lo" "$rw2hi") | $(cell "$rcr2" "$rcr2lo" "$rcr2hi") | info |"
  echo "| INSERT $BENCH_ROWS rows, statement capture vs unaudited: ms (server CPU ms); ratio = time | $mp ($cmp) | $mk ($cmk) | $(cell "$wk" "$wklo" "$wkhi") | $(cell "$ck" "$cklo" "$ckhi") | <= 1.5 |"
  echo "| INSERT $BENCH_ROWS rows, PL/pgSQL jsonb trigger vs statement capture: ms (server CPU ms); ratio = speed-up | $mg ($cmg) | $mk ($cmk) | $(cell "$wg" "$wglo" "$wghi") | $(cell "$cg" "$cglo" "$cghi") | >= 3 |"
  echo "| INSERT $BENCH_ROWS rows, row capture (info): ms (server CPU ms); ratio = time vs unaudited | $mp ($cmp) | $mr ($cmr) | $(cell "$wr" "$wrlo" "$wrhi") | $(cell "$cr" "$crlo" "$crhi") | – |"
  echo
  echo "Ratios: median of the per-pair ratios (each pair ran back to back), min–max in brackets;" \
       "values: medians; pgbench: $((2 * BENCH_RUNS + 1)) pairs of ${BENCH_SECONDS}s runs per side, scale $BENCH_SCALE, $(nproc) cores; bulk inserts: $((2 * BENCH_RUNS + 1)) rounds;" \
       "kiln.audit_verify() problems after the runs: $problems."
  echo "Server CPU: CPU time of the cluster's processes during the run (from /proc); it leaves out" \
       "the load generator's share of the machine, so it is the stricter ratio. Floors: tests/bench/audit_floor.c."
} | tee "$BENCH_OUT"

# Rows for the main table of tests/bench/run (| figure | kiln | anchor |
# ratio | spread |): the server-CPU ratio, with the wall ratio in the label.
if [ -n "${BENCH_ROWS_OUT:-}" ]; then
  {
    echo "| Audit: pgbench TPC-B -c 2, 3 tables audited vs none (server-CPU ratio; wall $(cell "$w2" "$w2lo" "$w2hi"); target >= 0.9) | $(f2 "$ta2") tps, $ca2 µs CPU/txn | $(f2 "$tp2") tps, $cp2 µs CPU/txn | $(f2 "$c2") | $c2lo–$c2hi |"
    echo "| Audit: pgbench TPC-B -c 8, 3 tables audited vs none (server-CPU ratio; wall $(cell "$w8" "$w8lo" "$w8hi"); target >= 0.8) | $(f2 "$ta8") tps, $ca8 µs CPU/txn | $(f2 "$tp8") tps, $cp8 µs CPU/txn | $(f2 "$c8") | $c8lo–$c8hi |"
    echo "| Audit (reference): same -c 2 runs, a PL/pgSQL jsonb trigger instead (server-CPU ratio; wall $(cell "$gw2" "$gw2lo" "$gw2hi"); 0.73 where the target was set) | $(f2 "$gp2") tps, $gc2 µs CPU/txn | $(f2 "$tp2") tps, $cp2 µs CPU/txn | $(f2 "$gcr2") | $gcr2lo–$gcr2hi |"
    echo "| Audit (floor): same -c 2 runs, an empty C AFTER ROW trigger instead (server-CPU ratio; wall $(cell "$ew2" "$ew2lo" "$ew2hi")) | $(f2 "$ep2") tps, $ec2 µs CPU/txn | $(f2 "$tp2") tps, $cp2 µs CPU/txn | $(f2 "$ecr2") | $ecr2lo–$ecr2hi |"
    echo "| Audit (floor): same -c 2 runs, a C trigger inserting a constant log row per change (server-CPU ratio; wall $(cell "$rw2" "$rw2lo" "$rw2hi")) | $(f2 "$rp2") tps, $rc2 µs CPU/txn | $(f2 "$tp2") tps, $cp2 µs CPU/txn | $(f2 "$rcr2") | $rcr2lo–$rcr2hi |"
    echo "| Audit: INSERT $BENCH_ROWS rows, statement capture vs unaudited (server-CPU time ratio; wall $(cell "$wk" "$wklo" "$wkhi"); target <= 1.5) | $mk ms, $cmk ms CPU | $mp ms, $cmp ms CPU | $(f2 "$ck") | $cklo–$ckhi |"
    echo "| Audit: same INSERT, PL/pgSQL jsonb trigger vs statement capture (server-CPU speed-up; wall $(cell "$wg" "$wglo" "$wghi"); target >= 3) | $mk ms, $cmk ms CPU | $mg ms, $cmg ms CPU | $(f2 "$cg") | $cglo–$cghi |"
    echo "| Audit: same INSERT, row capture vs unaudited (info; server-CPU time ratio; wall $(cell "$wr" "$wrlo" "$wrhi")) | $mr ms, $cmr ms CPU | $mp ms, $cmp ms CPU | $(f2 "$cr") | $crlo–$crhi |"
  } >"$BENCH_ROWS_OUT"
fi
