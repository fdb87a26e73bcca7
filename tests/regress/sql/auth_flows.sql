-- auth_flows: the GoTrue flows as SQL functions (sql/kiln_auth/40-flows.sql):
-- sign-up and the password policy, anonymous sign-in, the password grant
-- (no account-existence leak, bcrypt rehash, bans, unconfirmed addresses),
-- refresh-token rotation with the reuse window, parent-of-active grace and
-- session revocation on replay, sign-out scopes, get/update user, the admin
-- API, the audit rows, and who may call what. Tokens, ids and times vary per
-- run, so the output shows their shape and relations, not their values.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;
SELECT kiln.rotate_signing_key('ES256') IS NOT NULL AS signing_key;
SELECT pg_catalog.clock_timestamp() AS t0 \gset

-- Settings as the daemon passes them.
\set on '{"autoconfirm": true, "anonymous_enabled": true}'

-- Password policy: length (floor 8, configurable upwards), the blocklist
-- exactly as typed, and nothing else.
SELECT auth.sign_up('p1@flows.test', 'short7!') -> 'error' AS too_short;
SELECT auth.sign_up('p1@flows.test', 'password123') -> 'error' AS on_the_list;
SELECT auth.sign_up('p1@flows.test', 'Password123', '{}', :'on') -> 'error' AS listed_capitalised;
SELECT auth.sign_up('p1@flows.test', 'eight ch', '{}', '{"password_min_length": 12}') -> 'error' ->> 'message' AS min_12;
SELECT auth.sign_up('p1@flows.test', 'eight ch', '{}', '{"password_min_length": 4}') ? 'error' AS floor_is_8_so_8_is_fine;
SELECT (SELECT count(*) FROM auth.password_blocklist) > 5000 AS list_is_bundled,
       (SELECT min(char_length(password)) FROM auth.password_blocklist) AS shortest_entry;
-- No composition rules: all lower case letters and spaces is fine.
SELECT auth.sign_up('p2@flows.test', 'correct horse battery staple', '{}', :'on') ? 'access_token' AS lowercase_ok;
-- 128 characters are kept whole, and the password is verified as typed.
SELECT auth.sign_up('p3@flows.test', repeat('x', 79) || 'A' || repeat('y', 48), '{}', :'on') ? 'access_token' AS long_ok;
SELECT auth.sign_in_password('p3@flows.test', repeat('x', 79) || 'B' || repeat('y', 48), :'on') -> 'error' ->> 'code' AS differs_at_80,
       auth.sign_in_password('p3@flows.test', repeat('x', 79) || 'A' || repeat('y', 48), :'on') ? 'access_token' AS same_signs_in;
SELECT encrypted_password LIKE '$argon2id$v=19$m=19456,t=2,p=1$%' AS argon2id FROM auth.users WHERE email = 'p3@flows.test';

-- Bad input.
SELECT auth.sign_up(NULL, 'a long passphrase') -> 'error' AS no_email;
SELECT auth.sign_up('not an address', 'a long passphrase') -> 'error' AS bad_email;
SELECT auth.sign_up('d@flows.test', 'a long passphrase', '[1]') -> 'error' AS data_not_object;
SELECT auth.sign_up('s@flows.test', 'a long passphrase', '{}', '{"signup_enabled": false}') -> 'error' AS signups_off;
-- Metadata rides in every access token: at most 2048 bytes of JSON.
SELECT auth.sign_up('m@flows.test', 'a long passphrase', jsonb_build_object('x', repeat('y', 2100))) -> 'error' ->> 'message' AS data_too_large;

-- Sign-up with autoconfirm: a session whose access token carries the
-- claims of the wire contract.
SELECT auth.sign_up(' Ada@Flows.TEST ', 'ada lovelace 1815', '{"name": "Ada"}', :'on') AS s \gset
SELECT jsonb_object_keys(:'s'::jsonb) AS session_keys ORDER BY 1;
SELECT :'s'::jsonb ->> 'token_type' AS token_type, (:'s'::jsonb ->> 'expires_in')::int AS expires_in,
       (:'s'::jsonb ->> 'expires_at')::bigint - extract(epoch FROM now())::bigint BETWEEN 3590 AND 3610 AS expires_at_ok,
       length(:'s'::jsonb ->> 'refresh_token') AS refresh_token_length;
