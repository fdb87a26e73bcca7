-- tests/bench/sql/lib.sql: timing helpers for the access benchmarks
-- (tenancy.sql, acl.sql include it with \ir). Creates schema kiln_bench:
--   CALL kiln_bench.compare(figure, kiln_q, kiln_token, anchor_q, anchor_token,
--                           n, rounds, note, setup)
-- runs the two queries alternately, `rounds` rounds of n EXECUTEs each
-- (after a warm-up round), each side in its own transaction: with
-- kiln.authenticate(token) first when its token is not NULL (the verified
-- context, as a request has it), else as the session user (a superuser: no
-- row security); `setup` (SET LOCAL ... statements) runs at the start of
-- every transaction. Records the median milliseconds per call of each side
-- in kiln_bench.results. Alternating rounds keep both sides under the same
-- machine load; EXECUTE parses and plans every call, as a fresh request
-- would. CALL it outside a transaction block.
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS kiln_bench CASCADE;
CREATE SCHEMA kiln_bench;
GRANT USAGE ON SCHEMA kiln_bench TO PUBLIC;
CREATE TABLE kiln_bench.results (figure text PRIMARY KEY, kiln_ms float8, anchor_ms float8, note text,
                                 ratio_lo float8, ratio_hi float8);

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

CREATE PROCEDURE kiln_bench.compare(fig text, kiln_q text, kiln_token text, anchor_q text, anchor_token text,
                                    n int, rounds int DEFAULT 5, note text DEFAULT NULL, setup text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  k float8[] := '{}';
  a float8[] := '{}';
  r int;
  ms float8;
BEGIN
  FOR r IN 0 .. rounds LOOP
    IF anchor_token IS NOT NULL THEN PERFORM kiln.authenticate(anchor_token); END IF;
    IF setup IS NOT NULL THEN EXECUTE setup; END IF;
    ms := kiln_bench.run(anchor_q, CASE WHEN r = 0 THEN greatest(n / 5, 1) ELSE n END);
    COMMIT;
    IF r > 0 THEN a := a || ms; END IF;
    IF kiln_token IS NOT NULL THEN PERFORM kiln.authenticate(kiln_token); END IF;
    IF setup IS NOT NULL THEN EXECUTE setup; END IF;
    ms := kiln_bench.run(kiln_q, CASE WHEN r = 0 THEN greatest(n / 5, 1) ELSE n END);
    COMMIT;
    IF r > 0 THEN k := k || ms; END IF;
  END LOOP;
  -- Medians of each side, and the spread of the per-round ratios.
  INSERT INTO kiln_bench.results
  SELECT fig,
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(k) x),
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(a) x),
         note,
         (SELECT min(kx / ax) FROM unnest(k, a) AS u(kx, ax)),
         (SELECT max(kx / ax) FROM unnest(k, a) AS u(kx, ax));
END $$;

CREATE VIEW kiln_bench.report AS
SELECT figure, round(kiln_ms::numeric, 4) AS kiln_ms, round(anchor_ms::numeric, 4) AS anchor_ms,
       round((kiln_ms / anchor_ms)::numeric, 3) AS ratio,
       round(ratio_lo::numeric, 2) AS ratio_lo, round(ratio_hi::numeric, 2) AS ratio_hi, note
  FROM kiln_bench.results ORDER BY figure;
