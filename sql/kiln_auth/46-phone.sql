-- kiln_auth 0.1.0, part 46-phone: phone sign-up and sign-in over SMS.
--
-- Sign-up with a phone number and password (POST /signup {phone}), the
-- password grant by phone, a code by SMS (POST /otp {phone}), its
-- verification (POST /verify {phone, token, type: sms | phone_change}),
-- resend (POST /resend {type: sms | phone_change, phone}) and the phone
-- change of PUT /user {phone} (auth.update_user calls the helpers here).
-- Every text message is a row of auth.outbox (39-outbox.sql) on channel
-- 'sms', written in the flow's transaction as mail is: the daemon's SMS
-- sender (daemon/src/auth_sms.c) claims those rows and posts them to the
-- configured provider; `kiln sms` reads them.
--
-- Numbers: E.164, stored as GoTrue stores them, digits only without the
-- '+' (user.phone "15551234567"). auth._normalize_phone accepts an optional
-- leading '+', then digits with spaces, '-', '.', '(' and ')' between
-- them; 7 to 15 digits, the first not 0. Anything else is 400
-- validation_failed. (daemon/src/sms.c applies the same rule before the
-- database; both are tested with the same cases.)
--
-- Codes: 6 digits from auth._otp_code, in auth.one_time_tokens (one
-- pending token per user and type; relates_to = the number) as SHA-256 of
-- user id, ':' and the code; single use, valid otp_ttl_s (600 s at most),
-- burned by the fifth wrong code. The clear code lives in the outbox row
-- (owner only) until the message is delivered, then it is wiped.
--
-- It never reveals whether a number has an account: /otp, /resend and
-- /verify answer the same for a known and an unknown number, sign-up with
-- confirmations on answers a registered number with a look-alike user, and
-- the password grant verifies a dummy hash for an unknown number.
--
-- Settings (besides those of 40-flows and 41-mail): phone_enabled (true
-- from SQL; the daemon passes false unless an SMS provider is configured:
-- 422 phone_provider_disabled), phone_signup_enabled (true),
-- phone_autoconfirm (false: a new number is confirmed by its code),
-- rate_limit_sms (requests that send a text per 5 minutes per client ip;
-- 0 = no limit), channel (per request: sms or whatsapp).

-- ---------------------------------------------------------------------------
-- Helpers (owner only).

