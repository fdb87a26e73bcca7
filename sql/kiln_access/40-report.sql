-- kiln_access: the exposure report.
--
-- kiln.exposure_report() lists, for every table, view, materialized view
-- and foreign table in the exposed schemas (kiln.exposed_schemas) and each
-- app role (anon, authenticated, tenant_service, service_role), which of
-- SELECT, INSERT, UPDATE, DELETE the role holds (on the table or on some
-- columns), whether row security lets it through and by which permissive
-- policies (restrictive ones listed apart). Rows with an issue flag what
-- decision 1 of the security bar forbids:
--   rls_disabled                        table with row security off
--   rls_not_forced                      table whose owner skips its policies
--   constant_true_policy_for_anon       permissive policy anon gets with USING/WITH CHECK true
--   constant_true_policy_on_tenant_table  the same for authenticated on a tenant table
--                                       (every row of the tenant, whoever the user)
--   security_definer_without_search_path  function that runs as its owner with a caller's search_path
--   tenant_wide_policy_widens_others    kiln_tenant_members next to the table's own
--                                       permissive policies: every user of the tenant
--                                       gets every row whatever those say
--   security_definer_bypasses_rls       function app roles may call that runs as a
--                                       superuser or BYPASSRLS owner: no policy applies in it
--   view_without_security_invoker       view that reads as its owner
--   materialized_view_readable          materialized view (no row security) an app role can read
-- It reads catalogs only and changes nothing.

