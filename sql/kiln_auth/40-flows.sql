-- kiln_auth 0.1.0, part 40-flows: the GoTrue flows as SQL functions.
--
-- Sign-up (email + password), anonymous sign-in, the password and
-- refresh-token grants, sign-out, reading and updating the signed-in user,
-- and the admin user API. The daemon's /auth/v1 endpoints are one call each
-- (daemon/src/sql_auth.c); from psql, `SELECT auth.sign_up('a@example.com',
-- 'a long passphrase')` does the same.
--
-- Conventions:
-- * Every flow returns jsonb: the response body of the endpoint (a session,
--   a user, ...) or, for a refused request, {"error": {"status", "code",
--   "message"[, "weak_password"]}} with GoTrue's error code. Refusals are
--   returned, not raised, so that what a refusal writes commits with it: the
--   audit row of a failed sign-in, the revocation of a session whose refresh
--   token was replayed.
-- * Settings arrive as the `settings` argument (jsonb; missing keys take the
--   defaults below), never from global state: signup_enabled (true),
--   anonymous_enabled (false), autoconfirm (false), password_min_length (8,
--   never below 8), access_token_ttl_s (3600, 30..86400),
--   refresh_reuse_interval_s (10, 0..300), session_timebox_s (2592000 = 30
--   days, 0 = none), session_inactivity_timeout_s (604800 = 7 days, 0 =
--   none), rate_limit_sign_in and rate_limit_refresh (requests per 5
--   minutes per client ip; 0, the default, = no limit), issuer (the first
--   of kiln.jwt_issuers).
-- * Who is calling comes from the verified request context
--   (kiln.authenticate): auth.uid(), kiln.session_id(), auth.role(); the
--   client ip and request id for the audit rows from kiln.current_context().
-- * SECURITY DEFINER with search_path pinned; EXECUTE for anon,
--   authenticated and service_role (the roles the daemon runs requests as);
--   the user flows check for a user and the admin flows for service_role
--   themselves, so a wrong caller gets GoTrue's error, not a privilege error.
--   The helpers (auth._*) are executable by their owner only; the small SQL
--   ones carry no SET clause (so the planner can inline them, and they run
--   under the caller's pinned search_path) and schema-qualify what they use.
--
-- Secrets: passwords are stored as argon2id (kiln.hash_password); refresh
-- tokens are 256-bit random strings stored only as SHA-256. A rotated
-- token's successor is derived from it with the session's refresh key
-- (auth.refresh_token_keys), so that a replay inside the reuse window can be
-- answered with the same successor although no token is stored in clear.

-- ---------------------------------------------------------------------------
-- Storage the flows add to the schema.

-- The per-session key that derives a refresh token's successor:
-- successor = b64url(SHA-256(key || SHA-256(key || token))). Without the
-- token (held only by the client) the key derives nothing.
CREATE TABLE auth.refresh_token_keys (
  session_id pg_catalog.uuid PRIMARY KEY REFERENCES auth.sessions (id) ON DELETE CASCADE,
  key        pg_catalog.bytea NOT NULL CHECK (pg_catalog.length(key) OPERATOR(pg_catalog.=) 32)
);
COMMENT ON TABLE auth.refresh_token_keys IS 'per-session key deriving a rotated refresh token''s successor';
REVOKE ALL ON auth.refresh_token_keys FROM PUBLIC;
ALTER TABLE auth.refresh_token_keys ENABLE ROW LEVEL SECURITY;

-- The rate limits' storage (auth.rate_limits) is in 44-limits.sql.

-- ---------------------------------------------------------------------------
-- Helpers (owner only).

CREATE FUNCTION auth._err(status pg_catalog.int4, code pg_catalog.text, message pg_catalog.text,
                          extra pg_catalog.jsonb DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
AS $$
  SELECT pg_catalog.jsonb_build_object('error',
           pg_catalog.jsonb_build_object('status', status, 'code', code, 'message', message)
           OPERATOR(pg_catalog.||) coalesce(extra, '{}'::pg_catalog.jsonb))
$$;
COMMENT ON FUNCTION auth._err(pg_catalog.int4, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb)
  IS 'a refusal as the flows return it: {"error": {status, code, message, ...extra}}';

-- RFC 3339 in UTC with microseconds, as GoTrue writes times.
CREATE FUNCTION auth._ts(t pg_catalog.timestamptz)
RETURNS pg_catalog.text
LANGUAGE sql STABLE STRICT
AS $$
  SELECT pg_catalog.to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE FUNCTION auth._setting_int(settings pg_catalog.jsonb, name pg_catalog.text,
                                  def pg_catalog.int4, lo pg_catalog.int4, hi pg_catalog.int4)
RETURNS pg_catalog.int4
LANGUAGE sql IMMUTABLE
AS $$
  SELECT least(greatest(coalesce(CASE WHEN pg_catalog.jsonb_typeof(settings OPERATOR(pg_catalog.->) name)
                                           OPERATOR(pg_catalog.=) 'number'
                                      THEN (settings OPERATOR(pg_catalog.->>) name)::pg_catalog.numeric::pg_catalog.int4
                                 END, def), lo), hi)
$$;

CREATE FUNCTION auth._setting_bool(settings pg_catalog.jsonb, name pg_catalog.text, def pg_catalog.bool)
RETURNS pg_catalog.bool
LANGUAGE sql IMMUTABLE
AS $$
  SELECT coalesce(CASE WHEN pg_catalog.jsonb_typeof(settings OPERATOR(pg_catalog.->) name)
                            OPERATOR(pg_catalog.=) 'boolean'
                       THEN (settings OPERATOR(pg_catalog.->>) name)::pg_catalog.bool END, def)
$$;

-- A text ip (from the request context) as inet, NULL when it is not one.
CREATE FUNCTION auth._inet(ip pg_catalog.text)
RETURNS pg_catalog.inet
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN ip::inet;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$$;

-- Writes an auth event to auth.audit_log_entries with GoTrue's payload
-- layout, plus the request id and the caller's role from the verified
-- context. (Audit it into kiln.audit_log too with
-- kiln.enable_audit('auth.audit_log_entries').)
CREATE FUNCTION auth._audit(action pg_catalog.text, actor pg_catalog.uuid, actor_username pg_catalog.text,
                            log_type pg_catalog.text, traits pg_catalog.jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ctx jsonb := kiln.current_context();
BEGIN
  INSERT INTO auth.audit_log_entries (payload, ip_address)
  VALUES (jsonb_build_object('action', action,
                             'actor_id', coalesce(actor::text, ''),
                             'actor_username', coalesce(actor_username, ''),
                             'actor_via_sso', false,
                             'log_type', log_type,
                             'traits', coalesce(traits, '{}'::jsonb),
                             'request_id', ctx ->> 'request_id',
                             'actor_role', ctx ->> 'role')::json,
          coalesce(left(ctx ->> 'client_ip', 64), ''));
END
$$;

-- The user object of the wire contract (supabase-wire §3.3).
CREATE FUNCTION auth._user_json(u auth.users)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN jsonb_build_object(
           'id', u.id,
           'aud', coalesce(u.aud, ''),
           'role', coalesce(u.role, ''),
           'email', coalesce(u.email, ''),
           'phone', coalesce(u.phone, ''),
           'app_metadata', coalesce(u.raw_app_meta_data, '{}'::jsonb),
           'user_metadata', coalesce(u.raw_user_meta_data, '{}'::jsonb),
           'identities', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                    'identity_id', i.id, 'id', i.provider_id, 'user_id', i.user_id,
                                    'identity_data', i.identity_data, 'provider', i.provider,
                                    'last_sign_in_at', auth._ts(i.last_sign_in_at),
                                    'created_at', auth._ts(i.created_at),
                                    'updated_at', auth._ts(i.updated_at),
                                    'email', i.email) ORDER BY i.created_at, i.id), '[]'::jsonb)
                            FROM auth.identities i
                           WHERE i.user_id = u.id),
           'created_at', auth._ts(u.created_at),
           'updated_at', auth._ts(u.updated_at),
           'is_anonymous', u.is_anonymous)
      || jsonb_strip_nulls(jsonb_build_object(
           'email_confirmed_at', auth._ts(u.email_confirmed_at),
           'phone_confirmed_at', auth._ts(u.phone_confirmed_at),
           'confirmed_at', auth._ts(u.confirmed_at),
           'confirmation_sent_at', auth._ts(u.confirmation_sent_at),
           'last_sign_in_at', auth._ts(u.last_sign_in_at),
           'banned_until', auth._ts(u.banned_until),
           'deleted_at', auth._ts(u.deleted_at),
           'factors', auth._factors_json(u.id)));  -- 42-mfa.sql
