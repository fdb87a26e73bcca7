-- auth_mail: the email flows of sql/kiln_auth/41-mail.sql: the outbox rows
-- written with each flow, one-time tokens (hashed, single use, expiry, five
-- wrong codes burn one), verification by code and by link token, the email
-- change, invites, generate_link, the redirect allowlist, answers that do
-- not reveal accounts, and the sender's claim / done cycle. Tokens vary per
-- run: the output shows their shape and relations.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;
SELECT kiln.rotate_signing_key('ES256') IS NOT NULL AS signing_key;
SELECT pg_catalog.clock_timestamp() AS t0 \gset

\set s '{"site_url": "https://app.test", "redirect_urls": "https://other.test/welcome, https://preview.test/**", "external_url": "https://api.test/"}'

-- Sign-up without autoconfirm queues a confirmation, in the same transaction.
SELECT auth.sign_up('c1@mail.test', 'a long passphrase', '{}', :'s') ? 'access_token' AS session_before_confirming;
SELECT kind, recipient, status, data ->> 'token' ~ '^[0-9]{6}$' AS six_digits,
       data ->> 'token_hash' ~ '^[A-Za-z0-9_-]{43}$' AS link_token,
       data ->> 'confirmation_url' LIKE 'https://api.test/auth/v1/verify?token=%&type=signup&redirect_to=https%3A%2F%2Fapp.test' AS link
  FROM auth.outbox WHERE recipient = 'c1@mail.test';
-- Stored hashed only.
SELECT o.token_type, o.token_hash = encode(sha256(convert_to(m.data ->> 'token_hash', 'UTF8')), 'hex') AS hash_of_link,
       o.token_hash <> m.data ->> 'token_hash' AS not_clear,
       position(m.data ->> 'token' IN o.otp_hash) = 0 AS code_not_clear
  FROM auth.one_time_tokens o JOIN auth.outbox m ON m.user_id = o.user_id
 WHERE m.recipient = 'c1@mail.test';
-- A refused sign-up writes no mail.
SELECT auth.sign_up('c2@mail.test', 'short', '{}', :'s') -> 'error' ->> 'code' AS refused,
       (SELECT count(*) FROM auth.outbox WHERE recipient = 'c2@mail.test') AS mails;
-- Confirm by code: a session, the address confirmed, the token gone.
SELECT auth.verify('signup', data ->> 'token', NULL, 'C1@mail.test', :'s') ? 'access_token' AS session
  FROM auth.outbox WHERE recipient = 'c1@mail.test';
SELECT email_confirmed_at IS NOT NULL AS confirmed FROM auth.users WHERE email = 'c1@mail.test';
SELECT auth.verify('signup', data ->> 'token', NULL, 'c1@mail.test', :'s') -> 'error' AS single_use
  FROM auth.outbox WHERE recipient = 'c1@mail.test';

-- OTP / magic link for a confirmed user; by link token.
SELECT auth.send_otp('c1@mail.test', true, '{}', :'s') AS otp_answer;
SELECT kind, data ->> 'type' AS type FROM auth.outbox WHERE recipient = 'c1@mail.test' ORDER BY id DESC LIMIT 1;
SELECT auth.verify('magiclink', NULL, data ->> 'token_hash', NULL, :'s') -> 'user' ->> 'email' AS signed_in
  FROM auth.outbox WHERE recipient = 'c1@mail.test' ORDER BY id DESC LIMIT 1;

-- Enumeration: unknown addresses get the same answer, and no mail.
SELECT auth.send_otp('nobody@mail.test', false, '{}', :'s') AS otp_unknown,
       auth.recover('nobody@mail.test', :'s') AS recover_unknown,
       auth.recover('c1@mail.test', :'s') AS recover_known,
       auth.resend('signup', 'nobody@mail.test', :'s') AS resend_unknown,
       (SELECT count(*) FROM auth.outbox WHERE recipient = 'nobody@mail.test') AS mails;
SELECT auth.recover('not an address', :'s') -> 'error' ->> 'code' AS bad_address;
-- create_user (the default) signs an unknown address up, unconfirmed.
SELECT auth.send_otp('new@mail.test', true, '{"n": 1}', :'s') AS otp_new;
SELECT kind, email_confirmed_at IS NULL AS unconfirmed, raw_user_meta_data
  FROM auth.outbox m JOIN auth.users u ON u.id = m.user_id WHERE m.recipient = 'new@mail.test';

-- Five wrong codes burn the token; the right one is refused after that.
SELECT auth.recover('c1@mail.test', :'s') AS again;
-- (Wrong codes that can never be right: seven digits.)
SELECT n, auth.verify('recovery', '000000' || n, NULL, 'c1@mail.test', :'s') -> 'error' ->> 'code' AS wrong
  FROM generate_series(1, 5) n;
SELECT count(*) AS tokens_left FROM auth.one_time_tokens o JOIN auth.users u ON u.id = o.user_id
 WHERE u.email = 'c1@mail.test' AND o.token_type = 'recovery_token';
