-- tests/bench/sql/acl.sql: what a row ACL costs a listing.
--
--   psql -X -q -v ON_ERROR_STOP=1 [-v rows=1000000] [-v reps=200] -d DB -f tests/bench/sql/acl.sql
--
-- Needs a superuser, the suite installed (kiln_platform) and the server's
-- kiln.master_key_file set (a signing key is created and kept). Builds a
-- table of :rows rows under kiln.enable_row_acl, each readable by its own
-- user, and 1 row in 10,000 (100 of 1M) also by alice, who is in a team.
-- Compares, as median milliseconds per call over alternating rounds
-- (lib.sql):
--   acl_listing    alice lists what she may read, through the ACL policy
--                  (acl && kiln.acl_principals('read')) | anchor: the
--                  hand-written WHERE acl && '{...her principals...}' as a
--                  constant, no row security
--   acl_point      one of her rows by primary key, same two sides
-- Ratio = kiln / anchor (lower is better). Prints the plans, then the
-- table. Not a test: it never fails on a ratio. Drops what it made.
\if :{?rows}
\else
\set rows 1000000
\endif
\if :{?reps}
\else
\set reps 200
\endif
\set alice '''a11ce000-0000-4000-8000-000000000001'''
\ir lib.sql

DELETE FROM auth.users WHERE id = :alice;
INSERT INTO auth.users (id, email) VALUES (:alice, 'alice@bench.test');
INSERT INTO auth.teams (id, name) VALUES ('7ea70000-0000-4000-8000-000000000001', 'bench team');
INSERT INTO auth.team_members (team_id, user_id, roles)
VALUES ('7ea70000-0000-4000-8000-000000000001', :alice, '{owner}');

DROP TABLE IF EXISTS public.bench_docs;
CREATE TABLE public.bench_docs (id bigint PRIMARY KEY, title text NOT NULL, acl text[] NOT NULL);
INSERT INTO public.bench_docs (id, title, acl)
SELECT g, 'doc ' || g,
       CASE WHEN g % 10000 = 0
            THEN ARRAY['read:user:' || md5(g::text)::uuid, 'read:user:' || :alice, 'update:user:' || md5(g::text)::uuid]
            ELSE ARRAY['read:user:' || md5(g::text)::uuid, 'update:user:' || md5(g::text)::uuid] END
  FROM generate_series(1, :rows) g;
SELECT kiln.enable_row_acl('public.bench_docs');
GRANT SELECT ON public.bench_docs TO authenticated;
VACUUM ANALYZE public.bench_docs;

SELECT kiln.rotate_signing_key('HS256') IS NOT NULL AS signing_key;
SELECT kiln.sign_jwt(jsonb_build_object(
  'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated', 'sub', :alice,
  'exp', extract(epoch FROM now())::int8 + 3600)) AS token \gset

BEGIN;
SELECT kiln.authenticate(:'token') AS role;
SELECT kiln.acl_principals('read') AS principals \gset
\echo '-- plans through the ACL policy'
EXPLAIN (COSTS OFF) SELECT id, title FROM public.bench_docs;
EXPLAIN (COSTS OFF) SELECT title FROM public.bench_docs WHERE id = 420000;
SELECT count(*) AS visible FROM public.bench_docs;
COMMIT;
\echo '-- anchor plan (no row security, principals written by hand)'
EXPLAIN (COSTS OFF) SELECT id, title FROM public.bench_docs WHERE acl && :'principals'::text[];

\set q_list 'SELECT id, title FROM public.bench_docs'
\set q_point 'SELECT title FROM public.bench_docs WHERE id = 420000'
CALL kiln_bench.compare('acl_listing', :'q_list', :'token',
  :'q_list' || ' WHERE acl && ' || quote_literal(:'principals') || '::text[]', NULL, :reps, 5,
  'ACL policy vs hand-written acl && const without RLS; ~100 of ' || :rows || ' rows');
CALL kiln_bench.compare('acl_point', :'q_point', :'token',
  :'q_point' || ' AND acl && ' || quote_literal(:'principals') || '::text[]', NULL, :reps * 5, 5,
  'ACL policy vs hand-written filter, primary-key lookup');

SELECT * FROM kiln_bench.report;

DROP TABLE public.bench_docs;
DELETE FROM auth.teams WHERE id = '7ea70000-0000-4000-8000-000000000001';
DELETE FROM auth.users WHERE id = :alice;
DROP SCHEMA kiln_bench CASCADE;
