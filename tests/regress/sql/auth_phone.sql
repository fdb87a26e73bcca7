-- auth_phone: the phone flows of sql/kiln_auth/46-phone.sql: E.164
-- normalisation, sign-up with a confirmation code by SMS, the password
-- grant by phone, OTP sign-in (create_user), resend, verification (codes
-- hashed, single use, expiry, five wrong codes burn one), the phone change
-- of auth.update_user, admin create with phone / phone_confirm, answers
-- that do not reveal accounts, the settings, audit rows and the sender's
-- claim / done cycle. Codes vary per run: the output shows their shape.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;
SELECT kiln.rotate_signing_key('ES256') IS NOT NULL AS signing_key;
SELECT pg_catalog.clock_timestamp() AS t0 \gset

-- Normalisation: E.164 digits without '+' (as GoTrue stores them). The
-- same cases are in tests/unit/test_sms.c for the daemon's copy.
SELECT v AS input, auth._normalize_phone(v) AS stored
  FROM unnest(ARRAY['+15551234567', '15551234567', ' +1 (555) 123-4567 ', '+44 20.7946.0958',
                    '+491701234567', '1234567', '123456789012345',
                    '+1555123456a', '++15551234567', '1+5551234567', '+0123456789', '123456',
                    '1234567890123456', '+', '', '()', 'phone', E'+1555\n1234567', NULL]) v;

\set s '{"otp_ttl_s": 600}'

-- Sign-up without autoconfirm: the bare user, a code queued in the same
-- transaction, sign-in refused until the code is verified.
SELECT r ? 'access_token' AS session, r ->> 'phone' AS phone, r ? 'confirmation_sent_at' AS sent,
       r -> 'app_metadata' AS app_metadata, r -> 'identities' -> 0 ->> 'provider' AS identity
  FROM auth.sign_up_phone('+1 555 000 0001', 'a long passphrase', '{"name": "Pat"}', :'s') r;
SELECT kind, recipient, status, data ->> 'code' ~ '^[0-9]{6}$' AS six_digits, data ->> 'type' AS type,
       data ->> 'channel' AS channel
  FROM auth.outbox WHERE recipient = '15550000001';
-- Stored hashed only.
SELECT o.token_type, o.relates_to, o.otp_hash = encode(sha256(convert_to(o.user_id::text || ':' || (m.data ->> 'code'), 'UTF8')), 'hex') AS hashed,
       position(m.data ->> 'code' IN o.otp_hash) = 0 AS code_not_clear
  FROM auth.one_time_tokens o JOIN auth.outbox m ON m.user_id = o.user_id
 WHERE m.recipient = '15550000001';
SELECT auth.sign_in_phone_password('+15550000001', 'a long passphrase', :'s') -> 'error' AS unconfirmed;
-- A wrong password of an unconfirmed number is invalid_credentials (the
-- password is checked first).
SELECT auth.sign_in_phone_password('+15550000001', 'wrong passphrase', :'s') -> 'error' ->> 'code' AS wrong;
-- Verify: a session, the number confirmed, the code gone.
SELECT r -> 'user' ->> 'phone' AS phone, r -> 'user' ? 'phone_confirmed_at' AS confirmed,
       (SELECT c ->> 'method' FROM jsonb_array_elements(kiln.verify_jwt(r ->> 'access_token') -> 'amr') c) AS amr,
       kiln.verify_jwt(r ->> 'access_token') ->> 'phone' AS claim_phone
  FROM auth.outbox m, auth.verify_phone('sms', m.data ->> 'code', '+1 (555) 000-0001', :'s') r
 WHERE m.recipient = '15550000001';
SELECT auth.verify_phone('sms', data ->> 'code', '15550000001', :'s') -> 'error' AS single_use
  FROM auth.outbox WHERE recipient = '15550000001';
SELECT identity_data ->> 'phone_verified' AS identity_verified FROM auth.identities i
  JOIN auth.users u ON u.id = i.user_id WHERE u.phone = '15550000001';
-- Now the password grant works.
SELECT r -> 'user' ->> 'phone' AS signed_in FROM auth.sign_in_phone_password('15550000001', 'a long passphrase', :'s') r;

