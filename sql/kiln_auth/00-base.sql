-- kiln_auth 0.1.0: identity skeleton, Supabase-compatible names.
--
-- Creates schema auth (owned by this extension), the cluster-wide roles
-- anon, authenticated, service_role and authenticator when they do not exist
-- yet, and placeholder auth.jwt(), auth.uid(), auth.role(), auth.email()
-- reading the transaction-local setting request.jwt.claims. It never alters
-- or drops an existing role (roles outlive DROP EXTENSION; a later install
-- in another database reuses them), and never trusts the claims for more
-- than these placeholders: verified context arrives with kiln.authenticate().

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

  -- authenticator logs in and switches to one of the three per request.
  FOR r IN
    SELECT g.name
      FROM pg_catalog.unnest(ARRAY['anon', 'authenticated', 'service_role']) AS g(name)
     WHERE NOT pg_catalog.pg_has_role('authenticator', g.name, 'MEMBER')
  LOOP
    EXECUTE pg_catalog.format('GRANT %I TO authenticator', r.name);
  END LOOP;
END
$roles$;

GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;

-- Placeholders: plain reads of request.jwt.claims (set with
-- set_config('request.jwt.claims', json, true)), NULL when unset.
CREATE FUNCTION auth.jwt()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb
$$;
COMMENT ON FUNCTION auth.jwt() IS 'claims of the current request (request.jwt.claims), NULL when unset';

CREATE FUNCTION auth.uid()
RETURNS pg_catalog.uuid
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT (auth.jwt() OPERATOR(pg_catalog.->>) 'sub')::pg_catalog.uuid
$$;
COMMENT ON FUNCTION auth.uid() IS 'claim sub of the current request as uuid, NULL when unset';

CREATE FUNCTION auth.role()
RETURNS pg_catalog.text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT auth.jwt() OPERATOR(pg_catalog.->>) 'role'
$$;
COMMENT ON FUNCTION auth.role() IS 'claim role of the current request, NULL when unset';

CREATE FUNCTION auth.email()
RETURNS pg_catalog.text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT auth.jwt() OPERATOR(pg_catalog.->>) 'email'
$$;
COMMENT ON FUNCTION auth.email() IS 'claim email of the current request, NULL when unset';
