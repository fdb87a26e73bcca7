-- kiln_audit: the audit trail (docs/sql.md, section "Audit").
--
-- Creates the append-only, hash-chained relation kiln.audit_log, its guard
-- trigger, kiln.audit_seals, and the functions that switch auditing on and
-- off, open the break-glass path, seal and verify the chains. The capture
-- trigger and the row writer are C (extension/audit*.c): rows are written by
-- the library directly, never through an INSERT an app role could issue, so
-- no role needs (or gets) INSERT on the log. It never grants UPDATE, DELETE
-- or TRUNCATE on the log to anyone, and never reads the request context from
-- settings an app role can change.

CREATE TABLE kiln.audit_log (
  chain_id     pg_catalog.uuid        NOT NULL,
  seq          pg_catalog.int8        NOT NULL,
  at           pg_catalog.timestamptz NOT NULL,
  txid         pg_catalog.xid8        NOT NULL,
  db_user      pg_catalog.text        NOT NULL,
  actor_role   pg_catalog.text,
  actor_user   pg_catalog.uuid,
  tenant_id    pg_catalog.uuid,
  session_id   pg_catalog.uuid,
  request_id   pg_catalog.text,
  client_ip    pg_catalog.text,
  table_schema pg_catalog.text,
  table_name   pg_catalog.text,
  op           pg_catalog.text        NOT NULL,
  nrows        pg_catalog.int4        NOT NULL,
  pk           pg_catalog.jsonb,
  old          pg_catalog.jsonb,
  new          pg_catalog.jsonb,
  prev_hash    pg_catalog.bytea       NOT NULL,
  hash         pg_catalog.bytea       NOT NULL
);
-- No index: every index costs every audited write (a btree insert and its
-- WAL), and nothing on the write path reads the log. (chain_id, seq) is
-- unique by construction; kiln.audit_verify() sorts and would report a
-- duplicate. Add plain indexes for queries if needed (docs/sql.md).

-- Statement-level capture writes up to 1000 changed rows per log row (pk,
-- old and new are then arrays): lz4, where the server has it, keeps
-- compressing them cheap.
DO $lz4$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_settings
              WHERE name OPERATOR(pg_catalog.=) 'default_toast_compression'
                AND 'lz4' OPERATOR(pg_catalog.=) ANY (enumvals)) THEN
    ALTER TABLE kiln.audit_log ALTER COLUMN pk SET COMPRESSION lz4,
      ALTER COLUMN old SET COMPRESSION lz4, ALTER COLUMN new SET COMPRESSION lz4;
  END IF;
END
$lz4$;
COMMENT ON TABLE kiln.audit_log IS
  'append-only audit trail; one hash chain per writing backend, ordered by (chain_id, seq); see kiln.audit_verify()';

-- Nobody but the owner (the installing superuser) holds any privilege; the
-- guard trigger below refuses UPDATE, DELETE and TRUNCATE even to the owner.
REVOKE ALL ON kiln.audit_log FROM PUBLIC;

-- Chain heads recorded by kiln.audit_seal(); checked by kiln.audit_verify().
CREATE TABLE kiln.audit_seals (
  sealed_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
  heads     pg_catalog.jsonb       NOT NULL,
  digest    pg_catalog.bytea       NOT NULL
);
COMMENT ON TABLE kiln.audit_seals IS
  'chain heads at each kiln.audit_seal(); store the digest outside the database too';
REVOKE ALL ON kiln.audit_seals FROM PUBLIC;

-- Refuses UPDATE, DELETE and TRUNCATE unless kiln.audit_break_glass() ran
-- in the current transaction; logs what break-glass changes.
CREATE FUNCTION kiln.audit_guard()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'kiln_audit_guard';
REVOKE EXECUTE ON FUNCTION kiln.audit_guard() FROM PUBLIC;

CREATE TRIGGER audit_log_guard BEFORE UPDATE OR DELETE ON kiln.audit_log
  FOR EACH ROW EXECUTE FUNCTION kiln.audit_guard();
CREATE TRIGGER audit_log_guard_truncate BEFORE TRUNCATE ON kiln.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION kiln.audit_guard();
CREATE TRIGGER audit_log_guard_truncated AFTER TRUNCATE ON kiln.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION kiln.audit_guard();
CREATE TRIGGER audit_seals_guard BEFORE UPDATE OR DELETE ON kiln.audit_seals
  FOR EACH ROW EXECUTE FUNCTION kiln.audit_guard();
CREATE TRIGGER audit_seals_guard_truncate BEFORE TRUNCATE ON kiln.audit_seals
  FOR EACH STATEMENT EXECUTE FUNCTION kiln.audit_guard();
-- ALWAYS: session_replication_role = replica does not switch the guard off.
ALTER TABLE kiln.audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
ALTER TABLE kiln.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_truncate;
ALTER TABLE kiln.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_truncated;
ALTER TABLE kiln.audit_seals ENABLE ALWAYS TRIGGER audit_seals_guard;
ALTER TABLE kiln.audit_seals ENABLE ALWAYS TRIGGER audit_seals_guard_truncate;

