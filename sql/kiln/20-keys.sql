-- kiln 0.1.0, part 20-keys: JWT keys, opaque API keys, revoked sessions.
--
-- Tables readable by their owner only (no grants): the identity code reads
-- them in C as the owner of schema kiln. Private key material is sealed with
-- the master key (kiln.encrypt), API keys are stored as SHA-256 only. Every
-- change to the three tables invalidates the key and token caches of every
-- backend at commit (trigger kiln._invalidate_token_caches). Management
-- functions are for superusers (EXECUTE revoked from PUBLIC); kiln.jwks()
-- is public.

CREATE TABLE kiln.jwt_keys (
  kid pg_catalog.text PRIMARY KEY
    CHECK (kid OPERATOR(pg_catalog.~) '^[A-Za-z0-9_.-]{1,64}$'),
  alg pg_catalog.text NOT NULL
    CHECK (alg OPERATOR(pg_catalog.=) ANY (ARRAY['HS256', 'ES256', 'EdDSA'])),
  secret pg_catalog.bytea NOT NULL,            -- sealed private key / HMAC secret
  public_jwk pg_catalog.jsonb,                 -- NULL for HS256
  signing pg_catalog.bool NOT NULL DEFAULT false,
  verify pg_catalog.bool NOT NULL DEFAULT true,
  legacy pg_catalog.bool NOT NULL DEFAULT false,
  trusted_tenant_claims pg_catalog.bool NOT NULL DEFAULT false,
  issuers pg_catalog.text[],                   -- NULL: kiln.jwt_issuers
  audiences pg_catalog.text[],                 -- NULL: kiln.jwt_audiences
  created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  retired_at pg_catalog.timestamptz,
  CHECK (NOT (signing AND NOT verify)),
  CHECK (NOT (legacy AND trusted_tenant_claims))
);
CREATE UNIQUE INDEX jwt_keys_one_signing ON kiln.jwt_keys ((true)) WHERE signing;
COMMENT ON TABLE kiln.jwt_keys IS 'JWT keys: one signing, any number verifying; secrets sealed with the master key';

CREATE TABLE kiln.api_keys (
  id pg_catalog.uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
  kind pg_catalog.text NOT NULL
    CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['publishable', 'secret'])),
  role pg_catalog.text NOT NULL
    CHECK (role OPERATOR(pg_catalog.=) ANY (ARRAY['anon', 'service_role', 'tenant_service'])),
  tenant_id pg_catalog.uuid,
  key_hash pg_catalog.bytea NOT NULL UNIQUE
    CHECK (pg_catalog.length(key_hash) OPERATOR(pg_catalog.=) 32),
  key_prefix pg_catalog.text NOT NULL,         -- shown to operators to tell keys apart
  created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  revoked_at pg_catalog.timestamptz,
  CHECK ((role OPERATOR(pg_catalog.=) 'tenant_service') OPERATOR(pg_catalog.=) (tenant_id IS NOT NULL))
);
COMMENT ON TABLE kiln.api_keys IS 'opaque sb_publishable_/sb_secret_ keys, stored as SHA-256';

