-- keys: opaque API keys (sb_publishable_/sb_secret_, stored hashed, one
-- tenant's secret keys), legacy HS256 API keys, the tenant_id claim, and
-- revocation through the per-backend token cache.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

CREATE FUNCTION pg_temp.b64u(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT translate(rtrim(replace(encode(b, 'base64'), E'\n', ''), '='), '+/', '-_')
$$;
CREATE FUNCTION pg_temp.hmac256(k bytea, m bytea) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  kp bytea := CASE WHEN length(k) > 64 THEN sha256(k) ELSE k END;
  ip bytea;
  op bytea;
BEGIN
  kp := kp || decode(repeat('00', 64 - length(kp)), 'hex');
  ip := kp; op := kp;
  FOR i IN 0..63 LOOP
    ip := set_byte(ip, i, get_byte(kp, i) # 54);
    op := set_byte(op, i, get_byte(kp, i) # 92);
  END LOOP;
  RETURN sha256(op || sha256(ip || m));
END
$$;
CREATE FUNCTION pg_temp.hs256(header text, claims text, secret bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT s || '.' || pg_temp.b64u(pg_temp.hmac256(secret, convert_to(s, 'UTF8')))
    FROM (SELECT pg_temp.b64u(convert_to(header, 'UTF8')) || '.' || pg_temp.b64u(convert_to(claims, 'UTF8')) AS s) x
$$;
-- kiln.authenticate as the daemon would, in its own transaction: the
-- resulting context, or the error.
CREATE FUNCTION pg_temp.auth_as(tok text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RETURN kiln.authenticate(tok) || ' tenant=' || coalesce(kiln.tenant_id()::text, '-')
         || ' uid=' || coalesce(auth.uid()::text, '-');
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;

SELECT kiln.set_legacy_jwt_secret('super-secret-jwt-token-with-at-least-32-characters-long');
SELECT kiln.rotate_signing_key('ES256') AS kid \gset

-- Opaque keys: the sb_ prefixes Supabase clients know, 256 random bits.
SELECT kiln.create_api_key('publishable') AS pk \gset
SELECT kiln.create_api_key('secret') AS sk \gset
SELECT kiln.create_api_key('secret', '7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f') AS tk \gset
SELECT :'pk' ~ '^sb_publishable_[A-Za-z0-9_-]{43}$' AS publishable_format,
       :'sk' ~ '^sb_secret_[A-Za-z0-9_-]{43}$' AS secret_format,
       :'tk' ~ '^sb_secret_[A-Za-z0-9_-]{43}$' AS tenant_secret_format;

-- Stored as SHA-256 only, with a short prefix to tell keys apart.
SELECT kind, role, tenant_id, length(key_hash) AS hash_bytes, length(key_prefix) AS prefix_chars
  FROM kiln.api_keys ORDER BY created_at, role;
SELECT count(*) AS rows_holding_a_key
  FROM kiln.api_keys a
 WHERE position(:'pk' IN a::text) > 0 OR position(:'sk' IN a::text) > 0 OR position(:'tk' IN a::text) > 0;
SELECT count(*) AS hashes_match
  FROM kiln.api_keys WHERE key_hash IN (sha256(convert_to(:'pk', 'UTF8')), sha256(convert_to(:'sk', 'UTF8')),
                                        sha256(convert_to(:'tk', 'UTF8')));

-- Each maps to its role; the tenant's key to tenant_service inside its tenant.
SET SESSION AUTHORIZATION authenticator;
SELECT pg_temp.auth_as(:'pk') AS publishable;
SELECT pg_temp.auth_as(:'sk') AS secret;
SELECT pg_temp.auth_as(:'tk') AS tenant_secret;
BEGIN;
SELECT kiln.authenticate(:'tk');
SELECT current_user, auth.role(), kiln.tenant_id(), auth.jwt();
ROLLBACK;
-- Unknown keys are invalid; near misses too.
SELECT pg_temp.auth_as('sb_secret_' || kiln.random_token(32)) AS unknown_secret;
SELECT pg_temp.auth_as(:'sk' || 'x') AS extended_key;
RESET SESSION AUTHORIZATION;

-- Revocation takes effect at commit, also for a key this backend has cached.
SET SESSION AUTHORIZATION authenticator;
SELECT pg_temp.auth_as(:'sk') AS before_revoke;
RESET SESSION AUTHORIZATION;
SELECT kiln.revoke_api_key(:'sk') AS revoked, kiln.revoke_api_key(:'sk') AS revoked_again;
SET SESSION AUTHORIZATION authenticator;
SELECT pg_temp.auth_as(:'sk') AS after_revoke;
SELECT pg_temp.auth_as(:'pk') AS other_key;
RESET SESSION AUTHORIZATION;
SELECT kiln.revoke_api_key((SELECT id FROM kiln.api_keys WHERE key_hash = sha256(convert_to(:'pk', 'UTF8')))) AS revoked_by_id;
SET SESSION AUTHORIZATION authenticator;
SELECT pg_temp.auth_as(:'pk') AS publishable_after_revoke;
RESET SESSION AUTHORIZATION;

-- Bad requests.
SELECT kiln.create_api_key('publishable', '7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f');
\echo :SQLSTATE
SELECT kiln.create_api_key('admin');
\echo :SQLSTATE

-- Legacy keys: HS256 JWTs with the Supabase layout, signed with the legacy secret.
SELECT kiln.legacy_api_key('anon') AS legacy_anon \gset
SELECT kiln.legacy_api_key('service_role') AS legacy_service \gset
SELECT kiln.verify_jwt(:'legacy_anon') - 'iat' - 'exp' AS legacy_anon_claims;
SET SESSION AUTHORIZATION authenticator;
SELECT pg_temp.auth_as(:'legacy_anon') AS legacy_anon;
SELECT pg_temp.auth_as(:'legacy_service') AS legacy_service;
RESET SESSION AUTHORIZATION;
SELECT kiln.legacy_api_key('authenticated');
\echo :SQLSTATE

-- The tenant_id claim counts only in tokens of keys the server signs with.
SELECT kiln.sign_jwt(jsonb_build_object('iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated',
         'sub', '6f1c3f4e-8a52-4b0e-9b0a-3c1d2e4f5a6b', 'tenant_id', '7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f',
         'exp', extract(epoch FROM now())::int8 + 600)) AS server_tenant_token \gset
SELECT pg_temp.hs256('{"alg":"HS256","typ":"JWT"}',
         jsonb_build_object('iss', 'supabase', 'aud', 'authenticated', 'role', 'authenticated',
           'sub', '6f1c3f4e-8a52-4b0e-9b0a-3c1d2e4f5a6b', 'tenant_id', '7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f',
           'exp', extract(epoch FROM now())::int8 + 600)::text,
         'super-secret-jwt-token-with-at-least-32-characters-long'::bytea) AS legacy_tenant_token \gset
SELECT kiln.sign_jwt(jsonb_build_object('iss', 'kiln', 'role', 'service_role',
         'tenant_id', '7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f',
         'exp', extract(epoch FROM now())::int8 + 600)) AS server_tenant_service_token \gset
SET SESSION AUTHORIZATION authenticator;
SELECT pg_temp.auth_as(:'server_tenant_token') AS server_signed;
SELECT pg_temp.auth_as(:'legacy_tenant_token') AS legacy_signed_tenant_ignored;
-- A service token for one tenant never bypasses row security.
SELECT pg_temp.auth_as(:'server_tenant_service_token') AS tenant_scoped_service;
RESET SESSION AUTHORIZATION;

-- Session revocation: a cached token of a revoked session is refused from commit on.
SELECT kiln.sign_jwt(jsonb_build_object('iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated',
         'sub', '6f1c3f4e-8a52-4b0e-9b0a-3c1d2e4f5a6b', 'session_id', '5e55105e-0000-4000-8000-000000000003',
         'exp', extract(epoch FROM now())::int8 + 600)) AS session_token \gset
SET SESSION AUTHORIZATION authenticator;
SELECT pg_temp.auth_as(:'session_token') AS before;
SELECT pg_temp.auth_as(:'session_token') AS cached;
RESET SESSION AUTHORIZATION;
BEGIN;
SELECT kiln.revoke_session('5e55105e-0000-4000-8000-000000000003');
ROLLBACK;
SET SESSION AUTHORIZATION authenticator;
SELECT pg_temp.auth_as(:'session_token') AS after_rolled_back_revoke;
RESET SESSION AUTHORIZATION;
SELECT kiln.revoke_session('5e55105e-0000-4000-8000-000000000003');
SET SESSION AUTHORIZATION authenticator;
SELECT pg_temp.auth_as(:'session_token') AS after_revoke;
SELECT pg_temp.auth_as(:'server_tenant_token') AS other_session;
RESET SESSION AUTHORIZATION;

-- Retiring a key drops cached tokens it signed.
SET SESSION AUTHORIZATION authenticator;
SELECT pg_temp.auth_as(:'server_tenant_token') AS cached_before_retire;
RESET SESSION AUTHORIZATION;
SELECT kiln.retire_jwt_key(:'kid');
SET SESSION AUTHORIZATION authenticator;
SELECT pg_temp.auth_as(:'server_tenant_token') AS after_retire;
RESET SESSION AUTHORIZATION;

-- App roles can neither mint nor list keys.
SET ROLE service_role;
SELECT kiln.create_api_key('secret');
\echo :SQLSTATE
SELECT count(*) FROM kiln.api_keys;
\echo :SQLSTATE
SELECT kiln.revoke_session('5e55105e-0000-4000-8000-000000000003');
\echo :SQLSTATE
RESET ROLE;

-- A session table can revoke deleted sessions with a trigger.
CREATE TABLE public.my_sessions (id uuid PRIMARY KEY);
CREATE TRIGGER revoke_deleted AFTER DELETE ON public.my_sessions
  FOR EACH ROW EXECUTE FUNCTION kiln.revoke_session_on_delete();
INSERT INTO public.my_sessions VALUES ('5e55105e-0000-4000-8000-000000000004');
GRANT DELETE, SELECT ON public.my_sessions TO service_role;
SET ROLE service_role;
DELETE FROM public.my_sessions;
RESET ROLE;
SELECT session_id FROM kiln.revoked_sessions WHERE session_id = '5e55105e-0000-4000-8000-000000000004';
DROP TABLE public.my_sessions;
