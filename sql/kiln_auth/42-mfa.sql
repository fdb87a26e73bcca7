-- kiln_auth 0.1.0, part 42-mfa: multi-factor authentication (TOTP) and the
-- PKCE code exchange, as SQL functions.
--
-- MFA: enroll a TOTP factor (secret, otpauth:// URI and an SVG QR code),
-- challenge it, verify a code (the session moves to aal2 and gains the
-- `totp` amr claim; tokens are reissued), unenroll, and the admin factor
-- API. PKCE: flow states that the email and OAuth flows create
-- (auth._pkce_flow_start) and turn into a one-time auth code once the user
-- is verified (auth.pkce_issue_code), and the grant that exchanges the
-- code and its verifier for a session (auth.token_pkce). The daemon's
-- endpoints are one call each (daemon/src/auth_mfa.c).
--
-- Conventions are those of 40-flows.sql: every flow returns jsonb (the
-- response body or {"error": {...}}), refusals are returned so that what
-- they write commits (a burned challenge, a burned flow state, the audit
-- row), settings come as an argument, the caller from the verified context.
--
-- Secrets: TOTP secrets are stored sealed with the master key (kiln.encrypt;
-- the key never enters the database) and shown once, at enrollment. Auth
-- codes are 256-bit random strings stored only as SHA-256 (hex).
--
-- Codes: a TOTP code is accepted for the 30 s steps now-1..now+1, and only
-- for a step later than the last one the factor accepted, so a code is
-- single-use (a replay inside its window is refused). A challenge takes at
-- most 5 wrong codes, then is burned; a factor takes at most 10 wrong codes
-- per 5 minutes over all its challenges (429 with Retry-After beyond).

-- ---------------------------------------------------------------------------
-- Storage.

-- The last TOTP step the factor accepted (replay protection).
ALTER TABLE auth.mfa_factors ADD COLUMN last_totp_step pg_catalog.int8;
-- Wrong codes entered against the challenge.
ALTER TABLE auth.mfa_challenges ADD COLUMN failed_attempts pg_catalog.int4 NOT NULL DEFAULT 0;
CREATE INDEX mfa_challenges_factor_id_idx ON auth.mfa_challenges (factor_id, created_at DESC);

-- ---------------------------------------------------------------------------
-- QR codes (C, extension/qr.c).

CREATE FUNCTION kiln.qr_svg(content pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_qr_svg';
COMMENT ON FUNCTION kiln.qr_svg(pg_catalog.text)
  IS 'the text as an SVG QR code (byte mode, level M or L, versions 1..10; at most 271 bytes)';

CREATE FUNCTION kiln.qr_modules(content pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_qr_modules';
COMMENT ON FUNCTION kiln.qr_modules(pg_catalog.text)
  IS 'the QR code of kiln.qr_svg as rows of # (dark) and . (light)';

-- ---------------------------------------------------------------------------
-- Helpers (owner only).

-- Percent-encodes everything but RFC 3986 unreserved characters (UTF-8).
CREATE FUNCTION auth._uri_escape(s pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  b bytea := convert_to(s, 'UTF8');
  out text := '';
  c int;
BEGIN
  FOR i IN 0 .. length(b) - 1 LOOP
    c := get_byte(b, i);
    IF (c BETWEEN 48 AND 57) OR (c BETWEEN 65 AND 90) OR (c BETWEEN 97 AND 122) OR c IN (45, 46, 95, 126) THEN
      out := out || chr(c);
    ELSE
      out := out || '%' || upper(lpad(to_hex(c), 2, '0'));
    END IF;
  END LOOP;
  RETURN out;
END
$$;

-- A factor as GET /user lists it.
CREATE FUNCTION auth._factor_json(f auth.mfa_factors)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
AS $$
  SELECT pg_catalog.jsonb_build_object(
           'id', f.id, 'friendly_name', coalesce(f.friendly_name, ''),
           'factor_type', f.factor_type, 'status', f.status,
           'created_at', auth._ts(f.created_at), 'updated_at', auth._ts(f.updated_at))
         OPERATOR(pg_catalog.||) pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
           'last_challenged_at', auth._ts(f.last_challenged_at)))
$$;

-- The user's factors, oldest first; NULL when there are none (the user
-- object leaves `factors` out then, as GoTrue does).
CREATE FUNCTION auth._factors_json(uid pg_catalog.uuid)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
AS $$
  SELECT pg_catalog.jsonb_agg(auth._factor_json(f) ORDER BY f.created_at, f.id)
    FROM auth.mfa_factors f
   WHERE f.user_id OPERATOR(pg_catalog.=) uid
$$;

-- NULL when the caller is a signed-in user (not deleted) with a live
-- session, else the refusal.
CREATE FUNCTION auth._mfa_refusal()
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF auth.uid() IS NULL THEN
    RETURN auth._err(401, 'no_authorization', 'This endpoint requires a valid Bearer token');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM auth.users WHERE id = auth.uid() AND deleted_at IS NULL) THEN
    RETURN auth._err(403, 'user_not_found', 'User from sub claim in JWT does not exist');
  END IF;
  IF kiln.session_id() IS NULL OR NOT EXISTS (SELECT 1 FROM auth.sessions s WHERE s.id = kiln.session_id()) THEN
    RETURN auth._err(403, 'session_not_found', 'Session from session_id claim in JWT does not exist');
  END IF;
  RETURN NULL;
