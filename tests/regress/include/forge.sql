-- include/forge.sql: helpers for the token tests (see tests/regress/run):
-- unpadded base64url, HMAC-SHA-256 written in SQL, and HS256 signing with
-- them, to forge tokens the way an attacker would, independently of the C
-- code under test. Session-local (pg_temp).
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
