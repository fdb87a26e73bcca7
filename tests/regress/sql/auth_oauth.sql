-- auth_oauth: sign-in with an external provider (sql/kiln_auth/43-oauth.sql):
-- the single-use, expiring OAuth flow state; sign-in and sign-up keyed on
-- (provider, subject); an address never links, verified or not; bans; who
-- may call what. States, ids and tokens vary per run, so the output shows
-- their shape and relations, not their values.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;
-- A signing key, unless an earlier test left one.
SELECT NOT EXISTS (SELECT 1 FROM kiln.jwt_keys WHERE signing) AS need_key \gset
\if :need_key
SELECT kiln.rotate_signing_key('ES256') IS NOT NULL AS signing_key \gset
\endif
SELECT pg_catalog.clock_timestamp() AS t0 \gset

-- A flow: state, verifier, its S256 challenge, nonce.
SELECT auth.oauth_begin('corp', 'http://app.test/done') AS f \gset
SELECT (:'f'::jsonb ->> 'state') ~ '^[0-9a-f-]{36}$' AS state_is_uuid,
       length(:'f'::jsonb ->> 'code_verifier') >= 43 AS verifier_43_plus,
       (:'f'::jsonb ->> 'code_challenge') =
         rtrim(translate(encode(sha256(convert_to(:'f'::jsonb ->> 'code_verifier', 'UTF8')), 'base64'), '+/', '-_'), '=')
         AS challenge_is_s256,
       length(:'f'::jsonb ->> 'nonce') >= 16 AS nonce_long;
SELECT auth.oauth_begin('bad provider!', NULL) -> 'error' AS bad_provider_name;
-- The sign-in rate limit (per client ip) counts flows begun.
BEGIN;
SELECT kiln.authenticate(NULL, '{"request_id": "req-oauth-rl", "client_ip": "192.0.2.20"}') AS role;
SELECT auth.oauth_begin('corp', NULL, '{"rate_limit_sign_in": 1}') ? 'state' AS first_in_window;
SELECT auth.oauth_begin('corp', NULL, '{"rate_limit_sign_in": 1}') -> 'error' ->> 'code' AS second_refused;
COMMIT;
DELETE FROM auth.rate_limits;

-- Consumed once: the second time it is unknown.
SELECT auth.oauth_consume(:'f'::jsonb ->> 'state') - 'code_verifier' - 'nonce' AS consumed;
SELECT (auth.oauth_consume(:'f'::jsonb ->> 'state') -> 'code_verifier') IS NULL AS not_again;
SELECT auth.oauth_consume(:'f'::jsonb ->> 'state') -> 'error' AS replayed;
SELECT auth.oauth_consume('not-a-uuid') -> 'error' ->> 'code' AS garbage,
       auth.oauth_consume(NULL) -> 'error' ->> 'code' AS missing,
       auth.oauth_consume(gen_random_uuid()::text) -> 'error' ->> 'code' AS unknown;

-- Expired after 10 minutes (and swept by the next begin).
SELECT auth.oauth_begin('corp', NULL) ->> 'state' AS old \gset
UPDATE auth.oauth_states SET created_at = now() - interval '11 minutes' WHERE id = :'old';
SELECT auth.oauth_consume(:'old') -> 'error' AS expired;
SELECT auth.oauth_begin('corp', NULL) ->> 'state' AS s2 \gset
UPDATE auth.oauth_states SET created_at = now() - interval '11 minutes' WHERE id = :'s2';
SELECT auth.oauth_begin('corp', NULL) ? 'state' AS begun;
SELECT NOT EXISTS (SELECT 1 FROM auth.oauth_states WHERE id = :'s2') AS stale_swept;

-- First sign-in signs up: user, identity keyed on (provider, subject).
SELECT auth.sign_in_external('corp', 'sub-1',
         '{"email": "Ann@Corp.test", "name": "Ann", "nonce": "n", "aud": "x", "exp": 1}', true) AS s1 \gset
SELECT :'s1'::jsonb ? 'access_token' AS session,
       :'s1'::jsonb -> 'user' ->> 'email' AS email,
       (:'s1'::jsonb -> 'user' ->> 'email_confirmed_at') IS NOT NULL AS confirmed,
       :'s1'::jsonb -> 'user' -> 'app_metadata' AS app_metadata,
       :'s1'::jsonb -> 'user' -> 'identities' -> 0 ->> 'provider' AS provider,
       :'s1'::jsonb -> 'user' -> 'identities' -> 0 ->> 'id' AS provider_id,
       :'s1'::jsonb -> 'user' -> 'identities' -> 0 -> 'identity_data' AS identity_data;
