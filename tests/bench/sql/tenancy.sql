-- tests/bench/sql/tenancy.sql: what tenant isolation costs a query.
--
--   psql -X -q -v ON_ERROR_STOP=1 [-v rows=1000000] [-v reps=200] -d DB -f tests/bench/sql/tenancy.sql
--
-- Needs a superuser, the suite installed (kiln_platform) and the server's
-- kiln.master_key_file set (a signing key is created and kept). Builds two
-- identical tenant tables of :rows rows over 1,000 tenants (one with the
-- policies kiln.enable_tenancy writes, one with the same policies in the
-- (SELECT kiln.tenant_id()) form), then compares, as median milliseconds
-- per call over alternating rounds (lib.sql):
--   tenant_selective   one tenant's rows (0.1 %) through the policy, as a
--                      verified user of that tenant | anchor: the
--                      hand-written WHERE tenant_id = const, no row security
--   tenant_point       one row by primary key, same two sides
--   bare_vs_wrapped    the selective query through the bare policy | anchor:
--                      through the wrapped one
--   bare_vs_wrapped_seqscan  the same with index scans off, so the policy
--                      runs once per row (where wrapping could matter)
-- Ratio = kiln / anchor (lower is better). Prints the plans, then the table.
-- Not a test: it never fails on a ratio. Drops what it made.
\if :{?rows}
\else
\set rows 1000000
\endif
\if :{?reps}
\else
\set reps 200
\endif
\set tenant '''00000000-0000-4000-8000-000000000042'''
\ir lib.sql

-- Tenant k owns ids k, k + 1000, k + 2000, ...; tenant 42 is the one timed.
DROP TABLE IF EXISTS public.bench_orders, public.bench_orders_wrapped;
CREATE TABLE public.bench_orders (id bigint PRIMARY KEY, amount int NOT NULL, note text NOT NULL);
SELECT kiln.enable_tenancy('public.bench_orders');
INSERT INTO public.bench_orders (id, amount, note, tenant_id)
SELECT g, ((g::int8 * 7919) % 1000)::int, 'order ' || g,
       ('00000000-0000-4000-8000-' || lpad((g % 1000)::text, 12, '0'))::uuid
  FROM generate_series(1, :rows) g;
CREATE TABLE public.bench_orders_wrapped (id bigint PRIMARY KEY, amount int NOT NULL, note text NOT NULL);
SELECT kiln.enable_tenancy('public.bench_orders_wrapped');
INSERT INTO public.bench_orders_wrapped SELECT * FROM public.bench_orders;
ALTER POLICY kiln_tenant_isolation ON public.bench_orders_wrapped
  USING (tenant_id OPERATOR(pg_catalog.=) (SELECT kiln.tenant_id()))
  WITH CHECK (tenant_id OPERATOR(pg_catalog.=) (SELECT kiln.tenant_id()));
ALTER POLICY kiln_tenant_members ON public.bench_orders_wrapped
  USING (tenant_id OPERATOR(pg_catalog.=) (SELECT kiln.tenant_id()))
  WITH CHECK (tenant_id OPERATOR(pg_catalog.=) (SELECT kiln.tenant_id()));
GRANT SELECT ON public.bench_orders, public.bench_orders_wrapped TO authenticated;
VACUUM ANALYZE public.bench_orders;
VACUUM ANALYZE public.bench_orders_wrapped;

SELECT kiln.rotate_signing_key('HS256') IS NOT NULL AS signing_key;
SELECT kiln.sign_jwt(jsonb_build_object(
  'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated',
  'sub', '00000000-0000-4000-8000-0000000000aa', 'tenant_id', :tenant,
  'exp', extract(epoch FROM now())::int8 + 3600)) AS token \gset

\set q_sel 'SELECT count(*), sum(amount) FROM public.bench_orders'
\set q_sel_wrapped 'SELECT count(*), sum(amount) FROM public.bench_orders_wrapped'
\set q_point 'SELECT amount FROM public.bench_orders WHERE id = 42042'

\echo '-- anchor plan (no row security, tenant written by hand)'
EXPLAIN (COSTS OFF) SELECT count(*), sum(amount) FROM public.bench_orders WHERE tenant_id = :tenant;
\echo '-- plans through the policies'
BEGIN;
SELECT kiln.authenticate(:'token') AS role;
EXPLAIN (COSTS OFF) SELECT count(*), sum(amount) FROM public.bench_orders;
EXPLAIN (COSTS OFF) SELECT amount FROM public.bench_orders WHERE id = 42042;
EXPLAIN (COSTS OFF) SELECT count(*), sum(amount) FROM public.bench_orders_wrapped;
COMMIT;

CALL kiln_bench.compare('tenant_selective', :'q_sel', :'token',
  :'q_sel' || ' WHERE tenant_id = ' || quote_literal(:tenant), NULL, :reps, 5,
  'policy vs hand-written WHERE tenant_id = const without RLS');
CALL kiln_bench.compare('tenant_point', :'q_point', :'token',
  :'q_point' || ' AND tenant_id = ' || quote_literal(:tenant), NULL, :reps * 5, 5,
  'policy vs hand-written tenant filter without RLS');
CALL kiln_bench.compare('bare_vs_wrapped', :'q_sel', :'token', :'q_sel_wrapped', :'token',
  :reps, 5, 'tenant_id = kiln.tenant_id() vs tenant_id = (SELECT kiln.tenant_id())');
CALL kiln_bench.compare('bare_vs_wrapped_seqscan', :'q_sel', :'token', :'q_sel_wrapped', :'token',
  greatest(:reps / 40, 2), 5, 'same, index scans off: policy evaluated per row',
  'SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL max_parallel_workers_per_gather = 0');

SELECT * FROM kiln_bench.report;

DROP TABLE public.bench_orders, public.bench_orders_wrapped;
DROP SCHEMA kiln_bench CASCADE;
