# shellcheck shell=bash disable=SC2154
# Sourced by tests/bench/run (see docs/bench.md).
# Tenancy and row ACL policies, timed inside the database against the
# hand-written queries they replace (tests/bench/sql/*.sql; each side in
# its own transaction, the kiln side with a verified context). Time ratios:
# lower is better; the targets are in the labels.
psql_bench -c "CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE" >/dev/null 2>&1 || true
sql_figures "$bench_dir/sql/tenancy.sql" \
  "tenant_selective=Tenant policy, selective query on 1M rows vs WHERE tenant_id = const without RLS (time; target <= 1.1)" \
  "bare_vs_wrapped=Bare kiln.tenant_id() vs (SELECT kiln.tenant_id()) in the policy, index path (time; target <= 1.2)" \
  "bare_vs_wrapped_seqscan=Bare vs wrapped kiln.tenant_id(), per-row evaluation (time; target <= 1.2)"
sql_figures "$bench_dir/sql/acl.sql" \
  "acl_listing=Row ACL: rows a user may read (~100 of 1M) vs hand-written filter (time; target <= 1.2)"
