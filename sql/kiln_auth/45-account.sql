-- kiln_auth 0.1.0, part 45-account: the account flows of a signed-in user
-- and the PKCE ends of the email links and of OAuth.
--
-- * Reauthentication (GET /reauthenticate): a 6-digit nonce by mail, single
--   use, valid otp_ttl_s (600 s at most), stored hashed in
--   auth.one_time_tokens (reauthentication_token), burned after 5 wrong
--   tries. auth.update_account (PUT /user) asks for it before a password
--   change when the setting secure_password_change is on and the session
--   started more than reauthentication_window_s ago (GoTrue's "secure
--   password change"); the current password is accepted instead.
-- * Email change notices: the current address hears of a requested change
--   and, once it is done, that it is no longer the account's
--   (auth._mail_notice, called by 41-mail.sql).
-- * PKCE for the mail links: /otp, /recover, /resend and PUT /user {email} with
--   code_challenge and code_challenge_method start a flow state
--   (42-mfa.sql) for the link the mail carries; GET /verify then redirects
--   with ?code= (auth.verify_link, 41-mail.sql) for grant_type=pkce.
-- * PKCE towards the app for OAuth: /authorize with a challenge keeps it
--   with the OAuth state (auth.oauth_begin_pkce); /callback answers ?code=
--   (auth.sign_in_external_pkce).
-- * Identity linking: GET /user/identities/authorize starts an OAuth flow
--   for the signed-in user (auth.oauth_begin_link); /callback links the
--   verified (provider, subject) to that user (auth.link_identity), never
--   one already linked to another user. DELETE /user/identities/<id>
--   unlinks (auth.unlink_identity), never the last identity.
--
-- Settings (besides those of 40-flows and 41-mail): secure_password_change
-- (false), reauthentication_window_s (300, 0..86400).
--
-- Conventions as in 40-flows.sql: refusals are returned, not raised;
-- SECURITY DEFINER flows with a pinned search_path; helpers (auth._*) for
-- their owner only. Like auth.sign_in_external, auth.link_identity and
-- auth.sign_in_external_pkce believe their arguments: the daemon calls
-- them after verifying the provider's answer, with the user id the OAuth
-- state (written in the signed-in user's own transaction) names.

-- ---------------------------------------------------------------------------
-- Helpers (owner only).

-- Queues a notice without a code or link to user u's current address
-- (kind email_change_notice or email_changed; new_email is the other
-- address). Nothing when the user has no address.
CREATE FUNCTION auth._mail_notice(u auth.users, kind pg_catalog.text, new_email pg_catalog.text,
                                  settings pg_catalog.jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF coalesce(u.email, '') = '' OR lower(u.email) = lower(coalesce(new_email, '')) THEN
    RETURN;
  END IF;
  INSERT INTO auth.outbox (channel, user_id, kind, recipient, data)
  VALUES ('email', u.id, kind, u.email, jsonb_build_object(
            'email', u.email, 'new_email', coalesce(new_email, ''),
            'site_url', auth._url_base(coalesce(nullif(settings ->> 'site_url', ''), 'http://localhost:3000')),
            'type', kind, 'data', coalesce(u.raw_user_meta_data, '{}'::jsonb)));
END
$$;

-- The flow-state method (auth._pkce_flow_start) whose code a mail link of
-- verification type `type` completes; NULL for types no link carries.
CREATE FUNCTION auth._pkce_link_method(type pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT CASE type
           WHEN 'signup' THEN 'email/signup'
           WHEN 'invite' THEN 'invite'
           WHEN 'magiclink' THEN 'magiclink'
           WHEN 'recovery' THEN 'recovery'
           WHEN 'email_change' THEN 'email_change'
         END
$$;

-- target (its fragment dropped) with code=<code> added to its query.
CREATE FUNCTION auth._url_with_code(target pg_catalog.text, code pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT pg_catalog.split_part(target, '#', 1)
         OPERATOR(pg_catalog.||) CASE WHEN pg_catalog.strpos(pg_catalog.split_part(target, '#', 1), '?')
                                           OPERATOR(pg_catalog.>) 0 THEN '&' ELSE '?' END
         OPERATOR(pg_catalog.||) 'code=' OPERATOR(pg_catalog.||) auth._urlencode(code)
$$;

-- Refusal of a PKCE pair as a request carries it: NULL when both are
-- absent (the implicit flow) or both valid.
CREATE FUNCTION auth._pkce_pair_refusal(challenge pg_catalog.text, method pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF challenge IS NULL AND method IS NULL THEN
    RETURN NULL;
  END IF;
  IF challenge IS NULL OR method IS NULL THEN
    RETURN auth._err(400, 'validation_failed', 'PKCE flow requires code_challenge_method and code_challenge');
  END IF;
  RETURN auth._pkce_refusal(challenge, method);
END
$$;

-- After a mail flow: when this transaction issued user addr a token of
-- token_type (the mail just queued), starts the flow state its link
-- completes (authentication method auth_method).
CREATE FUNCTION auth._pkce_after_mail(addr pg_catalog.text, token_type auth.one_time_token_type,
                                      auth_method pg_catalog.text, challenge pg_catalog.text,
                                      method pg_catalog.text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  u auth.users := auth._user_by_email(addr);
BEGIN
  IF u.id IS NOT NULL AND EXISTS (SELECT 1 FROM auth.one_time_tokens o
                                   WHERE o.user_id = u.id AND o.token_type = _pkce_after_mail.token_type
                                     AND o.created_at = now()) THEN
    PERFORM auth._pkce_flow_start(u.id, challenge, method, 'email', auth_method);
  END IF;
END
$$;

-- Checks the proof of presence a password change needs when
-- secure_password_change is on: NULL when none is needed (the setting is
-- off, or the session started less than reauthentication_window_s ago)
-- or when the current password was given right; {"spend": token id} for
-- a right nonce (spent only when the change is made); else the refusal.
-- A wrong nonce counts against it and the fifth burns it.
CREATE FUNCTION auth._reauth_check(u auth.users, attrs pg_catalog.jsonb, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  win int := auth._setting_int(settings, 'reauthentication_window_s', 300, 0, 86400);
  ttl int := auth._setting_int(settings, 'otp_ttl_s', 600, 10, 600);
  invalid jsonb := auth._err(422, 'reauthentication_not_valid', 'Nonce has expired or is invalid');
  t auth.one_time_tokens;
BEGIN
  IF NOT auth._setting_bool(settings, 'secure_password_change', false)
     OR EXISTS (SELECT 1 FROM auth.sessions s
                 WHERE s.id = kiln.session_id() AND s.user_id = u.id
                   AND s.created_at > now() - make_interval(secs => win)) THEN
    RETURN NULL;
  END IF;
  IF jsonb_typeof(attrs -> 'current_password') = 'string' THEN
    IF u.encrypted_password IS NULL OR NOT kiln.verify_password(attrs ->> 'current_password', u.encrypted_password) THEN
      PERFORM auth._audit('login_failed', u.id, u.email, 'account',
                          '{"provider": "email", "reason": "current_password_invalid"}');
      RETURN auth._err(400, 'current_password_invalid', 'Current password required when setting new password.');
    END IF;
    RETURN NULL;
  END IF;
  IF coalesce(attrs ->> 'nonce', '') = '' THEN
    RETURN auth._err(400, 'reauthentication_needed', 'Password update requires reauthentication');
  END IF;
  SELECT * INTO t FROM auth.one_time_tokens o
   WHERE o.user_id = u.id AND o.token_type = 'reauthentication_token'
   FOR UPDATE;
  IF t.id IS NULL OR t.created_at + make_interval(secs => ttl) < now() THEN
    RETURN invalid;
  END IF;
  IF NOT auth._code_right(t, attrs ->> 'nonce') THEN
    PERFORM auth._code_missed(t, u.email, 'email', 'reauthentication_not_valid');  -- 41-mail.sql
    RETURN invalid;
  END IF;
  RETURN jsonb_build_object('spend', t.id);
END
$$;

-- ---------------------------------------------------------------------------
-- Reauthentication and the guarded PUT /user.

-- GET /reauthenticate: mails the signed-in user a 6-digit nonce for
-- PUT /user {password, nonce}. {} on success.
CREATE FUNCTION auth.reauthenticate(settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  u auth.users;
  t jsonb;
  refusal jsonb;
BEGIN
  IF auth.uid() IS NULL THEN
    RETURN auth._err(403, 'bad_jwt', 'invalid claim: missing sub claim');
  END IF;
  SELECT * INTO u FROM auth.users WHERE id = auth.uid() AND deleted_at IS NULL FOR UPDATE;
  IF u.id IS NULL THEN
    RETURN auth._err(403, 'user_not_found', 'User from sub claim in JWT does not exist');
  END IF;
  IF coalesce(u.email, '') = '' THEN
    RETURN auth._err(422, 'reauthentication_not_valid', 'Reauthentication requires the user to have an email address');
  END IF;
  refusal := auth._email_rate_refusal(settings);
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  t := auth._issue_token(u, 'reauthentication_token', u.email);
  INSERT INTO auth.outbox (channel, user_id, kind, recipient, data)
  VALUES ('email', u.id, 'reauthentication', u.email, jsonb_build_object(
            'token', t ->> 'token', 'email', u.email, 'type', 'reauthentication',
            'site_url', auth._url_base(coalesce(nullif(settings ->> 'site_url', ''), 'http://localhost:3000')),
            'data', coalesce(u.raw_user_meta_data, '{}'::jsonb)));
  UPDATE auth.users SET reauthentication_sent_at = now() WHERE id = u.id;
  PERFORM auth._audit('user_reauthenticate_requested', u.id, u.email, 'user');
  RETURN '{}';
END
$$;
COMMENT ON FUNCTION auth.reauthenticate(pg_catalog.jsonb)
  IS 'GET /reauthenticate: mails the signed-in user a nonce for a password change';

-- PUT /user: auth.update_user behind the reauthentication check (password
-- changes with secure_password_change on), plus the PKCE flow state of an
-- email change when attrs carry code_challenge and code_challenge_method.
-- attrs may also carry nonce (from GET /reauthenticate) and
-- current_password.
CREATE FUNCTION auth.update_account(attrs pg_catalog.jsonb, settings pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  u auth.users;
  challenge text;
  method text;
  proof jsonb;
  r jsonb;
BEGIN
  IF auth.uid() IS NULL OR attrs IS NULL OR jsonb_typeof(attrs) <> 'object' THEN
    RETURN auth.update_user(attrs, settings);  -- its refusal
  END IF;
  IF jsonb_typeof(attrs -> 'nonce') NOT IN ('string', 'null')
     OR jsonb_typeof(attrs -> 'current_password') NOT IN ('string', 'null')
     OR jsonb_typeof(attrs -> 'code_challenge') NOT IN ('string', 'null')
     OR jsonb_typeof(attrs -> 'code_challenge_method') NOT IN ('string', 'null') THEN
    RETURN auth._err(400, 'validation_failed',
                     'nonce, current_password, code_challenge and code_challenge_method must be strings');
  END IF;
  challenge := attrs ->> 'code_challenge';
  method := attrs ->> 'code_challenge_method';
  r := auth._pkce_pair_refusal(challenge, method);
  IF r IS NOT NULL THEN
    RETURN r;
  END IF;
  IF jsonb_typeof(attrs -> 'password') = 'string' THEN
    SELECT * INTO u FROM auth.users WHERE id = auth.uid() AND deleted_at IS NULL FOR UPDATE;
    IF u.id IS NOT NULL THEN
      proof := auth._reauth_check(u, attrs, settings);
      IF proof ? 'error' THEN
        RETURN proof;
      END IF;
    END IF;
  END IF;
  r := auth.update_user(attrs - ARRAY['nonce', 'current_password', 'code_challenge', 'code_challenge_method'],
                        settings);
  IF r ? 'error' THEN
    RETURN r;  -- the nonce stays usable
  END IF;
  IF proof ? 'spend' THEN
    DELETE FROM auth.one_time_tokens WHERE id = (proof ->> 'spend')::uuid;
    UPDATE auth.users SET reauthentication_sent_at = NULL WHERE id = auth.uid();
  END IF;
  IF challenge IS NOT NULL AND EXISTS (SELECT 1 FROM auth.users x
                                        WHERE x.id = auth.uid() AND x.email_change_sent_at = now()) THEN
    PERFORM auth._pkce_flow_start(auth.uid(), challenge, method, 'email', 'email_change');
  END IF;
  RETURN r;
END
$$;
COMMENT ON FUNCTION auth.update_account(pg_catalog.jsonb, pg_catalog.jsonb)
  IS 'PUT /user: update_user behind the reauthentication check, with PKCE for an email change';

-- ---------------------------------------------------------------------------
-- PKCE for the mail links.

-- POST /otp with code_challenge and code_challenge_method: auth.send_otp,
-- and the flow state its link completes (email/signup for a confirmation,
-- magiclink otherwise). Still {} for any well-formed address.
CREATE FUNCTION auth.send_otp_pkce(email pg_catalog.text, create_user pg_catalog.bool, data pg_catalog.jsonb,
                                   settings pg_catalog.jsonb, code_challenge pg_catalog.text,
                                   code_challenge_method pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._pkce_pair_refusal(code_challenge, code_challenge_method);
  r jsonb;
  addr text := auth._normalize_email(email);
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  r := auth.send_otp(email, create_user, data, settings);
  IF NOT r ? 'error' AND code_challenge IS NOT NULL THEN
    PERFORM auth._pkce_after_mail(addr, 'confirmation_token', 'email/signup', code_challenge, code_challenge_method);
    PERFORM auth._pkce_after_mail(addr, 'recovery_token', 'magiclink', code_challenge, code_challenge_method);
  END IF;
  RETURN r;
END
$$;
COMMENT ON FUNCTION auth.send_otp_pkce(pg_catalog.text, pg_catalog.bool, pg_catalog.jsonb, pg_catalog.jsonb,
                                       pg_catalog.text, pg_catalog.text)
  IS 'POST /otp from a PKCE client: send_otp plus the flow state its link completes';

-- POST /recover with code_challenge and code_challenge_method.
CREATE FUNCTION auth.recover_pkce(email pg_catalog.text, settings pg_catalog.jsonb,
                                  code_challenge pg_catalog.text, code_challenge_method pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._pkce_pair_refusal(code_challenge, code_challenge_method);
  r jsonb;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  r := auth.recover(email, settings);
  IF NOT r ? 'error' AND code_challenge IS NOT NULL THEN
    PERFORM auth._pkce_after_mail(auth._normalize_email(email), 'recovery_token', 'recovery',
                                  code_challenge, code_challenge_method);
  END IF;
  RETURN r;
END
$$;
COMMENT ON FUNCTION auth.recover_pkce(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text)
  IS 'POST /recover from a PKCE client: recover plus the flow state its link completes';

-- POST /resend with code_challenge and code_challenge_method: the
-- confirmation again, and the flow state its link completes (email/signup,
-- or email_change for the pending new address).
CREATE FUNCTION auth.resend_pkce(type pg_catalog.text, email pg_catalog.text, settings pg_catalog.jsonb,
                                 code_challenge pg_catalog.text, code_challenge_method pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._pkce_pair_refusal(code_challenge, code_challenge_method);
  addr text := auth._normalize_email(email);
  r jsonb;
  uid uuid;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  r := auth.resend(type, email, settings);
  IF r ? 'error' OR code_challenge IS NULL THEN
    RETURN r;
  END IF;
  IF type = 'signup' THEN
    PERFORM auth._pkce_after_mail(addr, 'confirmation_token', 'email/signup', code_challenge, code_challenge_method);
  ELSE
    SELECT x.id INTO uid FROM auth.users x
     WHERE lower(x.email_change) = addr AND x.deleted_at IS NULL AND x.email_change_sent_at = now()
     LIMIT 1;
    IF uid IS NOT NULL THEN
      PERFORM auth._pkce_flow_start(uid, code_challenge, code_challenge_method, 'email', 'email_change');
    END IF;
  END IF;
  RETURN r;
END
$$;
COMMENT ON FUNCTION auth.resend_pkce(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text,
                                     pg_catalog.text)
  IS 'POST /resend from a PKCE client: resend plus the flow state its link completes';

-- ---------------------------------------------------------------------------
-- OAuth towards the app: PKCE and identity linking.

-- GET /authorize with the app's code_challenge: auth.oauth_begin, the
-- challenge kept with the state for the callback.
CREATE FUNCTION auth.oauth_begin_pkce(provider pg_catalog.text, redirect_to pg_catalog.text,
                                      settings pg_catalog.jsonb, code_challenge pg_catalog.text,
                                      code_challenge_method pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._pkce_refusal(code_challenge, code_challenge_method);
  r jsonb;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  r := auth.oauth_begin(provider, redirect_to, settings);
  IF NOT r ? 'error' THEN
    UPDATE auth.oauth_states s SET code_challenge = oauth_begin_pkce.code_challenge,
                                   code_challenge_method = lower(oauth_begin_pkce.code_challenge_method)
     WHERE s.id = (r ->> 'state')::uuid;
  END IF;
  RETURN r;
END
$$;
COMMENT ON FUNCTION auth.oauth_begin_pkce(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb,
                                          pg_catalog.text, pg_catalog.text)
  IS 'GET /authorize from a PKCE client: oauth_begin keeping the app''s code challenge';

-- GET /user/identities/authorize (the signed-in user): auth.oauth_begin for
-- a flow whose callback links the identity to this user; PKCE towards the
-- app when a challenge is given.
CREATE FUNCTION auth.oauth_begin_link(provider pg_catalog.text, redirect_to pg_catalog.text,
                                      settings pg_catalog.jsonb, code_challenge pg_catalog.text DEFAULT NULL,
                                      code_challenge_method pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._pkce_pair_refusal(code_challenge, code_challenge_method);
  r jsonb;
BEGIN
  IF auth.uid() IS NULL THEN
    RETURN auth._err(401, 'no_authorization', 'This endpoint requires a valid Bearer token');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = auth.uid() AND u.deleted_at IS NULL) THEN
    RETURN auth._err(403, 'user_not_found', 'User from sub claim in JWT does not exist');
  END IF;
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  r := auth.oauth_begin(provider, redirect_to, settings);
  IF NOT r ? 'error' THEN
    UPDATE auth.oauth_states s SET link_user_id = auth.uid(),
                                   code_challenge = oauth_begin_link.code_challenge,
                                   code_challenge_method = lower(oauth_begin_link.code_challenge_method)
     WHERE s.id = (r ->> 'state')::uuid;
  END IF;
  RETURN r;
END
$$;
COMMENT ON FUNCTION auth.oauth_begin_link(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb,
                                          pg_catalog.text, pg_catalog.text)
  IS 'GET /user/identities/authorize: an OAuth flow that links the identity to the signed-in user';

-- The answer of a callback for user uid: a session (implicit), or
-- {"code"} for the app to exchange when it sent a challenge.
CREATE FUNCTION auth._external_answer(uid pg_catalog.uuid, provider pg_catalog.text, settings pg_catalog.jsonb,
                                      challenge pg_catalog.text, method pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  u auth.users;
BEGIN
  IF challenge IS NOT NULL THEN
    PERFORM auth._pkce_flow_start(uid, challenge, method, provider, 'oauth');
    RETURN jsonb_build_object('code', auth.pkce_issue_code(uid, 'oauth'));
  END IF;
  UPDATE auth.users SET last_sign_in_at = now(), updated_at = now() WHERE id = uid RETURNING * INTO u;
  PERFORM auth._audit('login', u.id, coalesce(u.email, ''), 'account', jsonb_build_object('provider', provider));
  RETURN auth._start_session(u, 'oauth', settings);
END
$$;

-- /callback of a flow with the app's challenge: what auth.sign_in_external
-- does, answering {"code"} (a flow state for grant_type=pkce) instead of a
-- session.
CREATE FUNCTION auth.sign_in_external_pkce(provider pg_catalog.text, subject pg_catalog.text,
                                           identity_data pg_catalog.jsonb, email_verified pg_catalog.bool,
                                           settings pg_catalog.jsonb, code_challenge pg_catalog.text,
                                           code_challenge_method pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refusal jsonb := auth._pkce_refusal(code_challenge, code_challenge_method);
  c record;
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  SELECT * INTO c FROM auth._external_user(provider, subject, identity_data, email_verified, settings);
  IF c.refusal IS NOT NULL THEN
    RETURN c.refusal;
  END IF;
  RETURN auth._external_answer(c.uid, provider, settings, code_challenge, code_challenge_method);
END
$$;
COMMENT ON FUNCTION auth.sign_in_external_pkce(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb,
                                               pg_catalog.bool, pg_catalog.jsonb, pg_catalog.text,
                                               pg_catalog.text)
  IS 'external sign-in for a PKCE client: {"code"} to exchange with grant_type=pkce';

-- /callback of a linking flow: links the verified identity (provider,
-- subject) to user_id (the state's), or refreshes it when it is already
-- that user's; an identity of another user is 422 identity_already_exists.
-- Answers a session of the user (or {"code"} with a challenge).
CREATE FUNCTION auth.link_identity(user_id pg_catalog.uuid, provider pg_catalog.text, subject pg_catalog.text,
                                   identity_data pg_catalog.jsonb, email_verified pg_catalog.bool,
                                   settings pg_catalog.jsonb, code_challenge pg_catalog.text DEFAULT NULL,
                                   code_challenge_method pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  u auth.users;
  ident auth.identities;
  data jsonb;
  refusal jsonb := auth._pkce_pair_refusal(code_challenge, code_challenge_method);
BEGIN
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  IF provider IS NULL OR provider !~ '^[A-Za-z0-9_-]{1,64}$' OR provider IN ('email', 'phone', 'anonymous') THEN
    RETURN auth._err(400, 'validation_failed', 'Unsupported provider: provider name is invalid');
  END IF;
  IF subject IS NULL OR subject = '' OR length(subject) > 255 THEN
    RETURN auth._err(400, 'validation_failed', 'The identity provider did not return a subject');
  END IF;
  IF jsonb_typeof(identity_data) IS DISTINCT FROM 'object' THEN
    RETURN auth._err(400, 'validation_failed', 'identity_data must be a JSON object');
  END IF;
  refusal := auth._rate_refusal('sign_in', auth._setting_int(settings, 'rate_limit_sign_in', 0, 0, 1000000));
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  SELECT * INTO u FROM auth.users x WHERE x.id = link_identity.user_id AND x.deleted_at IS NULL FOR UPDATE;
  IF u.id IS NULL THEN
    RETURN auth._err(404, 'user_not_found', 'User not found');
  END IF;
  IF u.banned_until IS NOT NULL AND u.banned_until > now() THEN
    RETURN auth._err(400, 'user_banned', 'User is banned');
  END IF;
  data := (identity_data - ARRAY['aud', 'exp', 'iat', 'nbf', 'nonce', 'at_hash', 'c_hash',
                                 'auth_time', 'azp', 'acr', 'amr', 'sid', 'jti'])
          || jsonb_build_object('sub', subject, 'provider_id', subject,
                                'email_verified', coalesce(email_verified, false));
  SELECT * INTO ident FROM auth.identities i
   WHERE i.provider_id = subject AND i.provider = link_identity.provider
   FOR UPDATE;
  IF ident.id IS NOT NULL AND ident.user_id <> u.id THEN
    PERFORM auth._audit('identity_link_failed', u.id, coalesce(u.email, ''), 'user',
                        jsonb_build_object('provider', provider, 'reason', 'identity_already_exists'));
    RETURN auth._err(422, 'identity_already_exists', 'Identity is already linked to another user');
  ELSIF ident.id IS NOT NULL THEN
    UPDATE auth.identities SET identity_data = data, last_sign_in_at = now(), updated_at = now()
     WHERE id = ident.id;
  ELSE
    INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at)
    VALUES (subject, u.id, data, provider, now());
    UPDATE auth.users x
       SET raw_app_meta_data = coalesce(x.raw_app_meta_data, '{}'::jsonb)
             || jsonb_build_object('provider', coalesce(x.raw_app_meta_data ->> 'provider', provider),
                                   'providers', (SELECT jsonb_agg(DISTINCT i.provider)
                                                   FROM auth.identities i WHERE i.user_id = x.id)),
           updated_at = now()
     WHERE x.id = u.id;
    PERFORM auth._audit('identity_linked', u.id, coalesce(u.email, ''), 'user',
                        jsonb_build_object('provider', provider));
  END IF;
  RETURN auth._external_answer(u.id, provider, settings, code_challenge, code_challenge_method);
END
$$;
COMMENT ON FUNCTION auth.link_identity(pg_catalog.uuid, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb,
                                       pg_catalog.bool, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text)
  IS 'links a verified identity to the user of a linking flow; never one of another user';

-- DELETE /user/identities/<identity_id>: removes one of the signed-in
-- user's identities, never the last one. {} on success.
CREATE FUNCTION auth.unlink_identity(identity_id pg_catalog.uuid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  u auth.users;
  ident auth.identities;
BEGIN
  IF auth.uid() IS NULL THEN
    RETURN auth._err(403, 'bad_jwt', 'invalid claim: missing sub claim');
  END IF;
  SELECT * INTO u FROM auth.users WHERE id = auth.uid() AND deleted_at IS NULL FOR UPDATE;
  IF u.id IS NULL THEN
    RETURN auth._err(403, 'user_not_found', 'User from sub claim in JWT does not exist');
  END IF;
  SELECT * INTO ident FROM auth.identities i WHERE i.id = identity_id AND i.user_id = u.id;
  IF ident.id IS NULL THEN
    RETURN auth._err(404, 'identity_not_found', 'Identity doesn''t exist');
  END IF;
  IF (SELECT count(*) FROM auth.identities i WHERE i.user_id = u.id) <= 1 THEN
    RETURN auth._err(422, 'single_identity_not_deletable', 'User must have at least 1 identity after unlinking');
  END IF;
  DELETE FROM auth.identities WHERE id = ident.id;
  UPDATE auth.users x
     SET raw_app_meta_data = coalesce(x.raw_app_meta_data, '{}'::jsonb)
           || (SELECT jsonb_build_object(
                        'provider', CASE WHEN bool_or(i.provider = x.raw_app_meta_data ->> 'provider')
                                         THEN x.raw_app_meta_data ->> 'provider'
                                         ELSE min(i.provider) END,
                        'providers', jsonb_agg(DISTINCT i.provider))
                 FROM auth.identities i WHERE i.user_id = x.id),
         updated_at = now()
   WHERE x.id = u.id;
  PERFORM auth._audit('identity_unlinked', u.id, coalesce(u.email, ''), 'user',
                      jsonb_build_object('provider', ident.provider, 'identity_id', ident.id));
  RETURN '{}';
END
$$;
COMMENT ON FUNCTION auth.unlink_identity(pg_catalog.uuid)
  IS 'DELETE /user/identities/<id>: removes an identity of the signed-in user, never the last';

-- ---------------------------------------------------------------------------
-- Who may call them.

DO $grants$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'auth'::regnamespace
              AND p.proname IN ('reauthenticate', 'update_account', 'send_otp_pkce', 'recover_pkce', 'resend_pkce',
                                'oauth_begin_pkce', 'oauth_begin_link', 'sign_in_external_pkce',
                                'link_identity', 'unlink_identity')
  LOOP
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO anon, authenticated, service_role', f);
  END LOOP;
  -- Helpers: their owner only (those of every part so far).
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'auth'::regnamespace AND p.proname LIKE '\_%'
  LOOP
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END
$grants$;