SELECT jsonb_object_keys(:'s'::jsonb -> 'user') AS user_keys ORDER BY 1;
SELECT u ->> 'email' AS email, u ->> 'phone' AS phone, u -> 'app_metadata' AS app_metadata,
       u -> 'user_metadata' AS user_metadata, u -> 'identities' -> 0 ->> 'provider' AS identity,
       u ->> 'created_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' AS rfc3339
  FROM (SELECT :'s'::jsonb -> 'user' AS u) x;
SELECT kiln.verify_jwt(:'s'::jsonb ->> 'access_token') AS c \gset
SELECT jsonb_object_keys(:'c'::jsonb) AS claim ORDER BY 1;
SELECT c ->> 'iss' AS iss, c ->> 'aud' AS aud, c ->> 'role' AS role, c ->> 'email' AS email, c ->> 'phone' AS phone,
       c ->> 'aal' AS aal, c -> 'amr' -> 0 ->> 'method' AS amr, c -> 'is_anonymous' AS is_anonymous,
       (c ->> 'sub') = (:'s'::jsonb -> 'user' ->> 'id') AS sub_is_user,
       (c ->> 'exp')::bigint - (c ->> 'iat')::bigint AS lifetime,
       EXISTS (SELECT 1 FROM auth.sessions WHERE id = (c ->> 'session_id')::uuid) AS session_row
  FROM (SELECT :'c'::jsonb AS c) x;
SELECT auth.sign_up('ada@flows.test', 'another passphrase', '{}', :'on') -> 'error' AS taken_autoconfirm;
-- Confirmations on: a taken address gets a user-shaped answer, like a new one.
SELECT (auth.sign_up('ADA@flows.test', 'another passphrase') - 'id' - 'created_at' - 'updated_at'
        - 'confirmation_sent_at' - 'identities') AS taken_confirming;
-- Identities included (one email identity of the look-alike user, as a new
-- user has: an empty list would tell the address is taken).
SELECT jsonb_array_length(r -> 'identities') AS identities,
       r -> 'identities' -> 0 ->> 'user_id' = r ->> 'id' AS own_id,
       (r -> 'identities' -> 0 -> 'identity_data') - 'sub'::text AS identity_data
  FROM auth.sign_up('ADA@flows.test', 'another passphrase') r;

-- Without autoconfirm: the bare user, and sign-in waits for confirmation.
SELECT r ? 'access_token' AS has_session, r ? 'confirmation_sent_at' AS confirmation_sent, r ->> 'email' AS email
  FROM auth.sign_up('bob@flows.test', 'bob builder 99') r;
SELECT auth.sign_in_password('bob@flows.test', 'bob builder 99') -> 'error' AS unconfirmed;

-- Password grant: an unknown address and a wrong password are the same
-- answer.
SELECT auth.sign_in_password('nobody@flows.test', 'whatever it is', :'on') AS unknown_user \gset
SELECT auth.sign_in_password('ada@flows.test', 'whatever it is', :'on') AS wrong_password \gset
SELECT :'unknown_user' AS unknown_user, :'unknown_user' = :'wrong_password' AS same_answer;
SELECT auth.sign_in_password('ada@flows.test', NULL) -> 'error' AS no_password;
SELECT auth.sign_in_password('ADA@flows.test', 'ada lovelace 1815', :'on') AS s2 \gset
SELECT (:'s2'::jsonb -> 'user' ->> 'id') = (:'s'::jsonb -> 'user' ->> 'id') AS same_user,
       (kiln.verify_jwt(:'s2'::jsonb ->> 'access_token') ->> 'session_id')
         <> (kiln.verify_jwt(:'s'::jsonb ->> 'access_token') ->> 'session_id') AS new_session,
       (:'s2'::jsonb ->> 'refresh_token') <> (:'s'::jsonb ->> 'refresh_token') AS new_refresh_token;