SELECT auth.verify('recovery', data ->> 'token', NULL, 'c1@mail.test', :'s') -> 'error' ->> 'code' AS right_code_after_burn
  FROM auth.outbox WHERE recipient = 'c1@mail.test' ORDER BY id DESC LIMIT 1;
-- Four wrong codes do not burn it.
SELECT auth.recover('c1@mail.test', :'s') AS again;
SELECT count(*) FILTER (WHERE r ? 'error') AS refused
  FROM generate_series(1, 4) n, LATERAL auth.verify('recovery', '000000' || n, NULL, 'c1@mail.test', :'s') r;
SELECT auth.verify('recovery', data ->> 'token', NULL, 'c1@mail.test', :'s') ? 'access_token' AS fifth_try_right
  FROM auth.outbox WHERE recipient = 'c1@mail.test' ORDER BY id DESC LIMIT 1;

-- Expiry: otp_ttl_s (600 at most).
SELECT auth.recover('c1@mail.test', :'s') AS again;
UPDATE auth.one_time_tokens SET created_at = now() - interval '11 minutes'
 WHERE user_id = (SELECT id FROM auth.users WHERE email = 'c1@mail.test');
SELECT auth.verify('recovery', data ->> 'token', NULL, 'c1@mail.test', '{"otp_ttl_s": 3600}') -> 'error' AS expired_ttl_capped
  FROM auth.outbox WHERE recipient = 'c1@mail.test' ORDER BY id DESC LIMIT 1;
SELECT auth.verify('nonsense', 'x', NULL, 'c1@mail.test', :'s') -> 'error' ->> 'code' AS bad_type,
       auth.verify('email', NULL, NULL, NULL, :'s') -> 'error' ->> 'code' AS nothing_to_verify;

