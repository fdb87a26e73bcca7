-- jwt: signing and verification (kiln.sign_jwt, kiln.verify_jwt), the
-- JWT validation matrix of test P4, key rotation and retirement, JWKS.
-- Tokens are made inside the test relative to the clock (clock_timestamp(),
-- not the transaction start, so a slow machine cannot move a token across
-- the 30 s skew edge); results are verdicts.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

-- A verdict for a token (helpers: include/forge.sql).
\getenv regress_dir KILN_REGRESS_DIR
\i :regress_dir/include/forge.sql
CREATE FUNCTION pg_temp.verdict(tok text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  detail text;
BEGIN
  PERFORM kiln.verify_jwt(tok);
  RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RETURN SQLSTATE || ' ' || SQLERRM || ': ' || detail;
END
$$;
-- Claims of a valid user token, exp relative to now(), with overrides.
CREATE FUNCTION pg_temp.claims(overrides jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
    'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated',
    'sub', '6f1c3f4e-8a52-4b0e-9b0a-3c1d2e4f5a6b',
    'iat', extract(epoch FROM clock_timestamp())::int8,
    'exp', extract(epoch FROM clock_timestamp())::int8 + 600) || overrides)
$$;

-- Keys: a legacy shared secret (the well-known local-development one), an
-- ES256 signing key and an EdDSA verify key.
SELECT kiln.set_legacy_jwt_secret('super-secret-jwt-token-with-at-least-32-characters-long');
SELECT kiln.rotate_signing_key('ES256') AS kid_es \gset
SELECT kiln.create_jwt_key('EdDSA') AS kid_ed \gset
\set legacy_secret '\'super-secret-jwt-token-with-at-least-32-characters-long\'::bytea'

-- Shorter secrets are refused.
SELECT kiln.set_legacy_jwt_secret('too-short');
\echo :SQLSTATE