-- A bcrypt import signs in and is rehashed to argon2id.
INSERT INTO auth.users (email, encrypted_password, email_confirmed_at)
VALUES ('imported@flows.test', '$2b$10$pkYtEOPBz464NG2LGAYwouK.IE8S0WrqfkmEK8ARfsTCShnFgt7sG', now());
SELECT auth.sign_in_password('imported@flows.test', 'not the password', :'on') -> 'error' ->> 'code' AS bcrypt_wrong;
SELECT encrypted_password LIKE '$2b$%' AS still_bcrypt FROM auth.users WHERE email = 'imported@flows.test';
SELECT auth.sign_in_password('imported@flows.test', 'imported pass 1', :'on') ? 'access_token' AS bcrypt_signs_in;
SELECT encrypted_password LIKE '$argon2id$%' AS rehashed_argon2id FROM auth.users WHERE email = 'imported@flows.test';
SELECT auth.sign_in_password('imported@flows.test', 'imported pass 1', :'on') ? 'access_token' AS signs_in_after_rehash;

-- A sign-in never mints another role, whatever auth.users.role says.
UPDATE auth.users SET role = 'service_role' WHERE email = 'imported@flows.test';
SELECT kiln.verify_jwt(auth.sign_in_password('imported@flows.test', 'imported pass 1', :'on') ->> 'access_token') ->> 'role' AS role;

-- Refresh tokens: stored as hashes only.
SELECT count(*) FILTER (WHERE token_hash = sha256(convert_to(:'s2'::jsonb ->> 'refresh_token', 'UTF8'))) AS hash_stored,
       bool_and(length(token_hash) = 32) AS all_hashes
  FROM auth.refresh_tokens;
SELECT :'s2'::jsonb ->> 'refresh_token' AS r0 \gset
SELECT auth.refresh_session(:'r0', :'on') AS r \gset
SELECT :'r'::jsonb ->> 'refresh_token' AS r1 \gset
SELECT :'r1' <> :'r0' AS rotated, (:'r'::jsonb ? 'access_token') AS new_access_token,
       kiln.verify_jwt(:'r'::jsonb ->> 'access_token') ->> 'session_id'
         = kiln.verify_jwt(:'s2'::jsonb ->> 'access_token') ->> 'session_id' AS same_session;
-- Inside the reuse window the parent gets the same child back.
SELECT auth.refresh_session(:'r0', :'on') ->> 'refresh_token' = :'r1' AS same_child_in_window;
SELECT auth.refresh_session(:'r1', :'on') ->> 'refresh_token' AS r2 \gset
SELECT kiln.verify_jwt(:'r'::jsonb ->> 'access_token') ->> 'session_id' AS r_sid \gset
-- Out of the window (0 s): the parent of the active token still gets it
-- back (the client lost the answer to its last refresh)...
SELECT auth.refresh_session(:'r1', '{"refresh_reuse_interval_s": 0}') ->> 'refresh_token' = :'r2' AS parent_of_active_grace;
-- ...but the grandparent is a replay: the whole session is revoked.
SELECT auth.refresh_session(:'r0', '{"refresh_reuse_interval_s": 0}') -> 'error' AS replay;
SELECT auth.refresh_session(:'r2', :'on') -> 'error' AS active_token_gone;
SELECT EXISTS (SELECT 1 FROM kiln.revoked_sessions WHERE session_id = :'r_sid') AS access_tokens_revoked,
       NOT EXISTS (SELECT 1 FROM auth.sessions WHERE id = :'r_sid') AS session_gone;
-- Session lifetime: absolute (not_after, from session_timebox_s; 30 days by
-- default) and inactivity (no refresh for session_inactivity_timeout_s).
CREATE FUNCTION pg_temp.sid(s jsonb) RETURNS uuid LANGUAGE sql AS $$
  SELECT (kiln.verify_jwt(s ->> 'access_token') ->> 'session_id')::uuid $$;