END
$$;

-- Why a new password is refused: {"error": ...} (422 weak_password with
-- reasons length / pwned) or NULL when it is acceptable. Exactly as typed:
-- no trimming, no case folding.
CREATE FUNCTION auth._password_refusal(password pg_catalog.text, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  min_len int := auth._setting_int(settings, 'password_min_length', 8, 8, 1024);
  reasons text[] := '{}';
BEGIN
  IF password IS NULL OR password = '' THEN
    RETURN auth._err(422, 'weak_password', format('Password should be at least %s characters.', min_len),
                     jsonb_build_object('weak_password', jsonb_build_object('reasons', ARRAY['length'])));
  END IF;
  IF octet_length(password) > 4096 THEN
    RETURN auth._err(400, 'validation_failed', 'Password cannot be longer than 4096 bytes.');
  END IF;
  IF char_length(password) < min_len THEN
    reasons := reasons || 'length'::text;
  END IF;
  IF EXISTS (SELECT 1 FROM auth.password_blocklist b WHERE b.password = _password_refusal.password) THEN
    reasons := reasons || 'pwned'::text;
  END IF;
  IF cardinality(reasons) = 0 THEN
    RETURN NULL;
  END IF;
  RETURN auth._err(422, 'weak_password',
                   CASE WHEN 'length' = ANY (reasons)
                        THEN format('Password should be at least %s characters.', min_len)
                        ELSE 'Password is known to be weak and easy to guess, please choose a different one.' END,
                   jsonb_build_object('weak_password', jsonb_build_object('reasons', to_jsonb(reasons))));
END
$$;

-- An email address as stored (trimmed, lower case), or NULL when it is not
-- one.
CREATE FUNCTION auth._normalize_email(email pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT CASE WHEN e OPERATOR(pg_catalog.~) '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+$'
                   AND pg_catalog.octet_length(e) OPERATOR(pg_catalog.<=) 255
              THEN e END
    FROM (SELECT pg_catalog.lower(pg_catalog.btrim(email)) AS e) x
$$;

-- Metadata must be a JSON object and small: it rides in every access token,
-- and a token larger than kiln.verify_jwt's 8192-byte limit would be
-- refused. NULL when v (null or absent) is acceptable, else the refusal.
CREATE FUNCTION auth._metadata_refusal(v pg_catalog.jsonb, name pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
AS $$
  SELECT CASE WHEN v IS NULL OR pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.=) 'null' THEN NULL
              WHEN pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'object'
              THEN auth._err(400, 'validation_failed', name OPERATOR(pg_catalog.||) ' must be a JSON object')
              WHEN pg_catalog.octet_length(v::pg_catalog.text) OPERATOR(pg_catalog.>) 2048
              THEN auth._err(400, 'validation_failed',
                             name OPERATOR(pg_catalog.||) ' is too large (at most 2048 bytes of JSON)')
         END
$$;

-- The successor of a refresh token under a session's key: the definition
-- the refresh grant implements in C (extension/auth_refresh.c; the
-- auth_refresh regress test checks that they agree). (STABLE, not
-- IMMUTABLE, like convert_to: so the planner inlines these two.)
CREATE FUNCTION auth._successor(key pg_catalog.bytea, token pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql STABLE STRICT
AS $$
  SELECT pg_catalog.translate(pg_catalog.rtrim(pg_catalog.encode(pg_catalog.sha256(
           key OPERATOR(pg_catalog.||) pg_catalog.sha256(key OPERATOR(pg_catalog.||)
                                                         pg_catalog.convert_to(token, 'UTF8'))),
           'base64'), '='), '+/', '-_')
$$;

CREATE FUNCTION auth._token_hash(token pg_catalog.text)
RETURNS pg_catalog.bytea
LANGUAGE sql STABLE STRICT
AS $$
  SELECT pg_catalog.sha256(pg_catalog.convert_to(token, 'UTF8'))
$$;

-- A session response: a fresh access token for user u in session sid, with
-- the given refresh token (supabase-wire §3.3, claims §3.4). One statement
-- reads the session's aal and amr with the user's claims; the tenant comes
-- from kiln.default_tenant. It runs on every sign-in and refresh.
CREATE FUNCTION auth._session_json(u auth.users, sid pg_catalog.uuid, refresh_token pg_catalog.text,
                                   settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ttl int := auth._setting_int(settings, 'access_token_ttl_s', 3600, 30, 86400);
  iat bigint := floor(extract(epoch FROM now()))::bigint;
  issuer text := coalesce(nullif(settings ->> 'issuer', ''),
                          nullif(btrim(split_part(current_setting('kiln.jwt_issuers', true), ',', 1)), ''),
                          'kiln');
  claims jsonb;
  tenant uuid;
BEGIN
  SELECT jsonb_build_object(
           'iss', issuer, 'sub', u.id, 'aud', coalesce(u.aud, 'authenticated'),
           'exp', iat + ttl, 'iat', iat,
           'email', coalesce(u.email, ''), 'phone', coalesce(u.phone, ''),
           'app_metadata', coalesce(u.raw_app_meta_data, '{}'::jsonb),
           'user_metadata', coalesce(u.raw_user_meta_data, '{}'::jsonb),
           -- Always authenticated: a sign-in never mints service_role,
           -- whatever a seed wrote into auth.users.role.
           'role', 'authenticated',
           'aal', coalesce(s.aal, 'aal1')::text,
           'amr', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                     'method', c.authentication_method,
                                     'timestamp', floor(extract(epoch FROM c.created_at))::bigint)
                                   ORDER BY c.created_at DESC), '[]'::jsonb)
                     FROM auth.mfa_amr_claims c WHERE c.session_id = sid),
           'session_id', sid, 'is_anonymous', u.is_anonymous)
    INTO claims
    FROM (SELECT NULL) one LEFT JOIN auth.sessions s ON s.id = sid;
  -- The tenant claim (kiln_access): the user's only tenant, if any.
  IF to_regprocedure('kiln.default_tenant(uuid)') IS NOT NULL THEN
    tenant := kiln.default_tenant(u.id);
    IF tenant IS NOT NULL THEN
      claims := claims || jsonb_build_object('tenant_id', tenant);
    END IF;
  END IF;
  RETURN jsonb_build_object(
    'access_token', kiln.sign_jwt(claims),
    'token_type', 'bearer',
    'expires_in', ttl,
    'expires_at', iat + ttl,
    'refresh_token', refresh_token,
    'user', auth._user_json(u));
