-- acl: row permissions. Principals of the request, kiln.enable_row_acl,
-- per-action policies (read, update, delete), grants and revocations on a
-- row, team roles, read:any and read:users, entry validation, tenant tables
-- with an ACL, the GIN index in plans, disable_row_acl.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

-- The request context, as the daemon sets it (test_login), and alice, bob
-- and carol, tenants A and B (helpers: include/login.sql, people.sql).
\getenv regress_dir KILN_REGRESS_DIR
\i :regress_dir/include/login.sql
\i :regress_dir/include/people.sql
-- Team T: alice is owner, bob a plain member.
INSERT INTO auth.teams (id, name) VALUES ('70000000-0000-0000-0000-000000000007', 'T');
INSERT INTO auth.team_members (team_id, user_id, roles) VALUES
  ('70000000-0000-0000-0000-000000000007', 'a0000000-0000-0000-0000-00000000000a', '{owner}'),
  ('70000000-0000-0000-0000-000000000007', 'b0000000-0000-0000-0000-00000000000b', '{}');
-- Roles are short lower-case words: no principal can be spelled with one.
\set VERBOSITY terse
INSERT INTO auth.team_members (team_id, user_id, roles) VALUES
  ('70000000-0000-0000-0000-000000000007', 'c0000000-0000-0000-0000-00000000000c', '{"owner/../x"}');
\echo :SQLSTATE
\set VERBOSITY default

-- Principals.
SELECT kiln.principals() AS no_context;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "a0000000-0000-0000-0000-00000000000a"}');
SELECT unnest(kiln.principals()) AS alice;
SELECT kiln.acl_principals('read') AS alice_read;
SELECT kiln.acl_principals('write');
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT test_login('{"role": "anon"}');
SELECT kiln.principals() AS anon;
COMMIT;
-- A context that changes inside the transaction (service_role narrowed to a
-- tenant) gets its own principals.
BEGIN;
SELECT test_login('{"role": "service_role"}');
SELECT kiln.principals() AS service_role;
SELECT kiln.act_as_tenant('dddddddd-dddd-dddd-dddd-dddddddddddd');
SELECT kiln.principals() AS acting_for_tenant;
ROLLBACK;

-- Entries.
SELECT kiln.acl_is_valid('{read:any,update:users,delete:user:a0000000-0000-0000-0000-00000000000a}') AS ok,
       kiln.acl_is_valid('{read:team:70000000-0000-0000-0000-000000000007/owner,read:role:anon}') AS ok2,
       kiln.acl_is_valid('{read:any,""}') AS empty_entry,
       kiln.acl_is_valid('{read:user:A0000000-0000-0000-0000-00000000000A}') AS upper_case,
       kiln.acl_is_valid('{create:any}') AS bad_action,
       kiln.acl_is_valid('{"read:any,read:users"}') AS comma;
SELECT kiln.acl_add('{read:any}', '{write:user:A0000000-0000-0000-0000-00000000000A,read:any}');
SELECT kiln.acl_remove('{delete:users,read:any,update:users}', '{write:users}');
SELECT kiln.acl_add('{}', '{read:everyone}');
\echo :SQLSTATE

-- A table with a row ACL.
CREATE TABLE public.docs (id int PRIMARY KEY, title text NOT NULL);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.docs TO anon, authenticated, service_role;
SELECT kiln.enable_row_acl('public.docs');
SELECT kiln.enable_row_acl('public.docs');
\echo :SQLSTATE
SELECT polname, polcmd, ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END FROM unnest(polroles) r) AS roles,
       pg_get_expr(polqual, polrelid) AS using, pg_get_expr(polwithcheck, polrelid) AS check
  FROM pg_policy WHERE polrelid = 'public.docs'::regclass ORDER BY 1;
SELECT indexrelid::regclass, pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'public.docs'::regclass ORDER BY 1;

-- alice writes her own doc: the default ACL gives her every right.
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "a0000000-0000-0000-0000-00000000000a"}');
INSERT INTO public.docs (id, title) VALUES (1, 'alice-private') RETURNING id, acl;
COMMIT;
-- Seeds with explicit ACLs.
INSERT INTO public.docs (id, title, acl) VALUES
  (2, 'public', '{read:any}'),
  (3, 'users-only', '{read:users}'),
  (4, 'team-doc', '{read:team:70000000-0000-0000-0000-000000000007,update:team:70000000-0000-0000-0000-000000000007/owner,delete:team:70000000-0000-0000-0000-000000000007/owner}'),
  (5, 'bob-shared', '{read:user:b0000000-0000-0000-0000-00000000000b}');
INSERT INTO public.docs (id, title, acl) VALUES (6, 'bad', '{read:anyone}');
\echo :SQLSTATE

-- Who reads what.
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "a0000000-0000-0000-0000-00000000000a"}');
SELECT id, title FROM public.docs ORDER BY id;
COMMIT;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "b0000000-0000-0000-0000-00000000000b"}');
SELECT id, title FROM public.docs ORDER BY id;
COMMIT;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "c0000000-0000-0000-0000-00000000000c"}');
SELECT id, title FROM public.docs ORDER BY id;
COMMIT;
BEGIN;
SELECT test_login('{"role": "anon"}');
SELECT id, title FROM public.docs ORDER BY id;
COMMIT;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT id, title FROM public.docs ORDER BY id;
COMMIT;