-- The redirect allowlist: the site URL and below, exact entries, /** entries.
SELECT u AS redirect_to, auth._redirect_target(u, :'s') AS target
  FROM unnest(ARRAY['https://app.test/welcome', 'https://app.test', 'https://app.test.evil.test/',
                    'https://other.test/welcome', 'https://other.test/welcome/x', 'https://preview.test/a/b?c=1',
                    'https://preview.test.evil.test', 'https://evil@app.test/', 'javascript:alert(1)',
                    'https://app.test\@evil.test', '//evil.test', NULL]) u;
-- GET /verify: a 303 target with the session (or the error) in the fragment.
SELECT auth.recover('c1@mail.test', :'s') AS again;
SELECT (auth.verify_link('recovery', data ->> 'token_hash', 'https://preview.test/reset', :'s') ->> 'location')
         ~ '^https://preview\.test/reset#access_token=[^&]+&expires_at=[0-9]+&expires_in=3600&refresh_token=[A-Za-z0-9_-]{43}&token_type=bearer&type=recovery$' AS implicit
  FROM auth.outbox WHERE recipient = 'c1@mail.test' ORDER BY id DESC LIMIT 1;
SELECT auth.verify_link('recovery', 'used-or-wrong', 'https://evil.test/', :'s') AS refused_to_site;

-- Email change: confirmed on the new address, then the address changes.
SELECT set_config('mailtest.uid', id::text, false) IS NOT NULL AS uid FROM auth.users WHERE email = 'c1@mail.test';
SELECT auth._mail_email_change(u, 'c1-new@mail.test', :'s') AS started FROM auth.users u WHERE email = 'c1@mail.test';
SELECT auth._mail_email_change(u, 'new@mail.test', :'s') -> 'error' ->> 'code' AS taken FROM auth.users u WHERE email = 'c1@mail.test';
SELECT email, email_change FROM auth.users WHERE id = current_setting('mailtest.uid')::uuid;
SELECT auth.resend('email_change', 'c1-new@mail.test', :'s') AS resent;
SELECT count(*) AS mails FROM auth.outbox WHERE recipient = 'c1-new@mail.test' AND kind = 'email_change';
SELECT auth.verify('email_change', data ->> 'token', NULL, 'c1-new@mail.test', :'s') -> 'user' ->> 'email' AS changed
  FROM auth.outbox WHERE recipient = 'c1-new@mail.test' ORDER BY id DESC LIMIT 1;
SELECT email, email_change FROM auth.users WHERE id = current_setting('mailtest.uid')::uuid;

-- Through auth.update_user (as the signed-in user): a refused address
-- changes nothing, the password included.
SELECT auth.sign_in_password('c1-new@mail.test', 'a long passphrase', :'s') AS s1 \gset
BEGIN;
SELECT kiln.authenticate(:'s1'::jsonb ->> 'access_token', '{"request_id": "r1"}') AS role;
SELECT auth.update_user('{"email": "new@mail.test", "password": "another long passphrase"}', :'s') -> 'error' ->> 'code' AS taken_via_update;
SELECT auth.update_user('{"email": "bad address", "password": "another long passphrase"}', :'s') -> 'error' ->> 'code' AS malformed;
COMMIT;
SELECT auth.sign_in_password('c1-new@mail.test', 'a long passphrase', :'s') ? 'access_token' AS password_unchanged;

-- Invite and generate_link (admin; psql without a request context counts).
SELECT auth.admin_invite('inv@mail.test', '{"team": "a"}', :'s') ->> 'email' AS invited;
SELECT auth.admin_invite('inv@mail.test', '{}', :'s') -> 'error' ->> 'code' AS again;
SELECT kind, data ->> 'type' AS type FROM auth.outbox WHERE recipient = 'inv@mail.test';
SELECT r ->> 'verification_type' AS type, r ->> 'email_otp' ~ '^[0-9]{6}$' AS otp,
       r ->> 'action_link' LIKE 'https://api.test/auth/v1/verify?token=' || (r ->> 'hashed_token') || '&type=magiclink&%' AS link,
       r ->> 'redirect_to' AS redirect_to,
       (SELECT count(*) FROM auth.outbox WHERE recipient = 'inv@mail.test') AS mails_unchanged
  FROM auth.admin_generate_link('{"type": "magiclink", "email": "inv@mail.test"}', :'s') r;
SELECT auth.admin_generate_link('{"type": "recovery", "email": "none@mail.test"}', :'s') -> 'error' ->> 'code' AS unknown,
       auth.admin_generate_link('{"type": "bogus", "email": "inv@mail.test"}', :'s') -> 'error' ->> 'code' AS bad_type,
       auth.admin_generate_link('{"type": "signup", "email": "gl@mail.test", "password": "a long passphrase"}', :'s') ->> 'verification_type' AS signup;

-- The sender: claims skip each other's rows, outcomes, backoff, wiping.
BEGIN;
SELECT jsonb_array_length(auth.outbox_claim('email', 3, 60)) AS first_claim;
SELECT jsonb_array_length(auth.outbox_claim('email', 100, 60)) > 0 AS second_claim_gets_the_rest;
SELECT jsonb_array_length(auth.outbox_claim('email', 100, 60)) AS nothing_left_while_leased;
ROLLBACK;
-- The SMS sender never sees mail, nor records an outcome for it.
SELECT jsonb_array_length(auth.outbox_claim('sms', 100, 60)) AS sms_claims_no_mail;
SELECT (auth.outbox_claim('email', 1, 60) -> 0 ->> 'id')::int8 AS claimed \gset
SELECT auth.outbox_done('sms', :claimed, 'sent', NULL) AS other_channel;
SELECT auth.outbox_done('email', :claimed, 'retry', 'connection refused') AS after_failure;
SELECT status, attempts, last_error, next_attempt_at > now() AS backed_off FROM auth.outbox WHERE id = :claimed;
UPDATE auth.outbox SET next_attempt_at = now() - interval '1 day' WHERE id = :claimed;
SELECT (auth.outbox_claim('email', 1, 60) -> 0 ->> 'id')::int8 = :claimed AS claimed_again;
SELECT auth.outbox_done('email', :claimed, 'sent', NULL) AS outcome;
SELECT status, data ? 'token' AS token_kept, data ? 'token_hash' AS hash_kept, sent_at IS NOT NULL AS sent
  FROM auth.outbox WHERE id = :claimed;
SELECT auth.outbox_done('email', :claimed + 100000, 'sent', NULL) AS unknown_id;
SELECT jsonb_array_length(auth.outbox_list('email', 2)) AS listed, auth.outbox_list('email', 5, 'inv@mail.test') -> 0 ->> 'kind' AS filtered;

-- Pruning: finished messages older than the retention go, pending ones stay.
UPDATE auth.outbox SET created_at = now() - interval '40 days' WHERE id = :claimed;
INSERT INTO auth.outbox (channel, kind, recipient, data, created_at)
VALUES ('email', 'recovery', 'old-pending@mail.test', '{}', now() - interval '40 days');
SELECT auth.outbox_prune('email', 30) AS pruned;
SELECT auth.outbox_prune('email', 30) AS again,
       (SELECT count(*) FROM auth.outbox WHERE id = :claimed) AS sent_row,
       (SELECT count(*) FROM auth.outbox WHERE recipient = 'old-pending@mail.test') AS pending_row;

-- Who may call what: the app roles never reach the outbox or the sender.
SET ROLE anon;
SELECT auth.recover('nobody@mail.test', :'s') AS anon_may_recover;
SELECT count(*) FROM auth.outbox;
SELECT auth.outbox_claim('email', 1, 60);
RESET ROLE;
SET ROLE authenticated;
SELECT auth.outbox_list('email', 1);
RESET ROLE;

-- Leave the database as it was for the tests after this one.
DELETE FROM auth.users WHERE email LIKE '%@mail.test' OR created_at >= :'t0';
DELETE FROM auth.outbox WHERE channel = 'email';
DELETE FROM auth.audit_log_entries WHERE created_at >= :'t0';
DELETE FROM kiln.revoked_sessions WHERE revoked_at >= :'t0';