END
$$;

-- Starts a session for user u signed in by method (password, anonymous):
-- the session row, its refresh key, its amr claim and a first refresh
-- token. Returns the session response.
CREATE FUNCTION auth._start_session(u auth.users, method pg_catalog.text, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  sid uuid;
  token text := kiln.random_token(32);
BEGIN
  INSERT INTO auth.sessions (user_id, aal, ip, refreshed_at, not_after)
  VALUES (u.id, 'aal1', auth._inet(kiln.current_context() ->> 'client_ip'), now() AT TIME ZONE 'UTC',
          now() + make_interval(secs => nullif(auth._setting_int(settings, 'session_timebox_s',
                                                                 2592000, 0, 315360000), 0)))
  RETURNING id INTO sid;
  INSERT INTO auth.refresh_token_keys (session_id, key)
  VALUES (sid, decode(translate(kiln.random_token(32), '-_', '+/') || '=', 'base64'));
  INSERT INTO auth.mfa_amr_claims (session_id, authentication_method) VALUES (sid, method);
  INSERT INTO auth.refresh_tokens (token_hash, user_id, session_id)
  VALUES (auth._token_hash(token), u.id, sid);
  RETURN auth._session_json(u, sid, token, settings);
END
$$;

-- "1h30m", "24h", "90s", "none" (Go durations, as GoTrue's ban_duration):
-- an interval, NULL for none; raises 22023 on anything else.
CREATE FUNCTION auth._duration(d pg_catalog.text)
RETURNS pg_catalog.interval
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  m text[];
  total interval := '0';
BEGIN
  IF d = 'none' THEN
    RETURN NULL;
  END IF;
  IF d IS NULL OR d !~ '^([0-9]+(\.[0-9]+)?(h|m|s|ms|us|ns))+$' THEN
    RAISE EXCEPTION 'invalid duration' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR m IN SELECT regexp_matches(d, '([0-9]+(?:\.[0-9]+)?)(h|ms|us|ns|m|s)', 'g') LOOP
    total := total + m[1]::numeric * CASE m[2] WHEN 'h' THEN interval '1 hour'
                                               WHEN 'm' THEN interval '1 minute'
                                               WHEN 's' THEN interval '1 second'
                                               WHEN 'ms' THEN interval '1 millisecond'
                                               ELSE interval '1 microsecond' / 1000 END;
  END LOOP;
  RETURN total;
END
$$;

-- auth._rate_refusal(kind, per_5min), the per-ip limits, and the
-- per-account backoff are in 44-limits.sql.

-- NULL when the caller may use the admin API (service_role, or SQL without
-- a request context), else the not_admin refusal.
CREATE FUNCTION auth._admin_refusal()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
AS $$
  SELECT CASE WHEN auth.role() IS NULL OR auth.role() OPERATOR(pg_catalog.=) 'service_role' THEN NULL
              ELSE auth._err(403, 'not_admin', 'User not allowed') END
$$;

-- The steps of a password grant, shared by the email grant
-- (auth.sign_in_password) and the phone grant (auth.sign_in_phone_password,
-- 46-phone.sql): each flow states only how it finds the account and what
-- "confirmed" means for it. provider ('email', 'phone') names the identity
-- in the audit rows; the other arguments are the login as the client sent
-- it (login), as the audit rows show it before it is normalized (shown),
-- normalized (key, NULL when malformed), and the subject of its backoff
-- (backoff_key, 44-limits.sql).

-- Before the account is looked up: the per-ip sign_in bucket, the missing
-- login or password, and the login's backoff. NULL or the refusal (the
-- limits audited as login_failed).
CREATE FUNCTION auth._password_gate(provider pg_catalog.text, login pg_catalog.text, shown pg_catalog.text,
                                    key pg_catalog.text, backoff_key pg_catalog.text,
                                    password pg_catalog.text, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._rate_refusal('sign_in', auth._setting_int(settings, 'rate_limit_sign_in', 0, 0, 1000000));
BEGIN
  IF refusal IS NOT NULL THEN
    PERFORM auth._audit('login_failed', NULL, shown, 'account',
                        jsonb_build_object('provider', provider, 'reason', 'over_request_rate_limit'));
    RETURN refusal;
  END IF;
  IF login IS NULL OR btrim(login) = '' OR password IS NULL THEN
    RETURN auth._err(400, 'validation_failed', 'missing email or phone');
  END IF;
  refusal := auth._backoff_refusal(backoff_key, settings);  -- 44-limits.sql
  IF refusal IS NOT NULL THEN
    PERFORM auth._audit('login_failed', NULL, coalesce(key, shown), 'account',
                        jsonb_build_object('provider', provider, 'reason', 'backoff'));
    RETURN refusal;
  END IF;
  RETURN NULL;
END
$$;

-- The password of user u (a row of NULLs when the login is unknown). An
-- unknown login costs one verification against a dummy hash
-- (kiln.verify_password with a NULL hash) and is refused with the same
-- status and body as a wrong password; the outcome counts for the backoff.
-- Then a banned user is refused. NULL or the refusal, audited as
-- login_failed.
CREATE FUNCTION auth._password_check(provider pg_catalog.text, u auth.users, password pg_catalog.text,
                                     shown pg_catalog.text, key pg_catalog.text, backoff_key pg_catalog.text,
                                     settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ok bool := coalesce(kiln.verify_password(password, u.encrypted_password), false);
BEGIN
  PERFORM auth._backoff_note(backoff_key, ok, settings);
  IF NOT ok THEN
    PERFORM auth._audit('login_failed', u.id, coalesce(key, shown), 'account',
                        jsonb_build_object('provider', provider, 'reason', 'invalid_credentials'));
    RETURN auth._err(400, 'invalid_credentials', 'Invalid login credentials');
  END IF;
  IF u.banned_until IS NOT NULL AND u.banned_until > now() THEN
    PERFORM auth._audit('login_failed', u.id, key, 'account',
                        jsonb_build_object('provider', provider, 'reason', 'user_banned'));
    RETURN auth._err(400, 'user_banned', 'User is banned');
  END IF;
  RETURN NULL;
END
$$;

-- Signs user u in once its password passed: bcrypt imports and hashes
-- made with older parameters become argon2id at the current parameters,
-- the user and its provider identity record the sign-in, the login is
-- audited, and the session starts.
CREATE FUNCTION auth._password_login(provider pg_catalog.text, u auth.users, password pg_catalog.text,
                                     key pg_catalog.text, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF kiln.password_needs_rehash(u.encrypted_password) THEN
    UPDATE auth.users x SET encrypted_password = kiln.hash_password(password) WHERE x.id = u.id;
  END IF;
  UPDATE auth.users x SET last_sign_in_at = now() WHERE x.id = u.id RETURNING * INTO u;
  UPDATE auth.identities i SET last_sign_in_at = now()
   WHERE i.user_id = u.id AND i.provider = _password_login.provider;
  PERFORM auth._audit('login', u.id, key, 'account', jsonb_build_object('provider', provider));
  RETURN auth._start_session(u, 'password', settings);
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
-- Sign-up and sign-in.

CREATE FUNCTION auth.sign_up(email pg_catalog.text, password pg_catalog.text,
                             data pg_catalog.jsonb DEFAULT '{}', settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  addr text := auth._normalize_email(email);
  autoconfirm bool := auth._setting_bool(settings, 'autoconfirm', false);
  refusal jsonb;
  hash text;
  u auth.users;
BEGIN
  IF NOT auth._setting_bool(settings, 'signup_enabled', true) THEN
    RETURN auth._err(422, 'signup_disabled', 'Signups not allowed for this instance');
  END IF;
  refusal := auth._rate_refusal('sign_in', auth._setting_int(settings, 'rate_limit_sign_in', 0, 0, 1000000));
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF email IS NULL OR btrim(email) = '' THEN
    RETURN auth._err(400, 'validation_failed', 'To signup, please provide your email');
  END IF;
  IF addr IS NULL THEN
    RETURN auth._err(400, 'validation_failed', 'Unable to validate email address: invalid format');
  END IF;
  refusal := coalesce(auth._metadata_refusal(data, 'data'), auth._password_refusal(password, settings),
                      CASE WHEN NOT autoconfirm THEN auth._email_interval_refusal(addr, settings) END);
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  -- Hashed whether or not the address is taken: the same cost either way.
  hash := kiln.hash_password(password);
  BEGIN
    INSERT INTO auth.users (email, encrypted_password, raw_app_meta_data, raw_user_meta_data,
                            email_confirmed_at, confirmation_sent_at)
    VALUES (addr, hash, '{"provider": "email", "providers": ["email"]}', coalesce(data, '{}'),
            CASE WHEN autoconfirm THEN now() END, CASE WHEN NOT autoconfirm THEN now() END)
    RETURNING * INTO u;
  EXCEPTION WHEN unique_violation THEN
    u := NULL;
  END;
  IF u.id IS NULL THEN
    PERFORM auth._audit('user_repeated_signup', NULL, addr, 'user', '{"provider": "email"}');
    IF autoconfirm THEN
      RETURN auth._err(422, 'user_already_exists', 'User already registered');
    END IF;
    PERFORM auth._mail_decoy(addr, 'signup', settings);  -- 44-limits.sql: the work a new address's mail costs
    -- With confirmations on, GoTrue answers a taken address with a user
    -- object that looks like a new one (and sends no session). Its
    -- identities too (GoTrue's is empty, which tells the address is
    -- taken), so the answer is the same as for a new address.
    u.id := gen_random_uuid();
    RETURN jsonb_build_object(
      'id', u.id, 'aud', 'authenticated', 'role', 'authenticated', 'email', addr,
      'phone', '', 'confirmation_sent_at', auth._ts(now()),
      'app_metadata', '{"provider": "email", "providers": ["email"]}'::jsonb,
      'user_metadata', coalesce(data, '{}'),
      'identities', jsonb_build_array(jsonb_build_object(
        'identity_id', gen_random_uuid(), 'id', u.id::text, 'user_id', u.id,
        'identity_data', jsonb_build_object('sub', u.id::text, 'email', addr, 'email_verified', false,
                                            'phone_verified', false),
        'provider', 'email', 'last_sign_in_at', NULL, 'created_at', auth._ts(now()),
        'updated_at', auth._ts(now()), 'email', addr)),
      'created_at', auth._ts(now()), 'updated_at', auth._ts(now()), 'is_anonymous', false);
  END IF;
  INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at)
  VALUES (u.id::text, u.id,
          jsonb_build_object('sub', u.id::text, 'email', addr, 'email_verified', autoconfirm,
                             'phone_verified', false),
          'email', CASE WHEN autoconfirm THEN now() END);
  PERFORM auth._audit('user_signedup', u.id, addr, 'team', '{"provider": "email"}');
  IF NOT autoconfirm THEN
    PERFORM auth._mail_confirmation(u, settings);  -- 41-mail.sql
    RETURN auth._user_json(u);
  END IF;
  UPDATE auth.users SET last_sign_in_at = now() WHERE id = u.id RETURNING * INTO u;
  PERFORM auth._audit('login', u.id, addr, 'account', '{"provider": "email"}');
  RETURN auth._start_session(u, 'password', settings);
END
$$;
COMMENT ON FUNCTION auth.sign_up(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.jsonb)
  IS 'POST /signup with email and password: a session (autoconfirm) or the new user; refusals as {"error": ...}';

CREATE FUNCTION auth.sign_in_anonymously(data pg_catalog.jsonb DEFAULT '{}', settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  u auth.users;
  refusal jsonb;
BEGIN
  IF NOT auth._setting_bool(settings, 'anonymous_enabled', false) THEN
    RETURN auth._err(422, 'anonymous_provider_disabled', 'Anonymous sign-ins are disabled');
  END IF;
  refusal := coalesce(auth._rate_refusal('sign_in', auth._setting_int(settings, 'rate_limit_sign_in', 0, 0, 1000000)),
                      auth._metadata_refusal(data, 'data'));
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  INSERT INTO auth.users (is_anonymous, raw_app_meta_data, raw_user_meta_data, last_sign_in_at)
  VALUES (true, '{}', coalesce(data, '{}'), now())
  RETURNING * INTO u;
  PERFORM auth._audit('user_signedup', u.id, '', 'team', '{"provider": "anonymous"}');
  PERFORM auth._audit('login', u.id, '', 'account', '{"provider": "anonymous"}');
  RETURN auth._start_session(u, 'anonymous', settings);
END
$$;
COMMENT ON FUNCTION auth.sign_in_anonymously(pg_catalog.jsonb, pg_catalog.jsonb)
  IS 'POST /signup without email or phone: a session for a new anonymous user (when anonymous_enabled)';

CREATE FUNCTION auth.sign_in_password(email pg_catalog.text, password pg_catalog.text,
                                      settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  addr text := auth._normalize_email(email);
  shown text := left(email, 255);
  backoff_key text := coalesce(addr, lower(left(email, 255)));
  u auth.users;
  refusal jsonb := auth._password_gate('email', email, shown, addr, backoff_key, password, settings);
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF addr IS NOT NULL THEN
    u := auth._user_by_email(addr);  -- 41-mail.sql
  END IF;
  refusal := auth._password_check('email', u, password, shown, addr, backoff_key, settings);
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF u.email_confirmed_at IS NULL AND NOT auth._setting_bool(settings, 'autoconfirm', false) THEN
    PERFORM auth._audit('login_failed', u.id, addr, 'account',
                        jsonb_build_object('provider', 'email', 'reason', 'email_not_confirmed'));
    RETURN auth._err(400, 'email_not_confirmed', 'Email not confirmed');
  END IF;
  RETURN auth._password_login('email', u, password, addr, settings);
END
$$;
COMMENT ON FUNCTION auth.sign_in_password(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb)
  IS 'POST /token?grant_type=password: a new session; unknown address and wrong password look the same';

-- The refresh-token grant. Rotation: the token is revoked and replaced by
-- its successor. A revoked token presented again gets the session's active
-- token back (not a new one) when it was revoked less than
-- refresh_reuse_interval_s ago or when it is the active token's parent
-- (the client lost the answer to its last refresh); any other reuse
-- revokes the whole session (its access tokens included). Banned and
-- deleted users get nothing; sessions past session_timebox_s or idle for
-- session_inactivity_timeout_s end. Written in C
-- (extension/auth_refresh.c, docs/auth.md Performance): the same rules and
-- audit rows, its statements prepared once per backend, and the session
-- response built as auth._session_json builds it.
CREATE FUNCTION auth.refresh_session(refresh_token pg_catalog.text, settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'kiln_refresh_session';
COMMENT ON FUNCTION auth.refresh_session(pg_catalog.text, pg_catalog.jsonb)
  IS 'POST /token?grant_type=refresh_token: rotation with a reuse window; other reuse revokes the session';

-- ---------------------------------------------------------------------------
-- The signed-in user (a request authenticated with the user's access token).

CREATE FUNCTION auth.sign_out(scope pg_catalog.text DEFAULT 'global')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  uid uuid := auth.uid();
  sid uuid := kiln.session_id();
  n bigint;
BEGIN
  IF uid IS NULL THEN
    RETURN auth._err(401, 'no_authorization', 'This endpoint requires a valid Bearer token');
  END IF;
  IF scope IS NULL OR scope NOT IN ('global', 'local', 'others') THEN
    RETURN auth._err(400, 'validation_failed', 'Unsupported logout scope; use global, local or others');
  END IF;
  DELETE FROM auth.sessions
   WHERE user_id = uid
     AND CASE scope WHEN 'global' THEN true
                    WHEN 'local' THEN id = sid
                    ELSE id IS DISTINCT FROM sid END;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM auth._audit('logout', uid, (SELECT email FROM auth.users WHERE id = uid), 'account',
                      jsonb_build_object('scope', scope, 'sessions', n));
  RETURN '{}';
END
$$;
COMMENT ON FUNCTION auth.sign_out(pg_catalog.text)
  IS 'POST /logout: ends the caller''s sessions (global), this one (local) or the others; their access tokens are refused from commit';

CREATE FUNCTION auth.get_user()
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  u auth.users;
BEGIN
  IF auth.uid() IS NULL THEN
    RETURN auth._err(403, 'bad_jwt', 'invalid claim: missing sub claim');
  END IF;
  SELECT * INTO u FROM auth.users WHERE id = auth.uid() AND deleted_at IS NULL;
  IF u.id IS NULL THEN
    RETURN auth._err(403, 'user_not_found', 'User from sub claim in JWT does not exist');
  END IF;
  RETURN auth._user_json(u);
END
$$;
COMMENT ON FUNCTION auth.get_user() IS 'GET /user: the signed-in user';

-- attrs: {"data": {...}} merges into user_metadata (a null value removes
-- the key); {"password": "..."} sets a new password (policy checked; the
-- same password again is refused; every other session ends);
-- {"email": "..."} starts an email change confirmed by mail (41-mail.sql);
-- {"phone": "..."} a phone change confirmed by a texted code (46-phone.sql).
CREATE FUNCTION auth.update_user(attrs pg_catalog.jsonb, settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  u auth.users;
  refusal jsonb;
  pw text;
BEGIN
  IF auth.uid() IS NULL THEN
    RETURN auth._err(403, 'bad_jwt', 'invalid claim: missing sub claim');
  END IF;
  IF attrs IS NULL OR jsonb_typeof(attrs) <> 'object' THEN
    RETURN auth._err(400, 'validation_failed', 'the request body must be a JSON object');
  END IF;
  SELECT * INTO u FROM auth.users WHERE id = auth.uid() AND deleted_at IS NULL FOR UPDATE;
  IF u.id IS NULL THEN
    RETURN auth._err(403, 'user_not_found', 'User from sub claim in JWT does not exist');
  END IF;
  -- Checked before anything is written: the data as merged.
  refusal := coalesce(auth._metadata_refusal(attrs -> 'data', 'data'),
                      CASE WHEN jsonb_typeof(attrs -> 'data') = 'object'
                           THEN auth._metadata_refusal(coalesce(u.raw_user_meta_data, '{}'::jsonb) || (attrs -> 'data'),
                                                       'user_metadata') END,
                      CASE WHEN jsonb_typeof(attrs -> 'email') = 'string'
                           THEN auth._email_change_refusal(u, attrs ->> 'email') END,  -- 41-mail.sql
                      CASE WHEN jsonb_typeof(attrs -> 'phone') = 'string'
                           THEN auth._phone_change_refusal(u, attrs ->> 'phone', settings) END);  -- 46-phone.sql
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF jsonb_typeof(attrs -> 'password') = 'string' THEN
    pw := attrs ->> 'password';
    refusal := auth._password_refusal(pw, settings);
    IF refusal IS NOT NULL THEN
      RETURN refusal;
    END IF;
    IF u.encrypted_password IS NOT NULL AND kiln.verify_password(pw, u.encrypted_password) THEN
      RETURN auth._err(422, 'same_password', 'New password should be different from the old password.');
    END IF;
    UPDATE auth.users SET encrypted_password = kiln.hash_password(pw), updated_at = now()
     WHERE id = u.id;
    -- A new password ends every other session (a recovery's too).
    DELETE FROM auth.sessions WHERE user_id = u.id AND id IS DISTINCT FROM kiln.session_id();
    PERFORM auth._audit('user_updated_password', u.id, u.email, 'user');
  ELSIF attrs ? 'password' AND jsonb_typeof(attrs -> 'password') <> 'null' THEN
    RETURN auth._err(400, 'validation_failed', 'password must be a string');
  END IF;
  IF jsonb_typeof(attrs -> 'data') = 'object' THEN
    UPDATE auth.users
       SET raw_user_meta_data = (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
                                   FROM jsonb_each(coalesce(raw_user_meta_data, '{}'::jsonb) || (attrs -> 'data')) e
                                  WHERE jsonb_typeof(e.value) <> 'null'),
           updated_at = now()
     WHERE id = u.id;
    PERFORM auth._audit('user_modified', u.id, u.email, 'user');
  END IF;
  -- An email change waits for the confirmation mail (41-mail.sql).
  IF jsonb_typeof(attrs -> 'email') = 'string' THEN
    refusal := auth._mail_email_change(u, attrs ->> 'email', settings);
    IF refusal IS NOT NULL THEN
      RETURN refusal;
    END IF;
  END IF;
  -- A phone change waits for the code texted to the new number (46-phone.sql).
  IF jsonb_typeof(attrs -> 'phone') = 'string' THEN
    refusal := auth._sms_phone_change(u, attrs ->> 'phone', settings);
    IF refusal IS NOT NULL THEN
      RETURN refusal;
    END IF;
  END IF;
  SELECT * INTO u FROM auth.users WHERE id = u.id;
  RETURN auth._user_json(u) || jsonb_strip_nulls(jsonb_build_object(
           'new_email', nullif(u.email_change, ''), 'email_change_sent_at', auth._ts(u.email_change_sent_at),
           'new_phone', nullif(u.phone_change, ''), 'phone_change_sent_at', auth._ts(u.phone_change_sent_at)));
END
$$;
COMMENT ON FUNCTION auth.update_user(pg_catalog.jsonb, pg_catalog.jsonb)
  IS 'PUT /user: user_metadata (data) and password of the signed-in user';

-- ---------------------------------------------------------------------------
-- Admin (service_role).

-- Applies the admin attributes shared by create and update to user id.
-- Returns a refusal or NULL.
CREATE FUNCTION auth._admin_apply(uid pg_catalog.uuid, attrs pg_catalog.jsonb, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb;
  ban interval;
BEGIN
  IF jsonb_typeof(attrs -> 'password') = 'string' THEN
    refusal := auth._password_refusal(attrs ->> 'password', settings);
    IF refusal IS NOT NULL THEN
      RETURN refusal;
    END IF;
    UPDATE auth.users SET encrypted_password = kiln.hash_password(attrs ->> 'password') WHERE id = uid;
  END IF;
  IF jsonb_typeof(attrs -> 'password_hash') = 'string' THEN
    -- An imported hash (argon2id, argon2i, bcrypt): kept until the next
    -- sign-in rehashes it.
    IF (attrs ->> 'password_hash') !~ '^\$(argon2id|argon2i|2a|2b|2y)\$' THEN
      RETURN auth._err(400, 'validation_failed', 'password_hash must be an argon2 or bcrypt hash');
    END IF;
    UPDATE auth.users SET encrypted_password = attrs ->> 'password_hash' WHERE id = uid;
  END IF;
  refusal := coalesce(auth._metadata_refusal(attrs -> 'user_metadata', 'user_metadata'),
                      auth._metadata_refusal(attrs -> 'app_metadata', 'app_metadata'));
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF jsonb_typeof(attrs -> 'user_metadata') = 'object' THEN
    UPDATE auth.users SET raw_user_meta_data = coalesce(raw_user_meta_data, '{}'::jsonb) || (attrs -> 'user_metadata')
     WHERE id = uid;
  END IF;
  IF jsonb_typeof(attrs -> 'app_metadata') = 'object' THEN
    UPDATE auth.users SET raw_app_meta_data = coalesce(raw_app_meta_data, '{}'::jsonb) || (attrs -> 'app_metadata')
     WHERE id = uid;
  END IF;
  IF (attrs -> 'email_confirm') = 'true'::jsonb THEN
    UPDATE auth.users SET email_confirmed_at = coalesce(email_confirmed_at, now()) WHERE id = uid;
  END IF;
  IF (attrs -> 'phone_confirm') = 'true'::jsonb THEN
    UPDATE auth.users SET phone_confirmed_at = coalesce(phone_confirmed_at, now()) WHERE id = uid;
  END IF;
  IF jsonb_typeof(attrs -> 'role') = 'string' THEN
    IF attrs ->> 'role' NOT IN ('authenticated') THEN
      RETURN auth._err(400, 'validation_failed', 'role must be authenticated');
    END IF;
  END IF;
  IF jsonb_typeof(attrs -> 'ban_duration') = 'string' THEN
    BEGIN
      ban := auth._duration(attrs ->> 'ban_duration');
    EXCEPTION WHEN invalid_parameter_value THEN
      RETURN auth._err(400, 'validation_failed', 'invalid format for ban duration: use a duration like 24h, or none');
    END;
    UPDATE auth.users SET banned_until = CASE WHEN ban IS NULL THEN NULL ELSE now() + ban END WHERE id = uid;
    IF ban IS NOT NULL THEN
      -- A ban ends the user's sessions (and their access tokens) now.
      DELETE FROM auth.sessions WHERE user_id = uid;
    END IF;
  END IF;
  -- As merged (the caller undoes everything on a refusal).
  SELECT coalesce(auth._metadata_refusal(raw_user_meta_data, 'user_metadata'),
                  auth._metadata_refusal(raw_app_meta_data, 'app_metadata'))
    INTO refusal FROM auth.users WHERE id = uid;
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  UPDATE auth.users SET updated_at = now() WHERE id = uid;
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION auth._admin_apply(pg_catalog.uuid, pg_catalog.jsonb, pg_catalog.jsonb) FROM PUBLIC;

-- attrs as POST /admin/users takes them: email, password or password_hash,
-- phone, email_confirm, phone_confirm, user_metadata, app_metadata, role
-- (authenticated), ban_duration, id.
CREATE FUNCTION auth.admin_create_user(attrs pg_catalog.jsonb, settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._admin_refusal();
  addr text;
  tel text;
  new_id uuid;
  u auth.users;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF attrs IS NULL OR jsonb_typeof(attrs) <> 'object' THEN
    RETURN auth._err(400, 'validation_failed', 'the request body must be a JSON object');
  END IF;
  IF jsonb_typeof(attrs -> 'email') = 'string' AND attrs ->> 'email' <> '' THEN
    addr := auth._normalize_email(attrs ->> 'email');
    IF addr IS NULL THEN
      RETURN auth._err(400, 'validation_failed', 'Unable to validate email address: invalid format');
    END IF;
  END IF;
  IF jsonb_typeof(attrs -> 'phone') = 'string' AND attrs ->> 'phone' <> '' THEN
    tel := auth._normalize_phone(attrs ->> 'phone');  -- 46-phone.sql
    IF tel IS NULL THEN
      RETURN auth._err(400, 'validation_failed', 'Invalid phone number format (E.164 required)');
    END IF;
  END IF;
  IF addr IS NULL AND tel IS NULL THEN
    RETURN auth._err(400, 'validation_failed', 'Unable to validate email address: invalid format');
  END IF;
  BEGIN
    new_id := coalesce((attrs ->> 'id')::uuid, gen_random_uuid());
  EXCEPTION WHEN invalid_text_representation THEN
    RETURN auth._err(400, 'validation_failed', 'id must be a uuid');
  END;
  BEGIN
    INSERT INTO auth.users (id, email, phone, raw_app_meta_data, raw_user_meta_data)
    VALUES (new_id, addr, tel,
            jsonb_build_object('provider', CASE WHEN addr IS NOT NULL THEN 'email' ELSE 'phone' END,
                               'providers', jsonb_build_array(CASE WHEN addr IS NOT NULL THEN 'email' ELSE 'phone' END)),
            '{}')
    RETURNING * INTO u;
  EXCEPTION WHEN unique_violation THEN
    IF addr IS NOT NULL AND EXISTS (SELECT 1 FROM auth.users x WHERE lower(x.email) = addr AND x.email IS NOT NULL AND NOT x.is_sso_user) THEN
      RETURN auth._err(422, 'email_exists', 'A user with this email address has already been registered');
    ELSIF tel IS NOT NULL AND EXISTS (SELECT 1 FROM auth.users x WHERE x.phone = tel) THEN
      RETURN auth._err(422, 'phone_exists', 'A user with this phone number has already been registered');
    END IF;
    RETURN auth._err(422, 'user_already_exists', 'User already registered');
  END;
  -- Nothing of a refused user stays.
  BEGIN
    refusal := auth._admin_apply(u.id, attrs, settings);
    IF refusal IS NOT NULL THEN
      RAISE EXCEPTION 'refused' USING ERRCODE = 'KLA01';
    END IF;
  EXCEPTION WHEN SQLSTATE 'KLA01' THEN
    DELETE FROM auth.users WHERE id = u.id;
    RETURN refusal;
  END;
  INSERT INTO auth.identities (provider_id, user_id, identity_data, provider)
  VALUES (u.id::text, u.id,
          jsonb_build_object('sub', u.id::text, 'email', addr, 'email_verified', (attrs -> 'email_confirm') = 'true'::jsonb,
                             'phone_verified', (attrs -> 'phone_confirm') = 'true'::jsonb)
            || CASE WHEN tel IS NOT NULL THEN jsonb_build_object('phone', tel) ELSE '{}'::jsonb END,
          CASE WHEN addr IS NOT NULL THEN 'email' ELSE 'phone' END);
  PERFORM auth._audit('user_signedup', u.id, coalesce(addr, tel), 'team',
                      jsonb_build_object('provider', 'admin', 'user_id', u.id));
  SELECT * INTO u FROM auth.users WHERE id = u.id;
  RETURN auth._user_json(u);
END
$$;
COMMENT ON FUNCTION auth.admin_create_user(pg_catalog.jsonb, pg_catalog.jsonb)
  IS 'POST /admin/users (service_role): a new user';

-- One page of users, oldest first: {"users": [...], "aud": "authenticated",
-- "total": N} (the daemon moves total to X-Total-Count).
CREATE FUNCTION auth.admin_list_users(page pg_catalog.int4 DEFAULT 1, per_page pg_catalog.int4 DEFAULT 50)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._admin_refusal();
  p int := greatest(coalesce(page, 1), 1);
  n int := least(greatest(coalesce(per_page, 50), 1), 1000);
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  RETURN jsonb_build_object(
    'users', (SELECT coalesce(jsonb_agg(auth._user_json(x) ORDER BY x.created_at, x.id), '[]'::jsonb)
                FROM (SELECT * FROM auth.users WHERE deleted_at IS NULL
                       ORDER BY created_at, id OFFSET (p::bigint - 1) * n LIMIT n) x),
    'aud', 'authenticated',
    'total', (SELECT count(*) FROM auth.users WHERE deleted_at IS NULL));
END
$$;
COMMENT ON FUNCTION auth.admin_list_users(pg_catalog.int4, pg_catalog.int4)
  IS 'GET /admin/users (service_role): a page of users and the total';

CREATE FUNCTION auth.admin_get_user(id pg_catalog.uuid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._admin_refusal();
  u auth.users;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  SELECT * INTO u FROM auth.users x WHERE x.id = admin_get_user.id;
  IF u.id IS NULL THEN
    RETURN auth._err(404, 'user_not_found', 'User not found');
  END IF;
  RETURN auth._user_json(u);
END
$$;
COMMENT ON FUNCTION auth.admin_get_user(pg_catalog.uuid) IS 'GET /admin/users/<id> (service_role)';

CREATE FUNCTION auth.admin_update_user(id pg_catalog.uuid, attrs pg_catalog.jsonb,
                                       settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._admin_refusal();
  u auth.users;
  addr text;
  tel text;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF attrs IS NULL OR jsonb_typeof(attrs) <> 'object' THEN
    RETURN auth._err(400, 'validation_failed', 'the request body must be a JSON object');
  END IF;
  SELECT * INTO u FROM auth.users x WHERE x.id = admin_update_user.id AND x.deleted_at IS NULL FOR UPDATE;
  IF u.id IS NULL THEN
    RETURN auth._err(404, 'user_not_found', 'User not found');
  END IF;
  IF jsonb_typeof(attrs -> 'email') = 'string' THEN
    addr := auth._normalize_email(attrs ->> 'email');
    IF addr IS NULL THEN
      RETURN auth._err(400, 'validation_failed', 'Unable to validate email address: invalid format');
    END IF;
    IF addr IS DISTINCT FROM u.email
       AND EXISTS (SELECT 1 FROM auth.users x WHERE lower(x.email) = addr AND x.email IS NOT NULL
                     AND NOT x.is_sso_user AND x.id <> u.id) THEN
      RETURN auth._err(422, 'email_exists', 'A user with this email address has already been registered');
    END IF;
  END IF;
  IF jsonb_typeof(attrs -> 'phone') = 'string' AND attrs ->> 'phone' <> '' THEN
    tel := auth._normalize_phone(attrs ->> 'phone');  -- 46-phone.sql
    IF tel IS NULL THEN
      RETURN auth._err(400, 'validation_failed', 'Invalid phone number format (E.164 required)');
    END IF;
    IF tel IS DISTINCT FROM u.phone AND (auth._user_by_phone(tel)).id IS NOT NULL THEN
      RETURN auth._err(422, 'phone_exists', 'A user with this phone number has already been registered');
    END IF;
  END IF;
  -- All or nothing: a refused attribute undoes the ones applied before it.
  BEGIN
    IF tel IS NOT NULL AND tel IS DISTINCT FROM u.phone THEN
      UPDATE auth.users SET phone = tel WHERE auth.users.id = u.id;
      UPDATE auth.identities SET identity_data = identity_data || jsonb_build_object('phone', tel)
       WHERE user_id = u.id AND provider = 'phone';
    END IF;
    IF addr IS NOT NULL AND addr IS DISTINCT FROM u.email THEN
      UPDATE auth.users SET email = addr WHERE auth.users.id = u.id;
      UPDATE auth.identities SET identity_data = identity_data || jsonb_build_object('email', addr)
       WHERE user_id = u.id AND provider = 'email';
    END IF;
    refusal := auth._admin_apply(u.id, attrs, settings);
    IF refusal IS NOT NULL THEN
      RAISE EXCEPTION 'refused' USING ERRCODE = 'KLA01';
    END IF;
  EXCEPTION WHEN SQLSTATE 'KLA01' THEN
    RETURN refusal;
  END;
  PERFORM auth._audit('user_modified', u.id, u.email, 'team',
                      jsonb_build_object('by', 'admin',
                                         'fields', (SELECT coalesce(jsonb_agg(k ORDER BY k), '[]'::jsonb)
                                                      FROM jsonb_object_keys(attrs) k)));
  SELECT * INTO u FROM auth.users x WHERE x.id = u.id;
  RETURN auth._user_json(u);
END
$$;
COMMENT ON FUNCTION auth.admin_update_user(pg_catalog.uuid, pg_catalog.jsonb, pg_catalog.jsonb)
  IS 'PUT /admin/users/<id> (service_role): email, password, metadata, confirmation, ban';

-- Hard delete removes the user (sessions, identities, tokens cascade);
-- soft delete keeps the row with deleted_at set, frees the address and
-- removes its credentials, identities and sessions.
CREATE FUNCTION auth.admin_delete_user(id pg_catalog.uuid, soft pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._admin_refusal();
  u auth.users;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  SELECT * INTO u FROM auth.users x WHERE x.id = admin_delete_user.id AND x.deleted_at IS NULL FOR UPDATE;
  IF u.id IS NULL THEN
    RETURN auth._err(404, 'user_not_found', 'User not found');
  END IF;
  IF coalesce(soft, false) THEN
    DELETE FROM auth.sessions WHERE user_id = u.id;
    DELETE FROM auth.identities WHERE user_id = u.id;
    UPDATE auth.users
       SET deleted_at = now(), email = NULL, phone = NULL, encrypted_password = NULL,
           raw_user_meta_data = '{}', updated_at = now()
     WHERE auth.users.id = u.id;
  ELSE
    DELETE FROM auth.users x WHERE x.id = u.id;
  END IF;
  PERFORM auth._audit('user_deleted', u.id, u.email, 'team',
                      jsonb_build_object('by', 'admin', 'soft', coalesce(soft, false)));
  RETURN '{}';
END
$$;
COMMENT ON FUNCTION auth.admin_delete_user(pg_catalog.uuid, pg_catalog.bool)
  IS 'DELETE /admin/users/<id> (service_role): hard or soft delete';

-- ---------------------------------------------------------------------------
-- Who may call the flows.

DO $grants$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'auth'::regnamespace
              AND p.proname IN ('sign_up', 'sign_in_anonymously', 'sign_in_password', 'refresh_session',
                                'sign_out', 'get_user', 'update_user', 'admin_create_user',
                                'admin_list_users', 'admin_get_user', 'admin_update_user',
                                'admin_delete_user')
  LOOP
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO anon, authenticated, service_role', f);
  END LOOP;
END
$grants$;
