-- tenant_switch: the tenant claim of access tokens. kiln.default_tenant
-- gives a user's only tenant; kiln.switch_tenant returns a new token for a
-- tenant the signed-in user is a member of (recorded), and refuses anyone
-- else; the new token's tenant_id is honoured because the server signed it
-- (that a tenant_id in a token signed with the legacy secret is ignored is
-- tested in keys).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

-- Tokens of an ES256 key (test_token) and alice, bob and carol (helpers:
-- include/login.sql, people.sql).
\set signing_alg ES256
\getenv regress_dir KILN_REGRESS_DIR
\i :regress_dir/include/login.sql
\i :regress_dir/include/people.sql
SELECT kiln.create_tenant('acme') AS acme \gset
SELECT kiln.create_tenant('globex') AS globex \gset
SELECT kiln.add_tenant_member(:'acme', 'a0000000-0000-0000-0000-00000000000a', 'owner');
SELECT kiln.add_tenant_member(:'acme', 'b0000000-0000-0000-0000-00000000000b', 'member');
SELECT kiln.add_tenant_member(:'globex', 'b0000000-0000-0000-0000-00000000000b', 'member');

-- One tenant: it is the default. Several or none: no default.
SELECT kiln.default_tenant('a0000000-0000-0000-0000-00000000000a') = :'acme' AS alice_default_is_acme,
       kiln.default_tenant('b0000000-0000-0000-0000-00000000000b') IS NULL AS bob_has_no_default,
       kiln.default_tenant('c0000000-0000-0000-0000-00000000000c') IS NULL AS carol_has_no_default;

CREATE FUNCTION pg_temp.user_token(sub uuid) RETURNS text LANGUAGE sql AS $$
  SELECT public.test_token(jsonb_build_object('role', 'authenticated', 'sub', sub,
    'session_id', 'e0000000-0000-0000-0000-00000000000e'))
$$;
SELECT pg_temp.user_token('b0000000-0000-0000-0000-00000000000b') AS bob \gset

-- bob switches to globex: a new token whose tenant the server honours.
BEGIN;
SELECT kiln.authenticate(:'bob') AS role, kiln.tenant_id() IS NULL AS no_tenant_yet;
SELECT kiln.switch_tenant(:'globex') AS bob_globex \gset
COMMIT;
BEGIN;
SELECT kiln.authenticate(:'bob_globex') AS role, kiln.tenant_id() = :'globex' AS tenant_is_globex,
       auth.uid() = 'b0000000-0000-0000-0000-00000000000b' AS same_user,
       kiln.session_id() = 'e0000000-0000-0000-0000-00000000000e' AS same_session;
-- From there to acme, where he is a member too.
SELECT kiln.switch_tenant(:'acme') IS NOT NULL AS switched_again;
COMMIT;
SELECT event, tenant_id = :'globex' AS globex, user_id FROM kiln.context_events
 WHERE event = 'switch_tenant' ORDER BY id LIMIT 1;
SELECT (kiln.verify_jwt(:'bob_globex') ->> 'exp')::int8 = (kiln.verify_jwt(:'bob') ->> 'exp')::int8 AS same_expiry;

-- Not a member, or no such tenant: refused alike.
SELECT pg_temp.user_token('a0000000-0000-0000-0000-00000000000a') AS alice \gset
BEGIN;
SELECT kiln.authenticate(:'alice') AS role;
SELECT kiln.switch_tenant(:'globex');
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(:'alice') AS role;
SELECT kiln.switch_tenant('99999999-9999-4999-8999-999999999999');
\echo :SQLSTATE
ROLLBACK;

-- No user (an API key, or no context): refused.
SELECT kiln.create_api_key('publishable') AS pk \gset
BEGIN;
SELECT kiln.authenticate(:'pk') AS role;
SELECT kiln.switch_tenant(:'acme');
\echo :SQLSTATE
ROLLBACK;
SELECT kiln.switch_tenant(:'acme');
\echo :SQLSTATE

SELECT kiln.revoke_api_key(:'pk') AS revoked;
DELETE FROM kiln.context_events WHERE event = 'switch_tenant';
DELETE FROM kiln.tenants;
DELETE FROM auth.users;
DROP FUNCTION public.test_login(jsonb), public.test_token(jsonb);