-- The capture trigger: row-level (AFTER ... FOR EACH ROW) or statement-level
-- with transition tables, and AFTER TRUNCATE; kiln.enable_audit() attaches it.
CREATE FUNCTION kiln.audit_capture()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'kiln_audit_capture';
-- EXECUTE stays with PUBLIC: CREATE TRIGGER needs it, and only the table's
-- owner can attach a trigger; the trigger records only real changes.

-- Writes one AUDIT_ENABLE row (detail as new) on the caller's chain. The C
-- function checks that the caller owns the table and that the note is true
-- (the capture trigger is attached).
CREATE FUNCTION kiln.audit_note(t pg_catalog.regclass, op pg_catalog.text, detail pg_catalog.jsonb)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'kiln_audit_note';

CREATE FUNCTION kiln.audit_break_glass(reason pg_catalog.text)
RETURNS void
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'kiln_audit_break_glass';
REVOKE EXECUTE ON FUNCTION kiln.audit_break_glass(pg_catalog.text) FROM PUBLIC;
COMMENT ON FUNCTION kiln.audit_break_glass(pg_catalog.text) IS
  'superuser only: allow UPDATE/DELETE/TRUNCATE of the audit log for this transaction; logged with the reason';

CREATE FUNCTION kiln.enable_audit(t pg_catalog.regclass, mode pg_catalog.text DEFAULT 'row')
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  rel record;
  q text;
BEGIN
  SELECT c.relkind, c.relowner, n.nspname, c.relname
    INTO rel
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) t;
  IF NOT pg_catalog.pg_has_role(current_user, rel.relowner, 'USAGE') THEN
    RAISE EXCEPTION 'must be owner of table %', t USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF rel.relkind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION '"%" is not a table', t
      USING ERRCODE = 'wrong_object_type',
            DETAIL = 'Only ordinary and partitioned tables can be audited.';
  END IF;
  IF rel.nspname OPERATOR(pg_catalog.=) 'kiln'
     AND rel.relname OPERATOR(pg_catalog.=) ANY (ARRAY['audit_log', 'audit_seals']) THEN
    RAISE EXCEPTION 'the audit log cannot audit itself'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF mode IS NULL OR mode NOT IN ('row', 'statement') THEN
    RAISE EXCEPTION 'audit mode must be ''row'' or ''statement''' 
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  PERFORM kiln.audit_detach(t);
  IF mode OPERATOR(pg_catalog.=) 'row' THEN
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER kiln_audit_row AFTER INSERT OR UPDATE OR DELETE ON %s '
      'FOR EACH ROW EXECUTE FUNCTION kiln.audit_capture()', t);
  ELSE
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER kiln_audit_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS kiln_new '
      'FOR EACH STATEMENT EXECUTE FUNCTION kiln.audit_capture()', t);
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER kiln_audit_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS kiln_old NEW TABLE AS kiln_new '
      'FOR EACH STATEMENT EXECUTE FUNCTION kiln.audit_capture()', t);
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER kiln_audit_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS kiln_old '
      'FOR EACH STATEMENT EXECUTE FUNCTION kiln.audit_capture()', t);
  END IF;
  EXECUTE pg_catalog.format(
    'CREATE TRIGGER kiln_audit_truncate AFTER TRUNCATE ON %s '
    'FOR EACH STATEMENT EXECUTE FUNCTION kiln.audit_capture()', t);
  PERFORM kiln.audit_note(t, 'AUDIT_ENABLE', pg_catalog.jsonb_build_object('mode', mode));
END
$fn$;
COMMENT ON FUNCTION kiln.enable_audit(pg_catalog.regclass, pg_catalog.text) IS
  'attach the audit trigger to a table (mode row or statement); the caller must own the table (CREATE TRIGGER checks)';

-- Drops the capture triggers of t (the caller must own t) and logs
-- AUDIT_DISABLE; the only way past the DDL guard below. Returns how many.
CREATE FUNCTION kiln.audit_detach(t pg_catalog.regclass)
RETURNS pg_catalog.int4
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'kiln_audit_detach';
COMMENT ON FUNCTION kiln.audit_detach(pg_catalog.regclass) IS
  'drop the capture triggers of a table and log AUDIT_DISABLE (used by enable_audit/disable_audit)';

-- DDL guard: capture triggers leave only through kiln.audit_detach() (or
-- with their table); they cannot be disabled or renamed.
CREATE FUNCTION kiln.audit_ddl_guard()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'kiln_audit_ddl_guard';
REVOKE EXECUTE ON FUNCTION kiln.audit_ddl_guard() FROM PUBLIC;
CREATE EVENT TRIGGER kiln_audit_drop_guard ON sql_drop
  EXECUTE FUNCTION kiln.audit_ddl_guard();
CREATE EVENT TRIGGER kiln_audit_alter_guard ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE', 'ALTER TRIGGER')
  EXECUTE FUNCTION kiln.audit_ddl_guard();

