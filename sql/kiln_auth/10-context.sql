-- kiln_auth 0.1.0, part 10-context: the Supabase-named readers of the
-- verified request context, and who may establish it.
--
-- auth.uid(), auth.role(), auth.jwt(), auth.email() read the context that
-- kiln.authenticate verified (C memory, one transaction); they never read
-- request.jwt.claims, which any role can set. authenticator may call
-- kiln.authenticate; service_role may call kiln.act_as_tenant.

CREATE FUNCTION auth.uid()
RETURNS pg_catalog.uuid
LANGUAGE c STABLE LEAKPROOF PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_auth_uid'
SUPPORT kiln.context_support;
COMMENT ON FUNCTION auth.uid() IS 'user id (claim sub) of the verified context, NULL without one';

CREATE FUNCTION auth.role()
RETURNS pg_catalog.text
LANGUAGE c STABLE LEAKPROOF PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_auth_role'
SUPPORT kiln.context_support;
COMMENT ON FUNCTION auth.role() IS 'role of the verified context, NULL without one';

CREATE FUNCTION auth.jwt()
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE LEAKPROOF PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_auth_jwt'
SUPPORT kiln.context_support;
COMMENT ON FUNCTION auth.jwt() IS 'verified claims of the context, NULL without one';

CREATE FUNCTION auth.email()
RETURNS pg_catalog.text
LANGUAGE c STABLE LEAKPROOF PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_auth_email'
SUPPORT kiln.context_support;
COMMENT ON FUNCTION auth.email() IS 'claim email of the verified context, NULL without one';

GRANT EXECUTE ON FUNCTION kiln.authenticate(pg_catalog.text, pg_catalog.jsonb) TO authenticator;
GRANT EXECUTE ON FUNCTION kiln.authenticate(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.bool)
  TO authenticator;
GRANT EXECUTE ON FUNCTION kiln.act_as_tenant(pg_catalog.uuid) TO service_role;

-- authenticator, between requests or after RESET ROLE, reads an empty
-- context rather than failing; the schema holds nothing else it may use.
GRANT USAGE ON SCHEMA auth TO authenticator;
