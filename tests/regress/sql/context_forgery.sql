-- context_forgery: nothing an app role can run changes the verified user,
-- tenant or role of the transaction: set_config, SET, SET LOCAL, a
-- function (its body or its SET clause), a DO block, kiln.authenticate
-- with a forged token, SET ROLE / RESET ROLE / SET SESSION AUTHORIZATION.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

SELECT kiln.rotate_signing_key('ES256') IS NOT NULL AS signing_key;
SELECT kiln.sign_jwt(jsonb_build_object('iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated',
         'sub', '6f1c3f4e-8a52-4b0e-9b0a-3c1d2e4f5a6b', 'tenant_id', '7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f',
         'exp', extract(epoch FROM now())::int8 + 600)) AS user_token \gset

-- What the app could try, prepared by an owner: functions that set the
-- claims or the role in their body, one that sets the role in its SET clause.
CREATE FUNCTION public.forge_claims() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('request.jwt.claims',
    '{"sub": "00000000-0000-0000-0000-000000000001", "role": "service_role", "tenant_id": "11111111-1111-1111-1111-111111111111"}', true);
  PERFORM set_config('request.jwt.claim.sub', '00000000-0000-0000-0000-000000000001', true);
  RETURN coalesce(auth.uid()::text, '-') || ' ' || auth.role() || ' ' || coalesce(kiln.tenant_id()::text, '-');
END
$$;
CREATE FUNCTION public.forge_role() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('role', 'service_role', true);
  RETURN current_user;
END
$$;
CREATE FUNCTION public.run_as_service() RETURNS text LANGUAGE sql SET role = service_role AS $$
  SELECT current_user::text
$$;
GRANT EXECUTE ON FUNCTION public.forge_claims(), public.forge_role(), public.run_as_service() TO PUBLIC;

-- A tenant table under row security, as kiln_access will create them.
CREATE TABLE public.notes (tenant_id uuid NOT NULL, body text);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON public.notes
  USING (tenant_id OPERATOR(pg_catalog.=) kiln.tenant_id());
GRANT SELECT ON public.notes TO authenticated, anon;
INSERT INTO public.notes VALUES ('7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f', 'ours'),
                                ('11111111-1111-1111-1111-111111111111', 'theirs');

SET SESSION AUTHORIZATION authenticator;

-- No context: no rows from tenant tables, whatever the settings say.
BEGIN;
SELECT kiln.authenticate(NULL);
SELECT pg_catalog.set_config('request.jwt.claims', '{"tenant_id": "11111111-1111-1111-1111-111111111111", "role": "service_role"}', true) IS NOT NULL AS set;
SELECT count(*) AS anon_rows FROM public.notes;
ROLLBACK;

BEGIN;
SELECT kiln.authenticate(:'user_token');
SELECT auth.uid(), auth.role(), kiln.tenant_id(), current_user;
SELECT body FROM public.notes;

-- 1. set_config and SET on the Supabase settings: readers unchanged.
SELECT pg_catalog.set_config('request.jwt.claims',
  '{"sub": "00000000-0000-0000-0000-000000000001", "role": "service_role"}', true) IS NOT NULL AS set;
SET LOCAL request.jwt.claim.sub = '00000000-0000-0000-0000-000000000001';
SET request.jwt.claim.role = 'service_role';
SELECT auth.uid(), auth.role(), kiln.tenant_id(), auth.jwt() ->> 'sub' AS jwt_sub;
SELECT body FROM public.notes;

-- 2. A function doing the same: unchanged.
SELECT public.forge_claims();
SELECT auth.uid(), auth.role(), kiln.tenant_id();

-- 3. SET ROLE, set_config('role'), a function's SET clause: refused.
SAVEPOINT a;
SET ROLE service_role;
ROLLBACK TO SAVEPOINT a;
SET LOCAL ROLE service_role;
ROLLBACK TO SAVEPOINT a;
SELECT pg_catalog.set_config('role', 'service_role', true);
ROLLBACK TO SAVEPOINT a;
SELECT public.forge_role();
ROLLBACK TO SAVEPOINT a;
SELECT public.run_as_service();
ROLLBACK TO SAVEPOINT a;
SET ROLE postgres;
ROLLBACK TO SAVEPOINT a;
SET ROLE NONE;
ROLLBACK TO SAVEPOINT a;
DO $$ BEGIN EXECUTE 'SET ROLE service_role'; END $$;
ROLLBACK TO SAVEPOINT a;
SET SESSION AUTHORIZATION postgres;
ROLLBACK TO SAVEPOINT a;
-- Setting the role it already has is allowed (and changes nothing).
SET ROLE authenticated;
SELECT current_user, auth.role();

-- 4. kiln.authenticate from the app role: not even callable.
SELECT kiln.authenticate('eyJhbGciOiJub25lIn0.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.');
ROLLBACK TO SAVEPOINT a;
SELECT kiln.act_as_tenant('11111111-1111-1111-1111-111111111111');
ROLLBACK TO SAVEPOINT a;

-- 5. A temporary function the app role defines itself.
CREATE FUNCTION pg_temp.escalate() RETURNS text LANGUAGE sql AS $$
  SELECT pg_catalog.set_config('role', 'service_role', true)
$$;
SELECT pg_temp.escalate();
ROLLBACK TO SAVEPOINT a;

-- After all that: the same verified identity, still one tenant's rows.
SELECT auth.uid(), auth.role(), kiln.tenant_id(), current_user;
SELECT body FROM public.notes;
COMMIT;

-- RESET ROLE leaves the transaction as authenticator, which has no
-- privileges; it cannot switch to service_role nor authenticate again.
BEGIN;
SELECT kiln.authenticate(:'user_token');
RESET ROLE;
SELECT current_user, auth.uid(), kiln.tenant_id();
SELECT count(*) FROM public.notes;
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(:'user_token');
RESET ROLE;
SET ROLE service_role;
ROLLBACK;
BEGIN;
SELECT kiln.authenticate(:'user_token');
RESET ROLE;
SELECT kiln.authenticate(kiln.random_token());
ROLLBACK;

-- A forged or unsigned token, from authenticator itself: refused, no context.
BEGIN;
SELECT kiln.authenticate('eyJhbGciOiJub25lIn0.eyJyb2xlIjoic2VydmljZV9yb2xlIiwiZXhwIjo5OTk5OTk5OTk5fQ.');
ROLLBACK;
SELECT current_user, auth.role() IS NULL AS no_context;
RESET SESSION AUTHORIZATION;

DROP TABLE public.notes;
DROP FUNCTION public.forge_claims(), public.forge_role(), public.run_as_service();
