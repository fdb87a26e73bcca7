-- auth_account: the account flows of sql/kiln_auth/45-account.sql:
-- reauthentication (nonce by mail, hashed, single use, expiry, five wrong
-- tries burn it) and the password change it guards; the notices of an
-- email change to the old address; PKCE for the mail links (GET /verify
-- answers ?code= and starts no session; grant_type=pkce exchanges it);
-- PKCE and identity linking for OAuth; unlinking. Tokens vary per run: the
-- output shows their shape and relations.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;
SELECT kiln.rotate_signing_key('ES256') IS NOT NULL AS signing_key;
SELECT pg_catalog.clock_timestamp() AS t0 \gset

\set s '{"site_url": "https://app.test", "external_url": "https://api.test", "autoconfirm": true}'
\set secure '{"site_url": "https://app.test", "secure_password_change": true, "reauthentication_window_s": 0}'
-- A PKCE verifier and its S256 challenge (base64url SHA-256).
\set verifier 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
SELECT translate(rtrim(encode(sha256(convert_to(:'verifier', 'UTF8')), 'base64'), '='), '+/', '-_') AS challenge \gset
SELECT :'challenge' AS challenge;

SELECT auth.sign_up('acct@account.test', 'a long passphrase', '{}', :'s') ? 'access_token' AS signed_up;
SELECT auth.sign_in_password('acct@account.test', 'a long passphrase', :'s') AS s1 \gset

-- Reauthentication needs a signed-in user.
SELECT auth.reauthenticate(:'s') -> 'error' ->> 'code' AS without_user;

-- A nonce by mail: six digits, stored hashed only, reauthentication_sent_at set.
BEGIN;
SELECT kiln.authenticate(:'s1'::jsonb ->> 'access_token', '{"request_id": "acct-1"}') AS role;
SELECT auth.reauthenticate(:'s') AS answer;
COMMIT;
SELECT kind, recipient, data ->> 'token' ~ '^[0-9]{6}$' AS six_digits, data ? 'confirmation_url' AS has_link
  FROM auth.outbox WHERE recipient = 'acct@account.test' AND kind = 'reauthentication';
SELECT o.token_type, position((m.data ->> 'token') IN o.otp_hash) = 0 AS not_clear,
       u.reauthentication_sent_at IS NOT NULL AS sent_at
  FROM auth.one_time_tokens o JOIN auth.users u ON u.id = o.user_id
  JOIN auth.outbox m ON m.user_id = u.id AND m.kind = 'reauthentication'
 WHERE o.token_type = 'reauthentication_token';

-- secure_password_change off (the default): no nonce needed.
BEGIN;
SELECT kiln.authenticate(:'s1'::jsonb ->> 'access_token', '{"request_id": "acct-2"}') AS role;
SELECT auth.update_account('{"password": "second long passphrase"}', :'s') ->> 'email' AS changed_without_nonce;
-- On, but the session is younger than the window: none needed either.
SELECT auth.update_account('{"password": "third long passphrase"}',
                           '{"secure_password_change": true, "reauthentication_window_s": 300}') ->> 'email' AS recent_session;
-- On, and older than the window (0 s): a nonce or the current password.
SELECT auth.update_account('{"password": "fourth long passphrase"}', :'secure') -> 'error' AS no_nonce;
SELECT auth.update_account('{"password": "fourth long passphrase", "nonce": "abc"}', :'secure') -> 'error' AS wrong_nonce;
SELECT auth.update_account('{"password": "fourth long passphrase", "current_password": "not it at all"}', :'secure') -> 'error' AS wrong_current;
SELECT auth.update_account('{"password": "fourth long passphrase", "current_password": "third long passphrase"}', :'secure') ->> 'email' AS right_current;
SELECT auth.update_account('{"password": 5, "nonce": 7}', :'secure') -> 'error' ->> 'code' AS bad_types;
COMMIT;
SELECT attempts AS wrong_tries_counted FROM auth.one_time_tokens WHERE token_type = 'reauthentication_token';

-- A refused change keeps the nonce; the right nonce works once.
SELECT data ->> 'token' AS nonce FROM auth.outbox WHERE kind = 'reauthentication' \gset
BEGIN;
SELECT kiln.authenticate(:'s1'::jsonb ->> 'access_token', '{"request_id": "acct-3"}') AS role;
SELECT auth.update_account(jsonb_build_object('password', 'short', 'nonce', :'nonce'), :'secure') -> 'error' ->> 'code' AS weak;
SELECT auth.update_account(jsonb_build_object('password', 'fifth long passphrase', 'nonce', :'nonce'), :'secure') ->> 'email' AS with_nonce;
SELECT auth.update_account(jsonb_build_object('password', 'sixth long passphrase', 'nonce', :'nonce'), :'secure') -> 'error' ->> 'code' AS nonce_reused;
COMMIT;
SELECT count(*) AS nonces_left, (SELECT reauthentication_sent_at IS NULL FROM auth.users WHERE email = 'acct@account.test') AS sent_at_cleared
  FROM auth.one_time_tokens WHERE token_type = 'reauthentication_token';