SELECT auth.sign_in_password('p2@flows.test', 'correct horse battery staple', :'on') AS tdef \gset
SELECT auth.sign_in_password('p2@flows.test', 'correct horse battery staple', '{"session_timebox_s": 3600}') AS tb \gset
SELECT (SELECT not_after - created_at FROM auth.sessions WHERE id = pg_temp.sid(:'tdef')) AS default_timebox,
       (SELECT not_after - created_at FROM auth.sessions WHERE id = pg_temp.sid(:'tb')) AS timebox;
UPDATE auth.sessions SET not_after = now() - interval '1 second' WHERE id = pg_temp.sid(:'tb');
SELECT pg_temp.sid(:'tb') AS tb_sid \gset
SELECT auth.refresh_session(:'tb'::jsonb ->> 'refresh_token') -> 'error' ->> 'code' AS past_timebox;
SELECT NOT EXISTS (SELECT 1 FROM auth.sessions WHERE id = :'tb_sid') AS session_ended;
SELECT auth.sign_in_password('p2@flows.test', 'correct horse battery staple', :'on') AS ia \gset
SELECT auth.sign_in_password('p2@flows.test', 'correct horse battery staple', :'on') AS ib \gset
UPDATE auth.sessions SET refreshed_at = refreshed_at - interval '8 days'
 WHERE id IN (pg_temp.sid(:'ia'), pg_temp.sid(:'ib'));
SELECT auth.refresh_session(:'ia'::jsonb ->> 'refresh_token') -> 'error' ->> 'code' AS idle_8_days,
       auth.refresh_session(:'ib'::jsonb ->> 'refresh_token', '{"session_inactivity_timeout_s": 0}') ? 'access_token' AS no_inactivity_limit;
SELECT auth.refresh_session('no-such-token') -> 'error' AS unknown_token;
SELECT auth.refresh_session('') -> 'error' AS empty_token;