-- A phone number as stored (E.164 digits without '+'), or NULL when it is
-- not one.
CREATE FUNCTION auth._normalize_phone(phone pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT CASE WHEN d OPERATOR(pg_catalog.~) '^[1-9][0-9]{6,14}$' THEN d END
    FROM (SELECT CASE WHEN t OPERATOR(pg_catalog.~) '^\+?[0-9 ().-]+$'
                      THEN pg_catalog.regexp_replace(t, '[^0-9]', '', 'g') END AS d
            FROM (SELECT pg_catalog.btrim(phone, E' \t\r\n') AS t) y) x
$$;

-- The user with this number (not deleted), if any.
CREATE FUNCTION auth._user_by_phone(tel pg_catalog.text)
RETURNS auth.users
LANGUAGE sql STABLE
AS $$
  SELECT u FROM auth.users u
   WHERE u.phone OPERATOR(pg_catalog.=) tel AND u.deleted_at IS NULL
   LIMIT 1
$$;

-- The limits of the requests that send a text: per client ip (bucket
-- "sms", rate_limit_sms per 5 minutes), then per number (one text per
-- sms_min_interval_s, counted whether or not the number has an account, as
-- the per-address mail interval is: 44-limits.sql). NULL or the 429
-- refusal with retry_after; requests without a client (SQL) are not
-- limited.
CREATE FUNCTION auth._sms_rate_refusal(tel pg_catalog.text, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
AS $$
  SELECT coalesce(auth._refusal_as(auth._rate_refusal('sms', auth._setting_int(settings, 'rate_limit_sms', 0, 0, 1000000)),
                                   'over_sms_send_rate_limit', 'SMS rate limit exceeded'),
                  auth._interval_refusal('sms_number', tel,
                                         auth._setting_int(settings, 'sms_min_interval_s', 0, 0, 86400),
                                         'over_sms_send_rate_limit'))  -- 44-limits.sql
$$;

-- NULL when phone sign-in is offered (settings phone_enabled), else the
-- 422 refusal (400 on the token endpoint, as GoTrue).
CREATE FUNCTION auth._phone_disabled(settings pg_catalog.jsonb, status pg_catalog.int4 DEFAULT 422)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
AS $$
  SELECT CASE WHEN auth._setting_bool(settings, 'phone_enabled', true) THEN NULL
              ELSE auth._err(status, 'phone_provider_disabled', 'Phone logins are disabled') END
$$;

CREATE FUNCTION auth._phone_invalid()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
AS $$
  SELECT auth._err(400, 'validation_failed', 'Invalid phone number format (E.164 required)')
$$;

-- Queues text kind for user u to recipient with a fresh code of
-- token_type (replacing a pending one); vtype is the verification type
-- the code answers (sms, phone_change). Returns the template fields.
CREATE FUNCTION auth._queue_sms(u auth.users, kind pg_catalog.text, recipient pg_catalog.text,
                                token_type auth.one_time_token_type, vtype pg_catalog.text,
                                settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  -- The pair's link token is never sent by SMS: only the code is used.
  t jsonb := auth._issue_token(u, token_type, recipient);
  fields jsonb;
BEGIN
  fields := jsonb_build_object(
    'code', t ->> 'token', 'type', vtype,
    'channel', CASE WHEN settings ->> 'channel' = 'whatsapp' THEN 'whatsapp' ELSE 'sms' END);
  INSERT INTO auth.outbox (channel, user_id, kind, recipient, data)
  VALUES ('sms', u.id, kind, recipient, fields);
  RETURN fields;
END
$$;

-- Sends the code that confirms user u's number.
CREATE FUNCTION auth._sms_confirmation(u auth.users, settings pg_catalog.jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM auth._queue_sms(u, 'confirmation', u.phone, 'confirmation_token', 'sms', settings);
  UPDATE auth.users SET confirmation_sent_at = now() WHERE id = u.id;
END
$$;

-- When nothing is sent (no account, nothing pending): the work of a text
-- without the text, so that the answer takes as long, then the audit row
-- and the sender's wake-up of auth._not_sent (as auth._mail_decoy does
-- for mail).
CREATE FUNCTION auth._sms_decoy(recipient pg_catalog.text, kind pg_catalog.text, settings pg_catalog.jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  fields jsonb := jsonb_build_object(
    'code_hash', auth._sha256_hex(gen_random_uuid()::text || ':' || auth._otp_code()), 'type', kind,
    'channel', CASE WHEN settings ->> 'channel' = 'whatsapp' THEN 'whatsapp' ELSE 'sms' END);
BEGIN
  PERFORM auth._not_sent('sms', recipient, kind, fields);
END
$$;

-- Why user u cannot change its number to new_phone (a refusal), or NULL.
-- Writes nothing: auth.update_user checks it before any change. An empty
-- or absent number is no change (as GoTrue).
CREATE FUNCTION auth._phone_change_refusal(u auth.users, new_phone pg_catalog.text, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tel text := auth._normalize_phone(new_phone);
BEGIN
  IF new_phone IS NULL OR btrim(new_phone) = '' THEN
    RETURN NULL;
  END IF;
  IF tel IS NULL THEN
    RETURN auth._phone_invalid();
  END IF;
  IF tel IS NOT DISTINCT FROM u.phone THEN
    RETURN NULL;
  END IF;
  IF NOT auth._setting_bool(settings, 'phone_enabled', true) THEN
    RETURN auth._err(422, 'phone_provider_disabled', 'Phone logins are disabled');
  END IF;
  IF (auth._user_by_phone(tel)).id IS NOT NULL THEN
    RETURN auth._err(422, 'phone_exists', 'A user with this phone number has already been registered');
  END IF;
  RETURN NULL;
END
$$;

-- Starts a phone change of user u to new_phone (called by auth.update_user
-- after auth._phone_change_refusal): a code to the new number, which
-- becomes the user's when the code is verified (type phone_change). With
-- phone_autoconfirm the number changes at once. Returns a refusal or NULL.
CREATE FUNCTION auth._sms_phone_change(u auth.users, new_phone pg_catalog.text, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tel text := auth._normalize_phone(new_phone);
  refusal jsonb := auth._phone_change_refusal(u, new_phone, settings);
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF tel IS NULL OR tel IS NOT DISTINCT FROM u.phone THEN
    RETURN NULL;
  END IF;
  IF auth._setting_bool(settings, 'phone_autoconfirm', false) THEN
    BEGIN
      UPDATE auth.users SET phone = tel, phone_confirmed_at = now(), phone_change = '',
                            phone_change_sent_at = NULL, updated_at = now()
       WHERE id = u.id;
    EXCEPTION WHEN unique_violation THEN
      RETURN auth._err(422, 'phone_exists', 'A user with this phone number has already been registered');
    END;
    PERFORM auth._audit('user_modified', u.id, coalesce(u.email, u.phone), 'user', '{"phone_changed": true}');
    RETURN NULL;
  END IF;
  refusal := auth._sms_rate_refusal(tel, settings);
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  PERFORM auth._queue_sms(u, 'phone_change', tel, 'phone_change_token', 'phone_change', settings);
  UPDATE auth.users SET phone_change = tel, phone_change_sent_at = now(), updated_at = now() WHERE id = u.id;
  PERFORM auth._audit('user_modified', u.id, coalesce(u.email, u.phone), 'user',
                      jsonb_build_object('phone_change_requested', true));
  RETURN NULL;
END
$$;

DO $helpers$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'auth'::regnamespace AND p.proname LIKE '\_%'
  LOOP
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END
$helpers$;

-- ---------------------------------------------------------------------------
-- Flows.

-- POST /signup {phone, password, data, channel}: a session (phone
-- autoconfirm) or the new user, unconfirmed until the texted code is
-- verified. A registered number: 422 user_already_exists with autoconfirm,
-- else a look-alike new user and no text.
CREATE FUNCTION auth.sign_up_phone(phone pg_catalog.text, password pg_catalog.text,
                                   data pg_catalog.jsonb DEFAULT '{}', settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tel text := auth._normalize_phone(phone);
  autoconfirm bool := auth._setting_bool(settings, 'phone_autoconfirm', false);
  refusal jsonb := auth._phone_disabled(settings);
  hash text;
  u auth.users;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF NOT auth._setting_bool(settings, 'signup_enabled', true)
     OR NOT auth._setting_bool(settings, 'phone_signup_enabled', true) THEN
    RETURN auth._err(422, 'signup_disabled', 'Signups not allowed for this instance');
  END IF;
  refusal := auth._rate_refusal('sign_in', auth._setting_int(settings, 'rate_limit_sign_in', 0, 0, 1000000));
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF tel IS NULL THEN
    RETURN auth._phone_invalid();
  END IF;
  refusal := coalesce(auth._metadata_refusal(data, 'data'), auth._password_refusal(password, settings));
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF NOT autoconfirm THEN
    refusal := auth._sms_rate_refusal(tel, settings);
    IF refusal IS NOT NULL THEN
      RETURN refusal;
    END IF;
  END IF;
  -- Hashed whether or not the number is taken: the same cost either way.
  hash := kiln.hash_password(password);
  BEGIN
    INSERT INTO auth.users (phone, encrypted_password, raw_app_meta_data, raw_user_meta_data,
                            phone_confirmed_at, confirmation_sent_at)
    VALUES (tel, hash, '{"provider": "phone", "providers": ["phone"]}', coalesce(data, '{}'),
            CASE WHEN autoconfirm THEN now() END, CASE WHEN NOT autoconfirm THEN now() END)
    RETURNING * INTO u;
  EXCEPTION WHEN unique_violation THEN
    u := NULL;
  END;
  IF u.id IS NULL THEN
    PERFORM auth._audit('user_repeated_signup', NULL, tel, 'user', '{"provider": "phone"}');
    IF autoconfirm THEN
      RETURN auth._err(422, 'user_already_exists', 'User already registered');
    END IF;
    RETURN jsonb_build_object(
      'id', gen_random_uuid(), 'aud', 'authenticated', 'role', 'authenticated', 'email', '',
      'phone', tel, 'confirmation_sent_at', auth._ts(now()),
      'app_metadata', '{"provider": "phone", "providers": ["phone"]}'::jsonb,
      'user_metadata', coalesce(data, '{}'), 'identities', '[]'::jsonb,
      'created_at', auth._ts(now()), 'updated_at', auth._ts(now()), 'is_anonymous', false);
  END IF;
  INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at)
  VALUES (u.id::text, u.id,
          jsonb_build_object('sub', u.id::text, 'phone', tel, 'email_verified', false,
                             'phone_verified', autoconfirm),
          'phone', CASE WHEN autoconfirm THEN now() END);
  PERFORM auth._audit('user_signedup', u.id, tel, 'team', '{"provider": "phone"}');
  IF NOT autoconfirm THEN
    PERFORM auth._sms_confirmation(u, settings);
    SELECT * INTO u FROM auth.users x WHERE x.id = u.id;
    RETURN auth._user_json(u);
  END IF;
  UPDATE auth.users SET last_sign_in_at = now() WHERE id = u.id RETURNING * INTO u;
  PERFORM auth._audit('login', u.id, tel, 'account', '{"provider": "phone"}');
  RETURN auth._start_session(u, 'password', settings);
END
$$;
COMMENT ON FUNCTION auth.sign_up_phone(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.jsonb)
  IS 'POST /signup with phone and password: a session (phone_autoconfirm) or the new user and a code by SMS';

-- POST /token?grant_type=password {phone, password}: a new session. An
-- unknown number and a wrong password look the same.
CREATE FUNCTION auth.sign_in_phone_password(phone pg_catalog.text, password pg_catalog.text,
                                            settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tel text := auth._normalize_phone(phone);
  shown text := left(phone, 32);
  -- Failed sign-ins back off per number and client, as for addresses
  -- (44-limits.sql); an unknown number alike.
  backoff_key text := coalesce(tel, left(btrim(phone), 32));
  u auth.users;
  refusal jsonb := coalesce(auth._phone_disabled(settings, 400),
                            auth._password_gate('phone', phone, shown, tel, backoff_key, password, settings));
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF tel IS NOT NULL THEN
    u := auth._user_by_phone(tel);
  END IF;
  refusal := auth._password_check('phone', u, password, shown, tel, backoff_key, settings);
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF u.phone_confirmed_at IS NULL AND NOT auth._setting_bool(settings, 'phone_autoconfirm', false) THEN
    PERFORM auth._audit('login_failed', u.id, tel, 'account',
                        jsonb_build_object('provider', 'phone', 'reason', 'phone_not_confirmed'));
    RETURN auth._err(400, 'phone_not_confirmed', 'Phone not confirmed');
  END IF;
  RETURN auth._password_login('phone', u, password, tel, settings);
END
$$;
COMMENT ON FUNCTION auth.sign_in_phone_password(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb)
  IS 'POST /token?grant_type=password with a phone: a new session; unknown number and wrong password look the same';

-- POST /otp {phone, create_user, data, channel}: a 6-digit code by SMS
-- (the confirmation code for a number not confirmed yet). With create_user
-- (the default) an unknown number gets a new unconfirmed user when phone
-- sign-ups are on. Always {} for a well-formed number.
CREATE FUNCTION auth.send_sms_otp(phone pg_catalog.text, create_user pg_catalog.bool DEFAULT true,
                                  data pg_catalog.jsonb DEFAULT '{}', settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tel text := auth._normalize_phone(phone);
  u auth.users;
  refusal jsonb := auth._phone_disabled(settings);
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF tel IS NULL THEN
    RETURN auth._phone_invalid();
  END IF;
  refusal := coalesce(auth._metadata_refusal(data, 'data'), auth._sms_rate_refusal(tel, settings));
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  u := auth._user_by_phone(tel);
  IF u.id IS NULL THEN
    IF NOT coalesce(create_user, true) OR NOT auth._setting_bool(settings, 'signup_enabled', true)
       OR NOT auth._setting_bool(settings, 'phone_signup_enabled', true) THEN
      PERFORM auth._sms_decoy(tel, 'sms', settings);  -- the same time as a text
      RETURN '{}';
    END IF;
    BEGIN
      u := auth._code_sign_up('phone', tel, data);  -- 41-mail.sql
    EXCEPTION WHEN unique_violation THEN
      -- A concurrent request signed the number up first: the same answer.
      RETURN '{}';
    END;
  END IF;
  IF u.banned_until IS NOT NULL AND u.banned_until > now() THEN
    RETURN '{}';
  END IF;
  IF u.phone_confirmed_at IS NULL THEN
    PERFORM auth._sms_confirmation(u, settings);
  ELSE
    PERFORM auth._queue_sms(u, 'otp', tel, 'recovery_token', 'sms', settings);
    UPDATE auth.users SET recovery_sent_at = now() WHERE id = u.id;
  END IF;
  RETURN '{}';
END
$$;
COMMENT ON FUNCTION auth.send_sms_otp(pg_catalog.text, pg_catalog.bool, pg_catalog.jsonb, pg_catalog.jsonb)
  IS 'POST /otp with a phone: a 6-digit code by SMS; {} whether or not the number has an account';

-- POST /resend {type: sms | phone_change, phone}: the pending code again
-- (a fresh one). Always {} for a well-formed number.
CREATE FUNCTION auth.resend_phone(type pg_catalog.text, phone pg_catalog.text, settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tel text := auth._normalize_phone(phone);
  u auth.users;
  refusal jsonb := auth._phone_disabled(settings);
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF type IS NULL OR type NOT IN ('sms', 'phone_change') THEN
    RETURN auth._err(400, 'validation_failed', 'Missing one of these types: sms, phone_change');
  END IF;
  IF tel IS NULL THEN
    RETURN auth._phone_invalid();
  END IF;
  refusal := auth._sms_rate_refusal(tel, settings);
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF type = 'sms' THEN
    u := auth._user_by_phone(tel);
    IF u.id IS NOT NULL AND u.phone_confirmed_at IS NULL
       AND (u.banned_until IS NULL OR u.banned_until <= now()) THEN
      PERFORM auth._sms_confirmation(u, settings);
    ELSE
      PERFORM auth._sms_decoy(tel, 'sms', settings);
    END IF;
  ELSE
    SELECT * INTO u FROM auth.users x
     WHERE x.phone_change = tel AND x.deleted_at IS NULL AND x.phone_change_sent_at IS NOT NULL
     LIMIT 1;
    IF u.id IS NOT NULL AND (auth._user_by_phone(tel)).id IS NULL THEN
      PERFORM auth._queue_sms(u, 'phone_change', tel, 'phone_change_token', 'phone_change', settings);
      UPDATE auth.users SET phone_change_sent_at = now() WHERE id = u.id;
    ELSE
      PERFORM auth._sms_decoy(tel, 'phone_change', settings);
    END IF;
  END IF;
  RETURN '{}';
END
$$;
COMMENT ON FUNCTION auth.resend_phone(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb)
  IS 'POST /resend with a phone: the confirmation or phone-change code again; {} whether or not it applies';

-- POST /verify {type: sms | phone_change, token, phone}: consumes the code
-- and answers a session (the number confirmed, or changed). A wrong code
-- counts against the pending one, which the fifth burns; every refusal is
-- 403 otp_expired.
CREATE FUNCTION auth.verify_phone(type pg_catalog.text, token pg_catalog.text, phone pg_catalog.text,
                                  settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  types auth.one_time_token_type[] :=
    CASE type WHEN 'sms' THEN ARRAY['confirmation_token', 'recovery_token']::auth.one_time_token_type[]
              WHEN 'phone_change' THEN ARRAY['phone_change_token']::auth.one_time_token_type[] END;
  ttl int := auth._setting_int(settings, 'otp_ttl_s', 600, 10, 600);
  tel text := auth._normalize_phone(phone);
  expired jsonb := auth._err(403, 'otp_expired', 'Token has expired or is invalid');
  t auth.one_time_tokens;
  u auth.users;
  method text;
  refusal jsonb := auth._phone_disabled(settings);
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF types IS NULL THEN
    RETURN auth._err(400, 'validation_failed', 'Verify requires a verification type');
  END IF;
  refusal := auth._rate_refusal('verify', auth._setting_int(settings, 'rate_limit_verify', 0, 0, 1000000));
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF coalesce(token, '') = '' THEN
    RETURN auth._err(400, 'validation_failed', 'Verify requires a token or a token hash');
  END IF;
  IF tel IS NULL THEN
    RETURN auth._phone_invalid();
  END IF;
  -- Guesses back off per number and client (44-limits.sql), a number
  -- without a pending code alike.
  refusal := auth._backoff_refusal(tel, settings);
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  -- The newest pending code sent to this number.
  SELECT * INTO t FROM auth.one_time_tokens o
   WHERE o.token_type = ANY (types) AND o.relates_to = tel
   ORDER BY o.created_at DESC LIMIT 1
   FOR UPDATE;
  PERFORM auth._backoff_note(tel, t.id IS NOT NULL AND auth._code_right(t, verify_phone.token), settings);
  IF t.id IS NULL THEN
    RETURN expired;
  END IF;
  IF NOT auth._code_right(t, verify_phone.token) THEN
    PERFORM auth._code_missed(t, tel, 'phone', 'otp_invalid');  -- 41-mail.sql
    RETURN expired;
  END IF;
  -- Single use, expired or not.
  DELETE FROM auth.one_time_tokens WHERE id = t.id;
  IF t.created_at + make_interval(secs => ttl) < now() THEN
    RETURN expired;
  END IF;
  SELECT * INTO u FROM auth.users x WHERE x.id = t.user_id AND x.deleted_at IS NULL FOR UPDATE;
  IF u.id IS NULL OR (u.banned_until IS NOT NULL AND u.banned_until > now()) THEN
    RETURN expired;
  END IF;
  IF t.token_type = 'phone_change_token' THEN
    IF u.phone_change IS DISTINCT FROM tel OR (auth._user_by_phone(tel)).id IS NOT NULL THEN
      RETURN expired;
    END IF;
    UPDATE auth.users SET phone = phone_change, phone_change = '', phone_change_sent_at = NULL,
                          phone_confirmed_at = now(), updated_at = now()
     WHERE id = u.id;
    UPDATE auth.identities SET identity_data = identity_data || jsonb_build_object('phone', tel, 'phone_verified', true)
     WHERE user_id = u.id AND provider = 'phone';
    PERFORM auth._audit('user_modified', u.id, tel, 'user', '{"phone_changed": true}');
    method := 'phone_change';
  ELSE
    IF u.phone IS DISTINCT FROM tel THEN
      RETURN expired;
    END IF;
    -- Any verified code proves the number.
    UPDATE auth.users SET phone_confirmed_at = coalesce(phone_confirmed_at, now()), updated_at = now()
     WHERE id = u.id;
    UPDATE auth.identities SET identity_data = identity_data || '{"phone_verified": true}'
     WHERE user_id = u.id AND provider = 'phone';
    IF u.phone_confirmed_at IS NULL THEN
      PERFORM auth._audit('user_signedup', u.id, tel, 'team', '{"provider": "phone", "confirmed": true}');
    END IF;
    method := 'otp';
  END IF;
  UPDATE auth.users SET last_sign_in_at = now() WHERE id = u.id RETURNING * INTO u;
  UPDATE auth.identities SET last_sign_in_at = now() WHERE user_id = u.id AND provider = 'phone';
  PERFORM auth._audit('login', u.id, tel, 'account', jsonb_build_object('provider', 'phone', 'method', method));
  RETURN auth._start_session(u, method, settings);
END
$$;
COMMENT ON FUNCTION auth.verify_phone(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb)
  IS 'POST /verify with a phone: consumes a texted code and answers a session';

-- ---------------------------------------------------------------------------
-- Who may call them.

DO $grants$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'auth'::regnamespace
              AND p.proname IN ('sign_up_phone', 'sign_in_phone_password', 'send_sms_otp', 'resend_phone',
                                'verify_phone')
  LOOP
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'auth'::regnamespace
              AND p.proname IN ('sign_up_phone', 'sign_in_phone_password', 'send_sms_otp', 'resend_phone',
                                'verify_phone')
  LOOP
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO anon, authenticated, service_role', f);
  END LOOP;
END
$grants$;