SELECT auth.sign_in_password('acct@account.test', 'fifth long passphrase', :'s') AS s1 \gset

-- Five wrong nonces burn it; an expired one is refused.
BEGIN;
SELECT kiln.authenticate(:'s1'::jsonb ->> 'access_token', '{"request_id": "acct-4"}') AS role;
SELECT auth.reauthenticate(:'s') AS again;
SELECT n, auth.update_account(jsonb_build_object('password', 'sixth long passphrase', 'nonce', '000000' || n), :'secure') -> 'error' ->> 'code' AS wrong
  FROM generate_series(1, 5) n;
COMMIT;
SELECT count(*) AS burned FROM auth.one_time_tokens WHERE token_type = 'reauthentication_token';
BEGIN;
SELECT kiln.authenticate(:'s1'::jsonb ->> 'access_token', '{"request_id": "acct-4b"}') AS role;
SELECT auth.reauthenticate(:'s') AS again;
COMMIT;
UPDATE auth.one_time_tokens SET created_at = now() - interval '11 minutes' WHERE token_type = 'reauthentication_token';
SELECT data ->> 'token' AS nonce FROM auth.outbox WHERE kind = 'reauthentication' ORDER BY id DESC LIMIT 1 \gset
BEGIN;
SELECT kiln.authenticate(:'s1'::jsonb ->> 'access_token', '{"request_id": "acct-4c"}') AS role;
SELECT auth.update_account(jsonb_build_object('password', 'sixth long passphrase', 'nonce', :'nonce'), :'secure') -> 'error' ->> 'code' AS expired;
COMMIT;
SELECT count(*) FILTER (WHERE payload ->> 'action' = 'user_reauthenticate_requested') AS requested,
       count(*) FILTER (WHERE payload -> 'traits' ->> 'reason' = 'reauthentication_not_valid') AS wrong_audited
  FROM auth.audit_log_entries;

-- Email change: the old address hears of the request and of the change.
BEGIN;
SELECT kiln.authenticate(:'s1'::jsonb ->> 'access_token', '{"request_id": "acct-5"}') AS role;
SELECT auth.update_account('{"email": "acct2@account.test"}', :'s') ->> 'new_email' AS pending;
COMMIT;
SELECT kind, recipient, data ->> 'new_email' AS new_email, data ? 'token' AS has_code
  FROM auth.outbox WHERE kind IN ('email_change', 'email_change_notice') ORDER BY id;
SELECT auth.verify('email_change', data ->> 'token', NULL, 'acct2@account.test', :'s') -> 'user' ->> 'email' AS changed
  FROM auth.outbox WHERE kind = 'email_change';
SELECT kind, recipient, data ->> 'new_email' AS new_email
  FROM auth.outbox WHERE kind = 'email_changed';

-- PKCE for an email change: the link answers ?code=, no session.
SELECT auth.sign_in_password('acct2@account.test', 'fifth long passphrase', :'s') AS s2 \gset
BEGIN;
SELECT kiln.authenticate(:'s2'::jsonb ->> 'access_token', '{"request_id": "acct-6"}') AS role;
SELECT auth.update_account(jsonb_build_object('email', 'acct3@account.test', 'code_challenge', :'challenge'), :'s') -> 'error' AS half_a_pair;
SELECT auth.update_account(jsonb_build_object('email', 'acct3@account.test', 'code_challenge', :'challenge',
                                              'code_challenge_method', 's256'), :'s') ->> 'new_email' AS pending;
COMMIT;
SELECT provider_type, authentication_method, code_challenge_method FROM auth.flow_state;
SELECT count(*) AS sessions_before FROM auth.sessions \gset
SELECT auth.verify_link('email_change', data ->> 'token_hash', 'https://app.test/done?x=1#frag', :'s') ->> 'location' AS loc
  FROM auth.outbox WHERE kind = 'email_change' AND recipient = 'acct3@account.test' \gset
SELECT :'loc' ~ '^https://app\.test/done\?x=1&code=[A-Za-z0-9_-]{43}$' AS code_in_query,
       (SELECT count(*) FROM auth.sessions) = :sessions_before AS no_session_yet;