-- A registered number: a look-alike user (no text) with confirmations on,
-- user_already_exists with autoconfirm.
SELECT r ? 'id' AS looks_new, r ->> 'phone' AS phone,
       (SELECT count(*) FROM auth.outbox WHERE recipient = '15550000001') AS texts
  FROM auth.sign_up_phone('+15550000001', 'another passphrase', '{}', :'s') r;
SELECT auth.sign_up_phone('+15550000001', 'another passphrase', '{}', '{"phone_autoconfirm": true}') -> 'error' AS autoconfirm_taken;

-- Refusals.
SELECT auth.sign_up_phone('555', 'a long passphrase', '{}', :'s') -> 'error' AS bad_number;
SELECT auth.sign_up_phone('+15550000002', 'short', '{}', :'s') -> 'error' ->> 'code' AS weak;
SELECT auth.sign_up_phone('+15550000002', 'a long passphrase', '{}', '{"phone_enabled": false}') -> 'error' AS disabled;
SELECT auth.sign_up_phone('+15550000002', 'a long passphrase', '{}', '{"phone_signup_enabled": false}') -> 'error' ->> 'code' AS phone_signups_off,
       auth.sign_up_phone('+15550000002', 'a long passphrase', '{}', '{"signup_enabled": false}') -> 'error' ->> 'code' AS signups_off;
SELECT auth.sign_in_phone_password('+15550000001', 'a long passphrase', '{"phone_enabled": false}') -> 'error' AS grant_disabled;
SELECT count(*) AS refused_wrote_nothing FROM auth.users WHERE phone = '15550000002';

-- With phone autoconfirm: a session at once, amr password.
SELECT r ? 'access_token' AS session, r -> 'user' ? 'phone_confirmed_at' AS confirmed,
       (SELECT count(*) FROM auth.outbox WHERE recipient = '15550000003') AS texts
  FROM auth.sign_up_phone('+15550000003', 'a long passphrase', '{}', '{"phone_autoconfirm": true}') r;

-- Unknown numbers and wrong passwords look the same.
SELECT auth.sign_in_phone_password('+15559999999', 'a long passphrase', :'s') -> 'error' AS unknown,
       auth.sign_in_phone_password('+15550000001', 'not the passphrase', :'s') -> 'error' AS wrong_password;

-- OTP: a code for a confirmed number (type sms, the recovery token); the
-- same answer for an unknown number with create_user false, and no text.
SELECT auth.send_sms_otp('+15550000001', true, '{}', :'s') AS known,
       auth.send_sms_otp('+15559999999', false, '{}', :'s') AS unknown,
       (SELECT count(*) FROM auth.outbox WHERE recipient = '15559999999') AS texts_unknown,
       (SELECT count(*) FROM auth.users WHERE phone = '15559999999') AS users_unknown;
SELECT kind, data ->> 'type' AS type FROM auth.outbox WHERE recipient = '15550000001' ORDER BY id DESC LIMIT 1;
SELECT auth.send_sms_otp('not a number', true, '{}', :'s') -> 'error' ->> 'code' AS bad_number;
-- Five wrong codes burn it; the right one is refused after that.
SELECT n, auth.verify_phone('sms', '000000' || n, '+15550000001', :'s') -> 'error' ->> 'code' AS wrong
  FROM generate_series(1, 5) n;
SELECT count(*) AS tokens_left FROM auth.one_time_tokens WHERE relates_to = '15550000001';
SELECT auth.verify_phone('sms', data ->> 'code', '+15550000001', :'s') -> 'error' ->> 'code' AS after_burn
  FROM auth.outbox WHERE recipient = '15550000001' ORDER BY id DESC LIMIT 1;
-- A fresh code works; the amr method is otp.
SELECT auth.send_sms_otp('+15550000001', true, '{}', :'s') AS again;
SELECT (SELECT c ->> 'method' FROM jsonb_array_elements(kiln.verify_jwt(r ->> 'access_token') -> 'amr') c) AS amr
  FROM (SELECT data ->> 'code' AS code FROM auth.outbox WHERE recipient = '15550000001' ORDER BY id DESC LIMIT 1) m,
       auth.verify_phone('sms', m.code, '+15550000001', :'s') r;
