-- tenancy_fuzz: the SQL-level half of security-bar test P1. Three tenants
-- with a marker per tenant in every row; as tenant B, 3,000 randomized
-- statements (seeded, so the run is deterministic): reads with random and
-- forged filters, updates and deletes aimed at other tenants' ids, inserts
-- with forged tenant_id, children pointing at other tenants' parents, reads
-- through a view and a function. Pass: B never sees a row that is not B's,
-- A's and C's rows are unchanged (checksums), and every refusal has the
-- expected SQLSTATE.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;
-- Tokens (test_token) and tenants A and B (helpers: include/login.sql,
-- people.sql), and a third tenant.
\getenv regress_dir KILN_REGRESS_DIR
\i :regress_dir/include/login.sql
\i :regress_dir/include/people.sql
INSERT INTO kiln.tenants (id, name) VALUES ('cccccccc-cccc-cccc-cccc-cccccccccccc', 'C');
CREATE TABLE public.fz_parent (id int PRIMARY KEY, marker text NOT NULL);
CREATE TABLE public.fz_child (id int PRIMARY KEY, parent_id int REFERENCES public.fz_parent (id), marker text NOT NULL);
SELECT kiln.enable_tenancy('public.fz_parent');
SELECT kiln.enable_tenancy('public.fz_child');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.fz_parent, public.fz_child TO authenticated;
CREATE VIEW public.fz_view AS SELECT p.id, p.tenant_id, p.marker, c.marker AS child_marker
  FROM public.fz_parent p LEFT JOIN public.fz_child c ON c.parent_id = p.id;
GRANT SELECT ON public.fz_view TO authenticated;
CREATE FUNCTION public.fz_markers(lo int, hi int) RETURNS SETOF text LANGUAGE sql STABLE
  SET search_path = '' AS 'SELECT marker FROM public.fz_parent WHERE id BETWEEN lo AND hi';

-- Tenant t owns parents 1..300 with id % 3 = t (A = 0, B = 1, C = 2).
INSERT INTO public.fz_parent (id, marker, tenant_id)
SELECT g, (ARRAY['A', 'B', 'C'])[g % 3 + 1] || '-' || g,
       (ARRAY['aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb',
              'cccccccc-cccc-cccc-cccc-cccccccccccc']::uuid[])[g % 3 + 1]
  FROM generate_series(1, 300) g;
INSERT INTO public.fz_child (id, parent_id, marker, tenant_id)
SELECT g, g, marker, tenant_id FROM public.fz_parent g0(g, marker, tenant_id);

CREATE VIEW pg_temp.sums AS
SELECT 'parent' AS tbl, tenant_id, md5(string_agg(id || marker, ',' ORDER BY id)) AS sum FROM public.fz_parent GROUP BY 2
UNION ALL
SELECT 'child', tenant_id, md5(string_agg(id || marker || parent_id, ',' ORDER BY id)) FROM public.fz_child GROUP BY 2;
CREATE TABLE pg_temp.before AS SELECT * FROM pg_temp.sums;

-- The fuzzer: runs as the caller (tenant B), each statement in its own
-- subtransaction, undone after it ran; returns how many rows it saw that
-- are not B's, and how each kind of statement ended (ran, or the SQLSTATE
-- of its refusal).
CREATE FUNCTION public.fz_run(n int) RETURNS TABLE (outcome text, times bigint)
LANGUAGE plpgsql AS $$
DECLARE
  i int;
  op int;
  r int;
  t uuid;
  q text;
  foreign_rows bigint := 0;
  k bigint;
  outcomes text[] := '{}';
  tenants uuid[] := ARRAY['aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb',
                          'cccccccc-cccc-cccc-cccc-cccccccccccc'];
  filters text[] := ARRAY['true', 'id = %s', 'id > %s', 'id < %s OR true', 'marker LIKE ''A%%''',
                          'marker LIKE ''C%%''', 'tenant_id = ''aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa''',
                          'tenant_id <> ''bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb''', 'id %% 3 = 0',
                          'id IN (%s, %s + 1, %s + 2)'];