SELECT kiln.sign_jwt(pg_temp.claims()) AS tok_es \gset
-- The signing key's header: alg ES256, typ JWT, its kid; the claims as given.
SELECT convert_from(decode(rpad(translate(split_part(:'tok_es', '.', 1), '-_', '+/'),
         (length(split_part(:'tok_es', '.', 1)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb
       - 'kid' AS header,
       (convert_from(decode(rpad(translate(split_part(:'tok_es', '.', 1), '-_', '+/'),
         (length(split_part(:'tok_es', '.', 1)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb ->> 'kid') = :'kid_es' AS kid_matches;
SELECT kiln.verify_jwt(:'tok_es') = pg_temp.claims() AS claims_round_trip;

-- The matrix. Only the valid tokens and the 29 s skew case are accepted.
WITH t(n, name, token) AS (VALUES
  (1, 'valid ES256', kiln.sign_jwt(pg_temp.claims())),
  (2, 'valid EdDSA', kiln.sign_jwt(pg_temp.claims(), :'kid_ed')),
  (3, 'valid HS256 (legacy secret, no kid)',
      pg_temp.hs256('{"alg":"HS256","typ":"JWT"}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (4, 'supabase-demo anon key',
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0'),
  (5, 'expired 29 s ago (within skew)',
      kiln.sign_jwt(pg_temp.claims(jsonb_build_object('exp', extract(epoch FROM clock_timestamp())::int8 - 29)))),
  (6, 'expired 31 s ago',
      kiln.sign_jwt(pg_temp.claims(jsonb_build_object('exp', extract(epoch FROM clock_timestamp())::int8 - 31)))),
  (7, 'nbf 60 s ahead',
      kiln.sign_jwt(pg_temp.claims(jsonb_build_object('nbf', extract(epoch FROM clock_timestamp())::int8 + 60)))),
  (8, 'iat 60 s ahead',
      kiln.sign_jwt(pg_temp.claims(jsonb_build_object('iat', extract(epoch FROM clock_timestamp())::int8 + 60)))),
  (9, 'no exp', kiln.sign_jwt(pg_temp.claims() - 'exp')),
  (10, 'exp not a number', kiln.sign_jwt(pg_temp.claims('{"exp":"tomorrow"}'))),
  (11, 'wrong aud', kiln.sign_jwt(pg_temp.claims('{"aud":"other-app"}'))),
  (12, 'aud array with an allowed entry', kiln.sign_jwt(pg_temp.claims('{"aud":["other-app","authenticated"]}'))),
  (13, 'aud array without one', kiln.sign_jwt(pg_temp.claims('{"aud":["other-app"]}'))),
  (14, 'user token without aud', kiln.sign_jwt(pg_temp.claims() - 'aud')),
  (15, 'wrong iss', kiln.sign_jwt(pg_temp.claims('{"iss":"https://evil.example/auth/v1"}'))),
  (16, 'no iss', kiln.sign_jwt(pg_temp.claims() - 'iss')),
  (17, 'legacy key, kiln iss (not in its list)',
      pg_temp.hs256('{"alg":"HS256","typ":"JWT"}', pg_temp.claims()::text, :legacy_secret)),
  (18, 'role postgres', kiln.sign_jwt(pg_temp.claims('{"role":"postgres"}'))),
  (19, 'role authenticator', kiln.sign_jwt(pg_temp.claims('{"role":"authenticator"}'))),
  (20, 'role nonexistent', kiln.sign_jwt(pg_temp.claims('{"role":"no_such_role"}'))),
  (21, 'role tenant_service', kiln.sign_jwt(pg_temp.claims('{"role":"tenant_service"}'))),
  (22, 'no role', kiln.sign_jwt(pg_temp.claims() - 'role')),
  (23, 'sub not a uuid', kiln.sign_jwt(pg_temp.claims('{"sub":"42"}'))),
  (24, 'alg none, empty signature',
      pg_temp.b64u('{"alg":"none","typ":"JWT"}') || '.' || pg_temp.b64u(convert_to(pg_temp.claims()::text, 'UTF8')) || '.'),
  (25, 'alg none, no signature part',
      pg_temp.b64u('{"alg":"none","typ":"JWT"}') || '.' || pg_temp.b64u(convert_to(pg_temp.claims()::text, 'UTF8'))),
  (26, 'alg None with a signature',
      pg_temp.hs256('{"alg":"None","typ":"JWT"}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (27, 'alg RS256', pg_temp.hs256('{"alg":"RS256"}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (28, 'no alg', pg_temp.hs256('{"typ":"JWT"}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (29, 'key confusion: HS256 with the ES256 kid, HMAC keyed by its public JWK',
      pg_temp.hs256(jsonb_build_object('alg', 'HS256', 'kid', :'kid_es')::text, pg_temp.claims()::text,
                    convert_to((kiln.jwks() -> 'keys' -> 0)::text, 'UTF8'))),
  (30, 'key confusion: HS256 without kid, HMAC keyed by the ES256 public point',
      pg_temp.hs256('{"alg":"HS256"}', pg_temp.claims()::text,
                    decode(translate((SELECT k ->> 'x' FROM jsonb_array_elements(kiln.jwks() -> 'keys') k
                                       WHERE k ->> 'kid' = :'kid_es'), '-_', '+/') || '=', 'base64'))),
  (31, 'EdDSA token naming the ES256 kid',
      pg_temp.b64u(convert_to(jsonb_build_object('alg', 'EdDSA', 'kid', :'kid_es')::text, 'UTF8')) || '.' ||
      split_part(kiln.sign_jwt(pg_temp.claims(), :'kid_ed'), '.', 2) || '.' ||
      split_part(kiln.sign_jwt(pg_temp.claims(), :'kid_ed'), '.', 3)),
  (32, 'unknown kid', pg_temp.hs256('{"alg":"HS256","kid":"no-such-key"}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (33, 'jku header', pg_temp.hs256('{"alg":"HS256","jku":"https://evil.example/jwks.json"}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (34, 'x5u header', pg_temp.hs256('{"alg":"HS256","x5u":"https://evil.example/cert.pem"}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (35, 'jwk header', pg_temp.hs256('{"alg":"HS256","jwk":{"kty":"oct","k":"c2VjcmV0"}}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (36, 'x5c header', pg_temp.hs256('{"alg":"HS256","x5c":["MIIB"]}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (37, 'crit header', pg_temp.hs256('{"alg":"HS256","crit":["exp"]}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (38, 'typ not JWT', pg_temp.hs256('{"alg":"HS256","typ":"refresh"}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (39, 'two parts', split_part(kiln.sign_jwt(pg_temp.claims()), '.', 1) || '.' || split_part(kiln.sign_jwt(pg_temp.claims()), '.', 2)),
  (40, 'four parts', kiln.sign_jwt(pg_temp.claims()) || '.e30'),
  (41, 'payload changed after signing (role)',
      split_part(kiln.sign_jwt(pg_temp.claims()), '.', 1) || '.' ||
      pg_temp.b64u(convert_to(pg_temp.claims('{"role":"service_role"}')::text, 'UTF8')) || '.' ||
      split_part(kiln.sign_jwt(pg_temp.claims()), '.', 3)),
  (42, 'signature of another token',
      split_part(kiln.sign_jwt(pg_temp.claims()), '.', 1) || '.' ||
      split_part(kiln.sign_jwt(pg_temp.claims('{"email":"x@example.com"}')), '.', 2) || '.' ||
      split_part(kiln.sign_jwt(pg_temp.claims()), '.', 3)),
  (43, 'padding on the signature', kiln.sign_jwt(pg_temp.claims()) || '=='),
  (44, 'padding on the payload',
      replace(kiln.sign_jwt(pg_temp.claims()), '.', '=.')),
  (45, 'space inside', overlay(kiln.sign_jwt(pg_temp.claims()) placing ' ' from 20 for 0)),
  (46, 'newline inside', overlay(kiln.sign_jwt(pg_temp.claims()) placing E'\n' from 20 for 0)),
  (47, 'leading space', ' ' || kiln.sign_jwt(pg_temp.claims())),
  (48, 'trailing newline', kiln.sign_jwt(pg_temp.claims()) || E'\n'),
  (49, 'standard base64 alphabet',
      pg_temp.hs256('{"alg":"HS256","typ":"JWT"}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret) || '+/'),
  (50, 'non-canonical last character (ES256 signature)',
      left(kiln.sign_jwt(pg_temp.claims()), -1) ||
      CASE WHEN right(kiln.sign_jwt(pg_temp.claims()), 1) IN ('A', 'Q', 'g', 'w') THEN 'B' ELSE 'R' END),
  (51, 'header not JSON', 'bm90IGpzb24.' || split_part(kiln.sign_jwt(pg_temp.claims()), '.', 2) || '.' || split_part(kiln.sign_jwt(pg_temp.claims()), '.', 3)),
  (52, 'header a JSON array', pg_temp.b64u('["HS256"]') || '.e30.' || split_part(kiln.sign_jwt(pg_temp.claims()), '.', 3)),
  (53, 'empty string', ''),
  (54, 'overlong token', 'eyJhbGciOiJIUzI1NiJ9.' || repeat('A', 9000) || '.AAAA'),
  -- The header goes through the same strict scanner as the payload.
  (55, 'header names alg twice', pg_temp.hs256('{"alg":"none","alg":"HS256"}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (56, 'header names kid twice (escaped)', pg_temp.hs256('{"alg":"HS256","kid":"a","\u006bid":"b"}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (57, 'header alg and typ written with escapes', pg_temp.hs256('{"alg":"HS\u0032\u00356","typ":"j\u0077t"}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (58, 'header with a trailing comma', pg_temp.hs256('{"alg":"HS256",}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (59, 'header kid a number', pg_temp.hs256('{"alg":"HS256","kid":7}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (60, 'header alg null', pg_temp.hs256('{"alg":null}', pg_temp.claims('{"iss":"supabase"}')::text, :legacy_secret)),
  (61, 'header not UTF-8', pg_temp.b64u('\x7b22616c67223a22ff227d'::bytea) || '.' || split_part(kiln.sign_jwt(pg_temp.claims()), '.', 2) || '.' || split_part(kiln.sign_jwt(pg_temp.claims()), '.', 3))
)
SELECT n, name, pg_temp.verdict(token) AS verdict FROM t ORDER BY n;

-- The payload scanner: exactly one JSON object that jsonb accepts; claims
-- found also when their names are escaped; duplicate claims refused.
-- (Signed with the legacy secret, so only the JSON text varies.)
\set base '"iss":"supabase","aud":"authenticated","role":"authenticated","exp":4102444800'
WITH t(n, name, payload) AS (VALUES
  (1, 'baseline', '{' || :'base' || '}'),
  (2, 'whitespace around and inside', E' \n{ ' || replace(:'base', ',', E' ,\t') || E' }\r\n'),
  (3, 'trailing comma', '{' || :'base' || ',}'),
  (4, 'duplicate exp', '{' || :'base' || ',"exp":1}'),
  (5, 'duplicate other member', '{' || :'base' || ',"x":1,"x":2}'),
  (6, 'leading zero', '{' || :'base' || ',"x":01}'),
  (7, 'bare minus', '{' || :'base' || ',"x":-}'),
  (8, 'exponent form exp', '{"iss":"supabase","aud":"authenticated","role":"authenticated","exp":4.1e9}'),
  (9, 'exp overflowing a double', '{"iss":"supabase","aud":"authenticated","role":"authenticated","exp":1e400}'),
  (10, 'exp as a string', '{"iss":"supabase","aud":"authenticated","role":"authenticated","exp":"4102444800"}'),
  (11, 'NaN', '{' || :'base' || ',"x":NaN}'),
  (12, 'single quotes', '{' || :'base' || ',''x'':1}'),
  (13, '\u0000 in a string', '{' || :'base' || ',"x":"a\u0000"}'),
  (14, 'lone high surrogate', '{' || :'base' || ',"x":"\ud800"}'),
  (15, 'lone low surrogate', '{' || :'base' || ',"x":"\udc00x"}'),
  (16, 'surrogate pair', '{' || :'base' || ',"x":"\ud83d\ude00"}'),
  (17, 'bad escape', '{' || :'base' || ',"x":"\q"}'),
  (18, 'raw tab in a string', '{' || :'base' || E',"x":"a\tb"}'),
  (19, 'escaped claim name', '{"\u0069ss":"supabase","aud":"authenticated","role":"authenticated","exp":4102444800}'),
  (20, 'escaped claim value', '{"iss":"supa\u0062ase","aud":"authenticated","role":"authenticated","exp":4102444800}'),
  (21, 'escaped duplicate of exp', '{' || :'base' || ',"\u0065xp":1}'),
  (22, 'text after the object', '{' || :'base' || '} x'),
  (23, 'two objects', '{' || :'base' || '}{}'),
  (24, 'top-level array', '[{' || :'base' || '}]'),
  (25, 'empty object', '{}'),
  (26, 'nesting 60 deep', '{' || :'base' || ',"x":' || repeat('[', 60) || repeat(']', 60) || '}'),
  (27, 'nesting 70 deep', '{' || :'base' || ',"x":' || repeat('[', 70) || repeat(']', 70) || '}'),
  (28, 'unterminated', '{' || :'base'),
  (29, 'unicode text', '{' || :'base' || ',"email":"zoë@exämple.com"}'),
  (30, 'literals', '{' || :'base' || ',"a":true,"b":false,"c":null,"d":[1,-2.5e-3,{"e":[]}]}')
)
SELECT n, name,
       pg_temp.verdict(pg_temp.hs256('{"alg":"HS256","typ":"JWT"}', payload, :legacy_secret)) AS verdict
  FROM t ORDER BY n;
SELECT kiln.verify_jwt(pg_temp.hs256('{"alg":"HS256","typ":"JWT"}',
         '{"\u0069ss":"supabase","aud":"authenticated","role":"authenticated","exp":4102444800,"x":"\ud83d\ude00"}',
         :legacy_secret)) AS escaped_claims_as_jsonb;

-- Rotation: a new signing key signs; the previous one still verifies.
SELECT kiln.sign_jwt(pg_temp.claims()) AS tok_old \gset
SELECT kiln.rotate_signing_key('EdDSA') AS kid_new \gset
SELECT kiln.sign_jwt(pg_temp.claims()) AS tok_new \gset
SELECT pg_temp.verdict(:'tok_old') AS old_key_token, pg_temp.verdict(:'tok_new') AS new_key_token,
       (SELECT signing FROM kiln.jwt_keys WHERE kid = :'kid_es') AS old_still_signing,
       (SELECT signing FROM kiln.jwt_keys WHERE kid = :'kid_new') AS new_signing,
       convert_from(decode(rpad(translate(split_part(:'tok_new', '.', 1), '-_', '+/'),
         (length(split_part(:'tok_new', '.', 1)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb ->> 'alg' AS new_alg;

-- Retiring a key: its tokens are refused, it leaves the JWKS.
SELECT kiln.retire_jwt_key(:'kid_es');
SELECT pg_temp.verdict(:'tok_old') AS retired_key_token, pg_temp.verdict(:'tok_new') AS current_key_token;
SELECT kiln.retire_jwt_key('no-such-key');
\echo :SQLSTATE

-- JWKS: public parts only (no d, no k, no secret), one entry per verify key
-- with a public key, each with its kid.
SELECT kiln.create_jwt_key('ES256') AS kid_es2 \gset
SELECT kiln.create_jwt_key('HS256') AS kid_hs \gset
SELECT k ->> 'kty' AS kty, k ->> 'crv' AS crv, k ->> 'alg' AS alg, k ->> 'use' AS use,
       k ? 'd' AS has_d, k ? 'k' AS has_k,
       (SELECT pg_catalog.array_agg(x ORDER BY x) FROM jsonb_object_keys(k) x) AS members
  FROM jsonb_array_elements(kiln.jwks() -> 'keys') k
 WHERE k ->> 'kid' IN (:'kid_ed', :'kid_new', :'kid_es', :'kid_es2', :'kid_hs')
 ORDER BY 3, 1;
SELECT bool_and(k ? 'kid') AS all_have_kid,
       count(*) FILTER (WHERE k ->> 'kid' = :'kid_es') AS retired_listed,
       count(*) FILTER (WHERE k ->> 'kid' = :'kid_hs') AS hs256_listed,
       count(*) FILTER (WHERE k ->> 'kid' = 'legacy') AS legacy_listed
  FROM jsonb_array_elements(kiln.jwks() -> 'keys') k;

-- Key material at rest: sealed, never the raw secret.
SELECT count(*) FILTER (WHERE position(convert_to('super-secret-jwt-token', 'UTF8') IN secret) > 0) AS plaintext_secrets,
       bool_and(get_byte(secret, 0) = 1) AS all_sealed
  FROM kiln.jwt_keys;

-- Signing errors.
SELECT kiln.sign_jwt('[1, 2]');
\echo :SQLSTATE
SELECT kiln.sign_jwt('{}', 'no-such-key');
\echo :SQLSTATE
SELECT kiln.create_jwt_key('RS256');
\echo :SQLSTATE

-- App roles cannot sign, verify or manage keys; anyone may read the JWKS.
SET ROLE authenticated;
SELECT kiln.sign_jwt('{}');
\echo :SQLSTATE
SELECT kiln.verify_jwt(:'tok_new');
\echo :SQLSTATE
SELECT kiln.rotate_signing_key();
\echo :SQLSTATE
SELECT * FROM kiln.jwt_keys;
\echo :SQLSTATE
SELECT jsonb_typeof(kiln.jwks() -> 'keys') AS jwks_for_anyone;
RESET ROLE;
