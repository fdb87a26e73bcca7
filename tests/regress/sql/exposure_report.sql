-- exposure_report: who can do what on every exposed table and column, and
-- through which policy; each unsafe pattern is flagged.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

-- Guarded (no policy): granted, yet nothing gets through.
CREATE TABLE public.guarded (id int PRIMARY KEY);
GRANT SELECT, INSERT ON public.guarded TO anon, authenticated;
GRANT SELECT ON public.guarded TO service_role;
-- Published for everyone: constant true for anon.
CREATE TABLE public.published (id int PRIMARY KEY);
SELECT kiln.make_public_read('public.published');
-- Row security switched off, and not forced.
CREATE TABLE public.unprotected (id int PRIMARY KEY);
ALTER TABLE public.unprotected DISABLE ROW LEVEL SECURITY;
GRANT SELECT ON public.unprotected TO anon;
CREATE TABLE public.unforced (id int PRIMARY KEY, owner uuid);
ALTER TABLE public.unforced NO FORCE ROW LEVEL SECURITY;
-- A policy per user, and column grants.
CREATE TABLE public.profiles (id uuid PRIMARY KEY, name text, email text);
CREATE POLICY own_profile ON public.profiles FOR ALL TO authenticated USING (id = auth.uid());
GRANT SELECT (id, name), UPDATE (name) ON public.profiles TO authenticated;
-- A constant-true insert policy for everyone (anon included).
CREATE TABLE public.guestbook (id int PRIMARY KEY, body text);
CREATE POLICY anyone_writes ON public.guestbook FOR INSERT WITH CHECK (true);
GRANT INSERT ON public.guestbook TO anon;
-- A tenant table.
CREATE TABLE public.orders (id int PRIMARY KEY);
SELECT kiln.enable_tenancy('public.orders');
GRANT SELECT ON public.orders TO authenticated;
CREATE POLICY everyone_in_tenant ON public.orders FOR SELECT TO authenticated USING (true);
-- Views: one reads as its owner.
CREATE VIEW public.orders_as_owner WITH (security_invoker = false) AS SELECT id FROM public.orders;
CREATE VIEW public.orders_as_caller AS SELECT id FROM public.orders;
GRANT SELECT ON public.orders_as_owner, public.orders_as_caller TO authenticated;
-- A materialized view granted back to an app role.
CREATE MATERIALIZED VIEW public.order_counts AS SELECT count(*) AS n FROM public.orders;
GRANT SELECT ON public.order_counts TO authenticated;
-- SECURITY DEFINER functions, with and without a pinned search_path.
CREATE FUNCTION public.definer_unpinned() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
CREATE FUNCTION public.definer_pinned() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = '' AS 'SELECT 1';

-- Access of the app roles that use the API without a service key.
SELECT object_name, object_kind, role_name, privilege, columns, allowed, via, restricted_by, issue
  FROM kiln.exposure_report()
 WHERE role_name IN ('anon', 'authenticated')
 ORDER BY object_name, role_name, privilege;

-- service_role bypasses row security everywhere it has a grant.
SELECT DISTINCT object_name, via FROM kiln.exposure_report()
 WHERE role_name = 'service_role' ORDER BY 1;

-- The flags.
SELECT object_name, object_kind, role_name, issue
  FROM kiln.exposure_report() WHERE issue IS NOT NULL
 ORDER BY issue, object_name, role_name;

-- Only service_role (and superusers) may read the report.
SET ROLE authenticated;
SELECT count(*) FROM kiln.exposure_report();
\echo :SQLSTATE
RESET ROLE;
SET ROLE service_role;
SELECT count(*) > 0 AS service_reads FROM kiln.exposure_report();
RESET ROLE;

-- A schema outside kiln.exposed_schemas is not reported.
CREATE SCHEMA internal;
CREATE TABLE internal.hidden (id int);
SELECT count(*) AS internal_rows FROM kiln.exposure_report() WHERE schema_name = 'internal';
SET kiln.exposed_schemas = 'internal';
SELECT object_name, issue FROM kiln.exposure_report() WHERE schema_name = 'internal';
RESET kiln.exposed_schemas;

DROP SCHEMA internal CASCADE;
DROP FUNCTION public.definer_unpinned(), public.definer_pinned();
DROP MATERIALIZED VIEW public.order_counts;
DROP VIEW public.orders_as_owner, public.orders_as_caller;
DROP TABLE public.guarded, public.published, public.unprotected, public.unforced, public.profiles,
  public.guestbook, public.orders;
