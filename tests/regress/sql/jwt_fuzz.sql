-- jwt_fuzz: randomly mutated tokens and payloads (fixed seed). Every
-- failure must be a KL error (never 22P02, XX000 or another class), and
-- every payload the scanner accepts must also be accepted by jsonb.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

\getenv regress_dir KILN_REGRESS_DIR
\i :regress_dir/include/forge.sql
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