END
$$;

-- The TOTP step (30 s) at which code is valid for secret, among the steps
-- now-1..now+1 later than after_step, or NULL. Compares SHA-256 digests,
-- so the comparison does not depend on where the codes differ.
CREATE FUNCTION auth._totp_match(secret pg_catalog.text, code pg_catalog.text, after_step pg_catalog.int8)
RETURNS pg_catalog.int8
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  now_step bigint := floor(extract(epoch FROM clock_timestamp()) / 30)::bigint;
  found bigint;
BEGIN
  IF code IS NULL OR code !~ '^[0-9]{6}$' THEN
    RETURN NULL;
  END IF;
  FOR st IN now_step - 1 .. now_step + 1 LOOP
    IF sha256(convert_to(kiln.totp_code(secret, to_timestamp(st * 30)), 'UTF8'))
       = sha256(convert_to(code, 'UTF8')) AND st > coalesce(after_step, -1) AND found IS NULL THEN
      found := st;
    END IF;
  END LOOP;
  RETURN found;
END
$$;

-- ---------------------------------------------------------------------------
-- MFA flows.

-- POST /factors {factor_type, friendly_name, issuer}. settings.mfa_issuer
-- (default 'Kiln') names the issuer when the request does not.
CREATE FUNCTION auth.mfa_enroll(params pg_catalog.jsonb, settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._mfa_refusal();
  u auth.users;
  ftype text := coalesce(params ->> 'factor_type', '');
  fname text := nullif(btrim(coalesce(params ->> 'friendly_name', '')), '');
  issuer text := coalesce(nullif(btrim(coalesce(params ->> 'issuer', '')), ''),
                          nullif(settings ->> 'mfa_issuer', ''), 'Kiln');
  account text;
  secret text := kiln.totp_generate_secret();
  uri text;
  fid uuid;
  aal text;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  SELECT * INTO u FROM auth.users x WHERE x.id = auth.uid();
  IF ftype <> 'totp' THEN
    RETURN auth._err(400, 'validation_failed', 'factor_type must be totp');
  END IF;
  IF length(issuer) > 100 OR length(coalesce(fname, '')) > 100 THEN
    RETURN auth._err(400, 'validation_failed', 'issuer and friendly_name take at most 100 characters');
  END IF;
  SELECT s.aal::text INTO aal FROM auth.sessions s WHERE s.id = kiln.session_id();
  IF EXISTS (SELECT 1 FROM auth.mfa_factors f WHERE f.user_id = u.id AND f.status = 'verified')
     AND aal IS DISTINCT FROM 'aal2' THEN
    RETURN auth._err(422, 'insufficient_aal', 'AAL2 required to enroll a new factor');
  END IF;
  IF (SELECT count(*) FROM auth.mfa_factors f WHERE f.user_id = u.id) >= 10 THEN
    RETURN auth._err(422, 'too_many_enrolled_mfa_factors', 'Maximum number of verified factors reached, unenroll to continue');
  END IF;
  IF fname IS NOT NULL AND EXISTS (SELECT 1 FROM auth.mfa_factors f WHERE f.user_id = u.id AND f.friendly_name = fname) THEN
    RETURN auth._err(422, 'mfa_factor_name_conflict',
                     'A factor with the friendly name "' || fname || '" for this user already exists');
  END IF;
  account := coalesce(nullif(u.email, ''), nullif(u.phone, ''), u.id::text);
  uri := 'otpauth://totp/' || auth._uri_escape(issuer) || ':' || auth._uri_escape(account)
         || '?algorithm=SHA1&digits=6&issuer=' || auth._uri_escape(issuer) || '&period=30&secret=' || secret;
  IF octet_length(uri) > 271 THEN
    RETURN auth._err(400, 'validation_failed', 'issuer and account name are too long for a QR code');
  END IF;
  INSERT INTO auth.mfa_factors (user_id, friendly_name, factor_type, status, secret)
  VALUES (u.id, fname, 'totp', 'unverified', encode(kiln.encrypt(convert_to(secret, 'UTF8')), 'base64'))
  RETURNING id INTO fid;
  PERFORM auth._audit('factor_in_progress', u.id, u.email, 'factor',
                      jsonb_build_object('factor_id', fid, 'factor_type', 'totp'));
  RETURN jsonb_build_object('id', fid, 'type', 'totp', 'friendly_name', coalesce(fname, ''),
                            'totp', jsonb_build_object('qr_code', kiln.qr_svg(uri), 'secret', secret, 'uri', uri));
END
$$;
COMMENT ON FUNCTION auth.mfa_enroll(pg_catalog.jsonb, pg_catalog.jsonb)
  IS 'POST /factors: enrolls an unverified TOTP factor; answers its secret, otpauth URI and QR code once';

-- POST /factors/<id>/challenge.
CREATE FUNCTION auth.mfa_challenge(factor_id pg_catalog.uuid, settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := coalesce(auth._rate_refusal('mfa', auth._setting_int(settings, 'rate_limit_mfa', 0, 0, 1000000)),
                            auth._mfa_refusal());  -- the mfa bucket: 44-limits.sql
  u auth.users;
  f auth.mfa_factors;
  ch auth.mfa_challenges;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  SELECT * INTO u FROM auth.users x WHERE x.id = auth.uid();
  SELECT * INTO f FROM auth.mfa_factors x WHERE x.id = factor_id AND x.user_id = u.id FOR UPDATE;
  IF f.id IS NULL THEN
    RETURN auth._err(404, 'mfa_factor_not_found', 'Factor not found');
  END IF;
  DELETE FROM auth.mfa_challenges x WHERE x.factor_id = f.id AND x.created_at < now() - interval '1 day';
  INSERT INTO auth.mfa_challenges (factor_id, ip_address)
  VALUES (f.id, coalesce(auth._inet(kiln.current_context() ->> 'client_ip'), '0.0.0.0'::inet))
  RETURNING * INTO ch;
  UPDATE auth.mfa_factors x SET last_challenged_at = clock_timestamp(), updated_at = now() WHERE x.id = f.id;
  PERFORM auth._audit('challenge_created', u.id, u.email, 'factor',
                      jsonb_build_object('factor_id', f.id, 'challenge_id', ch.id));
  RETURN jsonb_build_object('id', ch.id, 'type', f.factor_type,
                            'expires_at', floor(extract(epoch FROM ch.created_at))::bigint + 300);
END
$$;
COMMENT ON FUNCTION auth.mfa_challenge(pg_catalog.uuid, pg_catalog.jsonb)
  IS 'POST /factors/<id>/challenge: a challenge valid for 5 minutes and at most 5 wrong codes';

-- POST /factors/<id>/verify {challenge_id, code}: on success the session is
-- aal2 with amr totp, its refresh tokens are revoked and a session response
-- with a new refresh token is returned.
CREATE FUNCTION auth.mfa_verify(factor_id pg_catalog.uuid, challenge_id pg_catalog.uuid, code pg_catalog.text,
                                settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := coalesce(auth._rate_refusal('mfa', auth._setting_int(settings, 'rate_limit_mfa', 0, 0, 1000000)),
                            auth._mfa_refusal());  -- the mfa bucket: 44-limits.sql
  u auth.users;
  sid uuid := kiln.session_id();
  f auth.mfa_factors;
  ch auth.mfa_challenges;
  secret text;
  step bigint;
  failures bigint;
  token text := kiln.random_token(32);
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  SELECT * INTO u FROM auth.users x WHERE x.id = auth.uid();
  SELECT * INTO f FROM auth.mfa_factors x WHERE x.id = factor_id AND x.user_id = u.id FOR UPDATE;
  IF f.id IS NULL THEN
    RETURN auth._err(404, 'mfa_factor_not_found', 'Factor not found');
  END IF;
  SELECT * INTO ch FROM auth.mfa_challenges x WHERE x.id = challenge_id AND x.factor_id = f.id FOR UPDATE;
  IF ch.id IS NULL THEN
    RETURN auth._err(404, 'mfa_challenge_expired', 'Challenge not found');
  END IF;
  -- Used, expired or burned challenges stay (their wrong codes count
  -- towards the factor's limit) until a later challenge clears them.
  IF ch.verified_at IS NOT NULL OR ch.created_at + interval '300 seconds' < now() OR ch.failed_attempts >= 5 THEN
    RETURN auth._err(422, 'mfa_challenge_expired',
                     'MFA challenge ' || ch.id || ' has expired, verify against another challenge or create a new challenge.');
  END IF;
  SELECT coalesce(sum(x.failed_attempts), 0) INTO failures
    FROM auth.mfa_challenges x
   WHERE x.factor_id = f.id AND x.created_at > now() - interval '5 minutes';
  IF failures >= 10 THEN
    RETURN auth._err(429, 'over_request_rate_limit', 'Too many wrong codes for this factor; try again later',
                     jsonb_build_object('retry_after', 300));
  END IF;
  secret := convert_from(kiln.decrypt(decode(f.secret, 'base64')), 'UTF8');
  step := auth._totp_match(secret, code, f.last_totp_step);
  secret := NULL;
  IF step IS NULL THEN
    UPDATE auth.mfa_challenges x SET failed_attempts = x.failed_attempts + 1 WHERE x.id = ch.id;
    PERFORM auth._audit('verification_attempted', u.id, u.email, 'factor',
                        jsonb_build_object('factor_id', f.id, 'challenge_id', ch.id, 'result', 'failed'));
    RETURN auth._err(422, 'mfa_verification_failed', 'Invalid TOTP code entered');
  END IF;
  UPDATE auth.mfa_challenges x SET verified_at = now() WHERE x.id = ch.id;
  UPDATE auth.mfa_factors x SET status = 'verified', last_totp_step = step, updated_at = now() WHERE x.id = f.id;
  UPDATE auth.sessions s SET aal = 'aal2', factor_id = f.id, updated_at = now() WHERE s.id = sid;
  INSERT INTO auth.mfa_amr_claims AS a (session_id, authentication_method) VALUES (sid, 'totp')
  ON CONFLICT (session_id, authentication_method) DO UPDATE SET created_at = now(), updated_at = now();
  UPDATE auth.refresh_tokens r SET revoked = true, updated_at = now() WHERE r.session_id = sid AND NOT r.revoked;
  INSERT INTO auth.refresh_tokens (token_hash, user_id, session_id) VALUES (auth._token_hash(token), u.id, sid);
  PERFORM auth._audit('verification_attempted', u.id, u.email, 'factor',
                      jsonb_build_object('factor_id', f.id, 'challenge_id', ch.id, 'result', 'verified'));
  RETURN auth._session_json(u, sid, token, settings);
END
$$;
COMMENT ON FUNCTION auth.mfa_verify(pg_catalog.uuid, pg_catalog.uuid, pg_catalog.text, pg_catalog.jsonb)
  IS 'POST /factors/<id>/verify: a correct, unused TOTP code moves the session to aal2 (new tokens)';

-- DELETE /factors/<id>: a verified factor can only be removed from an aal2
-- session. Sessions that reached aal2 with it drop to aal1.
CREATE FUNCTION auth.mfa_unenroll(factor_id pg_catalog.uuid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._mfa_refusal();
  u auth.users;
  f auth.mfa_factors;
  aal text;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  SELECT * INTO u FROM auth.users x WHERE x.id = auth.uid();
  SELECT * INTO f FROM auth.mfa_factors x WHERE x.id = factor_id AND x.user_id = u.id FOR UPDATE;
  IF f.id IS NULL THEN
    RETURN auth._err(404, 'mfa_factor_not_found', 'Factor not found');
  END IF;
  SELECT s.aal::text INTO aal FROM auth.sessions s WHERE s.id = kiln.session_id();
  IF EXISTS (SELECT 1 FROM auth.mfa_factors x WHERE x.user_id = u.id AND x.status = 'verified')
     AND aal IS DISTINCT FROM 'aal2' THEN
    RETURN auth._err(422, 'insufficient_aal', 'AAL2 required to unenroll verified factor');
  END IF;
  DELETE FROM auth.mfa_factors x WHERE x.id = f.id;
  UPDATE auth.sessions s SET aal = 'aal1', factor_id = NULL, updated_at = now() WHERE s.factor_id = f.id;
  PERFORM auth._audit('factor_deleted', u.id, u.email, 'factor', jsonb_build_object('factor_id', f.id));
  RETURN jsonb_build_object('id', f.id);
END
$$;
COMMENT ON FUNCTION auth.mfa_unenroll(pg_catalog.uuid)
  IS 'DELETE /factors/<id>: removes the factor (a verified one only from an aal2 session)';

-- GET /admin/users/<uid>/factors (service_role).
CREATE FUNCTION auth.admin_list_factors(user_id pg_catalog.uuid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._admin_refusal();
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = user_id) THEN
    RETURN auth._err(404, 'user_not_found', 'User not found');
  END IF;
  RETURN coalesce(auth._factors_json(user_id), '[]');
END
$$;
COMMENT ON FUNCTION auth.admin_list_factors(pg_catalog.uuid)
  IS 'GET /admin/users/<id>/factors (service_role): the user''s factors';

-- DELETE /admin/users/<uid>/factors/<fid> (service_role).
CREATE FUNCTION auth.admin_delete_factor(user_id pg_catalog.uuid, factor_id pg_catalog.uuid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._admin_refusal();
  f auth.mfa_factors;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = user_id) THEN
    RETURN auth._err(404, 'user_not_found', 'User not found');
  END IF;
  DELETE FROM auth.mfa_factors x WHERE x.id = factor_id AND x.user_id = admin_delete_factor.user_id RETURNING * INTO f;
  IF f.id IS NULL THEN
    RETURN auth._err(404, 'mfa_factor_not_found', 'Factor not found');
  END IF;
  UPDATE auth.sessions s SET aal = 'aal1', factor_id = NULL, updated_at = now() WHERE s.factor_id = f.id;
  PERFORM auth._audit('factor_deleted', f.user_id, NULL, 'factor', jsonb_build_object('factor_id', f.id, 'by', 'admin'));
  RETURN auth._factor_json(f);
END
$$;
COMMENT ON FUNCTION auth.admin_delete_factor(pg_catalog.uuid, pg_catalog.uuid)
  IS 'DELETE /admin/users/<id>/factors/<factor id> (service_role): removes a factor';

-- ---------------------------------------------------------------------------
-- PKCE.

-- NULL when (challenge, method) is a valid PKCE pair, else the refusal.
-- method is s256 (base64url SHA-256 of the verifier, 43 characters) or
-- plain (the verifier itself, 43..128 unreserved characters).
CREATE FUNCTION auth._pkce_refusal(challenge pg_catalog.text, method pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF lower(coalesce(method, '')) NOT IN ('s256', 'plain') THEN
    RETURN auth._err(400, 'validation_failed', 'code_challenge_method must be s256 or plain');
  END IF;
  IF coalesce(challenge, '') !~ '^[A-Za-z0-9._~-]{43,128}$' THEN
    RETURN auth._err(400, 'validation_failed', 'code_challenge must be 43 to 128 characters of [A-Za-z0-9._~-]');
  END IF;
  RETURN NULL;
END
$$;

-- Starts a PKCE flow for user_id (the email flows: signup, otp, recover;
-- OAuth: the user is known later, user_id NULL until then). Returns the
-- flow state id; raises 22023 on an invalid pair (check _pkce_refusal
-- first to answer it).
CREATE FUNCTION auth._pkce_flow_start(user_id pg_catalog.uuid, code_challenge pg_catalog.text,
                                      code_challenge_method pg_catalog.text, provider_type pg_catalog.text,
                                      authentication_method pg_catalog.text)
RETURNS pg_catalog.uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  id uuid;
BEGIN
  IF auth._pkce_refusal(code_challenge, code_challenge_method) IS NOT NULL THEN
    RAISE EXCEPTION 'invalid PKCE code challenge' USING ERRCODE = '22023';
  END IF;
  -- No auth code until the user is verified: a random placeholder hash
  -- that no code hashes to in practice.
  INSERT INTO auth.flow_state AS s (user_id, auth_code, code_challenge_method, code_challenge,
                                    provider_type, authentication_method)
  VALUES (user_id, encode(sha256(convert_to(kiln.random_token(32), 'UTF8')), 'hex'),
          lower(code_challenge_method)::auth.code_challenge_method, code_challenge, provider_type,
          authentication_method)
  RETURNING s.id INTO id;
  RETURN id;
END
$$;

-- Issues the one-time auth code of the user's newest flow state of
-- authentication_method created in the last 10 minutes (what /verify and
-- /callback put in ?code=). NULL when there is none: the flow was
-- implicit. The code is valid for 5 minutes, once.
CREATE FUNCTION auth.pkce_issue_code(user_id pg_catalog.uuid, authentication_method pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  code text := kiln.random_token(32);
  fid uuid;
BEGIN
  SELECT s.id INTO fid FROM auth.flow_state s
   WHERE s.user_id = pkce_issue_code.user_id AND s.authentication_method = pkce_issue_code.authentication_method
     AND s.created_at > now() - interval '10 minutes'
   ORDER BY s.created_at DESC LIMIT 1 FOR UPDATE;
  IF fid IS NULL THEN
    RETURN NULL;
  END IF;
  UPDATE auth.flow_state s SET auth_code = encode(sha256(convert_to(code, 'UTF8')), 'hex'),
                               auth_code_issued_at = now(), updated_at = now()
   WHERE s.id = fid;
  RETURN code;
END
$$;
COMMENT ON FUNCTION auth.pkce_issue_code(pg_catalog.uuid, pg_catalog.text)
  IS 'the one-time PKCE auth code of the user''s newest flow state of a method (NULL: implicit flow)';

-- POST /signup with code_challenge and code_challenge_method (a PKCE
-- client): auth.sign_up, and when that leaves a confirmation pending for a
-- new account, a flow state ('email', 'email/signup') for the confirmation
-- link to turn into ?code= (auth.pkce_issue_code). Nothing else differs:
-- an address already registered still gets the look-alike answer, and no
-- flow state.
CREATE FUNCTION auth.sign_up_pkce(email pg_catalog.text, password pg_catalog.text,
                                  data pg_catalog.jsonb, settings pg_catalog.jsonb,
                                  code_challenge pg_catalog.text, code_challenge_method pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._pkce_refusal(code_challenge, code_challenge_method);
  r jsonb;
  uid uuid;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  r := auth.sign_up(email, password, data, settings);
  IF r ? 'error' OR r ? 'access_token' THEN
    RETURN r;
  END IF;
  uid := (r ->> 'id')::uuid;
  IF EXISTS (SELECT 1 FROM auth.users u WHERE u.id = uid AND u.email_confirmed_at IS NULL) THEN
    PERFORM auth._pkce_flow_start(uid, code_challenge, code_challenge_method, 'email', 'email/signup');
  END IF;
  RETURN r;
END
$$;
COMMENT ON FUNCTION auth.sign_up_pkce(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.jsonb,
                                      pg_catalog.text, pg_catalog.text)
  IS 'POST /signup from a PKCE client: sign_up plus the flow state its confirmation link completes';

-- POST /token?grant_type=pkce {auth_code, code_verifier}: the code is used
-- up by any attempt (a wrong verifier burns it too).
CREATE FUNCTION auth.token_pkce(auth_code pg_catalog.text, code_verifier pg_catalog.text,
                                settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb;
  fs auth.flow_state;
  u auth.users;
  expected text;
  method text;
BEGIN
  -- A code exchange is a sign-in: it shares the sign-in bucket.
  refusal := auth._rate_refusal('sign_in', auth._setting_int(settings, 'rate_limit_sign_in', 0, 0, 1000000));
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF coalesce(auth_code, '') = '' OR coalesce(code_verifier, '') = '' THEN
    RETURN auth._err(400, 'validation_failed', 'invalid request: both auth code and code verifier should be non-empty');
  END IF;
  DELETE FROM auth.flow_state s
   WHERE s.auth_code = encode(sha256(convert_to(token_pkce.auth_code, 'UTF8')), 'hex')
     AND s.auth_code_issued_at IS NOT NULL
  RETURNING * INTO fs;
  IF fs.id IS NULL THEN
    RETURN auth._err(404, 'flow_state_not_found', 'invalid flow state, no valid flow state found');
  END IF;
  IF fs.auth_code_issued_at + interval '300 seconds' < now() THEN
    RETURN auth._err(422, 'flow_state_expired', 'Flow state has expired');
  END IF;
  IF code_verifier !~ '^[A-Za-z0-9._~-]{43,128}$' THEN
    RETURN auth._err(400, 'validation_failed', 'code verifier should be 43 to 128 characters of [A-Za-z0-9._~-]');
  END IF;
  expected := CASE fs.code_challenge_method
                WHEN 's256' THEN translate(rtrim(encode(sha256(convert_to(code_verifier, 'UTF8')), 'base64'), '='), '+/', '-_')
                ELSE code_verifier END;
  IF sha256(convert_to(expected, 'UTF8')) <> sha256(convert_to(fs.code_challenge, 'UTF8')) THEN
    PERFORM auth._audit('login_failed', fs.user_id, NULL, 'account', jsonb_build_object('reason', 'bad_code_verifier'));
    RETURN auth._err(403, 'bad_code_verifier', 'code challenge does not match previously saved code verifier');
  END IF;
  SELECT * INTO u FROM auth.users x WHERE x.id = fs.user_id AND x.deleted_at IS NULL;
  IF u.id IS NULL THEN
    RETURN auth._err(404, 'flow_state_not_found', 'invalid flow state, no valid flow state found');
  END IF;
  IF u.banned_until IS NOT NULL AND u.banned_until > now() THEN
    RETURN auth._err(400, 'user_banned', 'User is banned');
  END IF;
  method := CASE fs.authentication_method
              WHEN 'email/signup' THEN 'otp' WHEN 'invite' THEN 'otp' WHEN 'email_change' THEN 'otp'
              ELSE fs.authentication_method END;
  UPDATE auth.users x SET last_sign_in_at = now() WHERE x.id = u.id;
  PERFORM auth._audit('login', u.id, u.email, 'account',
                      jsonb_build_object('provider', fs.provider_type, 'grant_type', 'pkce'));
  RETURN auth._start_session(u, method, settings);
END
$$;
COMMENT ON FUNCTION auth.token_pkce(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb)
  IS 'POST /token?grant_type=pkce: exchanges a one-time auth code and its verifier for a session';

-- ---------------------------------------------------------------------------
-- Who may call the flows.

DO $grants$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'auth'::regnamespace
              AND p.proname IN ('mfa_enroll', 'mfa_challenge', 'mfa_verify', 'mfa_unenroll',
                                'admin_list_factors', 'admin_delete_factor', 'token_pkce', 'sign_up_pkce')
  LOOP
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO anon, authenticated, service_role', f);
  END LOOP;
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE (p.pronamespace = 'auth'::regnamespace
                   AND p.proname IN ('_uri_escape', '_factor_json', '_factors_json', '_mfa_refusal',
                                     '_totp_match', '_pkce_refusal', '_pkce_flow_start', 'pkce_issue_code'))
  LOOP
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END
$grants$;
