-- explain: kiln.explain and kiln.plan_rows, the plan and the row estimate of
-- one parameterised statement. Values are bound (never pasted into SQL),
-- types are inferred from where each $n appears, the statement is planned
-- for the calling role with its row security, and an analysed write is
-- always rolled back.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

SELECT kiln.rotate_signing_key('HS256') IS NOT NULL AS signing_key;
CREATE FUNCTION public.explain_login(sub uuid) RETURNS text
LANGUAGE sql AS $$
  SELECT kiln.authenticate(kiln.sign_jwt(jsonb_build_object(
    'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated', 'sub', sub,
    'exp', extract(epoch FROM now())::int8 + 600)))
$$;

CREATE TABLE public.items (id int PRIMARY KEY, owner uuid NOT NULL, label text NOT NULL);
CREATE POLICY own_items ON public.items FOR ALL TO authenticated
  USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());
ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.items TO authenticated;
-- 2,000 rows of ten owners (a0000000-...-00000000000<g % 10>); statistics
-- for the planner.
INSERT INTO public.items
SELECT g, ('a0000000-0000-0000-0000-00000000000' || g % 10)::uuid, 'item ' || g
  FROM generate_series(1, 2000) g;
ANALYZE public.items;

-- JSON format: one document; the value is bound ($1 typed integer from id).
SELECT kiln.explain('SELECT * FROM public.items WHERE id = $1', '{7}', 'json')::json
       -> 0 -> 'Plan' ->> 'Node Type' AS node;
-- Text format: lines joined by line breaks; the custom plan shows the value.
SELECT strpos(kiln.explain('SELECT label FROM public.items WHERE label = $1',
                           '{"item 5"}', 'text'), '''item 5''::text') > 0 AS value_in_plan;
-- Defaults: text format, no parameters.
SELECT kiln.explain('SELECT 1') LIKE 'Result  (cost=%' AS default_text;

-- Options: analyze shows actual rows; verbose the output columns.
SELECT (kiln.explain('SELECT * FROM public.items WHERE id < $1', '{11}', 'json', '{analyze}')::json
        -> 0 -> 'Plan' ->> 'Actual Rows')::int AS actual_rows;
SELECT kiln.explain('SELECT id FROM public.items WHERE id = $1', '{1}', 'json', '{verbose}')::json
       -> 0 -> 'Plan' -> 'Output' AS verbose_output;
SELECT kiln.explain('SELECT 1', '{}', 'json', '{analyze,verbose,settings,buffers,wal}')
       ::jsonb -> 0 ? 'Planning' AS all_options;

-- An analysed write runs and is rolled back, whatever the caller does next.
SELECT kiln.explain('DELETE FROM public.items WHERE id <= $1', '{100}', 'json', '{analyze}')::json
       -> 0 -> 'Plan' ->> 'Operation' AS operation;
SELECT count(*) AS still_there FROM public.items WHERE id <= 100;
SELECT kiln.explain('INSERT INTO public.items VALUES ($1, $2, $3)',
                    '{5000,a0000000-0000-0000-0000-000000000000,new}', 'text', '{analyze}')
       LIKE 'Insert on items%' AS insert_plan;
SELECT count(*) AS not_inserted FROM public.items WHERE id = 5000;
-- Without analyze nothing runs: even a read-only transaction may explain a write.
BEGIN READ ONLY;
SELECT kiln.explain('UPDATE public.items SET label = $1 WHERE id = $2', '{x,1}') LIKE 'Update on items%' AS update_plan;
COMMIT;
-- ... but analyze of a write there is the read-only transaction's error.
BEGIN READ ONLY;
SELECT kiln.explain('DELETE FROM public.items', '{}', 'text', '{analyze}');
ROLLBACK;

-- As a user: row security is in the plan and in the estimate.
SELECT kiln.plan_rows('SELECT 1 FROM public.items') AS all_rows_estimate;
BEGIN;
SELECT explain_login('a0000000-0000-0000-0000-000000000000') AS role;
SELECT kiln.plan_rows('SELECT 1 FROM public.items') AS user_estimate;
SELECT kiln.plan_rows('SELECT 1 FROM public.items WHERE id <= $1', '{1000}') AS user_estimate_filtered;
SELECT strpos(kiln.explain('SELECT * FROM public.items'), 'owner = ') > 0 AS policy_in_plan;
SELECT (kiln.explain('SELECT * FROM public.items', '{}', 'json', '{analyze}')::json
        -> 0 -> 'Plan' ->> 'Actual Rows')::int AS user_actual_rows;
-- The user's analysed delete is rolled back too.
SELECT kiln.explain('DELETE FROM public.items', '{}', 'text', '{analyze}') LIKE 'Delete on items%' AS user_delete;
SELECT count(*) AS user_still_sees FROM public.items;
COMMIT;
-- Without privileges: the statement's own error, no plan.
BEGIN;
SET LOCAL ROLE anon;
SELECT kiln.explain('SELECT * FROM public.items');
ROLLBACK;

-- Planned estimates against exact counts.
SELECT kiln.plan_rows('SELECT 1 FROM public.items WHERE id > $1', '{1500}') BETWEEN 400 AND 600 AS range_estimate;
SELECT kiln.plan_rows('SELECT 1 FROM public.items WHERE label = $1', '{"item 9"}') AS one_label;

-- Values stay values: an injection attempt is a bad integer, not SQL.
SELECT kiln.plan_rows('SELECT 1 FROM public.items WHERE id = $1', '{"1; DROP TABLE public.items"}');
SELECT strpos(kiln.explain('SELECT 1 FROM public.items WHERE label = $1',
                           '{"x''; DROP TABLE public.items; --"}'),
              '''x''''; DROP TABLE public.items; --''::text') > 0 AS quoted_value;
SELECT count(*) AS table_intact FROM public.items;
-- NULL values are SQL NULL.
SELECT kiln.plan_rows('SELECT 1 FROM public.items WHERE label = $1', ARRAY[NULL]::text[]) AS null_value;

-- Refused: not one explainable statement, bad format or option, parameters.
SELECT kiln.explain('SELECT 1; DROP TABLE public.items');
SELECT kiln.explain('');
SELECT kiln.explain('DROP TABLE public.items');
SELECT kiln.explain('SELECT * INTO public.copy FROM public.items');
SELECT kiln.plan_rows('VACUUM public.items');
SELECT kiln.explain('SELECT 1', '{}', 'yaml');
SELECT kiln.explain('SELECT 1', '{}', 'text', '{costs}');
SELECT kiln.explain('SELECT 1', '{}', 'text', '{"analyze) DROP TABLE x; --"}');
SELECT kiln.explain('SELECT $1 + 1', '{}');
SELECT kiln.plan_rows('SELECT 1 FROM public.items WHERE id = $1', '{1,2}');
SELECT kiln.plan_rows('SELECT $1');
SELECT kiln.plan_rows('SELECT 1', '{{1},{2}}');
SELECT kiln.explain('SELECT 1', '{}', 'json', '{wal}');
SELECT kiln.explain(NULL) IS NULL AS strict;
SELECT count(*) AS table_intact FROM public.items;

DROP TABLE public.items;
DROP FUNCTION public.explain_login(uuid);
