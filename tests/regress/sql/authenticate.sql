-- authenticate: kiln.authenticate switches role and records the verified
-- context for one transaction; the readers see it; it is gone after commit,
-- after rollback, and when the subtransaction that set it rolls back.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

SELECT kiln.rotate_signing_key('HS256') IS NOT NULL AS hs256_signing_key;
SELECT kiln.sign_jwt(pg_catalog.jsonb_build_object(
  'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated',
  'sub', '6f1c3f4e-8a52-4b0e-9b0a-3c1d2e4f5a6b', 'email', 'ada@example.com',
  'session_id', '0b6f4a2c-1d3e-4f5a-8b9c-0d1e2f3a4b5c', 'aal', 'aal1',
  'exp', extract(epoch FROM pg_catalog.now())::int8 + 600)) AS user_token \gset
SELECT kiln.sign_jwt(pg_catalog.jsonb_build_object(
  'iss', 'kiln', 'role', 'service_role',
  'exp', extract(epoch FROM pg_catalog.now())::int8 + 600)) AS service_token \gset

-- The daemon's connection: authenticator, no context.
SET SESSION AUTHORIZATION authenticator;
SELECT current_user, auth.uid() IS NULL AS no_uid;

-- A user token: role and context for this transaction only.
BEGIN;
SELECT kiln.authenticate(:'user_token', '{"request_id": "req-1", "client_ip": "203.0.113.7"}');
SELECT current_user, session_user, auth.uid(), auth.role(), auth.email(),
       kiln.session_id(), kiln.tenant_id() IS NULL AS no_tenant, kiln.request_id();
SELECT auth.jwt() ->> 'aal' AS aal, auth.jwt() ->> 'email' AS claim_email;
SELECT kiln.current_context();
-- Supabase-compatible settings, for code that reads them.
SELECT pg_catalog.current_setting('request.jwt.claim.sub') AS claim_sub,
       pg_catalog.current_setting('request.jwt.claim.role') AS claim_role,
       pg_catalog.current_setting('request.jwt.claims')::jsonb ->> 'email' AS claims_email;
COMMIT;
SELECT current_user, auth.uid() IS NULL AS no_uid, auth.role() IS NULL AS no_role,
       kiln.current_context() IS NULL AS no_context, kiln.request_id() IS NULL AS no_request;

-- Gone after rollback too, on the same connection.
BEGIN;
SELECT kiln.authenticate(:'service_token');
SELECT current_user, auth.role(), auth.uid() IS NULL AS no_uid;
ROLLBACK;
SELECT current_user, auth.role() IS NULL AS no_role;

-- Without BEGIN, the context lasts for the one statement.
SELECT kiln.authenticate(:'user_token') AS role_in_statement;
SELECT current_user, auth.uid() IS NULL AS no_uid;

-- No token (NULL or empty) means anon.
BEGIN;
SELECT kiln.authenticate(NULL);
SELECT current_user, auth.role(), auth.uid() IS NULL AS no_uid, auth.jwt();
ROLLBACK;
BEGIN;
SELECT kiln.authenticate('', NULL);
SELECT current_user, auth.role();
ROLLBACK;

-- One identity switch per transaction: a second call is refused, even with
-- a valid token, even after RESET ROLE (which leaves the transaction running
-- as authenticator, a role without privileges; the context stays).
BEGIN;
SELECT kiln.authenticate(NULL);
RESET ROLE;
SELECT current_user, auth.role();
SELECT kiln.authenticate(:'service_token');
\echo :SQLSTATE
ROLLBACK;

-- A context set in a subtransaction that rolls back is gone with it.
BEGIN;
SAVEPOINT s;
SELECT kiln.authenticate(:'user_token');
SELECT current_user, auth.uid() IS NOT NULL AS has_uid;
ROLLBACK TO SAVEPOINT s;
SELECT current_user, auth.uid() IS NULL AS no_uid, auth.role() IS NULL AS no_role;
SELECT kiln.authenticate(:'service_token');
SELECT current_user, auth.role();
RELEASE SAVEPOINT s;
COMMIT;

-- ... and one set in a released subtransaction stays for the transaction.
BEGIN;
SAVEPOINT s;
SELECT kiln.authenticate(:'user_token');
RELEASE SAVEPOINT s;
SELECT current_user, auth.uid();
COMMIT;

-- Token failures are KL errors and leave no context.
BEGIN;
SELECT kiln.authenticate('not-a-token');
\echo :SQLSTATE
ROLLBACK;
SELECT current_user, auth.role() IS NULL AS no_role;

-- Bad meta values: 22023.
SELECT kiln.authenticate(NULL, '{"request_id": "has space"}');
\echo :SQLSTATE
SELECT kiln.authenticate(NULL, '{"client_ip": "1.2.3.4; drop"}');
\echo :SQLSTATE
SELECT kiln.authenticate(NULL, '{"request_id": 42}');
\echo :SQLSTATE
SELECT kiln.authenticate(NULL, '{"read_only": "yes"}');
\echo :SQLSTATE

