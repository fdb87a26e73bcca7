-- kiln_access: INTERIM kiln.tenant_id(), until the identity branch is merged.
--
-- Reads the stand-in context of extension/access_context_shim.c (the
-- unverified setting request.jwt.claims). Deleted when the identity branch,
-- which defines the real kiln.tenant_id() in extension kiln, is merged.

CREATE FUNCTION kiln.tenant_id()
RETURNS pg_catalog.uuid
LANGUAGE c STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_access_shim_tenant_id';
COMMENT ON FUNCTION kiln.tenant_id() IS 'INTERIM: tenant of the request context, NULL when none';
