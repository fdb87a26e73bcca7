-- exposure_guard: every new table in an exposed schema gets row security
-- enabled and forced with no policy, whatever created it; exposing data
-- takes a policy or kiln.make_public_read.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kiln_test_owner') THEN
    CREATE ROLE kiln_test_owner NOLOGIN;
  END IF;
END $$;
RESET client_min_messages;
GRANT CREATE ON SCHEMA public TO kiln_test_owner;

SELECT kiln.exposed_schemas();
SHOW kiln.exposed_schemas;

-- Relations in exposed schemas, with their row security and options.
CREATE VIEW pg_temp.guarded AS
SELECT n.nspname, c.relname, c.relkind, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies, c.reloptions
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('public', 'app', 'private') AND c.relkind IN ('r', 'p', 'v', 'm')
 ORDER BY 1, 2;

-- Every way to make a table.
CREATE TABLE public.plain (id int PRIMARY KEY, secret text);
INSERT INTO public.plain VALUES (1, 'one'), (2, 'two');
CREATE TABLE public.copied AS SELECT * FROM public.plain;
SELECT * INTO public.selected FROM public.plain;
CREATE UNLOGGED TABLE public.unlogged (id int);
CREATE TABLE public.liked (LIKE public.plain INCLUDING ALL);
CREATE TABLE public.parted (id int, k int NOT NULL) PARTITION BY RANGE (k);
CREATE TABLE public.parted_1 PARTITION OF public.parted FOR VALUES FROM (0) TO (10);
CREATE TABLE public.parted_2 (id int, k int NOT NULL);
ALTER TABLE public.parted ATTACH PARTITION public.parted_2 FOR VALUES FROM (10) TO (20);
-- A migration: one transaction, table and policy together.
BEGIN;
CREATE TABLE public.migrated (id int PRIMARY KEY, owner uuid);
CREATE POLICY own ON public.migrated FOR SELECT TO authenticated USING (owner = auth.uid());
COMMIT;
-- Made by an ordinary role, and by a function.
SET ROLE kiln_test_owner;
CREATE TABLE public.by_owner (id int);
RESET ROLE;
DO $$ BEGIN EXECUTE 'CREATE TABLE public.by_function (id int)'; END $$;
-- Outside the exposed schemas nothing changes.
CREATE SCHEMA private;
CREATE TABLE private.internal (id int);
CREATE TABLE private.moved (id int);
ALTER TABLE private.moved SET SCHEMA public;
ALTER TABLE IF EXISTS private.missing SET SCHEMA public;
CREATE TEMP TABLE scratch (id int);
SELECT relrowsecurity FROM pg_class WHERE oid = 'pg_temp.scratch'::regclass;
-- Another exposed schema, set by a superuser; CREATE SCHEMA with elements.
SET kiln.exposed_schemas = 'public, app';
SELECT kiln.exposed_schemas();
CREATE SCHEMA app CREATE TABLE items (id int) CREATE VIEW items_view AS SELECT id FROM items;
RESET kiln.exposed_schemas;

-- Views run as their caller unless their creator said otherwise; a
-- materialized view (no row security) is taken away from the app roles.
CREATE VIEW public.plain_view AS SELECT id FROM public.plain;
CREATE VIEW public.plain_owner_view WITH (security_invoker = false) AS SELECT id FROM public.plain;
CREATE MATERIALIZED VIEW public.plain_mat AS SELECT id FROM public.plain;
SELECT has_table_privilege('anon', 'public.plain_mat', 'SELECT') AS anon_reads_mat,
       has_table_privilege('authenticated', 'public.plain_mat', 'SELECT') AS authenticated_reads_mat;

SELECT * FROM pg_temp.guarded;

-- Granted but without a policy: the app roles see and write nothing.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.plain, public.copied, public.selected TO anon, authenticated;
GRANT SELECT ON public.parted, public.parted_1 TO anon;
SET ROLE anon;
SELECT count(*) AS plain FROM public.plain;
SELECT count(*) AS copied FROM public.copied;
SELECT count(*) AS selected FROM public.selected;
SELECT count(*) AS parted FROM public.parted;
SELECT count(*) AS partition FROM public.parted_1;
INSERT INTO public.plain VALUES (3, 'three');
\echo :SQLSTATE
UPDATE public.plain SET secret = 'x';
DELETE FROM public.plain;
RESET ROLE;
SELECT count(*) AS still_two FROM public.plain;

-- The owner of the table is bound too (forced).
SET ROLE kiln_test_owner;
SELECT count(*) AS owner_sees FROM public.by_owner;
RESET ROLE;

-- Publishing takes an explicit step.
SET ROLE kiln_test_owner;
SELECT kiln.make_public_read('public.plain');
\echo :SQLSTATE
RESET ROLE;
SELECT kiln.make_public_read('public.plain');
SET ROLE anon;
SELECT id, secret FROM public.plain ORDER BY id;
INSERT INTO public.plain VALUES (3, 'three');
\echo :SQLSTATE
RESET ROLE;

-- App roles cannot narrow the exposed schemas.
SET ROLE authenticated;
SET kiln.exposed_schemas = '';
\echo :SQLSTATE
RESET ROLE;
SET kiln.exposed_schemas = 'public, "bad';
\echo :SQLSTATE

DROP SCHEMA app CASCADE;
DROP SCHEMA private CASCADE;
DROP MATERIALIZED VIEW public.plain_mat;
DROP VIEW public.plain_view, public.plain_owner_view;
DROP TABLE public.plain, public.copied, public.selected, public.unlogged, public.liked,
  public.parted, public.migrated, public.by_owner, public.by_function, public.moved;
REVOKE CREATE ON SCHEMA public FROM kiln_test_owner;
