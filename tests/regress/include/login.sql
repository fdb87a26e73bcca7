-- include/login.sql: the request context the way the daemon sets it, for
-- the tenancy, ACL and tenant tests (see tests/regress/run): a signing key
-- of this database (psql variable signing_alg, default HS256);
-- public.test_token(claims), a token of that key with iss kiln, aud
-- authenticated, exp ten minutes ahead and the given claims over those;
-- public.test_login(claims), kiln.authenticate with such a token
-- ({"apikey": k}: with that API key instead; {"role": "anon"} alone: with
-- no token). Public, not pg_temp, so that other roles can call them; the
-- including file drops both at its end.
\if :{?signing_alg}
\else
\set signing_alg HS256
\endif
SELECT kiln.rotate_signing_key(:'signing_alg') IS NOT NULL AS signing_key;
CREATE FUNCTION public.test_token(claims jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT kiln.sign_jwt(jsonb_build_object('iss', 'kiln', 'aud', 'authenticated',
    'exp', extract(epoch FROM now())::int8 + 600) || claims)
$$;
CREATE FUNCTION public.test_login(claims jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  IF claims ? 'apikey' THEN
    RETURN kiln.authenticate(claims->>'apikey');
  ELSIF claims = '{"role": "anon"}' THEN
    RETURN kiln.authenticate(NULL);
  END IF;
  RETURN kiln.authenticate(public.test_token(claims));
END $$;
