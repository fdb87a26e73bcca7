-- kiln_auth 0.1.0, part 41-mail: the email flows and their outbox.
--
-- Confirmation (sign-up without autoconfirm), magic link and email OTP
-- (POST /otp), recovery (POST /recover), email change (PUT /user with an
-- email), invite (POST /invite), generate_link and resend. Every message is
-- a row of auth.outbox (39-outbox.sql) on channel 'email', written in the
-- flow's transaction: the mail exists exactly when the flow committed. The
-- daemon's mail sender (daemon/src/auth_mail.c) claims and delivers those
-- rows; `kiln mail` reads them.
--
-- Tokens: each message carries a one-time token pair in
-- auth.one_time_tokens (one pending row per user and type): a 6-digit code
-- (the {{ .Token }} of the mail) and a 256-bit link token (the token_hash of
-- the link). Only SHA-256 hashes are stored there; the clear values live in
-- the outbox row (owner only) until the message is delivered, then they are
-- wiped from it. A token is single use, expires after otp_ttl_s (600 s at
-- most) and is burned after 5 wrong codes.
--
-- It never reveals whether an account exists: /otp, /recover and /resend
-- answer {} for any well-formed address. Redirect targets are checked
-- against the site URL and the allowlist (settings) and fall back to the
-- site URL, so a link is never an open redirect.
--
-- Settings (besides those of 40-flows): site_url, redirect_urls (comma
-- separated; an entry ending in /** allows any path below it), external_url
-- (the API's public URL, for links), otp_ttl_s (600, 10..600),
-- rate_limit_email (mail-sending requests per 5 minutes per client ip: otp,
-- recover, resend; 0 = no limit), rate_limit_verify (verifications per 5
-- minutes per client ip; 0 = no limit), and per request redirect_to (the
-- client's emailRedirectTo / redirectTo).

-- ---------------------------------------------------------------------------
-- Storage.

ALTER TABLE auth.one_time_tokens
  ADD COLUMN otp_hash pg_catalog.text,
  ADD COLUMN attempts pg_catalog.int4 NOT NULL DEFAULT 0;
COMMENT ON COLUMN auth.one_time_tokens.otp_hash IS 'SHA-256 (hex) of user id, '':'' and the 6-digit code';
COMMENT ON COLUMN auth.one_time_tokens.attempts IS 'wrong codes so far; the token is burned at 5';

-- ---------------------------------------------------------------------------
-- Helpers (owner only).

CREATE FUNCTION auth._sha256_hex(v pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE STRICT
AS $$
  SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v, 'UTF8')), 'hex')
$$;

-- A uniformly drawn 6-digit code from the strong random source.
CREATE FUNCTION auth._otp_code()
RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  b bytea;
  n bigint;
BEGIN
  LOOP
    b := decode(translate(kiln.random_token(6), '-_', '+/'), 'base64');
    n := (get_byte(b, 0)::bigint << 24) | (get_byte(b, 1) << 16) | (get_byte(b, 2) << 8) | get_byte(b, 3);
    -- Rejection sampling: below 4294000000 every residue is equally likely.
    EXIT WHEN n < 4294000000;
  END LOOP;
  RETURN lpad((n % 1000000)::text, 6, '0');
END
$$;

-- A URL without its trailing slashes.
CREATE FUNCTION auth._url_base(u pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT pg_catalog.rtrim(pg_catalog.btrim(u), '/')
$$;

-- Does url fall under allowed (the site URL or an allowlist entry)? An
-- entry matches itself and, when it ends in /**, any path below it; the
-- site URL matches itself and any path below it.
CREATE FUNCTION auth._url_under(url pg_catalog.text, allowed pg_catalog.text, subtree pg_catalog.bool)
RETURNS pg_catalog.bool
LANGUAGE sql IMMUTABLE
AS $$
  SELECT CASE WHEN allowed IS NULL OR allowed OPERATOR(pg_catalog.=) '' THEN false
              WHEN url OPERATOR(pg_catalog.=) allowed
                OR url OPERATOR(pg_catalog.=) (allowed OPERATOR(pg_catalog.||) '/') THEN true
              WHEN subtree THEN pg_catalog.starts_with(url, allowed OPERATOR(pg_catalog.||) '/')
                             OR pg_catalog.starts_with(url, allowed OPERATOR(pg_catalog.||) '?')
                             OR pg_catalog.starts_with(url, allowed OPERATOR(pg_catalog.||) '#')
              ELSE false END
$$;

-- The redirect target for a link: redirect_to when it is allowed, else the
-- site URL. Allowed: an http(s) URL without user info, backslashes or
-- control characters, equal to or below the site URL, or matching an entry
-- of redirect_urls.
CREATE FUNCTION auth._redirect_target(redirect_to pg_catalog.text, settings pg_catalog.jsonb)
RETURNS pg_catalog.text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  site text := auth._url_base(coalesce(nullif(settings ->> 'site_url', ''), 'http://localhost:3000'));
  entry text;
BEGIN
  IF redirect_to IS NULL OR redirect_to = ''
     OR redirect_to !~ '^https?://[^/?#@\\[:space:][:cntrl:]]+([/?#][^\\[:space:][:cntrl:]]*)?$' THEN
    RETURN site;
  END IF;
  IF auth._url_under(redirect_to, site, true) THEN
    RETURN redirect_to;
  END IF;
  FOREACH entry IN ARRAY string_to_array(coalesce(settings ->> 'redirect_urls', ''), ',') LOOP
    entry := btrim(entry);
    IF entry LIKE '%/**' THEN
      IF auth._url_under(redirect_to, auth._url_base(left(entry, -3)), true) THEN
        RETURN redirect_to;
      END IF;
    ELSIF auth._url_under(redirect_to, auth._url_base(entry), false) THEN
      RETURN redirect_to;
    END IF;
  END LOOP;
  RETURN site;
END
$$;

-- Issues a token of token_type for user u (replacing a pending one) and
-- returns {token, token_hash}: the 6-digit code and the link token, both in
-- clear (for the mail only; the table keeps hashes).
CREATE FUNCTION auth._issue_token(u auth.users, token_type auth.one_time_token_type, relates_to pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  code text := auth._otp_code();
  link text := kiln.random_token(32);
BEGIN
  INSERT INTO auth.one_time_tokens (user_id, token_type, token_hash, relates_to, otp_hash, attempts)
  VALUES (u.id, token_type, auth._sha256_hex(link), relates_to, auth._sha256_hex(u.id::text || ':' || code), 0)
  ON CONFLICT ON CONSTRAINT one_time_tokens_user_id_token_type_key DO UPDATE
     SET token_hash = excluded.token_hash, relates_to = excluded.relates_to, otp_hash = excluded.otp_hash,
         attempts = 0, created_at = now(), updated_at = now();
  RETURN jsonb_build_object('token', code, 'token_hash', link);
END
$$;

-- Is code the 6-digit code of token t (false for a token without one)?
CREATE FUNCTION auth._code_right(t auth.one_time_tokens, code pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(t.otp_hash OPERATOR(pg_catalog.=) auth._sha256_hex(t.user_id::pg_catalog.text
                                                                     OPERATOR(pg_catalog.||) ':'
                                                                     OPERATOR(pg_catalog.||) code), false)
$$;

-- A wrong code for token t: counted, and the fifth burns the token; the
-- miss is audited as login_failed of the token's user, shown as who, with
-- provider and reason as traits. Shared by the code verifications (email
-- here, phone in 46-phone.sql) and the reauthentication nonce
-- (45-account.sql).
CREATE FUNCTION auth._code_missed(t auth.one_time_tokens, who pg_catalog.text, provider pg_catalog.text,
                                  reason pg_catalog.text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF t.attempts + 1 >= 5 THEN
    DELETE FROM auth.one_time_tokens o WHERE o.id = t.id;
  ELSE
    UPDATE auth.one_time_tokens o SET attempts = o.attempts + 1, updated_at = now() WHERE o.id = t.id;
  END IF;
  PERFORM auth._audit('login_failed', t.user_id, who, 'account',
                      jsonb_build_object('provider', provider, 'reason', reason));
END
$$;

-- Percent-encodes everything but the unreserved characters (RFC 3986).
CREATE FUNCTION auth._urlencode(v pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE STRICT
AS $$
  SELECT coalesce(pg_catalog.string_agg(
           CASE WHEN b OPERATOR(pg_catalog.=) ANY (ARRAY[45, 46, 95, 126])
                  OR b BETWEEN 48 AND 57 OR b BETWEEN 65 AND 90 OR b BETWEEN 97 AND 122
                THEN pg_catalog.chr(b)
                ELSE '%' OPERATOR(pg_catalog.||) pg_catalog.upper(pg_catalog.lpad(pg_catalog.to_hex(b), 2, '0')) END,
           '' ORDER BY i), '')
    FROM (SELECT pg_catalog.convert_to(v, 'UTF8') AS x) s,
         LATERAL pg_catalog.generate_series(0, pg_catalog.length(s.x) OPERATOR(pg_catalog.-) 1) AS i,
         LATERAL (SELECT pg_catalog.get_byte(s.x, i) AS b) g
$$;

-- The verification link of a message: GET {external_url}/auth/v1/verify.
CREATE FUNCTION auth._verify_link(token_hash pg_catalog.text, type pg_catalog.text, redirect_to pg_catalog.text,
                                  settings pg_catalog.jsonb)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT auth._url_base(coalesce(NULLIF(settings OPERATOR(pg_catalog.->>) 'external_url', ''), 'http://localhost:8000'))
         OPERATOR(pg_catalog.||) '/auth/v1/verify?token=' OPERATOR(pg_catalog.||) token_hash
         OPERATOR(pg_catalog.||) '&type=' OPERATOR(pg_catalog.||) type
         OPERATOR(pg_catalog.||) '&redirect_to=' OPERATOR(pg_catalog.||) auth._urlencode(redirect_to)
$$;

-- Queues message kind for user u at recipient with a fresh token of
-- token_type; verification type vtype goes into the link. Returns the
-- template fields (token, token_hash, confirmation_url, redirect_to, ...).
CREATE FUNCTION auth._queue_mail(u auth.users, kind pg_catalog.text, recipient pg_catalog.text,
                                 token_type auth.one_time_token_type, vtype pg_catalog.text,
                                 settings pg_catalog.jsonb, send pg_catalog.bool DEFAULT true)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t jsonb := auth._issue_token(u, token_type, recipient);
  target text := auth._redirect_target(settings ->> 'redirect_to', settings);
  fields jsonb;
BEGIN
  fields := jsonb_build_object(
    'token', t ->> 'token', 'token_hash', t ->> 'token_hash',
    'confirmation_url', auth._verify_link(t ->> 'token_hash', vtype, target, settings),
    'site_url', auth._url_base(coalesce(nullif(settings ->> 'site_url', ''), 'http://localhost:3000')),
    'redirect_to', target, 'email', coalesce(u.email, recipient), 'new_email',
    CASE WHEN kind = 'email_change' THEN recipient ELSE '' END,
    'type', vtype, 'data', coalesce(u.raw_user_meta_data, '{}'::jsonb));
  IF send THEN
    INSERT INTO auth.outbox (channel, user_id, kind, recipient, data)
    VALUES ('email', u.id, kind, recipient, fields);
  END IF;
  RETURN fields;
END
$$;

-- The per-ip limit of the requests that send mail (bucket "email",
-- rate_limit_email per 5 minutes): NULL or the 429 refusal. Per ip, not
-- per address, so it reveals nothing about accounts.
CREATE FUNCTION auth._email_rate_refusal(settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
AS $$
  SELECT auth._refusal_as(auth._rate_refusal('email', auth._setting_int(settings, 'rate_limit_email', 0, 0, 1000000)),
                          'over_email_send_rate_limit', 'Email rate limit exceeded')  -- 44-limits.sql
$$;

-- The user with this address (not deleted), if any.
CREATE FUNCTION auth._user_by_email(addr pg_catalog.text)
RETURNS auth.users
LANGUAGE sql STABLE
AS $$
  SELECT u FROM auth.users u
   WHERE pg_catalog.lower(u.email) OPERATOR(pg_catalog.=) addr AND u.email IS NOT NULL
     AND NOT u.is_sso_user AND u.deleted_at IS NULL
   LIMIT 1
$$;

-- Signs up the unconfirmed user a code flow creates (POST /otp with
-- create_user): key is its address (provider 'email', auth.send_otp) or
-- its number ('phone', auth.send_sms_otp in 46-phone.sql). Writes the user,
-- its identity and the user_signedup audit row; returns the user.
CREATE FUNCTION auth._code_sign_up(provider pg_catalog.text, key pg_catalog.text, data pg_catalog.jsonb)
RETURNS auth.users
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  u auth.users;
BEGIN
  INSERT INTO auth.users (email, phone, raw_app_meta_data, raw_user_meta_data, confirmation_sent_at)
  VALUES (CASE WHEN provider = 'email' THEN key END, CASE WHEN provider = 'phone' THEN key END,
          jsonb_build_object('provider', provider, 'providers', jsonb_build_array(provider)),
          coalesce(data, '{}'), now())
  RETURNING * INTO u;
  INSERT INTO auth.identities (provider_id, user_id, identity_data, provider)
  VALUES (u.id::text, u.id, jsonb_build_object('sub', u.id::text, provider, key, 'email_verified', false,
                                               'phone_verified', false), _code_sign_up.provider);
  PERFORM auth._audit('user_signedup', u.id, key, 'team', jsonb_build_object('provider', provider));
  RETURN u;
END
$$;

-- Sends the sign-up confirmation for user u (called by auth.sign_up when
-- autoconfirm is off).
CREATE FUNCTION auth._mail_confirmation(u auth.users, settings pg_catalog.jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM auth._queue_mail(u, 'confirmation', u.email, 'confirmation_token', 'signup', settings);
  UPDATE auth.users SET confirmation_sent_at = now() WHERE id = u.id;
END
$$;

-- Why user u cannot change its address to new_email (a refusal), or NULL.
-- Writes nothing: auth.update_user checks it before any change.
CREATE FUNCTION auth._email_change_refusal(u auth.users, new_email pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  addr text := auth._normalize_email(new_email);
BEGIN
  IF new_email IS NULL THEN
    RETURN NULL;
  END IF;
  IF addr IS NULL THEN
    RETURN auth._err(400, 'validation_failed', 'Unable to validate email address: invalid format');
  END IF;
  IF addr <> lower(coalesce(u.email, '')) AND (auth._user_by_email(addr)).id IS NOT NULL THEN
    RETURN auth._err(422, 'email_exists', 'A user with this email address has already been registered');
  END IF;
  RETURN NULL;
END
$$;

-- Starts an email change of user u to new_email (called by
-- auth.update_user): the confirmation goes to the new address, and the
-- address changes when its link or code is verified. Returns a refusal or
-- NULL.
CREATE FUNCTION auth._mail_email_change(u auth.users, new_email pg_catalog.text, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  addr text := auth._normalize_email(new_email);
  refusal jsonb := auth._email_change_refusal(u, new_email);
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF addr = lower(coalesce(u.email, '')) THEN
    RETURN NULL;
  END IF;
  PERFORM auth._queue_mail(u, 'email_change', addr, 'email_change_token_new', 'email_change', settings);
  -- The current address hears of it (45-account.sql).
  PERFORM auth._mail_notice(u, 'email_change_notice', addr, settings);
  UPDATE auth.users SET email_change = addr, email_change_sent_at = now(), updated_at = now() WHERE id = u.id;
  PERFORM auth._audit('user_modified', u.id, u.email, 'user', jsonb_build_object('email_change_requested', true));
  RETURN NULL;
END
$$;

-- ---------------------------------------------------------------------------
-- Flows.

-- POST /otp {email, create_user, data}: a magic link with its 6-digit code
-- (confirmation for an address not confirmed yet). With create_user (the
-- default) an unknown address gets a new unconfirmed user when sign-ups are
-- on. Always {} for a well-formed address.
CREATE FUNCTION auth.send_otp(email pg_catalog.text, create_user pg_catalog.bool DEFAULT true,
                              data pg_catalog.jsonb DEFAULT '{}', settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  addr text := auth._normalize_email(email);
  u auth.users;
  refusal jsonb;
BEGIN
  IF addr IS NULL THEN
    RETURN auth._err(400, 'validation_failed', 'Unable to validate email address: invalid format');
  END IF;
  refusal := coalesce(auth._metadata_refusal(data, 'data'), auth._email_rate_refusal(settings),
                      auth._email_interval_refusal(addr, settings));  -- 44-limits.sql
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  u := auth._user_by_email(addr);
  IF u.id IS NULL THEN
    IF NOT coalesce(create_user, true) OR NOT auth._setting_bool(settings, 'signup_enabled', true) THEN
      PERFORM auth._mail_decoy(addr, 'magiclink', settings);  -- 44-limits.sql: the same time
      RETURN '{}';
    END IF;
    u := auth._code_sign_up('email', addr, data);
  END IF;
  IF u.banned_until IS NOT NULL AND u.banned_until > now() THEN
    RETURN '{}';
  END IF;
  IF u.email_confirmed_at IS NULL THEN
    PERFORM auth._mail_confirmation(u, settings);
  ELSE
    PERFORM auth._queue_mail(u, 'magiclink', addr, 'recovery_token', 'magiclink', settings);
    UPDATE auth.users SET recovery_sent_at = now() WHERE id = u.id;
  END IF;
  RETURN '{}';
END
$$;
COMMENT ON FUNCTION auth.send_otp(pg_catalog.text, pg_catalog.bool, pg_catalog.jsonb, pg_catalog.jsonb)
  IS 'POST /otp and /magiclink: a magic link and code by mail; {} whether or not the address has an account';

-- POST /recover {email}: a recovery link and code. Always {} for a
-- well-formed address.
CREATE FUNCTION auth.recover(email pg_catalog.text, settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  addr text := auth._normalize_email(email);
  u auth.users;
  refusal jsonb;
BEGIN
  IF addr IS NULL THEN
    RETURN auth._err(400, 'validation_failed', 'Unable to validate email address: invalid format');
  END IF;
  refusal := coalesce(auth._email_rate_refusal(settings), auth._email_interval_refusal(addr, settings));
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  u := auth._user_by_email(addr);
  IF u.id IS NOT NULL AND (u.banned_until IS NULL OR u.banned_until <= now()) THEN
    PERFORM auth._queue_mail(u, 'recovery', addr, 'recovery_token', 'recovery', settings);
    UPDATE auth.users SET recovery_sent_at = now() WHERE id = u.id;
    PERFORM auth._audit('user_recovery_requested', u.id, addr, 'user');
  ELSE
    PERFORM auth._mail_decoy(addr, 'recovery', settings);  -- 44-limits.sql: the same time
  END IF;
  RETURN '{}';
END
$$;
COMMENT ON FUNCTION auth.recover(pg_catalog.text, pg_catalog.jsonb)
  IS 'POST /recover: a password recovery mail; {} whether or not the address has an account';

-- POST /resend {type: signup | email_change, email}: the pending message
-- again, with a fresh token. Always {} for a well-formed address.
CREATE FUNCTION auth.resend(type pg_catalog.text, email pg_catalog.text, settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  addr text := auth._normalize_email(email);
  u auth.users;
  refusal jsonb;
BEGIN
  IF type IS NULL OR type NOT IN ('signup', 'email_change') THEN
    RETURN auth._err(400, 'validation_failed', 'Missing one of these types: signup, email_change');
  END IF;
  IF addr IS NULL THEN
    RETURN auth._err(400, 'validation_failed', 'Unable to validate email address: invalid format');
  END IF;
  refusal := coalesce(auth._email_rate_refusal(settings), auth._email_interval_refusal(addr, settings));
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF type = 'signup' THEN
    u := auth._user_by_email(addr);
    IF u.id IS NOT NULL AND u.email_confirmed_at IS NULL THEN
      PERFORM auth._mail_confirmation(u, settings);
    ELSE
      PERFORM auth._mail_decoy(addr, 'signup', settings);  -- 44-limits.sql: the same time
    END IF;
  ELSE
    SELECT * INTO u FROM auth.users x
     WHERE lower(x.email_change) = addr AND x.deleted_at IS NULL AND x.email_change_sent_at IS NOT NULL
     LIMIT 1;
    IF u.id IS NOT NULL THEN
      PERFORM auth._queue_mail(u, 'email_change', addr, 'email_change_token_new', 'email_change', settings);
      UPDATE auth.users SET email_change_sent_at = now() WHERE id = u.id;
    ELSE
      PERFORM auth._mail_decoy(addr, 'email_change', settings);
    END IF;
  END IF;
  RETURN '{}';
END
$$;
COMMENT ON FUNCTION auth.resend(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb)
  IS 'POST /resend: the sign-up or email-change confirmation again; {} whether or not it applies';

-- The token types a verification type accepts.
CREATE FUNCTION auth._verify_types(type pg_catalog.text)
RETURNS auth.one_time_token_type[]
LANGUAGE sql IMMUTABLE
AS $$
  SELECT CASE type
           WHEN 'signup' THEN ARRAY['confirmation_token']::auth.one_time_token_type[]
           WHEN 'invite' THEN ARRAY['confirmation_token']::auth.one_time_token_type[]
           WHEN 'recovery' THEN ARRAY['recovery_token']::auth.one_time_token_type[]
           WHEN 'magiclink' THEN ARRAY['recovery_token', 'confirmation_token']::auth.one_time_token_type[]
           WHEN 'email' THEN ARRAY['recovery_token', 'confirmation_token']::auth.one_time_token_type[]
           WHEN 'email_change' THEN ARRAY['email_change_token_new']::auth.one_time_token_type[]
         END
$$;

-- The session a verification earns for user uid (method: its amr).
CREATE FUNCTION auth._verified_session(uid pg_catalog.uuid, method pg_catalog.text, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  u auth.users;
BEGIN
  UPDATE auth.users SET last_sign_in_at = now() WHERE id = uid RETURNING * INTO u;
  UPDATE auth.identities SET last_sign_in_at = now() WHERE user_id = uid AND provider = 'email';
  PERFORM auth._audit('login', u.id, u.email, 'account', jsonb_build_object('provider', 'email', 'method', method));
  RETURN auth._start_session(u, method, settings);
END
$$;

-- Consumes the token of a verification (POST /verify, GET /verify):
-- refusal, or the verified user's id and the session method it earns (the
-- address confirmed, the email changed, ...). A wrong code counts against
-- the pending token, which is burned at the fifth; an expired or unknown
-- one is 403 otp_expired.
CREATE FUNCTION auth._verify_consume(type pg_catalog.text, token pg_catalog.text, token_hash pg_catalog.text,
                                     email pg_catalog.text, settings pg_catalog.jsonb,
                                     OUT refusal pg_catalog.jsonb, OUT uid pg_catalog.uuid,
                                     OUT method pg_catalog.text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  types auth.one_time_token_type[] := auth._verify_types(type);
  ttl int := auth._setting_int(settings, 'otp_ttl_s', 600, 10, 600);
  addr text := auth._normalize_email(email);
  expired jsonb := auth._err(403, 'otp_expired', 'Token has expired or is invalid');
  t auth.one_time_tokens;
  u auth.users;
BEGIN
  IF types IS NULL THEN
    refusal := auth._err(400, 'validation_failed', 'Verify requires a verification type');
    RETURN;
  END IF;
  refusal := auth._rate_refusal('verify', auth._setting_int(settings, 'rate_limit_verify', 0, 0, 1000000));
  IF refusal IS NOT NULL THEN
    RETURN;
  END IF;
  IF coalesce(token_hash, '') <> '' THEN
    SELECT * INTO t FROM auth.one_time_tokens o
     WHERE o.token_hash = auth._sha256_hex(_verify_consume.token_hash) AND o.token_type = ANY (types)
     FOR UPDATE;
  ELSIF coalesce(token, '') <> '' AND addr IS NOT NULL THEN
    -- A code: the pending tokens of the user the address belongs to (the
    -- new address for an email change). Guesses back off per address
    -- (44-limits.sql), an address without a pending code alike.
    refusal := auth._backoff_refusal(addr, settings);
    IF refusal IS NOT NULL THEN
      RETURN;
    END IF;
    SELECT * INTO t FROM auth.one_time_tokens o
     WHERE o.token_type = ANY (types) AND lower(o.relates_to) = addr
     ORDER BY o.created_at DESC LIMIT 1
     FOR UPDATE;
    PERFORM auth._backoff_note(addr, t.id IS NOT NULL AND auth._code_right(t, _verify_consume.token), settings);
    IF t.id IS NOT NULL AND NOT auth._code_right(t, _verify_consume.token) THEN
      PERFORM auth._code_missed(t, addr, 'email', 'otp_invalid');
      refusal := expired;
      RETURN;
    END IF;
  ELSE
    refusal := auth._err(400, 'validation_failed', 'Verify requires a token or a token hash');
    RETURN;
  END IF;
  IF t.id IS NULL THEN
    refusal := expired;
    RETURN;
  END IF;
  -- Single use, expired or not.
  DELETE FROM auth.one_time_tokens WHERE id = t.id;
  IF t.created_at + make_interval(secs => ttl) < now() THEN
    refusal := expired;
    RETURN;
  END IF;
  SELECT * INTO u FROM auth.users x WHERE x.id = t.user_id AND x.deleted_at IS NULL FOR UPDATE;
  IF u.id IS NULL OR (u.banned_until IS NOT NULL AND u.banned_until > now()) THEN
    refusal := expired;
    RETURN;
  END IF;
  IF t.token_type = 'email_change_token_new' THEN
    IF u.email_change IS NULL OR lower(u.email_change) <> lower(t.relates_to)
       OR (auth._user_by_email(lower(t.relates_to))).id IS NOT NULL THEN
      refusal := expired;
      RETURN;
    END IF;
    UPDATE auth.users SET email = email_change, email_change = '', email_change_sent_at = NULL,
                          email_confirmed_at = coalesce(email_confirmed_at, now()), updated_at = now()
     WHERE id = u.id;
    UPDATE auth.identities SET identity_data = identity_data || jsonb_build_object('email', lower(t.relates_to))
     WHERE user_id = u.id AND provider = 'email';
    PERFORM auth._audit('user_modified', u.id, t.relates_to, 'user', '{"email_changed": true}');
    -- The old address hears that it is no longer the account's (45-account.sql).
    PERFORM auth._mail_notice(u, 'email_changed', lower(t.relates_to), settings);
    method := 'email_change';
  ELSE
    -- Any verified link or code proves the address.
    UPDATE auth.users SET email_confirmed_at = coalesce(email_confirmed_at, now()), updated_at = now()
     WHERE id = u.id;
    UPDATE auth.identities SET identity_data = identity_data || '{"email_verified": true}'
     WHERE user_id = u.id AND provider = 'email';
    IF u.email_confirmed_at IS NULL THEN
      PERFORM auth._audit('user_signedup', u.id, u.email, 'team', '{"provider": "email", "confirmed": true}');
    END IF;
    method := CASE WHEN t.token_type = 'recovery_token' AND type = 'recovery' THEN 'recovery'
                   WHEN type = 'invite' THEN 'invite'
                   WHEN t.token_type = 'confirmation_token' THEN 'otp'
                   ELSE 'magiclink' END;
  END IF;
  uid := u.id;
END
$$;

-- POST /verify {type, token + email | token_hash}: consumes the token and
-- answers a session (auth._verify_consume says which refusals there are).
CREATE FUNCTION auth.verify(type pg_catalog.text, token pg_catalog.text, token_hash pg_catalog.text,
                            email pg_catalog.text, settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c record;
BEGIN
  SELECT * INTO c FROM auth._verify_consume(type, token, token_hash, email, settings);
  IF c.refusal IS NOT NULL THEN
    RETURN c.refusal;
  END IF;
  RETURN auth._verified_session(c.uid, c.method, settings);
END
$$;
COMMENT ON FUNCTION auth.verify(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb)
  IS 'POST /verify: consumes a link token or code and answers a session';

-- GET /verify?token=&type=&redirect_to= (the link of a mail, opened in a
-- browser): {"location": URL} for a 303. Success: the allowed redirect
-- target with the session in the fragment (implicit flow), or, when the
-- request that sent the mail started a PKCE flow (45-account.sql), with
-- ?code= for the client to exchange (no session is started here then);
-- failure: the target with error, error_code and error_description in the
-- fragment.
CREATE FUNCTION auth.verify_link(type pg_catalog.text, token pg_catalog.text, redirect_to pg_catalog.text,
                                 settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  target text := auth._redirect_target(redirect_to, settings);
  c record;
  r jsonb;
  code text;
  frag text;
BEGIN
  SELECT * INTO c FROM auth._verify_consume(type, NULL, token, NULL, settings);
  IF c.refusal IS NULL THEN
    code := auth.pkce_issue_code(c.uid, auth._pkce_link_method(type));
    IF code IS NOT NULL THEN
      RETURN jsonb_build_object('location', auth._url_with_code(target, code));
    END IF;
  END IF;
  r := coalesce(c.refusal, auth._verified_session(c.uid, c.method, settings));
  IF r ? 'error' THEN
    frag := 'error=access_denied&error_code=' || auth._urlencode(r -> 'error' ->> 'code')
            || '&error_description=' || auth._urlencode(r -> 'error' ->> 'message');
  ELSE
    frag := 'access_token=' || (r ->> 'access_token') || '&expires_at=' || (r ->> 'expires_at')
            || '&expires_in=' || (r ->> 'expires_in') || '&refresh_token=' || (r ->> 'refresh_token')
            || '&token_type=bearer&type=' || auth._urlencode(type);
  END IF;
  RETURN jsonb_build_object('location', split_part(target, '#', 1) || '#' || frag);
END
$$;
COMMENT ON FUNCTION auth.verify_link(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb)
  IS 'GET /verify: {"location"} for the 303 to the allowed redirect target, session or error in the fragment';

-- POST /invite {email, data} (service_role): a new user and the invite
-- mail. 422 email_exists for a registered address.
CREATE FUNCTION auth.admin_invite(email pg_catalog.text, data pg_catalog.jsonb DEFAULT '{}',
                                  settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := coalesce(auth._admin_refusal(), auth._metadata_refusal(data, 'data'));
  addr text := auth._normalize_email(email);
  u auth.users;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF addr IS NULL THEN
    RETURN auth._err(400, 'validation_failed', 'Unable to validate email address: invalid format');
  END IF;
  IF (auth._user_by_email(addr)).id IS NOT NULL THEN
    RETURN auth._err(422, 'email_exists', 'A user with this email address has already been registered');
  END IF;
  INSERT INTO auth.users (email, raw_app_meta_data, raw_user_meta_data, invited_at, confirmation_sent_at)
  VALUES (addr, '{"provider": "email", "providers": ["email"]}', coalesce(data, '{}'), now(), now())
  RETURNING * INTO u;
  INSERT INTO auth.identities (provider_id, user_id, identity_data, provider)
  VALUES (u.id::text, u.id, jsonb_build_object('sub', u.id::text, 'email', addr, 'email_verified', false,
                                               'phone_verified', false), 'email');
  PERFORM auth._queue_mail(u, 'invite', addr, 'confirmation_token', 'invite', settings);
  PERFORM auth._audit('user_invited', u.id, addr, 'team', jsonb_build_object('by', 'admin'));
  RETURN auth._user_json(u) || jsonb_build_object('invited_at', auth._ts(u.invited_at));
END
$$;
COMMENT ON FUNCTION auth.admin_invite(pg_catalog.text, pg_catalog.jsonb, pg_catalog.jsonb)
  IS 'POST /invite (service_role): a new user and the invite mail';

-- POST /admin/generate_link {type, email, password, data, new_email}
-- (service_role): the link and code of a message without sending it, as
-- GoTrue answers: the user's fields plus action_link, email_otp,
-- hashed_token, redirect_to, verification_type. Types: signup (creates the
-- user with the password), invite, magiclink, recovery, email_change_new.
CREATE FUNCTION auth.admin_generate_link(attrs pg_catalog.jsonb, settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._admin_refusal();
  type text := attrs ->> 'type';
  addr text := auth._normalize_email(attrs ->> 'email');
  u auth.users;
  f jsonb;
  vtype text;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF type IS NULL OR type NOT IN ('signup', 'invite', 'magiclink', 'recovery', 'email_change_new') THEN
    RETURN auth._err(400, 'validation_failed',
                     'Invalid type: use signup, invite, magiclink, recovery or email_change_new');
  END IF;
  IF addr IS NULL THEN
    RETURN auth._err(400, 'validation_failed', 'Unable to validate email address: invalid format');
  END IF;
  refusal := auth._metadata_refusal(attrs -> 'data', 'data');
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  u := auth._user_by_email(addr);
  IF type IN ('signup', 'invite') THEN
    IF u.id IS NOT NULL THEN
      RETURN auth._err(422, 'email_exists', 'A user with this email address has already been registered');
    END IF;
    IF type = 'signup' THEN
      refusal := auth._password_refusal(attrs ->> 'password', settings);
      IF refusal IS NOT NULL THEN
        RETURN refusal;
      END IF;
    END IF;
    INSERT INTO auth.users (email, encrypted_password, raw_app_meta_data, raw_user_meta_data,
                            invited_at, confirmation_sent_at)
    VALUES (addr, CASE WHEN type = 'signup' THEN kiln.hash_password(attrs ->> 'password') END,
            '{"provider": "email", "providers": ["email"]}', coalesce(attrs -> 'data', '{}'),
            CASE WHEN type = 'invite' THEN now() END, now())
    RETURNING * INTO u;
    INSERT INTO auth.identities (provider_id, user_id, identity_data, provider)
    VALUES (u.id::text, u.id, jsonb_build_object('sub', u.id::text, 'email', addr, 'email_verified', false,
                                                 'phone_verified', false), 'email');
    f := auth._queue_mail(u, 'confirmation', addr, 'confirmation_token', type, settings, false);
    vtype := type;
  ELSIF u.id IS NULL THEN
    RETURN auth._err(404, 'user_not_found', 'User with this email not found');
  ELSIF type = 'email_change_new' THEN
    addr := auth._normalize_email(attrs ->> 'new_email');
    IF addr IS NULL THEN
      RETURN auth._err(400, 'validation_failed', 'new_email must be an email address');
    END IF;
    IF (auth._user_by_email(addr)).id IS NOT NULL THEN
      RETURN auth._err(422, 'email_exists', 'A user with this email address has already been registered');
    END IF;
    UPDATE auth.users SET email_change = addr, email_change_sent_at = now() WHERE id = u.id RETURNING * INTO u;
    f := auth._queue_mail(u, 'email_change', addr, 'email_change_token_new', 'email_change', settings, false);
    vtype := 'email_change';
  ELSE
    f := auth._queue_mail(u, type, addr, 'recovery_token', type, settings, false);
    vtype := type;
  END IF;
  PERFORM auth._audit('user_generate_link', u.id, u.email, 'team', jsonb_build_object('type', type));
  SELECT * INTO u FROM auth.users x WHERE x.id = u.id;
  RETURN auth._user_json(u) || jsonb_build_object(
    'action_link', f ->> 'confirmation_url', 'email_otp', f ->> 'token',
    'hashed_token', f ->> 'token_hash', 'redirect_to', f ->> 'redirect_to',
    'verification_type', vtype);
END
$$;
COMMENT ON FUNCTION auth.admin_generate_link(pg_catalog.jsonb, pg_catalog.jsonb)
  IS 'POST /admin/generate_link (service_role): a message''s link and code, not sent';

-- ---------------------------------------------------------------------------
-- Who may call them.

DO $grants$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'auth'::regnamespace
              AND p.proname IN ('send_otp', 'recover', 'resend', 'verify', 'verify_link', 'admin_invite',
                                'admin_generate_link')
  LOOP
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'auth'::regnamespace
              AND p.proname IN ('send_otp', 'recover', 'resend', 'verify', 'verify_link', 'admin_invite',
                                'admin_generate_link')
  LOOP
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO anon, authenticated, service_role', f);
  END LOOP;
END
$grants$;