CREATE FUNCTION kiln.disable_audit(t pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF NOT pg_catalog.pg_has_role(current_user,
           (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) t), 'USAGE') THEN
    RAISE EXCEPTION 'must be owner of table %', t USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM kiln.audit_detach(t);   -- logs AUDIT_DISABLE when it removed any
END
$fn$;
COMMENT ON FUNCTION kiln.disable_audit(pg_catalog.regclass) IS
  'detach the audit trigger from a table (logged); the caller must own the table';

-- Per chain: every row's hash, the links between rows, gaps. C, reads
-- kiln.audit_log with the caller's privileges.
CREATE FUNCTION kiln.audit_verify_chains(
  OUT chain_id pg_catalog.uuid, OUT seq pg_catalog.int8,
  OUT problem pg_catalog.text, OUT detail pg_catalog.text)
RETURNS SETOF record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'kiln_audit_verify_chains';
REVOKE EXECUTE ON FUNCTION kiln.audit_verify_chains() FROM PUBLIC;

CREATE FUNCTION kiln.audit_verify(
  OUT chain_id pg_catalog.uuid, OUT seq pg_catalog.int8,
  OUT problem pg_catalog.text, OUT detail pg_catalog.text)
RETURNS SETOF record
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT v.chain_id, v.seq, v.problem, v.detail FROM kiln.audit_verify_chains() v
  UNION ALL
  -- A sealed head must still be there, unchanged: catches a removed tail.
  SELECT (h OPERATOR(pg_catalog.->>) 'chain_id')::pg_catalog.uuid,
         (h OPERATOR(pg_catalog.->>) 'seq')::pg_catalog.int8,
         CASE WHEN l.hash IS NULL THEN 'truncated' ELSE 'edited' END,
         CASE WHEN l.hash IS NULL
              THEN 'a row sealed at ' OPERATOR(pg_catalog.||) s.sealed_at::pg_catalog.text OPERATOR(pg_catalog.||) ' is missing'
              ELSE 'the row no longer has the hash sealed at ' OPERATOR(pg_catalog.||) s.sealed_at::pg_catalog.text END
    FROM kiln.audit_seals s
   CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(s.heads) h
    LEFT JOIN kiln.audit_log l
      ON l.chain_id OPERATOR(pg_catalog.=) (h OPERATOR(pg_catalog.->>) 'chain_id')::pg_catalog.uuid
     AND l.seq OPERATOR(pg_catalog.=) (h OPERATOR(pg_catalog.->>) 'seq')::pg_catalog.int8
   WHERE l.hash IS NULL
      OR pg_catalog.encode(l.hash, 'hex') OPERATOR(pg_catalog.<>) (h OPERATOR(pg_catalog.->>) 'hash')
  UNION ALL
  -- A seal row must match its own digest.
  SELECT NULL, NULL, 'seal edited', 'seal of ' OPERATOR(pg_catalog.||) s.sealed_at::pg_catalog.text
    FROM kiln.audit_seals s
   WHERE s.digest OPERATOR(pg_catalog.<>) pg_catalog.sha256(pg_catalog.convert_to(s.heads::pg_catalog.text, 'UTF8'))
  ORDER BY 1, 2, 3
$fn$;
REVOKE EXECUTE ON FUNCTION kiln.audit_verify() FROM PUBLIC;
COMMENT ON FUNCTION kiln.audit_verify() IS
  'one row per problem found in the audit log (edited, removed, reordered, truncated); no rows: intact';

CREATE FUNCTION kiln.audit_seal()
RETURNS pg_catalog.text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
  WITH heads AS (
    SELECT DISTINCT ON (l.chain_id) l.chain_id, l.seq, l.hash
      FROM kiln.audit_log l
     ORDER BY l.chain_id, l.seq DESC
  ), doc AS (
    SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'chain_id', h.chain_id, 'seq', h.seq, 'hash', pg_catalog.encode(h.hash, 'hex'))
             ORDER BY h.chain_id), '[]'::pg_catalog.jsonb) AS heads
      FROM heads h
  ), ins AS (
    INSERT INTO kiln.audit_seals (heads, digest)
    SELECT d.heads, pg_catalog.sha256(pg_catalog.convert_to(d.heads::pg_catalog.text, 'UTF8'))
      FROM doc d
    RETURNING digest
  )
  SELECT pg_catalog.encode(i.digest, 'hex') FROM ins i
$fn$;
REVOKE EXECUTE ON FUNCTION kiln.audit_seal() FROM PUBLIC;
COMMENT ON FUNCTION kiln.audit_seal() IS
  'record every chain head in kiln.audit_seals; returns the hex SHA-256 digest to keep outside the database';

-- service_role may read the trail and verify it (if kiln_auth created the
-- role already); its own writes are audited like anyone's.
DO $grant$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'service_role') THEN
    GRANT SELECT ON kiln.audit_log, kiln.audit_seals TO service_role;
    GRANT EXECUTE ON FUNCTION kiln.audit_verify(), kiln.audit_verify_chains() TO service_role;
  END IF;
END
$grant$;