-- The signed-in user: get, update, sign out.
-- A request: kiln.authenticate with the user's access token, then the flow.
\set meta '{"request_id": "req-test-1", "client_ip": "203.0.113.9"}'
SELECT auth.sign_in_password('ada@flows.test', 'ada lovelace 1815', :'on') AS a1 \gset
SELECT auth.sign_in_password('ada@flows.test', 'ada lovelace 1815', :'on') AS a2 \gset
BEGIN;
SELECT kiln.authenticate(:'a1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.get_user() ->> 'email' AS get_user;
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(:'a1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.update_user('{"data": {"lang": "en", "name": null}}') -> 'user_metadata' AS merged;
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(:'a1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.update_user('{"password": "ada lovelace 1815"}') -> 'error' AS same_password;
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(:'a1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.update_user('{"password": "qwerty123"}') -> 'error' ->> 'code' AS weak_new_password;
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(:'a1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.update_user(jsonb_build_object('password', 'ada lovelace 1900', 'data', jsonb_build_object('big', repeat('z', 2100)))) -> 'error' ->> 'message' AS merged_too_large;
SELECT auth.sign_in_password('ada@flows.test', 'ada lovelace 1815', :'on') ? 'access_token' AS password_unchanged;
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(:'a1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.update_user('{"email": "other@flows.test"}') ->> 'new_email' AS email_change_pending;
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(:'a1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.update_user('{"password": "ada lovelace 1816"}') ->> 'email' AS password_changed;
COMMIT;
SELECT auth.sign_in_password('ada@flows.test', 'ada lovelace 1816', :'on') ? 'access_token' AS new_password_works;
-- others: every session but this one.
SELECT count(*) AS sessions_before FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id WHERE u.email = 'ada@flows.test';
BEGIN;
SELECT kiln.authenticate(:'a1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.sign_out('others') AS others;
COMMIT;
SELECT count(*) AS sessions_after_others FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id WHERE u.email = 'ada@flows.test';
-- The other sessions' access tokens are refused from then on.
BEGIN;
SELECT kiln.authenticate(:'a2'::jsonb ->> 'access_token', :'meta') AS role;
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(:'a1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.sign_out('sideways') -> 'error' AS bad_scope;
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(:'a1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.sign_out('local') AS local;
COMMIT;
SELECT count(*) AS sessions_after_local FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id WHERE u.email = 'ada@flows.test';
SELECT auth.refresh_session(:'a1'::jsonb ->> 'refresh_token') -> 'error' ->> 'code' AS signed_out_refresh;
-- No user in the context.
BEGIN;
SELECT kiln.authenticate(NULL, :'meta') AS role;
SELECT auth.get_user() -> 'error' AS anon_get_user;
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(NULL, :'meta') AS role;
SELECT auth.sign_out('global') -> 'error' AS anon_sign_out;
ROLLBACK;

-- Anonymous sign-in.
SELECT auth.sign_in_anonymously() -> 'error' AS anonymous_off;
SELECT auth.sign_in_anonymously('{"x": 1}', :'on') AS anon \gset
SELECT u -> 'is_anonymous' AS is_anonymous, u ->> 'email' AS email, u -> 'user_metadata' AS data,
       kiln.verify_jwt(:'anon'::jsonb ->> 'access_token') -> 'amr' -> 0 ->> 'method' AS amr,
       kiln.verify_jwt(:'anon'::jsonb ->> 'access_token') ->> 'role' AS role
  FROM (SELECT :'anon'::jsonb -> 'user' AS u) x;

-- Admin: only service_role (or SQL without a request context).
SELECT auth.sign_in_password('ada@flows.test', 'ada lovelace 1816', :'on') AS a4 \gset
BEGIN;
SELECT kiln.authenticate(:'a4'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.admin_list_users() -> 'error' AS user_is_not_admin;
ROLLBACK;
SELECT auth.admin_create_user('{"email": "Carol@flows.test", "password": "carol singer 77", "email_confirm": true,
                                "user_metadata": {"team": "blue"}}') AS carol \gset
SELECT :'carol'::jsonb ->> 'email' AS email, :'carol'::jsonb -> 'user_metadata' AS user_metadata,
       :'carol'::jsonb ? 'email_confirmed_at' AS confirmed;
SELECT auth.admin_create_user('{"email": "carol@flows.test"}') -> 'error' AS duplicate;
SELECT auth.admin_create_user('{"email": "weak@flows.test", "password": "12345678"}') -> 'error' ->> 'code' AS weak,
       NOT EXISTS (SELECT 1 FROM auth.users WHERE email = 'weak@flows.test') AS nothing_left;
SELECT auth.admin_create_user('{"email": "x@flows.test", "ban_duration": "forever"}') -> 'error' ->> 'code' AS bad_ban,
       NOT EXISTS (SELECT 1 FROM auth.users WHERE email = 'x@flows.test') AS nothing_left;
SELECT auth.admin_create_user('[]') -> 'error' ->> 'code' AS not_object;
SELECT (auth.admin_list_users(1, 2) -> 'users' -> 0 ->> 'email') AS first_page_first,
       jsonb_array_length(auth.admin_list_users(1, 2) -> 'users') AS per_page,
       (auth.admin_list_users(1, 2) ->> 'total')::int = (SELECT count(*) FROM auth.users WHERE deleted_at IS NULL) AS total,
       jsonb_array_length(auth.admin_list_users(1000, 2) -> 'users') AS past_the_end;
SELECT auth.admin_get_user((:'carol'::jsonb ->> 'id')::uuid) ->> 'email' AS got,
       auth.admin_get_user('00000000-0000-4000-8000-000000000000') -> 'error' AS missing;
SELECT auth.sign_in_password('carol@flows.test', 'carol singer 77', :'on') ->> 'refresh_token' AS carol_rt \gset
SELECT auth.admin_update_user((:'carol'::jsonb ->> 'id')::uuid, '{"ban_duration": "24h", "app_metadata": {"plan": "pro"}}') AS banned \gset
SELECT :'banned'::jsonb ? 'banned_until' AS banned_until_set, :'banned'::jsonb -> 'app_metadata' ->> 'plan' AS plan;
SELECT auth.sign_in_password('carol@flows.test', 'carol singer 77', :'on') -> 'error' AS banned_sign_in;
SELECT auth.refresh_session(:'carol_rt') -> 'error' ->> 'code' AS banned_sessions_ended;
SELECT auth.admin_update_user((:'carol'::jsonb ->> 'id')::uuid, '{"ban_duration": "none"}') ? 'banned_until' AS still_banned;
SELECT auth.sign_in_password('carol@flows.test', 'carol singer 77', :'on') ? 'access_token' AS unbanned_sign_in;
SELECT auth.admin_update_user((:'carol'::jsonb ->> 'id')::uuid, '{"email": "ada@flows.test"}') -> 'error' ->> 'code' AS email_taken;
SELECT auth.admin_update_user((:'carol'::jsonb ->> 'id')::uuid, '{"email": "carol2@flows.test", "password": "1234567"}') -> 'error' ->> 'code' AS refused,
       (SELECT email FROM auth.users WHERE id = (:'carol'::jsonb ->> 'id')::uuid) AS email_unchanged;
SELECT auth.admin_delete_user((:'carol'::jsonb ->> 'id')::uuid, true) AS soft_deleted;
SELECT deleted_at IS NOT NULL AS deleted, email IS NULL AS address_freed, encrypted_password IS NULL AS no_password
  FROM auth.users WHERE id = (:'carol'::jsonb ->> 'id')::uuid;
SELECT auth.sign_in_password('carol@flows.test', 'carol singer 77', :'on') -> 'error' ->> 'code' AS deleted_sign_in;
SELECT auth.admin_delete_user((:'carol'::jsonb ->> 'id')::uuid) -> 'error' ->> 'code' AS already_deleted;
SELECT auth.admin_delete_user((auth.admin_create_user('{"email": "dan@flows.test"}') ->> 'id')::uuid, false) AS hard_deleted,
       NOT EXISTS (SELECT 1 FROM auth.users WHERE email = 'dan@flows.test') AS row_gone;
-- A hard delete ends the user's sessions and with them every refresh token
-- (through the session: refresh_tokens has no key of its own to users).
SELECT auth.admin_create_user('{"email": "erin@flows.test", "password": "erin singer 77", "email_confirm": true}') ->> 'id' AS erin \gset
SELECT auth.refresh_session(auth.sign_in_password('erin@flows.test', 'erin singer 77', :'on') ->> 'refresh_token') ? 'access_token' AS refreshed;
SELECT count(*) AS tokens FROM auth.refresh_tokens WHERE user_id = :'erin';
SELECT auth.admin_delete_user(:'erin', false) AS hard_deleted;
SELECT (SELECT count(*) FROM auth.refresh_tokens WHERE user_id = :'erin') AS tokens_left,
       (SELECT count(*) FROM auth.sessions WHERE user_id = :'erin') AS sessions_left;

-- The audit trail: every sign-in, failure, replay and admin action, with the
-- request id and ip of the request context.
SELECT payload ->> 'action' AS action, count(*) AS n
  FROM auth.audit_log_entries GROUP BY 1 ORDER BY 1;
SELECT payload ->> 'action' AS action, payload ->> 'request_id' AS request_id, ip_address, payload ->> 'actor_role' AS actor_role
  FROM auth.audit_log_entries WHERE payload ->> 'request_id' IS NOT NULL ORDER BY created_at, 1 LIMIT 3;
SELECT payload -> 'traits' ->> 'reason' AS failure_reason, count(*) AS n
  FROM auth.audit_log_entries WHERE payload ->> 'action' = 'login_failed' GROUP BY 1 ORDER BY 1;
-- No password appears in the trail.
SELECT count(*) AS passwords_in_audit FROM auth.audit_log_entries
 WHERE payload::text LIKE '%lovelace%' OR payload::text LIKE '%singer%';

-- Rate limits per client ip (off unless configured): a bucket of N per 5
-- minutes shared by sign-ups and sign-ins; a refused request takes nothing,
-- gets retry_after, and another address is not affected.
\set rl '{"rate_limit_sign_in": 2, "autoconfirm": true}'
BEGIN;
SELECT kiln.authenticate(NULL, '{"request_id": "req-rl-1", "client_ip": "192.0.2.10"}') AS role;
SELECT auth.sign_in_password('ada@flows.test', 'nope nope nope', :'rl') -> 'error' ->> 'code' AS first;
COMMIT;
BEGIN;
SELECT kiln.authenticate(NULL, '{"request_id": "req-rl-2", "client_ip": "192.0.2.10"}') AS role;
SELECT auth.sign_up('rl@flows.test', 'rate limited pass', '{}', :'rl') ? 'access_token' AS second;
COMMIT;
BEGIN;
SELECT kiln.authenticate(NULL, '{"request_id": "req-rl-3", "client_ip": "192.0.2.10"}') AS role;
SELECT e - 'retry_after' AS third, (e ->> 'retry_after')::int BETWEEN 120 AND 150 AS retry_after
  FROM (SELECT auth.sign_in_password('rl@flows.test', 'rate limited pass', :'rl') -> 'error' AS e) x;
COMMIT;
BEGIN;
SELECT kiln.authenticate(NULL, '{"request_id": "req-rl-4", "client_ip": "192.0.2.11"}') AS role;
SELECT auth.sign_in_password('rl@flows.test', 'rate limited pass', :'rl') ? 'access_token' AS other_address;
COMMIT;
SELECT bucket, tokens < 1 AS empty FROM auth.rate_limits ORDER BY 1;
SELECT payload -> 'traits' ->> 'reason' AS audited FROM auth.audit_log_entries
 WHERE payload ->> 'request_id' = 'req-rl-3';
DELETE FROM auth.rate_limits;

-- With the audit trail switched on for it, every auth event is also in the
-- hash-chained kiln.audit_log, with the verified request context.
SELECT kiln.enable_audit('auth.audit_log_entries');
BEGIN;
SELECT kiln.authenticate(NULL, '{"request_id": "req-audit-7", "client_ip": "198.51.100.7"}') AS role;
SELECT auth.sign_in_password('ada@flows.test', 'not it at all', :'on') -> 'error' ->> 'code' AS failed;
COMMIT;
SELECT op, actor_role, request_id, client_ip, new -> 'payload' ->> 'action' AS action
  FROM kiln.audit_log WHERE table_name = 'audit_log_entries' AND request_id = 'req-audit-7';
SELECT kiln.disable_audit('auth.audit_log_entries');

-- Who may call: the flows run as their owner; app roles reach the tables
-- only through them.
SELECT p.proname, p.prosecdef, has_function_privilege('anon', p.oid, 'EXECUTE') AS anon,
       has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated,
       has_function_privilege('service_role', p.oid, 'EXECUTE') AS service_role,
       has_function_privilege('authenticator', p.oid, 'EXECUTE') AS authenticator
  FROM pg_proc p WHERE p.pronamespace = 'auth'::regnamespace
   AND (p.proname LIKE 'sign%' OR p.proname LIKE 'admin%' OR p.proname IN ('get_user', 'update_user', 'refresh_session', '_err', '_start_session'))
 ORDER BY 1;
SELECT has_table_privilege('anon', 'auth.refresh_token_keys', 'SELECT') AS anon_reads_keys,
       has_table_privilege('service_role', 'auth.password_blocklist', 'SELECT') AS service_reads_list;

-- Leave the database as it was for the tests after this one.
DELETE FROM auth.users WHERE email LIKE '%@flows.test' OR created_at >= :'t0';
DELETE FROM auth.audit_log_entries WHERE created_at >= :'t0';
DELETE FROM kiln.revoked_sessions WHERE revoked_at >= :'t0';
