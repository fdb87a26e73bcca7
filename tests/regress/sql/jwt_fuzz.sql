-- jwt_fuzz: randomly mutated tokens and payloads (fixed seed). Every
-- failure must be a KL error (never 22P02, XX000 or another class), and
-- every payload the scanner accepts must also be accepted by jsonb.
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
CREATE FUNCTION pg_temp.outcome(tok text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM kiln.verify_jwt(tok);
  RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END
$$;
-- Replaces n random characters of s with characters from alphabet.
CREATE FUNCTION pg_temp.mutate(s text, alphabet text, n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r text := s;
  pos int;
BEGIN
  FOR i IN 1..n LOOP
    pos := 1 + floor(random() * length(r))::int;
    r := overlay(r placing substr(alphabet, 1 + floor(random() * length(alphabet))::int, 1) from pos for 1);
  END LOOP;
  RETURN r;
END
$$;

SELECT kiln.set_legacy_jwt_secret('super-secret-jwt-token-with-at-least-32-characters-long') IS NOT NULL AS legacy;
SELECT kiln.rotate_signing_key('ES256') IS NOT NULL AS signing_key;
SELECT setseed(0.4242);

-- 1. Mutated signed tokens: characters of the compact form replaced.
SELECT kiln.sign_jwt(jsonb_build_object('iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated',
         'sub', '6f1c3f4e-8a52-4b0e-9b0a-3c1d2e4f5a6b', 'exp', 4102444800)) AS tok \gset
WITH r AS (
  SELECT pg_temp.outcome(pg_temp.mutate(:'tok', 'AQgw_-.=+/ azZ09', 1 + (i % 3))) AS o
    FROM generate_series(1, 3000) i
)
SELECT count(*) AS tries,
       count(*) FILTER (WHERE o NOT IN ('KL001', 'KL002', 'accepted')) AS unexpected,
       string_agg(DISTINCT o, ',') FILTER (WHERE o NOT IN ('KL001', 'KL002', 'accepted')) AS unexpected_codes,
       count(*) FILTER (WHERE o = 'KL001') > 1000 AS mostly_refused
  FROM r;

-- 2. Mutated payloads with valid signatures (the legacy secret): only the
-- JSON scanner and the claim checks stand between them and acceptance.
WITH r AS (
  SELECT pg_temp.outcome(pg_temp.hs256('{"alg":"HS256","typ":"JWT"}',
           pg_temp.mutate('{"iss":"supabase","aud":["authenticated"],"role":"authenticated","exp":4102444800,"x":[1.5e3,{"y":"\u00e9\n"},true,null]}',
                          '{}[],:"\u0eE-.+ 01nt', 1 + (i % 4)),
           'super-secret-jwt-token-with-at-least-32-characters-long'::bytea)) AS o
    FROM generate_series(1, 3000) i
)
SELECT count(*) AS tries,
       count(*) FILTER (WHERE o NOT IN ('KL001', 'KL002', 'accepted')) AS unexpected,
       string_agg(DISTINCT o, ',') FILTER (WHERE o NOT IN ('KL001', 'KL002', 'accepted')) AS unexpected_codes,
       count(*) FILTER (WHERE o = 'KL001') > 1000 AS mostly_refused
  FROM r;
