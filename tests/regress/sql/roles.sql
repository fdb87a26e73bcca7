-- roles: the cluster-wide roles kiln_auth creates, their memberships and
-- schema privileges, and how a reinstall treats existing roles.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

SELECT rolname, rolcanlogin, rolinherit, rolbypassrls, rolsuper,
       rolcreaterole, rolcreatedb, rolreplication
  FROM pg_catalog.pg_roles
 WHERE rolname IN ('anon', 'authenticated', 'service_role', 'authenticator')
 ORDER BY rolname;

SELECT g.rolname AS role, m.rolname AS member, a.admin_option
  FROM pg_catalog.pg_auth_members a
  JOIN pg_catalog.pg_roles g ON g.oid = a.roleid
  JOIN pg_catalog.pg_roles m ON m.oid = a.member
 WHERE m.rolname IN ('anon', 'authenticated', 'service_role', 'authenticator')
 ORDER BY 1, 2;

-- Schema privileges of the app roles.
SELECT r.rolname, s.nspname,
       pg_catalog.has_schema_privilege(r.rolname, s.nspname, 'USAGE') AS usage,
       pg_catalog.has_schema_privilege(r.rolname, s.nspname, 'CREATE') AS "create"
  FROM pg_catalog.unnest(ARRAY['anon', 'authenticated', 'service_role', 'authenticator']) AS r(rolname),
       pg_catalog.unnest(ARRAY['auth', 'kiln', 'storage']) AS s(nspname)
 ORDER BY 1, 2;

-- authenticator may switch to the three app roles and to nothing else.
SET SESSION AUTHORIZATION authenticator;
SET ROLE anon;
SELECT current_user;
SET ROLE authenticated;
SELECT current_user, auth.uid() IS NULL AS no_claims;
SET ROLE service_role;
SELECT current_user;
SET ROLE postgres;
\echo :SQLSTATE
RESET ROLE;
RESET SESSION AUTHORIZATION;

-- App roles can call the public kiln functions.
SET ROLE anon;
SELECT pg_catalog.length(kiln.random_token(8)) AS token_chars, kiln.request_id() IS NULL AS no_request;
RESET ROLE;

-- Reinstalling keeps existing roles and adds no duplicate grants.
DROP EXTENSION kiln_platform, kiln_access, kiln_audit, kiln_auth;
SELECT pg_catalog.count(*) AS roles_kept
  FROM pg_catalog.pg_roles
 WHERE rolname IN ('anon', 'authenticated', 'service_role', 'authenticator');
SELECT pg_catalog.count(*) AS auth_schemas
  FROM pg_catalog.pg_namespace WHERE nspname IN ('auth', 'storage');
CREATE EXTENSION kiln_platform CASCADE;
SELECT pg_catalog.count(*) AS memberships
  FROM pg_catalog.pg_auth_members a
  JOIN pg_catalog.pg_roles m ON m.oid = a.member
 WHERE m.rolname = 'authenticator';

-- An existing anon that bypasses row security is refused.
DROP EXTENSION kiln_platform, kiln_access, kiln_audit, kiln_auth;
ALTER ROLE anon BYPASSRLS;
\set SHOW_CONTEXT never
CREATE EXTENSION kiln_auth;
\echo :SQLSTATE
\set SHOW_CONTEXT errors
ALTER ROLE anon NOBYPASSRLS;
CREATE EXTENSION kiln_platform CASCADE;
SELECT e.extname FROM pg_catalog.pg_extension e WHERE e.extname LIKE 'kiln%' ORDER BY 1;
