-- kiln_auth 0.1.0, part 43-oauth: sign-in with an external identity
-- provider (OAuth 2.0 / OpenID Connect).
--
-- The daemon (daemon/src/auth_oauth.c, oidc.c) talks to the provider: it
-- redirects the browser there, exchanges the code, verifies the ID token
-- (signature against the provider's JWKS, iss, aud, exp, nonce) or fetches
-- the user info. These functions keep the state of a sign-in between the
-- redirect and the callback, and turn a verified (provider, subject) into a
-- user and a session:
--
-- * auth.oauth_begin(provider, redirect_to, settings) stores a flow (single
--   use, expiring after 10 minutes) and answers its state, the PKCE verifier
--   and challenge (S256) towards the provider and the nonce. It counts
--   against the sign-in rate limit, as the sign-in it starts does.
-- * auth.oauth_consume(state) takes the flow back exactly once.
-- * auth.sign_in_external(provider, subject, identity_data, email_verified,
--   settings) signs in the user of the identity (provider, subject), or
--   signs up a new one.
-- * auth.oauth_failed(provider, reason) writes the audit row of a sign-in
--   the daemon refused (a bad ID token, a provider error).
--
-- Linking: the identity key is (provider, subject) and nothing else. An
-- email address, verified or not, never links an external identity to an
-- existing account: a new identity whose address already belongs to
-- another user is refused with 422 email_exists (GoTrue's automatic
-- linking of verified addresses is deliberately not done; see
-- docs/auth.md).
--
-- Trust: sign_in_external believes its arguments; only the daemon calls it,
-- after verifying the provider's answer. Like every flow it is executable by
-- the roles the daemon runs requests as, which reach SQL only through the
-- daemon; the auth schema must never be exposed to the data API.

CREATE TABLE auth.oauth_states (
  id            pg_catalog.uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
  provider      pg_catalog.text NOT NULL,
  redirect_to   pg_catalog.text,
  code_verifier pg_catalog.text NOT NULL,
  nonce         pg_catalog.text NOT NULL,
  created_at    pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  -- The app's PKCE challenge when its client runs the PKCE flow: the
  -- callback answers ?code= instead of the session (45-account.sql).
  code_challenge        pg_catalog.text,
  code_challenge_method pg_catalog.text,
  -- linkIdentity: the signed-in user the identity is linked to (45-account.sql).
  link_user_id  pg_catalog.uuid REFERENCES auth.users (id) ON DELETE CASCADE
);
COMMENT ON TABLE auth.oauth_states IS 'OAuth sign-ins between the redirect and the callback (single use, 10 minutes)';
CREATE INDEX oauth_states_created_at_idx ON auth.oauth_states (created_at);
REVOKE ALL ON auth.oauth_states FROM PUBLIC;
ALTER TABLE auth.oauth_states ENABLE ROW LEVEL SECURITY;

-- base64url without padding.
CREATE FUNCTION auth._b64url(b pg_catalog.bytea)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE STRICT
AS $$
  SELECT pg_catalog.rtrim(pg_catalog.translate(pg_catalog.encode(b, 'base64'), E'+/\n', '-_'), '=')
$$;
REVOKE EXECUTE ON FUNCTION auth._b64url(pg_catalog.bytea) FROM PUBLIC;

CREATE FUNCTION auth.oauth_begin(provider pg_catalog.text, redirect_to pg_catalog.text,
                                 settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  verifier text := kiln.random_token(32);
  nonce text := kiln.random_token(16);
  sid uuid;
  refusal jsonb;
BEGIN
  IF provider IS NULL OR provider !~ '^[A-Za-z0-9_-]{1,64}$' THEN
    RETURN auth._err(400, 'validation_failed', 'Unsupported provider: provider name is invalid');
  END IF;
  refusal := auth._rate_refusal('sign_in', auth._setting_int(settings, 'rate_limit_sign_in', 0, 0, 1000000));
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  -- Flows nobody came back for.
  DELETE FROM auth.oauth_states WHERE created_at < now() - interval '10 minutes';
  INSERT INTO auth.oauth_states (provider, redirect_to, code_verifier, nonce)
  VALUES (provider, redirect_to, verifier, nonce)
  RETURNING id INTO sid;
  RETURN jsonb_build_object('state', sid, 'code_verifier', verifier,
                            'code_challenge', auth._b64url(sha256(convert_to(verifier, 'UTF8'))),
                            'nonce', nonce);
END
$$;
COMMENT ON FUNCTION auth.oauth_begin(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb)
  IS 'GET /authorize: a new single-use flow: {state, code_verifier, code_challenge, nonce}';

CREATE FUNCTION auth.oauth_consume(state pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s auth.oauth_states;
BEGIN
  IF state IS NULL OR state !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
    RETURN auth._err(400, 'bad_oauth_state', 'OAuth callback with invalid state');
  END IF;
  DELETE FROM auth.oauth_states WHERE id = state::uuid RETURNING * INTO s;
  IF s.id IS NULL THEN
    RETURN auth._err(400, 'bad_oauth_state', 'OAuth callback with invalid state');
  END IF;
  IF s.created_at < now() - interval '10 minutes' THEN
    RETURN auth._err(400, 'flow_state_expired', 'OAuth state has expired');
  END IF;
  RETURN jsonb_build_object('provider', s.provider, 'redirect_to', s.redirect_to,
                            'code_verifier', s.code_verifier, 'nonce', s.nonce)
         || jsonb_strip_nulls(jsonb_build_object('code_challenge', s.code_challenge,
                                                 'code_challenge_method', s.code_challenge_method,
                                                 'link_user_id', s.link_user_id));
END
$$;
COMMENT ON FUNCTION auth.oauth_consume(pg_catalog.text)
  IS 'GET /callback: takes a flow back, once: {provider, redirect_to, code_verifier, nonce[, code_challenge, code_challenge_method, link_user_id]}';

-- The user of the verified identity (provider, subject), signed up when new:
-- refusal, or its id. Everything of an external sign-in but the session.
CREATE FUNCTION auth._external_user(provider pg_catalog.text, subject pg_catalog.text,
                                    identity_data pg_catalog.jsonb, email_verified pg_catalog.bool,
                                    settings pg_catalog.jsonb,
                                    OUT refusal pg_catalog.jsonb, OUT uid pg_catalog.uuid)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  data jsonb;
  addr text;
  ident auth.identities;
  u auth.users;
BEGIN
  IF provider IS NULL OR provider !~ '^[A-Za-z0-9_-]{1,64}$' OR provider IN ('email', 'phone', 'anonymous') THEN
    refusal := auth._err(400, 'validation_failed', 'Unsupported provider: provider name is invalid');
    RETURN;
  END IF;
  IF subject IS NULL OR subject = '' OR length(subject) > 255 THEN
    refusal := auth._err(400, 'validation_failed', 'The identity provider did not return a subject');
    RETURN;
  END IF;
  IF jsonb_typeof(identity_data) IS DISTINCT FROM 'object' THEN
    refusal := auth._err(400, 'validation_failed', 'identity_data must be a JSON object');
    RETURN;
  END IF;
  refusal := auth._rate_refusal('sign_in', auth._setting_int(settings, 'rate_limit_sign_in', 0, 0, 1000000));
  IF refusal IS NOT NULL THEN
    RETURN;
  END IF;
  -- What the identity keeps: the provider's claims about the person, not
  -- the token's bookkeeping.
  data := (identity_data - ARRAY['aud', 'exp', 'iat', 'nbf', 'nonce', 'at_hash', 'c_hash',
                                 'auth_time', 'azp', 'acr', 'amr', 'sid', 'jti'])
          || jsonb_build_object('sub', subject, 'provider_id', subject,
                                'email_verified', coalesce(email_verified, false));
  addr := auth._normalize_email(identity_data ->> 'email');
  SELECT * INTO ident FROM auth.identities i
   WHERE i.provider_id = subject AND i.provider = _external_user.provider
   FOR UPDATE;
  IF ident.id IS NOT NULL THEN
    SELECT * INTO u FROM auth.users WHERE id = ident.user_id AND deleted_at IS NULL;
    IF u.id IS NULL THEN
      refusal := auth._err(400, 'user_not_found', 'User not found');
      RETURN;
    END IF;
    UPDATE auth.identities SET identity_data = data, last_sign_in_at = now(), updated_at = now()
     WHERE id = ident.id;
  ELSE
    IF NOT auth._setting_bool(settings, 'signup_enabled', true) THEN
      refusal := auth._err(422, 'signup_disabled', 'Signups not allowed for this instance');
      RETURN;
    END IF;
    -- Never linked by address: a taken one is refused, whoever holds it.
    IF addr IS NOT NULL AND EXISTS (SELECT 1 FROM auth.users x
                                     WHERE lower(x.email) = addr AND NOT x.is_sso_user) THEN
      PERFORM auth._audit('login_failed', NULL, addr, 'account',
                          jsonb_build_object('provider', provider, 'reason', 'email_exists'));
      refusal := auth._err(422, 'email_exists', 'A user with this email address has already been registered');
      RETURN;
    END IF;
    INSERT INTO auth.users (email, raw_app_meta_data, raw_user_meta_data, email_confirmed_at)
    VALUES (addr, jsonb_build_object('provider', provider, 'providers', jsonb_build_array(provider)),
            data, CASE WHEN addr IS NOT NULL AND email_verified THEN now() END)
    RETURNING * INTO u;
    INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at)
    VALUES (subject, u.id, data, provider, now());
    PERFORM auth._audit('user_signedup', u.id, coalesce(addr, ''), 'team',
                        jsonb_build_object('provider', provider));
  END IF;
  IF u.banned_until IS NOT NULL AND u.banned_until > now() THEN
    PERFORM auth._audit('login_failed', u.id, coalesce(u.email, ''), 'account',
                        jsonb_build_object('provider', provider, 'reason', 'user_banned'));
    refusal := auth._err(400, 'user_banned', 'User is banned');
    RETURN;
  END IF;
  uid := u.id;
END
$$;

CREATE FUNCTION auth.sign_in_external(provider pg_catalog.text, subject pg_catalog.text,
                                      identity_data pg_catalog.jsonb,
                                      email_verified pg_catalog.bool DEFAULT false,
                                      settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c record;
  u auth.users;
BEGIN
  SELECT * INTO c FROM auth._external_user(provider, subject, identity_data, email_verified, settings);
  IF c.refusal IS NOT NULL THEN
    RETURN c.refusal;
  END IF;
  UPDATE auth.users SET last_sign_in_at = now(), updated_at = now() WHERE id = c.uid RETURNING * INTO u;
  PERFORM auth._audit('login', u.id, coalesce(u.email, ''), 'account',
                      jsonb_build_object('provider', provider));
  RETURN auth._start_session(u, 'oauth', settings);
END
$$;
COMMENT ON FUNCTION auth.sign_in_external(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb,
                                          pg_catalog.bool, pg_catalog.jsonb)
  IS 'a session for the verified identity (provider, subject); signs up a new user; never links by email';

-- A refused attempt also takes a request from the client's sign_in bucket
-- (44-limits.sql), as a failed password does: a client sending bad ID
-- tokens runs out of sign-ins like one guessing passwords.
CREATE FUNCTION auth.oauth_failed(provider pg_catalog.text, reason pg_catalog.text,
                                  settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM auth._rate_refusal('sign_in', auth._setting_int(settings, 'rate_limit_sign_in', 0, 0, 1000000));
  PERFORM auth._audit('login_failed', NULL, '', 'account',
                      jsonb_build_object('provider', left(provider, 64), 'reason', left(reason, 64)));
  RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION auth.oauth_failed(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb)
  IS 'the audit row of an external sign-in the daemon refused (reason: an error code); counts against the sign_in bucket';

DO $grants$
DECLARE
  f regprocedure;
BEGIN
  FOREACH f IN ARRAY ARRAY['auth.oauth_begin(text, text, jsonb)'::regprocedure,
                           'auth.oauth_failed(text, text, jsonb)'::regprocedure,
                           'auth.oauth_consume(text)'::regprocedure,
                           'auth.sign_in_external(text, text, jsonb, bool, jsonb)'::regprocedure]
  LOOP
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO anon, authenticated, service_role', f);
  END LOOP;
END
$grants$;
