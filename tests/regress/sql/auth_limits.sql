-- auth_limits: the rate limits and the per-account backoff
-- (sql/kiln_auth/44-limits.sql): per-client token buckets (IPv6 by /64),
-- the per-address mail interval, the backoff per (address, client) and
-- per address that never locks the owner out, answers that do not depend
-- on an account existing, requests without a client (SQL) never limited,
-- and the pruning of old rows.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;
SELECT kiln.rotate_signing_key('ES256') IS NOT NULL AS signing_key;
SELECT pg_catalog.clock_timestamp() AS t0 \gset

-- One request from client ip, as the daemon makes it: the verified context
-- (role anon, the client ip), then the flow; each call is its own
-- transaction (autocommit), so the role ends with it.
CREATE FUNCTION public.from_ip(ip text, flow text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
  PERFORM kiln.authenticate(NULL, jsonb_build_object('request_id', 'req-limits', 'client_ip', ip));
  EXECUTE 'SELECT ' || flow INTO r;
  RETURN r;
END $$;
-- The error code of an answer, with retry_after when there is one.
CREATE FUNCTION public.outcome(r jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN r ? 'access_token' THEN 'session'
              WHEN r ? 'error' THEN (r -> 'error' ->> 'code') || coalesce(' after ' || (r -> 'error' ->> 'retry_after'), '')
              ELSE r::text END
$$;
GRANT EXECUTE ON FUNCTION public.from_ip(text, text), public.outcome(jsonb) TO anon;

-- The client key: IPv4 as is, IPv6 by /64, nothing without an address.
SELECT auth._client_key('192.0.2.1') AS v4, auth._client_key('2001:db8:1:2:3:4:5:6') AS v6,
       auth._client_key('2001:db8:1:2::9') AS same_64, auth._client_key('') AS empty,
       auth._client_key(NULL) AS absent;

-- Buckets: capacity N, refilled N per 5 minutes, never above N; a refusal
-- takes nothing and says how long until a token is back.
SELECT auth._take('test:a', 2, 2 / 300.0) AS first;
SELECT auth._take('test:a', 2, 2 / 300.0) AS second;
SELECT auth._take('test:a', 2, 2 / 300.0) BETWEEN 140 AND 150 AS third_waits;
SELECT bucket, tokens < 0.01 AS empty, allowed, full_at > now() + interval '4 minutes' AS full_later
  FROM auth.rate_limits WHERE bucket = 'test:a';
-- Half-way through the refill, half the bucket is back.
UPDATE auth.rate_limits SET updated_at = updated_at - interval '150 seconds' WHERE bucket = 'test:a';
SELECT auth._take('test:a', 2, 2 / 300.0) AS refilled_one, auth._take('test:a', 2, 2 / 300.0) > 0 AS then_empty;

-- The per-client limit through a flow: two sign-ins per 5 minutes. (One
-- request per statement: each is its own transaction, as in the daemon.)
SELECT auth.sign_up('lim@limits.test', 'a long limits passphrase', '{}', '{"autoconfirm": true}') ? 'access_token' AS account;
CREATE FUNCTION public.try_(ip text, email text, password text, settings text) RETURNS text LANGUAGE sql AS $$
  SELECT outcome(from_ip(ip, format('auth.sign_in_password(%L, %L, %L)', email, password, settings)))
$$;
GRANT EXECUTE ON FUNCTION public.try_(text, text, text, text) TO anon;
\set rl '{"rate_limit_sign_in": 2}'
\set rl1 '{"rate_limit_sign_in": 1}'
\set pw 'a long limits passphrase'
SELECT try_('192.0.2.10', 'lim@limits.test', :'pw', :'rl') AS one;
SELECT try_('192.0.2.10', 'lim@limits.test', :'pw', :'rl') AS two;
SELECT try_('192.0.2.10', 'lim@limits.test', :'pw', :'rl') ~ '^over_request_rate_limit after 1[45][0-9]$' AS three_refused;
-- Another IPv4 client is not affected; IPv6 clients of one /64 share.
SELECT try_('192.0.2.11', 'lim@limits.test', :'pw', :'rl') AS other_client;
SELECT try_('2001:db8:5:6::1', 'lim@limits.test', :'pw', :'rl1') AS v6_first;
SELECT try_('2001:db8:5:6::2', 'lim@limits.test', :'pw', :'rl1') ~ '^over_request_rate_limit' AS v6_same_64_refused;
SELECT try_('2001:db8:5:7::1', 'lim@limits.test', :'pw', :'rl1') AS v6_other_64;
SELECT bucket FROM auth.rate_limits WHERE bucket LIKE 'sign_in:%' ORDER BY 1;
-- An external sign-in the daemon refused (a bad ID token) takes from the
-- same bucket: a client sending bad tokens runs out of sign-ins.
SELECT outcome(from_ip('192.0.2.13', $$auth.oauth_failed('corp', 'bad_id_token', '{"rate_limit_sign_in": 2}')$$)) AS bad_token_one;
SELECT outcome(from_ip('192.0.2.13', $$auth.oauth_failed('corp', 'bad_id_token', '{"rate_limit_sign_in": 2}')$$)) AS bad_token_two;
SELECT try_('192.0.2.13', 'lim@limits.test', :'pw', :'rl') ~ '^over_request_rate_limit' AS then_sign_in_refused;
-- Texts: one per number per sms_min_interval_s, whether or not the number
-- has an account (create_user false: no account is made for the second);
-- another number from the same client is not held back.
\set sm '{"sms_min_interval_s": 60}'
SELECT outcome(from_ip('192.0.2.14', format('auth.send_sms_otp(%L, true, %L, %L)', '+15550001111', '{}', :'sm'))) AS text_one;
SELECT outcome(from_ip('192.0.2.14', format('auth.send_sms_otp(%L, true, %L, %L)', '+1 555 000 1111', '{}', :'sm'))) ~ '^over_sms_send_rate_limit after (59|60)$' AS same_number_waits;
SELECT outcome(from_ip('192.0.2.14', format('auth.send_sms_otp(%L, false, %L, %L)', '+15550002222', '{}', :'sm'))) AS unknown_one;
SELECT outcome(from_ip('192.0.2.15', format('auth.send_sms_otp(%L, false, %L, %L)', '+15550002222', '{}', :'sm'))) ~ '^over_sms_send_rate_limit' AS unknown_waits_too;
SELECT outcome(from_ip('192.0.2.14', format('auth.send_sms_otp(%L, true, %L, %L)', '+15550003333', '{}', :'sm'))) AS other_number;
-- SQL without a request context is not limited.
SELECT outcome(auth.sign_in_password('lim@limits.test', :'pw', '{"rate_limit_sign_in": 1, "backoff_failures": 1}')) AS psql
  FROM generate_series(1, 3);
-- The mfa bucket guards challenges and verifications (taken before the
-- caller is even looked at).
SELECT outcome(from_ip('192.0.2.12', $$auth.mfa_challenge(gen_random_uuid(), '{"rate_limit_mfa": 1}')$$)) AS mfa_first_gets_through;
SELECT outcome(from_ip('192.0.2.12', $$auth.mfa_verify(gen_random_uuid(), gen_random_uuid(), '123456', '{"rate_limit_mfa": 1}')$$)) ~ '^over_request_rate_limit' AS mfa_second_refused;
DELETE FROM auth.rate_limits;

-- The mail interval: one mail-sending request per address per interval,
-- whether or not the address has an account, across /otp, /recover and
-- /resend (and from any client); other addresses are not affected.
\set mail '{"email_min_interval_s": 60}'
SELECT outcome(from_ip('192.0.2.20', format('auth.recover(%L, %L)', 'lim@limits.test', :'mail'))) AS known_first;
SELECT outcome(from_ip('192.0.2.20', format('auth.recover(%L, %L)', 'nobody@limits.test', :'mail'))) AS unknown_first;
SELECT outcome(from_ip('192.0.2.21', format('auth.recover(%L, %L)', 'lim@limits.test', :'mail'))) ~ '^over_email_send_rate_limit after (59|60)$' AS known_again;
SELECT outcome(from_ip('192.0.2.21', format('auth.recover(%L, %L)', 'nobody@limits.test', :'mail'))) ~ '^over_email_send_rate_limit after (59|60)$' AS unknown_again;
SELECT outcome(from_ip('192.0.2.21', format('auth.send_otp(%L, false, %L, %L)', 'LIM@limits.test', '{}', :'mail'))) ~ '^over_email_send_rate_limit' AS otp_same_address;
SELECT outcome(from_ip('192.0.2.21', format('auth.resend(%L, %L, %L)', 'signup', 'nobody@limits.test', :'mail'))) ~ '^over_email_send_rate_limit' AS resend_same_address;
SELECT outcome(from_ip('192.0.2.21', format('auth.recover(%L, %L)', 'other@limits.test', :'mail'))) AS other_address;
SELECT (from_ip('192.0.2.21', format('auth.recover(%L, %L)', 'nobody@limits.test', :'mail')) -> 'error') - 'retry_after'::text AS refusal;
-- A sign-up that would send a confirmation counts too (with autoconfirm it sends nothing).
SELECT from_ip('192.0.2.22', format('auth.sign_up(%L, %L, %L, %L)', 'new@limits.test', :'pw', '{}', :'mail')) ? 'confirmation_sent_at' AS signup_mails;
SELECT outcome(from_ip('192.0.2.22', format('auth.sign_up(%L, %L, %L, %L)', 'new@limits.test', :'pw', '{}', :'mail'))) ~ '^over_email_send_rate_limit' AS signup_again;
SELECT outcome(from_ip('192.0.2.22', format('auth.sign_up(%L, %L, %L, %L)', 'new2@limits.test', :'pw', '{}', '{"email_min_interval_s": 60, "autoconfirm": true}'))) AS autoconfirm;
SELECT outcome(from_ip('192.0.2.22', format('auth.sign_up(%L, %L, %L, %L)', 'new2@limits.test', :'pw', '{}', '{"email_min_interval_s": 60, "autoconfirm": true}'))) AS autoconfirm_again;
-- After the interval the address may ask again.
UPDATE auth.rate_limits SET updated_at = updated_at - interval '61 seconds' WHERE bucket LIKE 'email_address:%';
SELECT outcome(from_ip('192.0.2.21', format('auth.recover(%L, %L)', 'lim@limits.test', :'mail'))) AS later;
-- Buckets hold no address in clear.
SELECT count(*) FILTER (WHERE bucket ~ 'limits\.test') AS in_clear, count(*) > 0 AS rows
  FROM auth.rate_limits;
DELETE FROM auth.rate_limits;

-- The backoff: after 3 failures from one client that client waits 1 s,
-- then 2, 4, ... (the password is not checked meanwhile: even the right
-- one is refused); another client gets in; a success clears the count.
\set bo '{"backoff_failures": 3, "backoff_account_failures": 5, "backoff_max_s": 900}'
SELECT format('SELECT %s AS n, try_(%L, %L, %L, %L) AS attacker', n, '198.51.100.1', 'lim@limits.test', 'wrong ' || n, :'bo')
  FROM generate_series(1, 3) n \gexec
SELECT try_('198.51.100.1', 'lim@limits.test', :'pw', :'bo') AS attacker_right_password;
SELECT try_('203.0.113.5', 'lim@limits.test', :'pw', :'bo') AS owner_elsewhere;
SELECT subject ~ '^[0-9a-f]{64}\|198\.51\.100\.1$' AS keyed_by_hash_and_client, failures,
       blocked_until - failed_at AS waits
  FROM auth.sign_in_backoff WHERE subject LIKE '%|198.51.100.1';
-- A success clears the client's count (not the address's).
SELECT try_('198.51.100.2', 'lim@limits.test', 'wrong once', :'bo') AS typo;
SELECT try_('198.51.100.2', 'lim@limits.test', :'pw', :'bo') AS then_right;
SELECT count(*) AS cleared FROM auth.sign_in_backoff WHERE subject LIKE '%|198.51.100.2';
-- The wait doubles with each further failure, up to the maximum.
UPDATE auth.sign_in_backoff SET blocked_until = now() - interval '1 second' WHERE subject LIKE '%|198.51.100.1';
SELECT try_('198.51.100.1', 'lim@limits.test', 'wrong again', :'bo') AS fourth;
SELECT blocked_until - failed_at AS waits FROM auth.sign_in_backoff WHERE subject LIKE '%|198.51.100.1';
UPDATE auth.sign_in_backoff SET failures = 40, blocked_until = now() - interval '1 second' WHERE subject LIKE '%|198.51.100.1';
SELECT try_('198.51.100.1', 'lim@limits.test', 'wrong again', :'bo') AS many;
SELECT blocked_until - failed_at AS capped FROM auth.sign_in_backoff WHERE subject LIKE '%|198.51.100.1';
-- An unknown address backs off exactly alike.
SELECT format('SELECT %s AS n, try_(%L, %L, %L, %L) AS unknown', n, '198.51.100.1', 'ghost@limits.test', 'wrong ' || n, :'bo')
  FROM generate_series(1, 3) n \gexec
SELECT try_('198.51.100.1', 'ghost@limits.test', 'wrong 4', :'bo') AS unknown_waits;
-- Failures from many clients: past 5 on the address within the hour,
-- every client that fails waits from its first failure; a client that has
-- not failed still gets in.
SELECT failures AS address_failures FROM auth.sign_in_backoff
 WHERE subject = auth._account_key('lim@limits.test');
SELECT try_('198.51.100.10', 'lim@limits.test', 'spray', :'bo') AS spray_failure;
SELECT try_('198.51.100.10', 'lim@limits.test', :'pw', :'bo') ~ '^over_request_rate_limit after 1$' AS waits_after_one;
SELECT try_('203.0.113.6', 'lim@limits.test', :'pw', :'bo') AS owner_still_gets_in;
-- Audit: a refused attempt is a login_failed with reason backoff.
SELECT count(*) > 0 AS audited FROM auth.audit_log_entries
 WHERE payload ->> 'action' = 'login_failed' AND payload -> 'traits' ->> 'reason' = 'backoff';

-- Email codes back off per address too, an address without a pending
-- code alike.
\set code '{"backoff_failures": 2}'
SELECT format('SELECT %s AS n, outcome(from_ip(%L, %L)) AS %s', n, '198.51.100.30',
              format('auth.verify(%L, %L, NULL, %L, %L)', 'email', '000000', a, :'code'), k)
  FROM generate_series(1, 3) n, (VALUES ('lim@limits.test', 'known'), ('ghost2@limits.test', 'unknown')) v(a, k)
 ORDER BY k, n \gexec
SELECT outcome(from_ip('198.51.100.31', format('auth.verify(%L, %L, NULL, %L, %L)', 'email', '000000', 'lim@limits.test', :'code'))) AS other_client;
DELETE FROM auth.sign_in_backoff;

-- Pruning: full buckets and backoff rows an hour past their last failure
-- go; live ones stay.
INSERT INTO auth.rate_limits VALUES ('old', 1, true, now() - interval '1 hour', now() - interval '55 minutes'),
                                    ('live', 0, false, now(), now() + interval '5 minutes');
INSERT INTO auth.sign_in_backoff VALUES ('old', 3, now() - interval '2 hours', now() - interval '119 minutes'),
                                        ('blocked', 30, now() - interval '2 hours', now() + interval '1 minute');
SELECT auth._limits_prune(1000) >= 2 AS pruned;
SELECT bucket FROM auth.rate_limits WHERE bucket IN ('old', 'live');
SELECT subject FROM auth.sign_in_backoff WHERE subject IN ('old', 'blocked');

-- Only the owner reads the tables and calls the helpers.
SET ROLE anon;
SELECT count(*) FROM auth.rate_limits;
SELECT count(*) FROM auth.sign_in_backoff;
SELECT auth._take('x', 1, 1);
SELECT auth._limits_prune();
RESET ROLE;

-- Leave the database as it was for the tests after this one.
DELETE FROM auth.rate_limits;
DELETE FROM auth.sign_in_backoff;
DELETE FROM auth.users WHERE email LIKE '%@limits.test' OR created_at >= :'t0';
DELETE FROM auth.outbox WHERE created_at >= :'t0';
DELETE FROM auth.audit_log_entries WHERE created_at >= :'t0';
DELETE FROM kiln.revoked_sessions WHERE revoked_at >= :'t0';
DROP FUNCTION public.try_(text, text, text, text), public.outcome(jsonb), public.from_ip(text, text);