-- Per action: bob reads the team doc but only team owners change it.
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "b0000000-0000-0000-0000-00000000000b"}');
UPDATE public.docs SET title = 'bob-was-here' WHERE id = 4;
DELETE FROM public.docs WHERE id = 4;
-- bob can read 5 but not change it.
UPDATE public.docs SET title = 'bob-was-here' WHERE id = 5;
COMMIT;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "a0000000-0000-0000-0000-00000000000a"}');
UPDATE public.docs SET title = 'team-doc v2' WHERE id = 4;
COMMIT;
-- Make bob an owner of the team: now he may.
UPDATE auth.team_members SET roles = '{owner}' WHERE user_id = 'b0000000-0000-0000-0000-00000000000b';
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "b0000000-0000-0000-0000-00000000000b"}');
UPDATE public.docs SET title = 'team-doc v3' WHERE id = 4;
COMMIT;

-- Grants and revocations on a row, under the caller's own update right.
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "a0000000-0000-0000-0000-00000000000a"}');
SELECT kiln.grant_row('public.docs', '1', 'read:user:C0000000-0000-0000-0000-00000000000C');
COMMIT;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "c0000000-0000-0000-0000-00000000000c"}');
SELECT id, title FROM public.docs ORDER BY id;
-- carol has no update right on doc 1: nothing changes.
SELECT kiln.grant_row('public.docs', '1', 'write:user:c0000000-0000-0000-0000-00000000000c');
COMMIT;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "a0000000-0000-0000-0000-00000000000a"}');
SELECT kiln.revoke_row('public.docs', '1', 'read:user:c0000000-0000-0000-0000-00000000000c');
SELECT kiln.grant_row('public.docs', '99', 'read:any') AS no_such_row;
COMMIT;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "a0000000-0000-0000-0000-00000000000a"}');
SELECT kiln.grant_row('public.docs', '1', 'read:bogus');
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "c0000000-0000-0000-0000-00000000000c"}');
SELECT id, title FROM public.docs ORDER BY id;
COMMIT;
SELECT id, acl FROM public.docs ORDER BY id;

-- service_role bypasses row security.
BEGIN;
SELECT test_login('{"role": "service_role"}');
SELECT count(*) AS service_sees FROM public.docs;
COMMIT;

-- A tenant table with a row ACL: the ACL decides inside the tenant, the
-- tenant's service key may do everything there and nothing elsewhere.
CREATE TABLE public.notes (id int PRIMARY KEY, body text NOT NULL);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.notes TO authenticated;
SELECT kiln.enable_tenancy('public.notes');
SELECT kiln.enable_row_acl('public.notes');
SELECT polname FROM pg_policy WHERE polrelid = 'public.notes'::regclass ORDER BY 1;
INSERT INTO public.notes (id, body, tenant_id, acl) VALUES
  (1, 'a-any', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', '{read:any}'),
  (2, 'a-alice', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', '{read:user:a0000000-0000-0000-0000-00000000000a}'),
  (3, 'b-any', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', '{read:any}'),
  (4, 'b-alice', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', '{read:user:a0000000-0000-0000-0000-00000000000a}');
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "b0000000-0000-0000-0000-00000000000b", "tenant_id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}');
SELECT id, body FROM public.notes ORDER BY id;
COMMIT;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "a0000000-0000-0000-0000-00000000000a", "tenant_id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}');
SELECT id, body FROM public.notes ORDER BY id;
COMMIT;
SELECT kiln.create_api_key('secret', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb') AS b_key \gset
BEGIN;
SELECT test_login(jsonb_build_object('apikey', :'b_key'));
SELECT id, body FROM public.notes ORDER BY id;
UPDATE public.notes SET body = body || '!' WHERE true;
DELETE FROM public.notes WHERE true;
ROLLBACK;
-- disable_row_acl brings the tenant-wide policy for members back.
SELECT kiln.disable_row_acl('public.notes');
SELECT polname FROM pg_policy WHERE polrelid = 'public.notes'::regclass ORDER BY 1;
SELECT attname FROM pg_attribute WHERE attrelid = 'public.notes'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT kiln.disable_row_acl('public.notes');
\echo :SQLSTATE
DROP TABLE public.notes;

-- The policy is answered by the GIN index: 20,000 rows, 100 of them
-- readable by alice. No planner setting is changed; VACUUM moves the rows
-- from the GIN pending list into the index proper, as autovacuum would (a
-- full pending list makes every index scan read it, and the planner rightly
-- prefers the heap then).
CREATE TABLE public.many (id int PRIMARY KEY, body text NOT NULL);
GRANT SELECT ON public.many TO authenticated;
SELECT kiln.enable_row_acl('public.many');
INSERT INTO public.many (id, body, acl)
SELECT g, 'row ' || g,
       CASE WHEN g % 200 = 0 THEN ARRAY['read:user:a0000000-0000-0000-0000-00000000000a']
            ELSE ARRAY['read:user:' || md5(g::text)::uuid, 'update:user:' || md5(g::text)::uuid] END
  FROM generate_series(1, 20000) g;
VACUUM ANALYZE public.many;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "a0000000-0000-0000-0000-00000000000a"}');
EXPLAIN (COSTS OFF) SELECT id, body FROM public.many;
SELECT count(*) AS visible FROM public.many;
COMMIT;
DROP TABLE public.many;

-- disable_row_acl on a plain table removes column, check, index, policies.
SELECT kiln.disable_row_acl('public.docs');
SELECT count(*) AS policies FROM pg_policy WHERE polrelid = 'public.docs'::regclass;
SELECT attname FROM pg_attribute WHERE attrelid = 'public.docs'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT count(*) AS indexes FROM pg_index WHERE indrelid = 'public.docs'::regclass;
-- Row security stays on (and forced) with no policy: deny.
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'public.docs'::regclass;

DROP TABLE public.docs;
DELETE FROM kiln.tenants;
DELETE FROM auth.teams;
DELETE FROM auth.users;
DROP FUNCTION public.test_login(jsonb), public.test_token(jsonb);
DELETE FROM kiln.api_keys WHERE tenant_id = 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb';
