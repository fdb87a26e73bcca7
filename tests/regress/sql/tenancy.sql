-- tenancy: kiln.enable_tenancy / disable_tenancy, and that tenant B can
-- neither read nor write tenant A's rows by any route: direct SQL, a forged
-- tenant_id on insert or update, a foreign key to A's row, views (as caller
-- and as owner), functions (invoker and definer); no context sees nothing;
-- a tenant's service key stays in its tenant.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kiln_test_owner') THEN
    CREATE ROLE kiln_test_owner NOLOGIN;
  END IF;
END $$;
RESET client_min_messages;
GRANT CREATE ON SCHEMA public TO kiln_test_owner;

-- The request context, as the daemon sets it (test_login), and alice, bob,
-- tenants A and B (helpers: include/login.sql, people.sql).
\getenv regress_dir KILN_REGRESS_DIR
\i :regress_dir/include/login.sql
\i :regress_dir/include/people.sql

SELECT kiln.add_tenant_member('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'a0000000-0000-0000-0000-00000000000a', 'owner');
SELECT kiln.add_tenant_member('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'b0000000-0000-0000-0000-00000000000b', 'member');
SELECT kiln.add_tenant_member('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'b0000000-0000-0000-0000-00000000000b', 'Not A Role');
\echo :SQLSTATE
SELECT kiln.add_tenant_member('cccccccc-cccc-cccc-cccc-cccccccccccc', 'b0000000-0000-0000-0000-00000000000b', 'member');
\echo :SQLSTATE
SELECT kiln.create_tenant('C') IS NOT NULL AS created;
-- Only service_role (and superusers) manage tenants.
SELECT has_function_privilege('authenticated', 'kiln.create_tenant(text)', 'EXECUTE') AS authenticated_creates,
       has_function_privilege('service_role', 'kiln.create_tenant(text)', 'EXECUTE') AS service_creates;

-- Tables owned by an ordinary role; seeds written by the superuser.
SET ROLE kiln_test_owner;
CREATE TABLE public.projects (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.tasks (id int PRIMARY KEY,
                           project_id int REFERENCES public.projects (id) ON DELETE CASCADE,
                           title text NOT NULL);
RESET ROLE;
-- The grants Supabase's default privileges give; row security decides.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.projects, public.tasks TO anon, authenticated, service_role;
INSERT INTO public.projects VALUES (1, 'a-legacy');

-- Existing rows need a tenant.
SELECT kiln.enable_tenancy('public.projects');
\echo :SQLSTATE
SELECT kiln.enable_tenancy('public.projects', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
SELECT kiln.enable_tenancy('public.projects');
\echo :SQLSTATE
SELECT kiln.enable_tenancy('public.no_such_table');
\echo :SQLSTATE
-- Only the owner may.
SET ROLE authenticated;
SELECT kiln.enable_tenancy('public.tasks');
\echo :SQLSTATE
RESET ROLE;
SELECT kiln.enable_tenancy('public.tasks');

-- What enable_tenancy made.
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
  FROM pg_class c WHERE c.oid IN ('public.projects'::regclass, 'public.tasks'::regclass) ORDER BY 1;
SELECT polrelid::regclass AS tbl, polname, polpermissive, polcmd,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END FROM unnest(polroles) r) AS roles,
       pg_get_expr(polqual, polrelid) AS using
  FROM pg_policy WHERE polrelid IN ('public.projects'::regclass, 'public.tasks'::regclass) ORDER BY 1, 2;
SELECT conrelid::regclass AS tbl, conname, pg_get_constraintdef(oid) AS def
  FROM pg_constraint
 WHERE conrelid IN ('public.projects'::regclass, 'public.tasks'::regclass) AND contype IN ('f', 'u', 'p')
 ORDER BY 1, 2;
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS default
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = 'public.projects'::regclass AND a.attname = 'tenant_id';

-- Seeds for both tenants (superuser, no context: any tenant may be named).
INSERT INTO public.projects (id, name, tenant_id) VALUES
  (2, 'a-secret', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'),
  (3, 'b-project', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb');
INSERT INTO public.tasks (id, project_id, title, tenant_id) VALUES
  (10, 2, 'a-task', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'),
  (30, 3, 'b-task', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb');
-- Even the superuser cannot tie B's task to A's project.
INSERT INTO public.tasks (id, project_id, title, tenant_id) VALUES
  (31, 2, 'b-task-on-a', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb');
\echo :SQLSTATE

-- Views and functions over projects, as caller and as owner.
SET ROLE kiln_test_owner;
CREATE VIEW public.projects_as_caller WITH (security_invoker = true) AS SELECT id, name FROM public.projects;
CREATE VIEW public.projects_as_owner WITH (security_invoker = false) AS SELECT id, name FROM public.projects;
CREATE FUNCTION public.project_names_definer() RETURNS SETOF text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS 'SELECT name FROM public.projects ORDER BY id';
CREATE FUNCTION public.project_names_invoker() RETURNS SETOF text
  LANGUAGE sql STABLE SET search_path = '' AS 'SELECT name FROM public.projects ORDER BY id';
RESET ROLE;
-- The one route no policy can close: a SECURITY DEFINER function owned by a
-- role that bypasses row security. The exposure report flags it.
CREATE FUNCTION public.project_count_as_superuser() RETURNS bigint
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS 'SELECT count(*) FROM public.projects';
-- A view a superuser creates runs as the caller (exposure guard).
CREATE VIEW public.projects_by_superuser AS SELECT id, name FROM public.projects;
GRANT SELECT ON public.projects_as_caller, public.projects_as_owner, public.projects_by_superuser TO authenticated;

-- Tenant B, signed in.
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "b0000000-0000-0000-0000-00000000000b", "tenant_id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}');
SELECT kiln.tenant_id();
SELECT id, name FROM public.projects ORDER BY id;
SELECT id, name FROM public.projects WHERE tenant_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa';
SELECT id, name FROM public.projects WHERE id IN (1, 2) OR true ORDER BY id;
SELECT id, title FROM public.tasks ORDER BY id;
SELECT * FROM public.projects_as_caller ORDER BY id;
-- As the owner, whom no permissive policy names: nothing.
SELECT * FROM public.projects_as_owner ORDER BY id;
SELECT * FROM public.projects_by_superuser ORDER BY id;
SELECT public.project_names_definer();
SELECT public.project_names_invoker();
SELECT public.project_count_as_superuser() AS superuser_definer_sees_all;
-- A's rows cannot be changed or removed.
UPDATE public.projects SET name = 'pwned' WHERE id IN (1, 2);
DELETE FROM public.projects WHERE id IN (1, 2);
COMMIT;

BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "b0000000-0000-0000-0000-00000000000b", "tenant_id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}');
-- A forged tenant_id on insert.
INSERT INTO public.projects (id, name, tenant_id) VALUES (4, 'forged', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "b0000000-0000-0000-0000-00000000000b", "tenant_id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}');
-- Moving B's own row to A.
UPDATE public.projects SET tenant_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa' WHERE id = 3;
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "b0000000-0000-0000-0000-00000000000b", "tenant_id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}');
-- A task of B pointing at A's project: the composite key finds no (B, 2).
INSERT INTO public.tasks (id, project_id, title) VALUES (32, 2, 'b-task-on-a');
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "b0000000-0000-0000-0000-00000000000b", "tenant_id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}');
-- Writes inside B work; tenant_id comes from the request (explicit NULL too).
INSERT INTO public.projects (id, name) VALUES (4, 'b-second');
INSERT INTO public.projects (id, name, tenant_id) VALUES (5, 'b-third', NULL);
INSERT INTO public.tasks (id, project_id, title) VALUES (33, 4, 'b-task-2');
SELECT id, name, tenant_id FROM public.projects ORDER BY id;
COMMIT;

-- Tenant A sees exactly its rows, B's new ones not.
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "a0000000-0000-0000-0000-00000000000a", "tenant_id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}');
SELECT id, name FROM public.projects ORDER BY id;
SELECT id, title FROM public.tasks ORDER BY id;
COMMIT;

-- No context: nothing, never everything.
BEGIN;
SET LOCAL ROLE authenticated;
SELECT count(*) AS authenticated_no_context FROM public.projects;
INSERT INTO public.projects (id, name) VALUES (6, 'no-tenant');
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL ROLE anon;
SELECT count(*) AS anon_no_context FROM public.projects;
COMMIT;
BEGIN;
SELECT test_login('{"role": "anon"}');
SELECT count(*) AS anon_with_claims FROM public.projects;
COMMIT;
-- A user without a tenant sees nothing either.
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "b0000000-0000-0000-0000-00000000000b"}');
SELECT count(*) AS user_without_tenant FROM public.projects;
COMMIT;
-- The owner is bound by the forced policies too.
BEGIN;
SET LOCAL ROLE kiln_test_owner;
SELECT count(*) AS owner_no_context FROM public.projects;
COMMIT;

-- tenant_service: a secret key minted for B.
SELECT kiln.create_api_key('secret', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb') AS b_key \gset
BEGIN;
SELECT test_login(jsonb_build_object('apikey', :'b_key'));
SELECT kiln.tenant_id();
SELECT id, name FROM public.projects ORDER BY id;
UPDATE public.projects SET name = name || '!' WHERE true;
DELETE FROM public.tasks WHERE true;
INSERT INTO public.projects (id, name) VALUES (7, 'b-by-service-key');
COMMIT;
BEGIN;
SELECT test_login(jsonb_build_object('apikey', :'b_key'));
INSERT INTO public.projects (id, name, tenant_id) VALUES (8, 'forged', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
\echo :SQLSTATE
ROLLBACK;
SELECT rolbypassrls FROM pg_roles WHERE rolname = 'tenant_service';

-- service_role bypasses row security (Supabase semantics) ...
BEGIN;
SELECT test_login('{"role": "service_role"}');
SELECT id, name, tenant_id FROM public.projects ORDER BY id;
SELECT id, title FROM public.tasks ORDER BY id;
COMMIT;
-- ... until it acts as one tenant: then it is that tenant's service key.
BEGIN;
SELECT test_login('{"role": "service_role"}');
SELECT kiln.act_as_tenant('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
SELECT current_user, kiln.tenant_id();
SELECT id, name FROM public.projects ORDER BY id;
INSERT INTO public.projects (id, name, tenant_id) VALUES (9, 'forged', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb');
\echo :SQLSTATE
ROLLBACK;

-- A foreign key between tenant tables must carry tenant_id.
ALTER TABLE public.tasks ADD CONSTRAINT tasks_project_plain FOREIGN KEY (project_id) REFERENCES public.projects (id);
\echo :SQLSTATE
ALTER TABLE public.tasks ADD CONSTRAINT tasks_project_pair
  FOREIGN KEY (tenant_id, project_id) REFERENCES public.projects (tenant_id, id);
ALTER TABLE public.tasks DROP CONSTRAINT tasks_project_pair;

-- disable_tenancy undoes it all.
DROP VIEW public.projects_as_caller, public.projects_as_owner, public.projects_by_superuser;
SELECT kiln.disable_tenancy('public.tasks');
SELECT kiln.disable_tenancy('public.projects');
SELECT kiln.disable_tenancy('public.projects');
\echo :SQLSTATE
SELECT polrelid::regclass AS tbl, polname
  FROM pg_policy WHERE polrelid IN ('public.projects'::regclass, 'public.tasks'::regclass) ORDER BY 1, 2;
SELECT conrelid::regclass AS tbl, conname, pg_get_constraintdef(oid) AS def
  FROM pg_constraint
 WHERE conrelid IN ('public.projects'::regclass, 'public.tasks'::regclass) AND contype IN ('f', 'u', 'p')
 ORDER BY 1, 2;
SELECT attrelid::regclass AS tbl, attname FROM pg_attribute
 WHERE attrelid IN ('public.projects'::regclass, 'public.tasks'::regclass) AND attnum > 0 AND NOT attisdropped
 ORDER BY 1, attnum;
SELECT count(*) AS triggers FROM pg_trigger
 WHERE tgrelid IN ('public.projects'::regclass, 'public.tasks'::regclass) AND NOT tgisinternal;
SELECT has_table_privilege('tenant_service', 'public.projects', 'SELECT') AS tenant_service_reads;

-- A table with its own per-user policy keeps it: enable_tenancy adds no
-- tenant-wide policy there (it would widen the app's one).
CREATE TABLE public.diary (id int PRIMARY KEY, user_id uuid NOT NULL, body text NOT NULL);
CREATE POLICY own_entries ON public.diary FOR ALL TO authenticated USING (user_id = auth.uid());
GRANT SELECT, INSERT ON public.diary TO authenticated;
SELECT kiln.enable_tenancy('public.diary');
SELECT polname FROM pg_policy WHERE polrelid = 'public.diary'::regclass ORDER BY 1;
INSERT INTO public.diary VALUES
  (1, 'b0000000-0000-0000-0000-00000000000b', 'bob in B', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'),
  (2, 'c0000000-0000-0000-0000-00000000000c', 'carol in B', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'),
  (3, 'b0000000-0000-0000-0000-00000000000b', 'bob in A', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "b0000000-0000-0000-0000-00000000000b", "tenant_id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}');
SELECT id, body FROM public.diary ORDER BY id;
COMMIT;
SELECT kiln.disable_tenancy('public.diary');
-- Forced, it is there (and the exposure report says what it does).
SELECT kiln.enable_tenancy('public.diary', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', member_access => true);
SELECT polname FROM pg_policy WHERE polrelid = 'public.diary'::regclass ORDER BY 1;
SELECT role_name, privilege, via, issue FROM kiln.exposure_report()
 WHERE object_name = 'diary' AND role_name = 'authenticated';
DROP TABLE public.diary;

-- A partitioned tenant table: partitions made before and after, one key.
CREATE TABLE public.events (id int, day int NOT NULL, body text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
CREATE TABLE public.events_1 PARTITION OF public.events FOR VALUES FROM (0) TO (10);
SELECT kiln.enable_tenancy('public.events');
CREATE TABLE public.events_2 PARTITION OF public.events FOR VALUES FROM (10) TO (20);
GRANT SELECT, INSERT ON public.events, public.events_1 TO authenticated;
INSERT INTO public.events VALUES (1, 1, 'a-event', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'),
                                 (2, 12, 'b-event', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb');
BEGIN;
SELECT test_login('{"role": "authenticated", "sub": "b0000000-0000-0000-0000-00000000000b", "tenant_id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}');
SELECT id, day, body FROM public.events ORDER BY id;
-- A partition read directly has no policy of its own: nothing.
SELECT count(*) AS partition_direct FROM public.events_1;
INSERT INTO public.events (id, day, body) VALUES (3, 15, 'b-event-2');
SELECT id, day, tenant_id FROM public.events ORDER BY id;
INSERT INTO public.events (id, day, body, tenant_id) VALUES (4, 5, 'forged', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
\echo :SQLSTATE
ROLLBACK;
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'public.events'::regclass ORDER BY 1;
SELECT kiln.disable_tenancy('public.events');
DROP TABLE public.events;

SET ROLE service_role;
SELECT object_name, issue FROM kiln.exposure_report()
 WHERE object_kind = 'function' ORDER BY 1, 2;
RESET ROLE;
DROP FUNCTION public.project_names_definer(), public.project_names_invoker(), public.project_count_as_superuser();
DROP TABLE public.tasks, public.projects;
DELETE FROM kiln.tenants;
DELETE FROM auth.users;
DROP FUNCTION public.test_login(jsonb), public.test_token(jsonb);
REVOKE CREATE ON SCHEMA public FROM kiln_test_owner;
DELETE FROM kiln.api_keys WHERE tenant_id = 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb';