SELECT (kiln.verify_jwt(:'s1'::jsonb ->> 'access_token') -> 'amr' -> 0 ->> 'method') AS amr;

-- The same subject again: the same user, identity data refreshed.
SELECT auth.sign_in_external('corp', 'sub-1', '{"email": "ann@corp.test", "name": "Ann B"}', true) AS s1b \gset
SELECT (:'s1b'::jsonb -> 'user' ->> 'id') = (:'s1'::jsonb -> 'user' ->> 'id') AS same_user,
       :'s1b'::jsonb -> 'user' -> 'identities' -> 0 -> 'identity_data' ->> 'name' AS name_now,
       jsonb_array_length(:'s1b'::jsonb -> 'user' -> 'identities') AS identities;

-- Another subject with the same address, verified or not: refused, no
-- takeover, nothing created.
SELECT auth.sign_in_external('corp', 'sub-2', '{"email": "ann@corp.test"}', true) -> 'error' AS other_subject_verified;
SELECT auth.sign_in_external('corp', 'sub-3', '{"email": "ANN@corp.test"}', false) -> 'error' ->> 'code' AS other_subject_unverified;
SELECT auth.sign_in_external('other', 'sub-1', '{"email": "ann@corp.test"}', true) -> 'error' ->> 'code' AS same_subject_other_provider;
-- A password account's address is not taken over either.
SELECT auth.sign_up('pw@corp.test', 'a long enough passphrase', '{}', '{"autoconfirm": true}') ? 'access_token' AS pw_user;
SELECT auth.sign_in_external('corp', 'sub-4', '{"email": "pw@corp.test"}', true) -> 'error' ->> 'code' AS pw_address;
SELECT count(*) AS identities_for_ann_address FROM auth.identities WHERE email = 'ann@corp.test';

-- No address: fine, an unverified one: kept unconfirmed.
SELECT auth.sign_in_external('gh', '42', '{"login": "octo"}', false) -> 'user' ->> 'email' AS no_email;
SELECT (auth.sign_in_external('gh', '43', '{"email": "u@gh.test"}', false) -> 'user' ->> 'email_confirmed_at') IS NULL AS unverified_unconfirmed;

-- Bad arguments.
SELECT auth.sign_in_external('corp', '', '{}') -> 'error' ->> 'message' AS empty_subject,
       auth.sign_in_external('email', 'x', '{}') -> 'error' ->> 'code' AS reserved_provider,
       auth.sign_in_external('corp', 'x', '[1]') -> 'error' ->> 'code' AS data_not_object;

-- Sign-up off: known identities still sign in, new ones do not.
SELECT auth.sign_in_external('corp', 'sub-1', '{}', true, '{"signup_enabled": false}') ? 'access_token' AS known_ok,
       auth.sign_in_external('corp', 'sub-9', '{}', true, '{"signup_enabled": false}') -> 'error' ->> 'code' AS new_refused;

-- Banned users get nothing.
UPDATE auth.users SET banned_until = now() + interval '1 hour' WHERE id = (:'s1'::jsonb -> 'user' ->> 'id')::uuid;
SELECT auth.sign_in_external('corp', 'sub-1', '{}', true) -> 'error' AS banned;

-- A refusal in the daemon (bad ID token, provider error) is audited too.
SELECT auth.oauth_failed('corp', 'bad_id_token') AS failed_answer;

-- Audit rows.
SELECT payload ->> 'action' AS action, payload -> 'traits' ->> 'provider' AS provider, count(*)
  FROM auth.audit_log_entries WHERE payload -> 'traits' ->> 'provider' IN ('corp', 'gh')
 GROUP BY 1, 2 ORDER BY 1, 2;

-- Who may call what: the flows are for the request roles; the table for nobody.
SET ROLE anon;
SELECT auth.oauth_begin('corp', NULL) ? 'state' AS anon_begins;
SELECT count(*) FROM auth.oauth_states;
RESET ROLE;
SELECT has_function_privilege('anon', 'auth._b64url(bytea)', 'EXECUTE') AS helper_for_anon;

-- Leave the database as it was for the tests after this one.
DELETE FROM auth.users WHERE created_at >= :'t0';
DELETE FROM auth.audit_log_entries WHERE created_at >= :'t0';
DELETE FROM auth.oauth_states;
DELETE FROM auth.rate_limits;
