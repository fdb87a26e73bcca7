-- kiln: plans and row estimates of parameterised statements.
--
-- The data API serves PostgREST's plan media type
-- (application/vnd.pgrst.plan+text|json) and Prefer: count=planned and
-- count=estimated. Its statements carry every value as a $n bind parameter,
-- and EXPLAIN cannot be a SQL-level prepared statement; these two functions
-- take the statement text and its values apart and bind them (never
-- pasting a value into SQL text). Both run as the caller (SECURITY INVOKER):
-- row security and privileges apply to the plan exactly as to the
-- statement, so they can never show more than the caller may run.

CREATE FUNCTION kiln.explain(query pg_catalog.text,
                             params pg_catalog.text[] DEFAULT '{}',
                             format pg_catalog.text DEFAULT 'text',
                             options pg_catalog.text[] DEFAULT '{}')
RETURNS pg_catalog.text
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'kiln_explain_query';
COMMENT ON FUNCTION kiln.explain(pg_catalog.text, pg_catalog.text[], pg_catalog.text, pg_catalog.text[])
  IS 'EXPLAIN of one SELECT/INSERT/UPDATE/DELETE with $n bound to params (types inferred), format text or json, options among analyze, verbose, settings, buffers, wal; runs in a subtransaction that is always rolled back';

CREATE FUNCTION kiln.plan_rows(query pg_catalog.text,
                               params pg_catalog.text[] DEFAULT '{}')
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'kiln_plan_rows';
COMMENT ON FUNCTION kiln.plan_rows(pg_catalog.text, pg_catalog.text[])
  IS 'the planner''s row estimate of one statement with $n bound to params, planned for the current role (nothing executed)';
