-- kiln 0.1.0, part 30-context: the verified request context.
--
-- kiln.authenticate switches identity for one transaction (EXECUTE is
-- granted to authenticator by kiln_auth, to nobody here); kiln.act_as_tenant
-- narrows a service_role context to one tenant and leaves a row in
-- kiln.context_events. The readers are C functions over the context held in
-- the backend's memory: STABLE, LEAKPROOF, PARALLEL RESTRICTED.

CREATE TABLE kiln.context_events (
  id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  event pg_catalog.text NOT NULL,
  tenant_id pg_catalog.uuid,
  actor_role pg_catalog.text NOT NULL,
  session_user_name pg_catalog.text NOT NULL,
  user_id pg_catalog.uuid,
  request_id pg_catalog.text,
  client_ip pg_catalog.text
);
COMMENT ON TABLE kiln.context_events IS 'explicit identity changes inside a request (kiln.act_as_tenant)';

CREATE FUNCTION kiln.authenticate(token pg_catalog.text,
                                  meta pg_catalog.jsonb DEFAULT '{}'::pg_catalog.jsonb)
RETURNS pg_catalog.text
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'kiln_authenticate';
COMMENT ON FUNCTION kiln.authenticate(pg_catalog.text, pg_catalog.jsonb)
  IS 'verify a token (JWT, sb_ key, or NULL for anon) and switch role and context for this transaction';
REVOKE EXECUTE ON FUNCTION kiln.authenticate(pg_catalog.text, pg_catalog.jsonb) FROM PUBLIC;

-- The same with meta's members as arguments: what the daemon calls on every
-- request, so that no JSON is parsed per request.
CREATE FUNCTION kiln.authenticate(token pg_catalog.text, request_id pg_catalog.text,
                                  client_ip pg_catalog.text, read_only pg_catalog.bool)
RETURNS pg_catalog.text
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'kiln_authenticate_args';
COMMENT ON FUNCTION kiln.authenticate(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.bool)
  IS 'kiln.authenticate(token, meta) with request_id, client_ip and read_only as arguments';
REVOKE EXECUTE ON FUNCTION kiln.authenticate(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.bool)
  FROM PUBLIC;

CREATE FUNCTION kiln.act_as_tenant(tenant pg_catalog.uuid)
RETURNS void
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'kiln_act_as_tenant';
COMMENT ON FUNCTION kiln.act_as_tenant(pg_catalog.uuid)
  IS 'service_role: act as tenant_service inside one tenant for the rest of the transaction (recorded)';
REVOKE EXECUTE ON FUNCTION kiln.act_as_tenant(pg_catalog.uuid) FROM PUBLIC;

-- Planner support of the context readers: a bare call in a policy is
-- planned as (SELECT <call>), evaluated once per execution instead of once
-- per row (extension/context_support.c).
CREATE FUNCTION kiln.context_support(pg_catalog.internal)
RETURNS pg_catalog.internal
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_context_support';
REVOKE EXECUTE ON FUNCTION kiln.context_support(pg_catalog.internal) FROM PUBLIC;

CREATE FUNCTION kiln.tenant_id()
RETURNS pg_catalog.uuid
LANGUAGE c STABLE LEAKPROOF PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_get_tenant_id'
SUPPORT kiln.context_support;
COMMENT ON FUNCTION kiln.tenant_id() IS 'tenant of the verified context, NULL without one';

CREATE FUNCTION kiln.session_id()
RETURNS pg_catalog.uuid
LANGUAGE c STABLE LEAKPROOF PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_get_session_id'
SUPPORT kiln.context_support;
COMMENT ON FUNCTION kiln.session_id() IS 'session of the verified context, NULL without one';

CREATE FUNCTION kiln.current_context()
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_current_context';
COMMENT ON FUNCTION kiln.current_context()
  IS 'the verified context as jsonb (role, user_id, tenant_id, session_id, request_id, client_ip, aal), NULL without one';

-- kiln.request_id() now prefers the verified context's request id; the
-- context lives in the leader, so it may not run in parallel workers.
ALTER FUNCTION kiln.request_id() PARALLEL RESTRICTED;
