-- context: kiln.request_id() and the setting behind it, the reserved kiln.*
-- prefix, and the context readers without a verified context.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

-- Unset: NULL.
SELECT kiln.request_id() IS NULL AS unset;

-- Transaction-local: visible inside, gone after commit and after rollback.
BEGIN;
SELECT pg_catalog.set_config('kiln.request_id', 'req-01HZX3A9', true);
SELECT kiln.request_id();
COMMIT;
SELECT kiln.request_id() IS NULL AS cleared_after_commit;
BEGIN;
SELECT pg_catalog.set_config('kiln.request_id', 'req-2', true) IS NOT NULL AS set;
ROLLBACK;
SELECT kiln.request_id() IS NULL AS cleared_after_rollback;

-- Empty means unset.
BEGIN;
SELECT pg_catalog.set_config('kiln.request_id', '', true) = '' AS set_empty;
SELECT kiln.request_id() IS NULL AS empty_is_null;
COMMIT;

-- Values are checked: at most 128 printable ASCII characters, no spaces.
SELECT pg_catalog.set_config('kiln.request_id', pg_catalog.repeat('a', 128), true) IS NOT NULL AS max_len_ok;
SELECT pg_catalog.set_config('kiln.request_id', pg_catalog.repeat('a', 129), true);
\echo :SQLSTATE
SELECT pg_catalog.set_config('kiln.request_id', 'has space', true);
\echo :SQLSTATE
SELECT pg_catalog.set_config('kiln.request_id', E'line\nbreak', true);
\echo :SQLSTATE

-- The kiln.* prefix is reserved once the library is loaded.
SET kiln.no_such_setting = 'x';
\echo :SQLSTATE
SELECT pg_catalog.set_config('kiln.no_such_setting', 'x', true);
\echo :SQLSTATE

-- A placeholder made before the library loads is removed when it loads.
\c -
SET kiln.early_bird = 'x';
SELECT kiln.version() IS NOT NULL AS loaded;
SHOW kiln.early_bird;
\echo :SQLSTATE

-- auth.*: NULL without a verified context.
SELECT auth.jwt() IS NULL AS jwt, auth.uid() IS NULL AS uid,
       auth.role() IS NULL AS role, auth.email() IS NULL AS email,
       kiln.tenant_id() IS NULL AS tenant, kiln.session_id() IS NULL AS session,
       kiln.current_context() IS NULL AS context;

-- request.jwt.claims is a plain setting anyone can write: the readers never
-- look at it, whatever it holds (see authenticate and context_forgery).
BEGIN;
SELECT pg_catalog.set_config('request.jwt.claims',
  '{"sub": "6f1c3f4e-8a52-4b0e-9b0a-3c1d2e4f5a6b", "role": "service_role", "email": "ada@example.com"}',
  true) IS NOT NULL AS set;
SELECT auth.uid() IS NULL AS uid, auth.role() IS NULL AS role,
       auth.email() IS NULL AS email, auth.jwt() IS NULL AS jwt;
SELECT pg_catalog.set_config('request.jwt.claims', '{not json', true) IS NOT NULL AS set;
SELECT auth.jwt() IS NULL AS malformed_ignored;
COMMIT;

-- Without a context, kiln.request_id() falls back to the setting.
BEGIN;
SELECT pg_catalog.set_config('kiln.request_id', 'req-setting', true) IS NOT NULL AS set;
SELECT kiln.request_id();
COMMIT;
