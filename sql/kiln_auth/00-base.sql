-- kiln_auth 0.1.0: identity (users, sessions, tokens, MFA, teams and the
-- auth flows), with Supabase-compatible names.
--
-- Creates schema auth (owned by this extension) and the cluster-wide roles
-- anon, authenticated, service_role, tenant_service and authenticator when
-- they do not exist yet. It never alters or drops an existing role (roles
-- outlive DROP EXTENSION; a later install in another database reuses them).
-- The readers auth.uid() & co. are in 10-context.sql.

\echo Use "CREATE EXTENSION kiln_auth" to load this file. \quit

CREATE SCHEMA auth;
COMMENT ON SCHEMA auth IS 'Kiln identity: users, sessions, tokens, teams, keys (Supabase-compatible)';

-- Roles are shared by all databases of the cluster: create what is missing
-- and keep what exists, except that only service_role may bypass row
-- security: an existing anon, authenticated or authenticator with SUPERUSER
-- or BYPASSRLS (which would void every policy) is refused, not altered.
DO $roles$
DECLARE
  r record;
BEGIN
  FOR r IN
    -- app: must not bypass row security.
    SELECT v.name, v.attrs, v.app
      FROM (VALUES ('anon',          'NOLOGIN NOINHERIT',           true),
                   ('authenticated', 'NOLOGIN NOINHERIT',           true),
                   ('service_role',  'NOLOGIN NOINHERIT BYPASSRLS', false),
                   ('tenant_service', 'NOLOGIN NOINHERIT',          true),
                   ('authenticator', 'LOGIN NOINHERIT',             true)) AS v(name, attrs, app)
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                    WHERE rolname OPERATOR(pg_catalog.=) r.name) THEN
      EXECUTE pg_catalog.format('CREATE ROLE %I %s', r.name, r.attrs);
    ELSIF r.app AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                             WHERE rolname OPERATOR(pg_catalog.=) r.name
                               AND (rolsuper OR rolbypassrls)) THEN
      RAISE EXCEPTION 'existing role "%" bypasses row security', r.name
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = 'The role has SUPERUSER or BYPASSRLS, which would void every row security policy written for it.',
              HINT = pg_catalog.format('Run ALTER ROLE %I NOSUPERUSER NOBYPASSRLS, then create the extension again.', r.name);
    END IF;
  END LOOP;

  -- authenticator logs in and switches to one of the app roles per request
  -- (tenant_service: a secret key minted for one tenant).
  FOR r IN
    SELECT g.name
      FROM pg_catalog.unnest(ARRAY['anon', 'authenticated', 'service_role', 'tenant_service']) AS g(name)
     WHERE NOT pg_catalog.pg_has_role('authenticator', g.name, 'MEMBER')
  LOOP
    EXECUTE pg_catalog.format('GRANT %I TO authenticator', r.name);
  END LOOP;
END
$roles$;

GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role, tenant_service;