CREATE FUNCTION kiln.exposure_report()
RETURNS TABLE (schema_name pg_catalog.name, object_name pg_catalog.name, object_kind pg_catalog.text,
               role_name pg_catalog.name, privilege pg_catalog.text, columns pg_catalog.name[],
               allowed pg_catalog.bool, via pg_catalog.text[], restricted_by pg_catalog.text[],
               issue pg_catalog.text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH exposed AS (
  SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n
   WHERE n.nspname OPERATOR(pg_catalog.=) ANY (kiln.exposed_schemas())
), rels AS (
  SELECT c.oid, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.reloptions, e.nspname,
         CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                        WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END AS kind
    FROM pg_catalog.pg_class c JOIN exposed e ON e.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'v', 'm', 'f']::"char"[])
     AND NOT c.relispartition
), roles AS (
  SELECT r.oid, r.rolname, r.rolbypassrls FROM pg_catalog.pg_roles r
   WHERE r.rolname OPERATOR(pg_catalog.=) ANY (ARRAY['anon', 'authenticated', 'tenant_service', 'service_role'])
), privs AS (
  SELECT * FROM (VALUES (1, 'SELECT', 'r'::"char"), (2, 'INSERT', 'a'), (3, 'UPDATE', 'w'), (4, 'DELETE', 'd'))
           AS p(ord, priv, cmd)
), pols AS (
  SELECT p.polrelid, p.polname, p.polcmd, p.polroles, p.polpermissive,
         pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual,
         pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS withcheck
    FROM pg_catalog.pg_policy p JOIN rels ON rels.oid OPERATOR(pg_catalog.=) p.polrelid
), grid AS (
  SELECT rels.*, ro.oid AS roleid, ro.rolname, ro.rolbypassrls, pv.ord, pv.priv, pv.cmd,
         pg_catalog.has_table_privilege(ro.oid, rels.oid, pv.priv) AS whole,
         ARRAY(SELECT a.attname FROM pg_catalog.pg_attribute a
                WHERE a.attrelid OPERATOR(pg_catalog.=) rels.oid AND a.attnum OPERATOR(pg_catalog.>) 0
                  AND NOT a.attisdropped AND pv.priv OPERATOR(pg_catalog.<>) 'DELETE'
                  AND pg_catalog.has_column_privilege(ro.oid, rels.oid, a.attnum, pv.priv)
                ORDER BY a.attnum) AS cols,
         ARRAY(SELECT p.polname::pg_catalog.text FROM pols p
                WHERE p.polrelid OPERATOR(pg_catalog.=) rels.oid AND p.polpermissive
                  AND p.polcmd OPERATOR(pg_catalog.=) ANY (ARRAY[pv.cmd, '*']::"char"[])
                  AND EXISTS (SELECT 1 FROM pg_catalog.unnest(p.polroles) AS pr(r)
                               WHERE pr.r OPERATOR(pg_catalog.=) 0
                                  OR pg_catalog.pg_has_role(ro.oid, pr.r, 'USAGE'))
                ORDER BY 1) AS permissive,
         ARRAY(SELECT p.polname::pg_catalog.text FROM pols p
                WHERE p.polrelid OPERATOR(pg_catalog.=) rels.oid AND NOT p.polpermissive
                  AND p.polcmd OPERATOR(pg_catalog.=) ANY (ARRAY[pv.cmd, '*']::"char"[])
                  AND EXISTS (SELECT 1 FROM pg_catalog.unnest(p.polroles) AS pr(r)
                               WHERE pr.r OPERATOR(pg_catalog.=) 0
                                  OR pg_catalog.pg_has_role(ro.oid, pr.r, 'USAGE'))
                ORDER BY 1) AS restrictive
    FROM rels CROSS JOIN roles ro CROSS JOIN privs pv
), access AS (
  SELECT g.nspname, g.relname, g.kind, g.rolname, g.ord, g.priv,
         CASE WHEN g.whole THEN NULL ELSE g.cols::pg_catalog.name[] END AS columns,
         CASE WHEN g.relkind OPERATOR(pg_catalog.<>) ALL (ARRAY['r', 'p']::"char"[]) THEN true
              WHEN g.rolbypassrls OR NOT g.relrowsecurity THEN true
              ELSE pg_catalog.cardinality(g.permissive) OPERATOR(pg_catalog.>) 0 END AS allowed,
         CASE WHEN g.relkind OPERATOR(pg_catalog.=) 'v' THEN
                ARRAY[CASE WHEN 'security_invoker=true' OPERATOR(pg_catalog.=) ANY (g.reloptions)
                                OR 'security_invoker=on' OPERATOR(pg_catalog.=) ANY (g.reloptions)
                           THEN 'view: policies of its tables, as the caller'
                           ELSE 'view: runs as its owner' END]
              WHEN g.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['m', 'f']::"char"[]) THEN ARRAY['no row security']
              WHEN g.rolbypassrls THEN ARRAY['bypassrls']
              WHEN NOT g.relrowsecurity THEN ARRAY['row security off']
              ELSE g.permissive END AS via,
         CASE WHEN g.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
                   AND g.relrowsecurity AND NOT g.rolbypassrls
              THEN g.restrictive END AS restricted_by,
         CASE WHEN g.rolname OPERATOR(pg_catalog.=) 'anon' AND g.relrowsecurity
                   AND EXISTS (SELECT 1 FROM pols p
                                WHERE p.polrelid OPERATOR(pg_catalog.=) g.oid AND p.polpermissive
                                  AND p.polname OPERATOR(pg_catalog.=) ANY (g.permissive)
                                  AND (p.qual OPERATOR(pg_catalog.=) 'true'
                                       OR (g.cmd OPERATOR(pg_catalog.=) 'a' AND p.withcheck OPERATOR(pg_catalog.=) 'true')))
              THEN 'constant_true_policy_for_anon'
              WHEN g.rolname OPERATOR(pg_catalog.=) 'authenticated' AND g.relrowsecurity
                   AND kiln.is_tenant_table(g.oid::pg_catalog.regclass)
                   AND EXISTS (SELECT 1 FROM pols p
                                WHERE p.polrelid OPERATOR(pg_catalog.=) g.oid AND p.polpermissive
                                  AND p.polname OPERATOR(pg_catalog.=) ANY (g.permissive)
                                  AND (p.qual OPERATOR(pg_catalog.=) 'true'
                                       OR (g.cmd OPERATOR(pg_catalog.=) 'a' AND p.withcheck OPERATOR(pg_catalog.=) 'true')))
              THEN 'constant_true_policy_on_tenant_table'
              WHEN g.rolname OPERATOR(pg_catalog.=) 'authenticated'
                   AND 'kiln_tenant_members' OPERATOR(pg_catalog.=) ANY (g.permissive)
                   AND pg_catalog.cardinality(g.permissive) OPERATOR(pg_catalog.>) 1
              THEN 'tenant_wide_policy_widens_others'
              WHEN g.relkind OPERATOR(pg_catalog.=) 'm' AND g.rolname OPERATOR(pg_catalog.<>) 'service_role'
              THEN 'materialized_view_readable' END AS issue
    FROM grid g
   WHERE g.whole OR pg_catalog.cardinality(g.cols) OPERATOR(pg_catalog.>) 0
), issues AS (
  SELECT r.nspname, r.relname, r.kind, 'rls_disabled'::pg_catalog.text AS issue
    FROM rels r WHERE r.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[]) AND NOT r.relrowsecurity
  UNION ALL
  SELECT r.nspname, r.relname, r.kind, 'rls_not_forced'
    FROM rels r WHERE r.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
                  AND r.relrowsecurity AND NOT r.relforcerowsecurity
  UNION ALL
  SELECT r.nspname, r.relname, r.kind, 'view_without_security_invoker'
    FROM rels r WHERE r.relkind OPERATOR(pg_catalog.=) 'v'
                  AND NOT ('security_invoker=true' OPERATOR(pg_catalog.=) ANY (COALESCE(r.reloptions, '{}'))
                           OR 'security_invoker=on' OPERATOR(pg_catalog.=) ANY (COALESCE(r.reloptions, '{}')))
  UNION ALL
  SELECT e.nspname, p.oid::pg_catalog.regprocedure::pg_catalog.text::pg_catalog.name, 'function',
         'security_definer_without_search_path'
    FROM pg_catalog.pg_proc p JOIN exposed e ON e.oid OPERATOR(pg_catalog.=) p.pronamespace
   WHERE p.prosecdef
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proconfig) c WHERE c OPERATOR(pg_catalog.~~) 'search\_path=%')
  UNION ALL
  SELECT e.nspname, p.oid::pg_catalog.regprocedure::pg_catalog.text::pg_catalog.name, 'function',
         'security_definer_bypasses_rls'
    FROM pg_catalog.pg_proc p JOIN exposed e ON e.oid OPERATOR(pg_catalog.=) p.pronamespace
    JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) p.proowner
   WHERE p.prosecdef AND (o.rolsuper OR o.rolbypassrls)
     AND p.prorettype OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog.trigger'::pg_catalog.regtype,
                                                         'pg_catalog.event_trigger'::pg_catalog.regtype])
     AND (pg_catalog.has_function_privilege('anon', p.oid, 'EXECUTE')
          OR pg_catalog.has_function_privilege('authenticated', p.oid, 'EXECUTE'))
)
SELECT a.nspname, a.relname, a.kind, a.rolname, a.priv, a.columns, a.allowed, a.via, a.restricted_by, a.issue
  FROM access a
UNION ALL
SELECT i.nspname, i.relname, i.kind, NULL, NULL, NULL, NULL, NULL, NULL, i.issue
  FROM issues i
ORDER BY 1, 2, 4 NULLS FIRST, 5, 10
$$;
COMMENT ON FUNCTION kiln.exposure_report()
  IS 'who can read and write every exposed table and column, through which policy; flags unsafe patterns';
REVOKE EXECUTE ON FUNCTION kiln.exposure_report() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kiln.exposure_report() TO service_role;
