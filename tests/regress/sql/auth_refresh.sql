-- auth_refresh: auth.refresh_session, the refresh-token grant written in C
-- (extension/auth_refresh.c). What it answers must be what the SQL builders
-- of the other flows give for the same user and session, byte for byte:
-- the access token's claims (auth._session_json), the user object
-- (auth._user_json) and the audit rows (auth._audit). Then its refusals,
-- one per branch: empty, unknown and ended-session tokens, banned and
-- deleted users, reuse inside and outside the window, the parent-of-active
-- grace, timebox and inactivity, the rate limit; and that its kept plans
-- follow a change of the tables they read.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;
-- Times in the answers are UTC whatever the session's zone.
SET timezone = 'America/Los_Angeles';
SELECT kiln.rotate_signing_key('ES256') IS NOT NULL AS signing_key;
\set on '{"autoconfirm": true}'
-- An access token's claims without verifying it (the issuer below is not
-- on kiln.jwt_issuers).
CREATE FUNCTION pg_temp.claims(t text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT convert_from(decode(rpad(translate(s, '-_', '+/'), (length(s) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb
    FROM (SELECT split_part(t, '.', 2) AS s) x
$$;
\set meta '{"request_id": "req-refresh-1", "client_ip": "198.51.100.7"}'

-- A user with everything the user object and the claims carry: metadata,
-- two identities, two factors (one challenged), a tenant.
SELECT auth.sign_up('rita@refresh.test', 'rita refreshes often', '{"name": "Rita", "n": 1.50}', :'on') AS s0 \gset
SELECT (:'s0'::jsonb -> 'user' ->> 'id') AS uid \gset
UPDATE auth.users SET raw_app_meta_data = raw_app_meta_data || '{"plan": "pro", "z": [1, {"b": null}]}',
                      phone = '15550001111', phone_confirmed_at = '2024-02-29 23:59:59.5+00'
 WHERE id = :'uid';
INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at)
VALUES ('gh-42', :'uid', '{"sub": "gh-42", "email": "Rita@GH.example"}', 'github', NULL, '2001-01-01 00:00:00+00');
INSERT INTO auth.mfa_factors (user_id, friendly_name, factor_type, status, created_at)
VALUES (:'uid', NULL, 'totp', 'unverified', '2020-01-01 12:00:00.000001+00');
INSERT INTO auth.mfa_factors (user_id, friendly_name, factor_type, status, last_challenged_at)
VALUES (:'uid', 'phone app', 'totp', 'verified', now());
INSERT INTO kiln.tenants (id, name) VALUES ('00000000-0000-4000-8000-00000000beef', 'rita inc');
INSERT INTO kiln.tenant_members (tenant_id, user_id, role) VALUES ('00000000-0000-4000-8000-00000000beef', :'uid', 'owner');

-- One transaction, so that now() (iat, exp) is the same for both builders.
BEGIN;
SELECT kiln.authenticate(NULL, :'meta') AS role;
SELECT auth.refresh_session(:'s0'::jsonb ->> 'refresh_token', '{"issuer": "https://rita.example"}') AS r \gset
-- Back to the superuser running this file, to call the owner-only helpers
-- (the verified context stays).
RESET ROLE;
SELECT auth._session_json(u, (SELECT session_id FROM auth.refresh_tokens
                               WHERE token_hash = sha256(convert_to(:'r'::jsonb ->> 'refresh_token', 'UTF8'))),
                          :'r'::jsonb ->> 'refresh_token', '{"issuer": "https://rita.example"}') AS q
  FROM auth.users u WHERE u.id = :'uid' \gset
-- The signed payload segment itself, not only its meaning.
SELECT split_part(:'r'::jsonb ->> 'access_token', '.', 2) = split_part(:'q'::jsonb ->> 'access_token', '.', 2)
         AS same_claims_bytes,
       split_part(:'r'::jsonb ->> 'access_token', '.', 1) = split_part(:'q'::jsonb ->> 'access_token', '.', 1)
         AS same_header,
       (:'r'::jsonb - 'access_token')::text = (:'q'::jsonb - 'access_token')::text AS same_response_text;
SELECT jsonb_object_keys(pg_temp.claims(:'r'::jsonb ->> 'access_token')) AS claim ORDER BY 1;
SELECT c ->> 'iss' AS iss, c ->> 'tenant_id' AS tenant_id, c -> 'app_metadata' AS app_metadata,
       c -> 'user_metadata' AS user_metadata, c ->> 'phone' AS phone, c -> 'amr' -> 0 ->> 'method' AS amr
  FROM (SELECT pg_temp.claims(:'r'::jsonb ->> 'access_token') AS c) x;
SELECT (:'r'::jsonb -> 'user') = auth._user_json(u) AS same_user_object,
       jsonb_array_length(:'r'::jsonb -> 'user' -> 'identities') AS identities,
       jsonb_array_length(:'r'::jsonb -> 'user' -> 'factors') AS factors,
       :'r'::jsonb -> 'user' -> 'factors' -> 0 ->> 'friendly_name' AS first_factor_name,
       :'r'::jsonb -> 'user' ->> 'phone_confirmed_at' AS phone_confirmed_at
  FROM auth.users u WHERE u.id = :'uid';
-- The audit row, next to the one auth._audit writes for the same event.
SELECT auth._audit('token_refreshed', :'uid', 'rita@refresh.test', 'token',
                   jsonb_build_object('session_id', (pg_temp.claims(:'r'::jsonb ->> 'access_token') ->> 'session_id')::uuid));
SELECT count(DISTINCT payload::text) AS distinct_payloads, count(*) AS rows, min(ip_address) AS ip
  FROM auth.audit_log_entries WHERE payload ->> 'request_id' = 'req-refresh-1';
COMMIT;

-- Without a tenant (kiln.default_tenant gives none for two) and with no
-- factor: the member is left out, as the SQL builder leaves it out.
INSERT INTO kiln.tenants (id, name) VALUES ('00000000-0000-4000-8000-00000000cafe', 'rita two');
INSERT INTO kiln.tenant_members (tenant_id, user_id, role) VALUES ('00000000-0000-4000-8000-00000000cafe', :'uid', 'member');
DELETE FROM auth.mfa_factors WHERE user_id = :'uid';
BEGIN;
SELECT auth.refresh_session(:'r'::jsonb ->> 'refresh_token') AS r2 \gset
SELECT auth._session_json(u, (kiln.verify_jwt(:'r2'::jsonb ->> 'access_token') ->> 'session_id')::uuid,
                          :'r2'::jsonb ->> 'refresh_token', '{}') AS q2
  FROM auth.users u WHERE u.id = :'uid' \gset
SELECT split_part(:'r2'::jsonb ->> 'access_token', '.', 2) = split_part(:'q2'::jsonb ->> 'access_token', '.', 2)
         AS same_claims_bytes,
       kiln.verify_jwt(:'r2'::jsonb ->> 'access_token') ? 'tenant_id' AS has_tenant,
       (:'r2'::jsonb -> 'user') ? 'factors' AS has_factors,
       (:'r2'::jsonb - 'access_token')::text = (:'q2'::jsonb - 'access_token')::text AS same_response_text;
COMMIT;

-- Refusals.
SELECT auth.refresh_session(NULL) -> 'error' AS null_token;
SELECT auth.refresh_session('', NULL) -> 'error' AS empty_token;
SELECT auth.refresh_session('never issued') -> 'error' AS unknown_token;
SELECT auth.refresh_session(repeat('é', 5000)) -> 'error' ->> 'code' AS long_unicode_token;
-- Bad settings fall back to the defaults, as auth._setting_int does.
SELECT auth.refresh_session(:'r2'::jsonb ->> 'refresh_token', '[1, 2]') AS r3 \gset
SELECT :'r3'::jsonb ? 'access_token' AS array_settings, (:'r3'::jsonb ->> 'expires_in')::int AS default_ttl;
SELECT auth.refresh_session(:'r2'::jsonb ->> 'refresh_token',
                            '{"access_token_ttl_s": 5}') AS r4 \gset
SELECT (:'r4'::jsonb ->> 'expires_in')::int AS ttl_floor_30,
       (:'r4'::jsonb ->> 'refresh_token') = (:'r3'::jsonb ->> 'refresh_token') AS reuse_same_successor;

-- Reuse: inside the window the same successor comes back; the active
-- token's parent gets it back whatever the window; an older token ends the
-- session.
SELECT auth.sign_in_password('rita@refresh.test', 'rita refreshes often', :'on') ->> 'refresh_token' AS t0 \gset
SELECT auth.refresh_session(:'t0') ->> 'refresh_token' AS t1 \gset
SELECT auth._successor(k.key, :'t0') = :'t1' AS successor_as_sql_derives_it
  FROM auth.refresh_token_keys k JOIN auth.refresh_tokens r ON r.session_id = k.session_id
 WHERE r.token_hash = sha256(convert_to(:'t0', 'UTF8'));
SELECT auth.refresh_session(:'t0') ->> 'refresh_token' = :'t1' AS window_same_successor;
SELECT auth.refresh_session(:'t1') ->> 'refresh_token' AS t2 \gset
SELECT auth.refresh_session(:'t1', '{"refresh_reuse_interval_s": 0}') ->> 'refresh_token' = :'t2' AS parent_grace;
UPDATE auth.refresh_tokens SET updated_at = now() - interval '11 seconds'
 WHERE token_hash = sha256(convert_to(:'t0', 'UTF8'));
SELECT auth.refresh_session(:'t0') -> 'error' AS outside_window;
SELECT auth.refresh_session(:'t2') -> 'error' ->> 'code' AS active_token_gone;
SELECT payload -> 'traits' ->> 'reason' AS audited FROM auth.audit_log_entries
 WHERE payload ->> 'action' = 'token_revoked' ORDER BY created_at DESC LIMIT 1;
SELECT count(*) FILTER (WHERE payload -> 'traits' ->> 'reused' = 'true') AS reused_rows
  FROM auth.audit_log_entries WHERE payload ->> 'action' = 'token_refreshed';

-- Banned, deleted, ended sessions, timebox, inactivity.
SELECT auth.sign_in_password('rita@refresh.test', 'rita refreshes often', :'on') ->> 'refresh_token' AS b0 \gset
UPDATE auth.users SET banned_until = now() + interval '1 hour' WHERE id = :'uid';
SELECT auth.refresh_session(:'b0') -> 'error' AS banned;
SELECT payload -> 'traits' ->> 'reason' AS audited FROM auth.audit_log_entries
 WHERE payload ->> 'action' = 'token_refresh_failed';
UPDATE auth.users SET banned_until = now() - interval '1 second' WHERE id = :'uid';
SELECT auth.refresh_session(:'b0') ->> 'refresh_token' AS b1 \gset
SELECT :'b1' <> '' AS ban_over;
UPDATE auth.users SET deleted_at = now() WHERE id = :'uid';
SELECT auth.refresh_session(:'b1') -> 'error' ->> 'code' AS deleted_user;
UPDATE auth.users SET deleted_at = NULL WHERE id = :'uid';
DELETE FROM auth.sessions WHERE id = (SELECT session_id FROM auth.refresh_tokens
                                       WHERE token_hash = sha256(convert_to(:'b1', 'UTF8')));
SELECT auth.refresh_session(:'b1') -> 'error' ->> 'code' AS session_ended;
SELECT auth.sign_in_password('rita@refresh.test', 'rita refreshes often', :'on') ->> 'refresh_token' AS e0 \gset
UPDATE auth.sessions SET not_after = now() - interval '1 second'
 WHERE id = (SELECT session_id FROM auth.refresh_tokens WHERE token_hash = sha256(convert_to(:'e0', 'UTF8')));
SELECT auth.refresh_session(:'e0') -> 'error' AS past_timebox;
SELECT auth.sign_in_password('rita@refresh.test', 'rita refreshes often', :'on') ->> 'refresh_token' AS i0 \gset
UPDATE auth.sessions SET refreshed_at = refreshed_at - interval '2 hours'
 WHERE id = (SELECT session_id FROM auth.refresh_tokens WHERE token_hash = sha256(convert_to(:'i0', 'UTF8')));
SELECT auth.refresh_session(:'i0', '{"session_inactivity_timeout_s": 7200}') -> 'error' ->> 'code' AS idle_2h;
SELECT payload -> 'traits' ->> 'reason' AS reason, count(*) AS n FROM auth.audit_log_entries
 WHERE payload ->> 'action' = 'token_revoked' GROUP BY 1 ORDER BY 1;
SELECT count(*) AS sessions_left FROM auth.sessions s WHERE s.user_id = :'uid'
   AND s.id IN (SELECT session_id FROM auth.refresh_tokens
                 WHERE token_hash IN (sha256(convert_to(:'e0', 'UTF8')), sha256(convert_to(:'i0', 'UTF8'))));

-- A session without its refresh key is corrupt: an error, not a token.
SELECT auth.sign_in_password('rita@refresh.test', 'rita refreshes often', :'on') ->> 'refresh_token' AS k0 \gset
DELETE FROM auth.refresh_token_keys
 WHERE session_id = (SELECT session_id FROM auth.refresh_tokens WHERE token_hash = sha256(convert_to(:'k0', 'UTF8')));
SELECT auth.refresh_session(:'k0');

-- The rate limit (per client ip) refuses before anything is read.
SELECT auth.sign_in_password('rita@refresh.test', 'rita refreshes often', :'on') ->> 'refresh_token' AS l0 \gset
BEGIN;
SELECT kiln.authenticate(NULL, '{"client_ip": "192.0.2.77"}') AS role;
SELECT auth.refresh_session(:'l0', '{"rate_limit_refresh": 1}') ->> 'refresh_token' AS l1 \gset
COMMIT;
BEGIN;
SELECT kiln.authenticate(NULL, '{"client_ip": "192.0.2.77"}') AS role;
SELECT e - 'retry_after' AS limited, (e ->> 'retry_after')::int BETWEEN 200 AND 300 AS retry_after
  FROM (SELECT auth.refresh_session(:'l1', '{"rate_limit_refresh": 1}') -> 'error' AS e) x;
COMMIT;

-- The kept plans follow the tables: a column added to and dropped from
-- every table the grant reads or writes changes nothing it answers.
SELECT auth.refresh_session(:'l1') ->> 'refresh_token' AS p1 \gset
ALTER TABLE auth.refresh_tokens ADD COLUMN scratch int;
ALTER TABLE auth.users ADD COLUMN scratch int;
ALTER TABLE auth.audit_log_entries ADD COLUMN scratch int;
SELECT auth.refresh_session(:'p1') ->> 'refresh_token' AS p2 \gset
ALTER TABLE auth.refresh_tokens DROP COLUMN scratch;
ALTER TABLE auth.users DROP COLUMN scratch;
ALTER TABLE auth.audit_log_entries DROP COLUMN scratch;
SELECT auth.refresh_session(:'p2') ? 'access_token' AS after_ddl;

-- Who may call it: the app roles, through EXECUTE; nothing else of it.
SELECT p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') AS in_c, p.prosecdef AS security_definer,
       p.proconfig AS config
  FROM pg_proc p WHERE p.oid = 'auth.refresh_session(text, jsonb)'::regprocedure;
SELECT has_function_privilege('anon', 'auth.refresh_session(text, jsonb)', 'EXECUTE') AS anon_may,
       has_function_privilege('public', 'auth.refresh_session(text, jsonb)', 'EXECUTE') AS public_may;

-- Leaves nothing behind for the tests after it.
WITH a AS (DELETE FROM auth.audit_log_entries WHERE payload ->> 'actor_id' = :'uid' RETURNING 1),
     b AS (DELETE FROM auth.users WHERE id = :'uid' RETURNING 1),
     c AS (DELETE FROM kiln.tenants WHERE name LIKE 'rita%' RETURNING 1),
     d AS (DELETE FROM auth.rate_limits WHERE bucket = 'refresh:192.0.2.77' RETURNING 1)
SELECT (SELECT count(*) FROM a) > 0 AND (SELECT count(*) FROM b) = 1 AND (SELECT count(*) FROM c) = 2
       AND (SELECT count(*) FROM d) = 1 AS cleaned;
