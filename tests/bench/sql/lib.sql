-- tests/bench/sql/lib.sql: timing helpers for the access benchmarks
-- (tenancy.sql, acl.sql include it with \ir). Creates schema kiln_bench:
--   kiln_bench.compare(figure, kiln_q, kiln_role, anchor_q, anchor_role, n, rounds)
-- runs the two queries alternately, `rounds` rounds of n EXECUTEs each
-- (after a warm-up), each side as its own role (NULL = the session user,
-- a superuser: no row security), and records the median milliseconds per
-- call of each side in kiln_bench.results. Alternating rounds inside one
-- transaction keeps both sides under the same machine load; EXECUTE parses
-- and plans every call, as a fresh request would. Call it in a transaction
-- that already ran kiln.authenticate: SET LOCAL ROLE keeps the verified
-- context, and RESET ROLE returns to the session user.
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS kiln_bench CASCADE;
CREATE SCHEMA kiln_bench;
GRANT USAGE ON SCHEMA kiln_bench TO PUBLIC;
CREATE TABLE kiln_bench.results (figure text PRIMARY KEY, kiln_ms float8, anchor_ms float8, note text);
GRANT ALL ON kiln_bench.results TO PUBLIC;

CREATE FUNCTION kiln_bench.run(q text, n int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  i int;
BEGIN
  t0 := clock_timestamp();
  FOR i IN 1 .. n LOOP EXECUTE q; END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1000 / n;
END $$;

CREATE FUNCTION kiln_bench.as_role(r text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF r IS NULL THEN EXECUTE 'RESET ROLE';
  ELSE EXECUTE pg_catalog.format('SET LOCAL ROLE %I', r);
  END IF;
END $$;

CREATE FUNCTION kiln_bench.compare(fig text, kiln_q text, kiln_role text, anchor_q text, anchor_role text,
                                   n int, rounds int DEFAULT 5, note text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  k float8[] := '{}';
  a float8[] := '{}';
  r int;
BEGIN
  PERFORM kiln_bench.as_role(kiln_role);   PERFORM kiln_bench.run(kiln_q, greatest(n / 5, 1));
  PERFORM kiln_bench.as_role(anchor_role); PERFORM kiln_bench.run(anchor_q, greatest(n / 5, 1));
  FOR r IN 1 .. rounds LOOP
    PERFORM kiln_bench.as_role(anchor_role); a := a || kiln_bench.run(anchor_q, n);
    PERFORM kiln_bench.as_role(kiln_role);   k := k || kiln_bench.run(kiln_q, n);
  END LOOP;
  PERFORM kiln_bench.as_role(NULL);
  INSERT INTO kiln_bench.results
  SELECT fig,
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(k) x),
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(a) x),
         note;
END $$;

CREATE VIEW kiln_bench.report AS
SELECT figure, round(kiln_ms::numeric, 4) AS kiln_ms, round(anchor_ms::numeric, 4) AS anchor_ms,
       round((kiln_ms / anchor_ms)::numeric, 3) AS ratio, note
  FROM kiln_bench.results ORDER BY figure;
