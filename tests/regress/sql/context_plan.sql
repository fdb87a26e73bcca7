-- context_plan: the planner support of the context readers. A bare reader
-- in a policy (auth.uid(), kiln.tenant_id(), ...) is planned as an initplan,
-- evaluated once per execution instead of once per row; cached generic
-- plans still read the context of the transaction that runs them; queries
-- without FROM (PL/pgSQL assignments) keep the plain call.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

SELECT kiln.rotate_signing_key('HS256') IS NOT NULL AS signing_key;
CREATE FUNCTION public.plan_login(sub uuid) RETURNS text
LANGUAGE sql AS $$
  SELECT kiln.authenticate(kiln.sign_jwt(jsonb_build_object(
    'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated', 'sub', sub,
    'exp', extract(epoch FROM now())::int8 + 600)))
$$;

CREATE TABLE public.notes (id int PRIMARY KEY, owner uuid NOT NULL, body text NOT NULL);
CREATE POLICY own_notes ON public.notes FOR SELECT TO authenticated USING (owner = auth.uid());
GRANT SELECT ON public.notes TO authenticated;
INSERT INTO public.notes
SELECT g, CASE WHEN g % 2 = 0 THEN 'a0000000-0000-0000-0000-00000000000a'::uuid
               ELSE 'b0000000-0000-0000-0000-00000000000b'::uuid END, 'note ' || g
  FROM generate_series(1, 10) g;

-- The bare policy runs as an initplan ($0), not as a per-row call.
BEGIN;
SELECT plan_login('a0000000-0000-0000-0000-00000000000a') AS role;
EXPLAIN (COSTS OFF) SELECT id FROM public.notes;
SELECT array_agg(id ORDER BY id) AS alice_sees FROM public.notes;
COMMIT;

-- The same in a query the user writes, and in a target list.
BEGIN;
SELECT plan_login('b0000000-0000-0000-0000-00000000000b') AS role;
EXPLAIN (COSTS OFF) SELECT id, auth.uid() = owner AS mine FROM public.notes WHERE owner = auth.uid();
SELECT array_agg(id ORDER BY id) AS bob_sees FROM public.notes WHERE owner = auth.uid();
COMMIT;

-- A generic plan cached in one transaction answers for the next one's user.
SET plan_cache_mode = force_generic_plan;
PREPARE mine AS SELECT array_agg(id ORDER BY id) FROM public.notes WHERE owner = auth.uid();
BEGIN;
SELECT plan_login('a0000000-0000-0000-0000-00000000000a') AS role;
EXECUTE mine;
COMMIT;
BEGIN;
SELECT plan_login('b0000000-0000-0000-0000-00000000000b') AS role;
EXECUTE mine;
COMMIT;
-- No context: the reader is NULL, so nothing matches.
EXECUTE mine;
DEALLOCATE mine;
RESET plan_cache_mode;

-- Without FROM the call stays a call (PL/pgSQL keeps its fast path).
EXPLAIN (COSTS OFF) SELECT auth.uid();
CREATE FUNCTION public.whoami() RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
  me uuid;
BEGIN
  me := auth.uid();
  RETURN me;
END
$$;
BEGIN;
SELECT plan_login('a0000000-0000-0000-0000-00000000000a') AS role;
SELECT public.whoami();
COMMIT;

-- A non-constant argument is left alone.
EXPLAIN (COSTS OFF, VERBOSE) SELECT kiln.acl_principals(body) FROM public.notes;

DROP FUNCTION public.whoami();
DROP TABLE public.notes;
DROP FUNCTION public.plan_login(uuid);