-- An expired code (older than otp_ttl_s) is refused, and used up.
SELECT auth.send_sms_otp('+15550000001', true, '{}', :'s') AS expiring;
UPDATE auth.one_time_tokens SET created_at = now() - interval '11 minutes' WHERE relates_to = '15550000001';
SELECT auth.verify_phone('sms', data ->> 'code', '+15550000001', :'s') -> 'error' ->> 'code' AS expired
  FROM auth.outbox WHERE recipient = '15550000001' ORDER BY id DESC LIMIT 1;
SELECT count(*) AS used_up FROM auth.one_time_tokens WHERE relates_to = '15550000001';

-- create_user (the default) signs an unknown number up, unconfirmed; its
-- code confirms it.
SELECT auth.send_sms_otp('+15550000004', true, '{"plan": "free"}', '{"channel": "whatsapp"}') AS otp_new;
SELECT m.kind, m.data ->> 'channel' AS channel, u.phone_confirmed_at IS NULL AS unconfirmed, u.raw_user_meta_data,
       u.encrypted_password IS NULL AS no_password
  FROM auth.outbox m JOIN auth.users u ON u.id = m.user_id WHERE m.recipient = '15550000004';
-- The user, identity and audit row of a sign-up by code are those of an
-- address's (auth._code_sign_up serves both).
SELECT auth.send_otp('otp-new@phone.test', true, '{}', :'s') AS otp_new_address;
SELECT i.provider, u.raw_app_meta_data, coalesce(u.email, '-') AS email, coalesce(u.phone, '-') AS phone,
       i.provider_id = u.id::text AS provider_id, i.identity_data - 'sub' AS identity_data,
       i.identity_data ->> 'sub' = u.id::text AS sub,
       (SELECT count(*) FROM auth.audit_log_entries a
         WHERE a.payload ->> 'action' = 'user_signedup' AND a.payload ->> 'actor_id' = u.id::text
           AND a.payload ->> 'actor_username' = coalesce(u.phone, u.email) AND a.payload ->> 'log_type' = 'team'
           AND (a.payload -> 'traits')::jsonb = jsonb_build_object('provider', i.provider)) AS audited
  FROM auth.users u JOIN auth.identities i ON i.user_id = u.id
 WHERE u.phone = '15550000004' OR u.email = 'otp-new@phone.test' ORDER BY i.provider;
SELECT r -> 'user' ? 'phone_confirmed_at' AS confirmed
  FROM auth.outbox m, auth.verify_phone('sms', m.data ->> 'code', '15550000004', :'s') r
 WHERE m.recipient = '15550000004';
-- With phone sign-ups off, an unknown number gets nothing (same answer).
SELECT auth.send_sms_otp('+15550000005', true, '{}', '{"phone_signup_enabled": false}') AS signups_off,
       (SELECT count(*) FROM auth.users WHERE phone = '15550000005') AS users;

-- Resend: the confirmation code again for an unconfirmed number; {} and
-- nothing for others.
SELECT auth.sign_up_phone('+15550000006', 'a long passphrase', '{}', :'s') ? 'id' AS signed_up;
SELECT auth.resend_phone('sms', '+15550000006', :'s') AS pending,
       auth.resend_phone('sms', '+15550000001', :'s') AS confirmed_already,
       auth.resend_phone('sms', '+15559999999', :'s') AS unknown,
       auth.resend_phone('signup', '+15550000006', :'s') -> 'error' ->> 'code' AS bad_type;
SELECT recipient, count(*) AS texts FROM auth.outbox
 WHERE recipient IN ('15550000006', '15559999999') GROUP BY recipient ORDER BY recipient;
-- Only the newest code counts.
SELECT auth.verify_phone('sms', data ->> 'code', '+15550000006', :'s') -> 'error' ->> 'code' AS older_code
  FROM auth.outbox WHERE recipient = '15550000006' ORDER BY id LIMIT 1;
SELECT auth.verify_phone('sms', data ->> 'code', '+15550000006', :'s') ? 'access_token' AS newest_code
  FROM auth.outbox WHERE recipient = '15550000006' ORDER BY id DESC LIMIT 1;