SELECT auth.token_pkce(substring(:'loc' FROM 'code=(.*)$'), :'verifier', :'s') -> 'user' ->> 'email' AS exchanged;

-- PKCE for /otp (magic link) and /recover; unknown addresses still get {}.
SELECT auth.send_otp_pkce('acct3@account.test', true, '{}', :'s', :'challenge', 'S256') AS otp,
       auth.send_otp_pkce('nobody@account.test', false, '{}', :'s', :'challenge', 's256') AS otp_unknown,
       auth.send_otp_pkce('acct3@account.test', true, '{}', :'s', 'short', 's256') -> 'error' ->> 'code' AS bad_challenge,
       auth.recover_pkce('acct3@account.test', :'s', :'challenge', NULL) -> 'error' ->> 'code' AS half_a_pair;
SELECT authentication_method FROM auth.flow_state ORDER BY created_at;
SELECT auth.verify_link('magiclink', data ->> 'token_hash', NULL, :'s') ->> 'location' AS loc
  FROM auth.outbox WHERE kind = 'magiclink' AND recipient = 'acct3@account.test' \gset
SELECT :'loc' ~ '^https://app\.test\?code=' AS magiclink_code;
SELECT auth.token_pkce(substring(:'loc' FROM 'code=(.*)$'), :'verifier', :'s') ? 'access_token' AS exchanged;
SELECT auth.recover_pkce('acct3@account.test', :'s', :'challenge', 's256') AS recover;
SELECT auth.verify_link('recovery', data ->> 'token_hash', NULL, :'s') ->> 'location' AS loc
  FROM auth.outbox WHERE kind = 'recovery' AND recipient = 'acct3@account.test' ORDER BY id DESC LIMIT 1 \gset
SELECT auth.token_pkce(substring(:'loc' FROM 'code=(.*)$'), 'x' || :'verifier', :'s') -> 'error' ->> 'code' AS wrong_verifier,
       auth.token_pkce(substring(:'loc' FROM 'code=(.*)$'), :'verifier', :'s') -> 'error' ->> 'code' AS burned;
-- /resend of a sign-up confirmation.
SELECT auth.sign_up('resend@account.test', 'a long passphrase', '{}', '{"site_url": "https://app.test"}') ? 'id' AS pending;
SELECT auth.resend_pkce('signup', 'resend@account.test', :'s', :'challenge', 's256') AS resent,
       auth.resend_pkce('signup', 'nobody@account.test', :'s', :'challenge', 's256') AS resent_unknown;
SELECT auth.verify_link('signup', data ->> 'token_hash', NULL, :'s') ->> 'location' AS loc
  FROM auth.outbox WHERE kind = 'confirmation' AND recipient = 'resend@account.test' ORDER BY id DESC LIMIT 1 \gset
SELECT auth.token_pkce(substring(:'loc' FROM 'code=(.*)$'), :'verifier', :'s') -> 'user' ->> 'email' AS confirmed_by_code;
-- Without a challenge the link stays implicit.
SELECT auth.recover('acct3@account.test', :'s') AS recover;
SELECT auth.verify_link('recovery', data ->> 'token_hash', NULL, :'s') ->> 'location' LIKE 'https://app.test#access_token=%' AS implicit
  FROM auth.outbox WHERE kind = 'recovery' AND recipient = 'acct3@account.test' ORDER BY id DESC LIMIT 1;

-- OAuth with the app's challenge: {code} instead of a session.
SELECT auth.oauth_begin_pkce('corp', 'https://app.test', :'s', :'challenge', 's256') ->> 'state' AS st \gset
SELECT code_challenge = :'challenge' AS kept, code_challenge_method FROM auth.oauth_states WHERE id = :'st';
SELECT auth.oauth_consume(:'st') ?& ARRAY['code_challenge', 'code_challenge_method'] AS returned;
SELECT auth.oauth_begin_pkce('corp', 'https://app.test', :'s', NULL, NULL) -> 'error' ->> 'code' AS needs_pair;
SELECT auth.sign_in_external_pkce('corp', 'sub-1', '{"email": "oauth@account.test"}', true, :'s', :'challenge', 's256') AS r \gset
SELECT :'r'::jsonb ->> 'code' ~ '^[A-Za-z0-9_-]{43}$' AS code, NOT :'r'::jsonb ? 'access_token' AS no_session;
SELECT auth.token_pkce(:'r'::jsonb ->> 'code', :'verifier', :'s') -> 'user' ->> 'email' AS exchanged;