-- meta read_only: the rest of the transaction is read-only, and nothing can
-- make it read-write again (the call took the transaction's first
-- snapshot): 25006 for a write, 25001 for the switch. Statements sent
-- together (\;) are one implicit transaction, as the daemon's pipeline
-- (authenticate, statement, sync) is; the context ends with it.
SELECT kiln.authenticate(NULL, '{"request_id": "req-ro", "read_only": true}') AS role \;
SELECT pg_catalog.current_setting('transaction_read_only') AS read_only, current_user, auth.role();
SELECT pg_catalog.current_setting('transaction_read_only') AS read_only_after, current_user,
       auth.role() IS NULL AS no_role;
SELECT kiln.authenticate(NULL, '{"read_only": true}') AS role \; CREATE TEMP TABLE ro_probe (a int);
\echo :SQLSTATE
SELECT kiln.authenticate(NULL, '{"read_only": true}') AS role \; SET LOCAL transaction_read_only = off;
\echo :SQLSTATE
SELECT kiln.authenticate(NULL, '{"read_only": true}') AS role \;
SELECT pg_catalog.set_config('transaction_read_only', 'off', true);
\echo :SQLSTATE
-- The last of duplicate members counts (the daemon appends its own).
SELECT kiln.authenticate(NULL, '{"read_only": false, "read_only": true}') AS role \;
SELECT pg_catalog.current_setting('transaction_read_only') AS read_only;
-- Without read_only (or false), the transaction keeps its mode.
BEGIN;
SELECT kiln.authenticate(NULL, '{"read_only": false}');
SELECT pg_catalog.current_setting('transaction_read_only') AS read_only;
ROLLBACK;
SELECT current_user, auth.role() IS NULL AS no_role;

-- The form without JSON meta (what the daemon calls): the same context,
-- the same checks, read_only as an argument (NULL: false).
SELECT kiln.authenticate(:'user_token', 'req-args', '198.51.100.9', true) AS role \;
SELECT auth.uid(), kiln.request_id(), kiln.current_context() ->> 'client_ip' AS ip,
       pg_catalog.current_setting('transaction_read_only') AS read_only;
SELECT kiln.authenticate(NULL, NULL, NULL, true) AS role \; CREATE TEMP TABLE ro_probe (a int);
\echo :SQLSTATE
BEGIN;
SELECT kiln.authenticate(NULL, NULL, NULL, NULL) AS role;
SELECT pg_catalog.current_setting('transaction_read_only') AS read_only, kiln.request_id() IS NULL AS no_request;
SELECT kiln.authenticate(NULL, NULL, NULL, false);
\echo :SQLSTATE
ROLLBACK;
SELECT kiln.authenticate(NULL, 'has space', NULL, false);
\echo :SQLSTATE
SELECT kiln.authenticate(NULL, NULL, '1.2.3.4; drop', false);
\echo :SQLSTATE
SELECT kiln.authenticate('not-a-token', NULL, NULL, false);
\echo :SQLSTATE
SELECT current_user, auth.role() IS NULL AS no_role;

-- Only authenticator (and superusers) may call it.
RESET SESSION AUTHORIZATION;
SET ROLE anon;
SELECT kiln.authenticate(NULL);
\echo :SQLSTATE
SELECT kiln.authenticate(NULL, NULL, NULL, false);
\echo :SQLSTATE
RESET ROLE;
-- A superuser job may, as itself, but not under SET ROLE.
BEGIN;
SELECT kiln.authenticate(:'service_token');
SELECT current_user, session_user, auth.role();
ROLLBACK;
SET ROLE authenticator;
SELECT kiln.authenticate(NULL);
\echo :SQLSTATE
RESET ROLE;

-- service_role narrows itself to one tenant, explicitly and on record.
SET SESSION AUTHORIZATION authenticator;
BEGIN;
SELECT kiln.authenticate(:'service_token', '{"request_id": "req-act"}');
SELECT kiln.act_as_tenant('7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f');
SELECT current_user, auth.role(), kiln.tenant_id();
COMMIT;
-- Once per transaction: tenant_service may not act again.
BEGIN;
SELECT kiln.authenticate(:'service_token');
SELECT kiln.act_as_tenant('7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f');
SELECT kiln.act_as_tenant('11111111-1111-1111-1111-111111111111');
\echo :SQLSTATE
ROLLBACK;
-- Rolled back with its subtransaction: service_role again, no tenant.
BEGIN;
SELECT kiln.authenticate(:'service_token');
SAVEPOINT s;
SELECT kiln.act_as_tenant('7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f');
ROLLBACK TO SAVEPOINT s;
SELECT current_user, auth.role(), kiln.tenant_id() IS NULL AS no_tenant;
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(:'user_token');
SELECT kiln.act_as_tenant('7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f');
\echo :SQLSTATE
ROLLBACK;
RESET SESSION AUTHORIZATION;
SELECT event, tenant_id, actor_role, session_user_name, request_id
  FROM kiln.context_events ORDER BY id;
-- Without a context, act_as_tenant is refused even for a superuser.
SELECT kiln.act_as_tenant('7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f');
\echo :SQLSTATE