-- Phone change (auth.update_user as the signed-in user): a code to the
-- new number; the number changes when it is verified.
SELECT auth.sign_in_phone_password('+15550000001', 'a long passphrase', :'s') AS p1 \gset
BEGIN;
SELECT kiln.authenticate(:'p1'::jsonb ->> 'access_token', '{"request_id": "phone-change"}') AS role;
SELECT r ->> 'phone' AS phone, r ->> 'new_phone' AS new_phone, r ? 'phone_change_sent_at' AS sent
  FROM auth.update_user('{"phone": "+1 555 000 0007"}', :'s') r;
SELECT auth.update_user('{"phone": "+15550000003"}', :'s') -> 'error' AS taken;
SELECT auth.update_user('{"phone": "12"}', :'s') -> 'error' ->> 'code' AS invalid;
SELECT auth.update_user('{"phone": "+15550000008"}', '{"phone_enabled": false}') -> 'error' ->> 'code' AS disabled;
COMMIT;
SELECT kind, data ->> 'type' AS type FROM auth.outbox WHERE recipient = '15550000007';
-- Resend phone_change to the new number.
SELECT auth.resend_phone('phone_change', '+15550000007', :'s') AS resent;
SELECT count(*) AS texts FROM auth.outbox WHERE recipient = '15550000007';
-- A phone_change resend for a number with no change pending: the same
-- answer, no text.
SELECT auth.resend_phone('phone_change', '+15559999998', :'s') AS nothing_pending,
       (SELECT count(*) FROM auth.outbox WHERE recipient = '15559999998') AS texts;
-- Wherever nothing was sent (an unknown number without sign-up, nothing
-- pending), the flow did the work of a text all the same and the audit
-- trail says why.
SELECT a.payload ->> 'actor_username' AS number, a.payload -> 'traits' ->> 'kind' AS kind,
       a.payload -> 'traits' ->> 'reason' AS reason, a.payload -> 'traits' ->> 'fields' AS fields
  FROM auth.audit_log_entries a
 WHERE a.payload ->> 'action' = 'sms_not_sent'
 ORDER BY a.created_at, a.payload ->> 'actor_username', a.payload -> 'traits' ->> 'kind';
-- The decoy's helpers are the owner's alone.
SELECT p.proname, has_function_privilege('anon', p.oid, 'EXECUTE') AS anon,
       has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated,
       has_function_privilege('service_role', p.oid, 'EXECUTE') AS service_role
  FROM pg_proc p WHERE p.pronamespace = 'auth'::regnamespace AND p.proname IN ('_sms_decoy', '_not_sent')
 ORDER BY 1;
-- The sms type does not take a phone_change code.
SELECT auth.verify_phone('sms', data ->> 'code', '+15550000007', :'s') -> 'error' ->> 'code' AS wrong_type
  FROM auth.outbox WHERE recipient = '15550000007' ORDER BY id DESC LIMIT 1;
SELECT auth.send_sms_otp('+15550000001', true, '{}', :'s') AS otp_old_number;
SELECT r -> 'user' ->> 'phone' AS phone, r -> 'user' ? 'new_phone' AS still_pending,
       (SELECT c ->> 'method' FROM jsonb_array_elements(kiln.verify_jwt(r ->> 'access_token') -> 'amr') c) AS amr
  FROM (SELECT data ->> 'code' AS code FROM auth.outbox WHERE recipient = '15550000007' ORDER BY id DESC LIMIT 1) m,
       auth.verify_phone('phone_change', m.code, '+15550000007', :'s') r;
SELECT count(*) AS old_number_users FROM auth.users WHERE phone = '15550000001';
SELECT phone, phone_change, phone_change_sent_at IS NULL AS cleared FROM auth.users WHERE phone = '15550000007';

-- Admin create with phone and phone_confirm (SQL without a request
-- context may use the admin flows).
SELECT r ->> 'phone' AS phone, r ? 'phone_confirmed_at' AS confirmed, r -> 'app_metadata' AS app_metadata,
       r -> 'identities' -> 0 -> 'identity_data' ->> 'phone' AS identity_phone
  FROM auth.admin_create_user('{"phone": "+44 20 7946 0001", "password": "a long passphrase", "phone_confirm": true}') r;