-- Linking: begin as the signed-in user, then link at the callback.
SELECT auth.oauth_begin_link('corp', 'https://app.test', :'s') -> 'error' ->> 'code' AS link_without_user;
SELECT auth.sign_in_password('acct3@account.test', 'fifth long passphrase', :'s') AS s3 \gset
BEGIN;
SELECT kiln.authenticate(:'s3'::jsonb ->> 'access_token', '{"request_id": "acct-7"}') AS role;
SELECT auth.oauth_begin_link('corp', 'https://app.test', :'s') ->> 'state' AS lst \gset
COMMIT;
SELECT (auth.oauth_consume(:'lst') ->> 'link_user_id') = (SELECT id::text FROM auth.users WHERE email = 'acct3@account.test') AS link_user;
SELECT auth.link_identity(id, 'corp', 'sub-2', '{"email": "other@idp.test", "nonce": "n"}', true, :'s') ->> 'access_token' IS NOT NULL AS linked
  FROM auth.users WHERE email = 'acct3@account.test';
SELECT provider, CASE WHEN provider = 'email' THEN provider_id = u.id::text ELSE provider_id = 'sub-2' END AS subject,
       identity_data ? 'nonce' AS kept_nonce FROM auth.identities i JOIN auth.users u ON u.id = i.user_id
 WHERE u.email = 'acct3@account.test' ORDER BY provider;
SELECT raw_app_meta_data FROM auth.users WHERE email = 'acct3@account.test';
-- The same identity again: refreshed; another user's: refused.
SELECT auth.link_identity(id, 'corp', 'sub-2', '{"name": "again"}', true, :'s') ? 'access_token' AS relinked
  FROM auth.users WHERE email = 'acct3@account.test';
SELECT auth.link_identity(id, 'corp', 'sub-1', '{}', true, :'s') -> 'error' AS taken
  FROM auth.users WHERE email = 'acct3@account.test';
SELECT auth.link_identity(id, 'email', 'x', '{}', true, :'s') -> 'error' ->> 'code' AS reserved_provider
  FROM auth.users WHERE email = 'acct3@account.test';

-- Unlinking: the caller's own identities only, never the last one.
SELECT auth.unlink_identity(gen_random_uuid()) -> 'error' ->> 'code' AS without_user;
SELECT id AS other_identity FROM auth.identities WHERE provider_id = 'sub-1' \gset
SELECT i.id AS email_identity FROM auth.identities i JOIN auth.users u ON u.id = i.user_id
 WHERE u.email = 'acct3@account.test' AND i.provider = 'email' \gset
SELECT i.id AS corp_identity FROM auth.identities i JOIN auth.users u ON u.id = i.user_id
 WHERE u.email = 'acct3@account.test' AND i.provider = 'corp' \gset
BEGIN;
SELECT kiln.authenticate(:'s3'::jsonb ->> 'access_token', '{"request_id": "acct-8"}') AS role;
SELECT auth.unlink_identity(:'other_identity') -> 'error' AS not_mine;
SELECT auth.unlink_identity(:'email_identity') AS unlinked;
SELECT auth.unlink_identity(:'corp_identity') -> 'error' AS last_one;
COMMIT;
SELECT raw_app_meta_data FROM auth.users WHERE email = 'acct3@account.test';
SELECT payload ->> 'action' AS action, payload -> 'traits' ->> 'provider' AS provider
  FROM auth.audit_log_entries WHERE payload ->> 'action' IN ('identity_linked', 'identity_unlinked', 'identity_link_failed')
 ORDER BY created_at, payload ->> 'action';

-- Who may call them.
SELECT p.proname, has_function_privilege('anon', p.oid, 'EXECUTE') AS anon,
       has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated
  FROM pg_proc p
 WHERE p.pronamespace = 'auth'::regnamespace
   AND p.proname IN ('reauthenticate', 'update_account', 'send_otp_pkce', 'recover_pkce', 'resend_pkce', 'oauth_begin_pkce',
                     'oauth_begin_link', 'sign_in_external_pkce', 'link_identity', 'unlink_identity',
                     '_reauth_check', '_mail_notice', '_external_answer', '_verify_consume', '_external_user')
 ORDER BY 1;

-- Leave the database as found: the schedule runs the next files in it.
DELETE FROM auth.outbox WHERE recipient LIKE '%account.test';
DELETE FROM auth.users WHERE email LIKE '%@account.test';
DELETE FROM auth.audit_log_entries WHERE created_at >= :'t0';
DELETE FROM auth.oauth_states WHERE created_at >= :'t0';
SELECT count(*) AS left_behind FROM auth.identities WHERE provider = 'corp';
