-- kiln_access: the exposure guard.
--
-- An event trigger at the end of every CREATE TABLE, CREATE TABLE AS,
-- SELECT INTO, CREATE SCHEMA (with elements), CREATE VIEW, CREATE
-- MATERIALIZED VIEW and ALTER TABLE, whoever runs it (migration, ORM,
-- console, agent; inside a transaction or not):
--   * a new table or partition in an exposed schema (setting
--     kiln.exposed_schemas, default public) gets row security enabled and
--     forced, with no policy: app roles see nothing until a policy (or
--     kiln.make_public_read) says otherwise;
--   * a new view there runs as its caller (security_invoker) unless its
--     creator set security_invoker explicitly;
--   * a new materialized view there (which row security cannot cover) is
--     revoked from PUBLIC and the app roles;
--   * a foreign key between two tenant tables must pair tenant_id with
--     tenant_id (ERROR 42830), since foreign key checks bypass row security;
--   * a table moved into an exposed schema (ALTER TABLE ... SET SCHEMA) is
--     treated as new there (kiln.exposure_guard_moves, in C).
-- Objects that belong to an extension are left alone. It never drops or
-- disables anything.

CREATE FUNCTION kiln.exposed_schemas()
RETURNS pg_catalog.name[]
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_get_exposed_schemas';
COMMENT ON FUNCTION kiln.exposed_schemas() IS 'schemas named by the setting kiln.exposed_schemas';

CREATE FUNCTION kiln.exposure_guard()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  exposed pg_catalog.name[] := kiln.exposed_schemas();
  cmd record;
  rel record;
BEGIN
  FOR cmd IN SELECT DISTINCT d.objid, d.command_tag
               FROM pg_catalog.pg_event_trigger_ddl_commands() d
              WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                AND d.objsubid OPERATOR(pg_catalog.=) 0
  LOOP
    SELECT c.oid::pg_catalog.regclass AS reg, c.relkind, n.nspname, c.reloptions,
           EXISTS (SELECT 1 FROM pg_catalog.pg_depend x
                    WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND x.objid OPERATOR(pg_catalog.=) c.oid
                      AND x.deptype OPERATOR(pg_catalog.=) 'e') AS in_extension
      INTO rel
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE c.oid OPERATOR(pg_catalog.=) cmd.objid;
    CONTINUE WHEN NOT FOUND OR rel.in_extension;

    IF cmd.command_tag OPERATOR(pg_catalog.=) ANY (ARRAY['CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO'])
       AND rel.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
       AND rel.nspname OPERATOR(pg_catalog.=) ANY (exposed) THEN
      EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', rel.reg);
    ELSIF cmd.command_tag OPERATOR(pg_catalog.=) 'CREATE VIEW'
       AND rel.relkind OPERATOR(pg_catalog.=) 'v'
       AND rel.nspname OPERATOR(pg_catalog.=) ANY (exposed)
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(rel.reloptions) o
                        WHERE o OPERATOR(pg_catalog.~~) 'security\_invoker=%') THEN
      EXECUTE pg_catalog.format('ALTER VIEW %s SET (security_invoker = true)', rel.reg);
    ELSIF cmd.command_tag OPERATOR(pg_catalog.=) 'CREATE MATERIALIZED VIEW'
       AND rel.nspname OPERATOR(pg_catalog.=) ANY (exposed) THEN
      EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC, anon, authenticated, tenant_service', rel.reg);
    END IF;

    IF rel.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
       AND kiln.is_tenant_table(rel.reg)
       AND EXISTS (SELECT 1 FROM kiln.tenant_fks_crossing(rel.reg)) THEN
      RAISE EXCEPTION 'foreign key between tenant tables does not include tenant_id'
        USING ERRCODE = 'invalid_foreign_key',
              DETAIL = pg_catalog.format('Constraint %s could reference a row of another tenant.',
                         (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c.conname), ', ')
                            FROM pg_catalog.pg_constraint c
                           WHERE c.oid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT kiln.tenant_fks_crossing(rel.reg))))),
              HINT = 'Write it as FOREIGN KEY (tenant_id, col) REFERENCES parent (tenant_id, key).';
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION kiln.exposure_guard()
  IS 'event trigger: new tables in exposed schemas get row security enabled and forced with no policy';

CREATE EVENT TRIGGER kiln_exposure_guard ON ddl_command_end
  WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'CREATE SCHEMA',
               'CREATE VIEW', 'CREATE MATERIALIZED VIEW', 'ALTER TABLE')
  EXECUTE FUNCTION kiln.exposure_guard();

-- A table moved into an exposed schema (ALTER TABLE ... SET SCHEMA) is
-- guarded as if it had been created there; only the parse tree (C) tells
-- such a move from other ALTER TABLEs.
CREATE FUNCTION kiln.exposure_guard_moves()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'kiln_exposure_guard_moves';
COMMENT ON FUNCTION kiln.exposure_guard_moves()
  IS 'event trigger: a table moved into an exposed schema gets row security enabled and forced';

CREATE EVENT TRIGGER kiln_exposure_guard_moves ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE')
  EXECUTE FUNCTION kiln.exposure_guard_moves();

-- The explicit way to publish a table: everyone (anon included) reads every
-- row; writes stay denied until a policy allows them.
CREATE FUNCTION kiln.make_public_read(tbl pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT pg_catalog.pg_has_role((SELECT relowner FROM pg_catalog.pg_class
                                  WHERE oid OPERATOR(pg_catalog.=) tbl), 'USAGE') THEN
    RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
  END IF;
  EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE pg_catalog.format('CREATE POLICY kiln_public_read ON %s FOR SELECT TO anon, authenticated USING (true)', tbl);
  EXECUTE pg_catalog.format('GRANT SELECT ON %s TO anon, authenticated', tbl);
END
$$;
COMMENT ON FUNCTION kiln.make_public_read(pg_catalog.regclass)
  IS 'lets anon and authenticated read every row of the table (policy kiln_public_read)';