SELECT auth.admin_create_user('{"phone": "442079460001"}') -> 'error' ->> 'code' AS duplicate,
       auth.admin_create_user('{"phone": "+44 20 79x6 0002"}') -> 'error' ->> 'code' AS malformed;
SELECT r -> 'user' ->> 'phone' AS admin_user_signs_in
  FROM auth.sign_in_phone_password('+442079460001', 'a long passphrase', :'s') r;
SELECT r ->> 'phone' AS updated
  FROM auth.users u, auth.admin_update_user(u.id, '{"phone": "+44 20 7946 0003"}') r WHERE u.phone = '442079460001';
SELECT auth.admin_update_user(u.id, '{"phone": "15550000003"}') -> 'error' ->> 'code' AS update_taken
  FROM auth.users u WHERE u.phone = '442079460003';

-- Audit rows, as the email flows write them.
SELECT payload ->> 'action' AS action, payload -> 'traits' ->> 'provider' AS provider, count(*) > 0 AS written
  FROM auth.audit_log_entries
 WHERE payload ->> 'actor_username' = '15550000001' OR payload ->> 'actor_username' = '15550000006'
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT payload -> 'traits' ->> 'reason' AS reason, count(*) AS n FROM auth.audit_log_entries
 WHERE payload ->> 'action' = 'login_failed' AND payload -> 'traits' ->> 'provider' = 'phone'
 GROUP BY 1 ORDER BY 1;

-- The sender's side: claim (once across senders), done, wipe, list.
SELECT jsonb_array_length(auth.outbox_claim('sms', 1000, 60)) > 0 AS claimed,
       jsonb_array_length(auth.outbox_claim('sms', 1000, 60)) AS claimed_again;
SELECT auth.outbox_done('sms', id, 'sent', NULL) AS sent, data ? 'code' AS code_before
  FROM auth.outbox WHERE recipient = '15550000004';
SELECT data ? 'code' AS code_after, status FROM auth.outbox WHERE recipient = '15550000004';
SELECT auth.outbox_done('sms', id, 'retry', 'provider said 500', 2) AS first_retry
  FROM auth.outbox WHERE recipient = '15550000003' OR recipient = '15550000006' ORDER BY id LIMIT 1;
SELECT auth.outbox_done('sms', id, 'kept', NULL) AS kept FROM auth.outbox WHERE recipient = '15550000007' ORDER BY id LIMIT 1;
SELECT jsonb_array_length(auth.outbox_list('sms', 2)) AS listed,
       (SELECT count(*) FROM jsonb_array_elements(auth.outbox_list('sms', 100, '15550000006'))) AS listed_for_number;
SELECT jsonb_array_length(auth.outbox_list('email', 100, '15550000006')) AS no_texts_as_mail;

-- One table, checked per channel: a text has a text's kind and goes to a
-- stored number.
\set VERBOSITY terse
INSERT INTO auth.outbox (channel, kind, recipient, data) VALUES ('sms', 'otp', '+15550000009', '{}');
INSERT INTO auth.outbox (channel, kind, recipient, data) VALUES ('sms', 'magiclink', '15550000009', '{}');
INSERT INTO auth.outbox (channel, kind, recipient, data) VALUES ('email', 'otp', 'a@phone.test', '{}');
INSERT INTO auth.outbox (channel, kind, recipient, data) VALUES ('fax', 'otp', '15550000009', '{}');
\set VERBOSITY default

-- The app roles cannot read the outbox or call the sender's functions.
SET ROLE anon;
SELECT count(*) FROM auth.outbox;
SELECT auth.outbox_list('sms', 1);
RESET ROLE;
SET ROLE authenticator;
SELECT jsonb_typeof(auth.outbox_list('sms', 1)) AS authenticator_lists;
RESET ROLE;

-- Leave the database as it was for the tests after this one.
DELETE FROM auth.users WHERE created_at >= :'t0';
DELETE FROM auth.outbox WHERE channel = 'sms' OR recipient = 'otp-new@phone.test';
DELETE FROM auth.audit_log_entries WHERE created_at >= :'t0';
DELETE FROM kiln.revoked_sessions WHERE revoked_at >= :'t0';