CREATE TABLE kiln.revoked_sessions (
  session_id pg_catalog.uuid PRIMARY KEY,
  revoked_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE kiln.revoked_sessions IS 'sessions whose access tokens are refused before they expire';

CREATE FUNCTION kiln._invalidate_token_caches()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'kiln_invalidate_token_caches';
REVOKE EXECUTE ON FUNCTION kiln._invalidate_token_caches() FROM PUBLIC;

CREATE TRIGGER invalidate_caches AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kiln.jwt_keys
  FOR EACH STATEMENT EXECUTE FUNCTION kiln._invalidate_token_caches();
CREATE TRIGGER invalidate_caches AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kiln.api_keys
  FOR EACH STATEMENT EXECUTE FUNCTION kiln._invalidate_token_caches();
CREATE TRIGGER invalidate_caches AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kiln.revoked_sessions
  FOR EACH STATEMENT EXECUTE FUNCTION kiln._invalidate_token_caches();

CREATE FUNCTION kiln._jwt_key_material(alg pg_catalog.text,
                                       OUT secret pg_catalog.bytea, OUT public_jwk pg_catalog.jsonb)
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'kiln_jwt_key_material';
REVOKE EXECUTE ON FUNCTION kiln._jwt_key_material(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION kiln.create_jwt_key(alg pg_catalog.text DEFAULT 'ES256')
RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  m record;
  new_kid text := kiln.random_token(12);
BEGIN
  SELECT * INTO m FROM kiln._jwt_key_material(alg);
  INSERT INTO kiln.jwt_keys (kid, alg, secret, public_jwk, trusted_tenant_claims)
  VALUES (new_kid, alg, m.secret,
          m.public_jwk OPERATOR(pg_catalog.||) jsonb_build_object('kid', new_kid), true);
  RETURN new_kid;
END
$$;
COMMENT ON FUNCTION kiln.create_jwt_key(pg_catalog.text)
  IS 'new verify key of alg (HS256, ES256, EdDSA); returns its kid';
REVOKE EXECUTE ON FUNCTION kiln.create_jwt_key(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION kiln.rotate_signing_key(alg pg_catalog.text DEFAULT 'ES256')
RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  new_kid text := kiln.create_jwt_key(alg);
BEGIN
  UPDATE kiln.jwt_keys SET signing = false WHERE signing;
  UPDATE kiln.jwt_keys SET signing = true WHERE kid OPERATOR(pg_catalog.=) new_kid;
  RETURN new_kid;
END
$$;
COMMENT ON FUNCTION kiln.rotate_signing_key(pg_catalog.text)
  IS 'new signing key of alg; the previous one keeps verifying until retired';
REVOKE EXECUTE ON FUNCTION kiln.rotate_signing_key(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION kiln.retire_jwt_key(kid pg_catalog.text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  UPDATE kiln.jwt_keys k
     SET signing = false, verify = false, retired_at = now()
   WHERE k.kid OPERATOR(pg_catalog.=) retire_jwt_key.kid AND k.retired_at IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no active JWT key with id "%"', kid USING ERRCODE = 'undefined_object';
  END IF;
END
$$;
COMMENT ON FUNCTION kiln.retire_jwt_key(pg_catalog.text)
  IS 'stop signing and verifying with a key (tokens it signed are refused from commit on)';
REVOKE EXECUTE ON FUNCTION kiln.retire_jwt_key(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION kiln.set_legacy_jwt_secret(
  secret pg_catalog.text,
  issuers pg_catalog.text[] DEFAULT ARRAY['supabase', 'supabase-demo'])
RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF octet_length(secret) OPERATOR(pg_catalog.<) 32 THEN
    RAISE EXCEPTION 'legacy JWT secret is too short'
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'An HS256 secret has at least 32 bytes.';
  END IF;
  DELETE FROM kiln.jwt_keys WHERE kid OPERATOR(pg_catalog.=) 'legacy';
  INSERT INTO kiln.jwt_keys (kid, alg, secret, legacy, trusted_tenant_claims, issuers)
  VALUES ('legacy', 'HS256', kiln.encrypt(convert_to(secret, 'UTF8')), true, false, issuers);
  RETURN 'legacy';
END
$$;
COMMENT ON FUNCTION kiln.set_legacy_jwt_secret(pg_catalog.text, pg_catalog.text[])
  IS 'accept HS256 tokens and legacy API keys signed with this shared secret (key id "legacy"; tenant claims never trusted)';
REVOKE EXECUTE ON FUNCTION kiln.set_legacy_jwt_secret(pg_catalog.text, pg_catalog.text[]) FROM PUBLIC;

CREATE FUNCTION kiln.jwks()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT jsonb_build_object('keys', COALESCE(jsonb_agg(public_jwk ORDER BY created_at, kid), '[]'::jsonb))
    FROM kiln.jwt_keys
   WHERE verify AND public_jwk IS NOT NULL
$$;
COMMENT ON FUNCTION kiln.jwks() IS 'JWKS document of the public verify keys';

CREATE FUNCTION kiln.sign_jwt(claims pg_catalog.jsonb, kid pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.text
LANGUAGE c VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_sign_jwt';
COMMENT ON FUNCTION kiln.sign_jwt(pg_catalog.jsonb, pg_catalog.text)
  IS 'the claims, as given, signed with the signing key (or key kid)';
REVOKE EXECUTE ON FUNCTION kiln.sign_jwt(pg_catalog.jsonb, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION kiln.verify_jwt(token pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_verify_jwt';
COMMENT ON FUNCTION kiln.verify_jwt(pg_catalog.text)
  IS 'verified claims of a token, or KL001/KL002/KL003';
REVOKE EXECUTE ON FUNCTION kiln.verify_jwt(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION kiln.bench_verify(token pg_catalog.text, n pg_catalog.int4,
                                  cached pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.float8
LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_bench_verify';
COMMENT ON FUNCTION kiln.bench_verify(pg_catalog.text, pg_catalog.int4, pg_catalog.bool)
  IS 'benchmark aid: mean ns per verification (cached: token-cache hit); not an API';
REVOKE EXECUTE ON FUNCTION kiln.bench_verify(pg_catalog.text, pg_catalog.int4, pg_catalog.bool) FROM PUBLIC;

CREATE FUNCTION kiln.create_api_key(kind pg_catalog.text, tenant pg_catalog.uuid DEFAULT NULL)
RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  key text;
  key_role text;
BEGIN
  IF kind IS NULL OR kind OPERATOR(pg_catalog.<>) ALL (ARRAY['publishable', 'secret']) THEN
    RAISE EXCEPTION 'API key kind must be publishable or secret' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF tenant IS NOT NULL AND kind OPERATOR(pg_catalog.=) 'publishable' THEN
    RAISE EXCEPTION 'only secret keys can be minted for one tenant' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  key_role := CASE WHEN kind OPERATOR(pg_catalog.=) 'publishable' THEN 'anon'
                   WHEN tenant IS NULL THEN 'service_role'
                   ELSE 'tenant_service' END;
  key := 'sb_' OPERATOR(pg_catalog.||) kind OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) kiln.random_token(32);
  INSERT INTO kiln.api_keys (kind, role, tenant_id, key_hash, key_prefix)
  VALUES (kind, key_role, tenant, sha256(convert_to(key, 'UTF8')),
          substr(key, 1, length('sb_' OPERATOR(pg_catalog.||) kind OPERATOR(pg_catalog.||) '_') OPERATOR(pg_catalog.+) 6));
  RETURN key;
END
$$;
COMMENT ON FUNCTION kiln.create_api_key(pg_catalog.text, pg_catalog.uuid)
  IS 'new opaque key (returned once, stored as SHA-256): publishable -> anon, secret -> service_role, secret for a tenant -> tenant_service';
REVOKE EXECUTE ON FUNCTION kiln.create_api_key(pg_catalog.text, pg_catalog.uuid) FROM PUBLIC;

CREATE FUNCTION kiln.revoke_api_key(key pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
  WITH r AS (
    UPDATE kiln.api_keys SET revoked_at = now()
     WHERE key_hash OPERATOR(pg_catalog.=) sha256(convert_to(key, 'UTF8')) AND revoked_at IS NULL
    RETURNING 1)
  SELECT count(*) OPERATOR(pg_catalog.>) 0 FROM r
$$;
COMMENT ON FUNCTION kiln.revoke_api_key(pg_catalog.text) IS 'revoke an opaque key given in full; false when unknown or already revoked';
REVOKE EXECUTE ON FUNCTION kiln.revoke_api_key(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION kiln.revoke_api_key(id pg_catalog.uuid)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
  WITH r AS (
    UPDATE kiln.api_keys k SET revoked_at = now()
     WHERE k.id OPERATOR(pg_catalog.=) revoke_api_key.id AND k.revoked_at IS NULL
    RETURNING 1)
  SELECT count(*) OPERATOR(pg_catalog.>) 0 FROM r
$$;
COMMENT ON FUNCTION kiln.revoke_api_key(pg_catalog.uuid) IS 'revoke an opaque key by id';
REVOKE EXECUTE ON FUNCTION kiln.revoke_api_key(pg_catalog.uuid) FROM PUBLIC;

CREATE FUNCTION kiln.legacy_api_key(kind pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF kind IS NULL OR kind OPERATOR(pg_catalog.<>) ALL (ARRAY['anon', 'service_role']) THEN
    RAISE EXCEPTION 'legacy API key kind must be anon or service_role' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN kiln.sign_jwt(jsonb_build_object(
           'iss', 'supabase', 'role', kind,
           'iat', extract(epoch FROM now())::bigint,
           'exp', extract(epoch FROM now() OPERATOR(pg_catalog.+) interval '10 years')::bigint),
         'legacy');
END
$$;
COMMENT ON FUNCTION kiln.legacy_api_key(pg_catalog.text)
  IS 'HS256 JWT API key (anon or service_role) signed with the legacy secret, Supabase layout';
REVOKE EXECUTE ON FUNCTION kiln.legacy_api_key(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION kiln.revoke_session(session_id pg_catalog.uuid)
RETURNS void
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
  INSERT INTO kiln.revoked_sessions (session_id) VALUES (revoke_session.session_id)
  ON CONFLICT DO NOTHING
$$;
COMMENT ON FUNCTION kiln.revoke_session(pg_catalog.uuid)
  IS 'refuse access tokens carrying this session_id (KL003) in every backend from commit on';
REVOKE EXECUTE ON FUNCTION kiln.revoke_session(pg_catalog.uuid) FROM PUBLIC;

-- For session tables whose key column "id" is the session id (auth.sessions):
-- AFTER DELETE FOR EACH ROW EXECUTE FUNCTION kiln.revoke_session_on_delete()
-- makes every deleted session's access tokens invalid at commit.
CREATE FUNCTION kiln.revoke_session_on_delete()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  INSERT INTO kiln.revoked_sessions (session_id) VALUES (OLD.id) ON CONFLICT DO NOTHING;
  RETURN OLD;
END
$$;
COMMENT ON FUNCTION kiln.revoke_session_on_delete()
  IS 'row trigger: revoke the session whose id the deleted row holds';
REVOKE EXECUTE ON FUNCTION kiln.revoke_session_on_delete() FROM PUBLIC;