BEGIN
  PERFORM setseed(0.42);
  FOR i IN 1 .. n LOOP
    op := floor(random() * 8)::int;
    r := 1 + floor(random() * 320)::int;
    t := tenants[1 + floor(random() * 3)::int];
    q := format(filters[1 + floor(random() * array_length(filters, 1))::int], r, r, r);
    BEGIN
      CASE op
      WHEN 0 THEN
        EXECUTE 'SELECT count(*) FROM public.fz_parent WHERE (' || q || ') AND marker NOT LIKE ''B-%''' INTO k;
        foreign_rows := foreign_rows + k;
        outcomes := array_append(outcomes, 'read');
      WHEN 1 THEN
        EXECUTE 'SELECT count(*) FROM public.fz_view WHERE (' || q || ') AND (marker NOT LIKE ''B-%'' OR child_marker NOT LIKE ''B-%'')' INTO k;
        foreign_rows := foreign_rows + k;
        outcomes := array_append(outcomes, 'read view');
      WHEN 2 THEN
        SELECT count(*) INTO k FROM public.fz_markers(r - 50, r + 50) m WHERE m NOT LIKE 'B-%';
        foreign_rows := foreign_rows + k;
        outcomes := array_append(outcomes, 'read function');
      WHEN 3 THEN
        EXECUTE 'UPDATE public.fz_parent SET marker = ''pwned'' WHERE (' || q || ') AND marker NOT LIKE ''B-%''';
        outcomes := array_append(outcomes, 'update');
      WHEN 4 THEN
        EXECUTE 'DELETE FROM public.fz_child WHERE (' || q || ') AND marker NOT LIKE ''B-%''';
        outcomes := array_append(outcomes, 'delete');
      WHEN 5 THEN
        INSERT INTO public.fz_parent (id, marker, tenant_id) VALUES (1000 + i, 'forged', t);
        outcomes := array_append(outcomes, 'insert');
      WHEN 6 THEN
        INSERT INTO public.fz_child (id, parent_id, marker) VALUES (1000 + i, r, 'B-child');
        outcomes := array_append(outcomes, 'insert child');
      ELSE
        EXECUTE 'UPDATE public.fz_parent SET tenant_id = ' || quote_literal(t) || ' WHERE (' || q || ')';
        outcomes := array_append(outcomes, 'move');
      END CASE;
      RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'undo';   -- keep B's data as it was
    EXCEPTION
      WHEN raise_exception THEN NULL;
      WHEN OTHERS THEN outcomes := outcomes || ((ARRAY['read', 'read view', 'read function', 'update', 'delete',
                                                       'insert', 'insert child', 'move'])[op + 1] || ': ' || SQLSTATE);
    END;
  END LOOP;
  RETURN QUERY SELECT 'rows seen that are not B''s', foreign_rows;
  RETURN QUERY SELECT o, count(*) FROM unnest(outcomes) o GROUP BY o ORDER BY o;
END $$;

BEGIN;
SELECT kiln.authenticate(public.test_token(jsonb_build_object('role', 'authenticated',
  'sub', 'b0000000-0000-0000-0000-00000000000b', 'tenant_id', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'))) AS role;
SELECT * FROM public.fz_run(3000);
COMMIT;

-- The oracle works: service_role, which bypasses row security, does see
-- other tenants' rows in the same run.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.fz_parent, public.fz_child, public.fz_view TO service_role;
BEGIN;
SELECT kiln.authenticate(public.test_token('{"role": "service_role"}')) AS role;
SELECT outcome, times > 0 AS some FROM public.fz_run(300) WHERE outcome LIKE 'rows seen%';
COMMIT;

-- A's and C's rows are exactly as they were (and B's too: every statement
-- was undone).
SELECT b.tbl, b.tenant_id, a.sum IS NOT DISTINCT FROM b.sum AS unchanged
  FROM pg_temp.before b LEFT JOIN pg_temp.sums a ON a.tbl = b.tbl AND a.tenant_id = b.tenant_id
 ORDER BY 1, 2;
SELECT count(*) AS tenants_after FROM pg_temp.sums;
SELECT count(*) AS parents, count(*) FILTER (WHERE marker = 'pwned') AS pwned FROM public.fz_parent;

DROP FUNCTION public.fz_run(int), public.fz_markers(int, int);
DROP VIEW public.fz_view, pg_temp.sums;
DROP TABLE public.fz_child, public.fz_parent;
DELETE FROM kiln.tenants;
DELETE FROM auth.users;
DROP FUNCTION public.test_login(jsonb), public.test_token(jsonb);
