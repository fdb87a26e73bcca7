
-- kiln_access 0.1.0, part 15-tenant-tokens: the tenant in the access token.
--
-- The access token carries the caller's current tenant as claim tenant_id,
-- honoured only from keys the server signs with. At sign-in the auth flows
-- take kiln.default_tenant(user): the user's tenant when there is exactly
-- one. A user of several tenants chooses with kiln.switch_tenant(tenant),
-- an explicit, recorded switch that returns a new token; the tenant is never
-- taken from anything the client wrote.

-- PL/pgSQL, not SQL: a SQL function with SET (or SECURITY DEFINER) is never
-- inlined and is parsed and planned again on every call; PL/pgSQL keeps its
-- plan for the session. Sign-in and every refresh call it.
CREATE FUNCTION kiln.default_tenant(user_id pg_catalog.uuid)
RETURNS pg_catalog.uuid
LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenants uuid[];
BEGIN
  SELECT array_agg(m.tenant_id) INTO tenants
    FROM (SELECT m.tenant_id FROM kiln.tenant_members m
           WHERE m.user_id = default_tenant.user_id LIMIT 2) m;
  RETURN CASE WHEN cardinality(tenants) = 1 THEN tenants[1] END;
END
$$;
COMMENT ON FUNCTION kiln.default_tenant(pg_catalog.uuid)
  IS 'the user''s tenant when it is a member of exactly one, else NULL (sign-in sets it as claim tenant_id)';
REVOKE EXECUTE ON FUNCTION kiln.default_tenant(pg_catalog.uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kiln.default_tenant(pg_catalog.uuid) TO service_role;

CREATE FUNCTION kiln.switch_tenant(tenant pg_catalog.uuid)
RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  claims jsonb := auth.jwt();
  uid uuid := auth.uid();
  ctx jsonb := kiln.current_context();
BEGIN
  IF uid IS NULL OR claims IS NULL OR auth.role() IS DISTINCT FROM 'authenticated' THEN
    RAISE EXCEPTION 'switching tenants needs a signed-in user'
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Call it in a request authenticated with the user''s access token.';
  END IF;
  -- Not a member and no such tenant look the same.
  IF NOT EXISTS (SELECT 1 FROM kiln.tenant_members m
                  WHERE m.tenant_id OPERATOR(pg_catalog.=) switch_tenant.tenant
                    AND m.user_id OPERATOR(pg_catalog.=) uid) THEN
    RAISE EXCEPTION 'not a member of that tenant' USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO kiln.context_events (event, tenant_id, actor_role, session_user_name, user_id,
                                   request_id, client_ip)
  VALUES ('switch_tenant', tenant, 'authenticated', session_user, uid,
          ctx OPERATOR(pg_catalog.->>) 'request_id', ctx OPERATOR(pg_catalog.->>) 'client_ip');
  -- Same user, session and expiry; only the tenant and the issue time change.
  RETURN kiln.sign_jwt(claims OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
           'tenant_id', tenant,
           'iat', pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()))::pg_catalog.int8));
END
$$;
COMMENT ON FUNCTION kiln.switch_tenant(pg_catalog.uuid)
  IS 'a new access token for the signed-in user with claim tenant_id = tenant (a member of it); recorded in kiln.context_events';
REVOKE EXECUTE ON FUNCTION kiln.switch_tenant(pg_catalog.uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kiln.switch_tenant(pg_catalog.uuid) TO authenticated;
