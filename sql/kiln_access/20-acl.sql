-- kiln_access: row ACLs (Appwrite-style permission strings).
--
-- A row's acl column is a text[] of entries '<action>:<principal>', action
-- read, update or delete, principal one of any, guests, users, user:<uuid>,
-- team:<uuid>, team:<uuid>/<role>, role:<name>, tenant:<uuid>,
-- tenant:<uuid>/<role>. The caller's principals come from the verified
-- context (kiln.principals(), C, cached per transaction), so the policy for
-- action A is `acl && kiln.acl_principals(A)`: an overlap a GIN index on acl
-- answers. kiln.enable_row_acl(table) adds the column (default: full rights
-- for the creating user), a check that every entry is well-formed and
-- lower-case, the GIN index and the policies; kiln.grant_row/revoke_row
-- change one row's entries under the caller's own update right.
-- It never grants a table privilege: GRANTs stay the app's decision.

CREATE FUNCTION kiln.principals()
RETURNS pg_catalog.text[]
LANGUAGE c STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_get_principals'
SUPPORT kiln.context_support;
COMMENT ON FUNCTION kiln.principals() IS 'ACL principals of the request (any, users, user:<id>, team:<id>/<role>, ...), cached per transaction';

CREATE FUNCTION kiln.acl_principals(action pg_catalog.text)
RETURNS pg_catalog.text[]
LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'kiln_get_acl_principals'
SUPPORT kiln.context_support;
COMMENT ON FUNCTION kiln.acl_principals(pg_catalog.text) IS '''<action>:<principal>'' for each principal of the request; action read, update or delete';

-- One pattern for an entry; entries hold no comma, so a whole array is
-- checked with one match over its comma-joined text (and a comma count).
CREATE FUNCTION kiln.acl_is_valid(acl pg_catalog.text[])
RETURNS pg_catalog.bool
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.array_to_string(acl, ',') OPERATOR(pg_catalog.~)
  ('^((read|update|delete):(any|guests|users|role:[a-z_][a-z0-9_]{0,62}|(user|team|tenant):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|(team|tenant):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/[a-z0-9_-]{1,64})'
   '(,(read|update|delete):(any|guests|users|role:[a-z_][a-z0-9_]{0,62}|(user|team|tenant):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|(team|tenant):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/[a-z0-9_-]{1,64}))*)?$')
  AND pg_catalog.array_position(acl, NULL) IS NULL
  -- as many entries as the text has commas plus one: no entry hides a comma
  AND pg_catalog.cardinality(acl) OPERATOR(pg_catalog.=)
      ((pg_catalog.length(pg_catalog.array_to_string(acl, ',')) OPERATOR(pg_catalog.-)
        pg_catalog.length(pg_catalog.replace(pg_catalog.array_to_string(acl, ','), ',', '')))
       OPERATOR(pg_catalog.+) pg_catalog.sign(pg_catalog.cardinality(acl))::pg_catalog.int4);
COMMENT ON FUNCTION kiln.acl_is_valid(pg_catalog.text[]) IS 'true when every entry is a well-formed, lower-case ACL entry';

-- Lower-cases entries, expands write:<p> into update:<p> and delete:<p>,
-- and refuses anything that is not an entry (22023).
CREATE FUNCTION kiln.acl_normalize(entries pg_catalog.text[])
RETURNS pg_catalog.text[]
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  e pg_catalog.text;
  out pg_catalog.text[] := '{}';
BEGIN
  FOREACH e IN ARRAY entries LOOP
    e := pg_catalog.lower(e);
    IF e OPERATOR(pg_catalog.~~) 'write:%' THEN
      out := out OPERATOR(pg_catalog.||) ARRAY['update:' OPERATOR(pg_catalog.||) pg_catalog.substr(e, 7),
                                               'delete:' OPERATOR(pg_catalog.||) pg_catalog.substr(e, 7)];
    ELSE
      out := out OPERATOR(pg_catalog.||) e;
    END IF;
    IF e IS NULL OR NOT kiln.acl_is_valid(out) THEN
      RAISE EXCEPTION 'invalid ACL entry "%"', e
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'An entry is <read|update|delete|write>:<any|guests|users|user:<uuid>|team:<uuid>[/<role>]|role:<name>|tenant:<uuid>[/<role>]>.';
    END IF;
  END LOOP;
  RETURN out;
END
$$;

CREATE FUNCTION kiln.acl_add(acl pg_catalog.text[], entries pg_catalog.text[])
RETURNS pg_catalog.text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN ARRAY(SELECT DISTINCT e
               FROM pg_catalog.unnest(COALESCE(acl, '{}') OPERATOR(pg_catalog.||)
                                      kiln.acl_normalize(entries)) AS u(e)
              ORDER BY e);
COMMENT ON FUNCTION kiln.acl_add(pg_catalog.text[], pg_catalog.text[]) IS 'acl with entries added (normalized, sorted, no duplicates)';

CREATE FUNCTION kiln.acl_remove(acl pg_catalog.text[], entries pg_catalog.text[])
RETURNS pg_catalog.text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN ARRAY(SELECT e FROM pg_catalog.unnest(acl) AS u(e)
              WHERE e OPERATOR(pg_catalog.<>) ALL (kiln.acl_normalize(entries))
              ORDER BY e);
COMMENT ON FUNCTION kiln.acl_remove(pg_catalog.text[], pg_catalog.text[]) IS 'acl without entries';

-- Default of an acl column: read, update and delete for the creating user.
CREATE FUNCTION kiln.acl_default()
RETURNS pg_catalog.text[]
LANGUAGE sql STABLE
RETURN (SELECT CASE WHEN u.id IS NULL THEN '{}'::pg_catalog.text[]
                    ELSE ARRAY['delete:user:' OPERATOR(pg_catalog.||) u.id,
                               'read:user:' OPERATOR(pg_catalog.||) u.id,
                               'update:user:' OPERATOR(pg_catalog.||) u.id] END
          FROM (SELECT auth.uid()::pg_catalog.text) AS u(id));
COMMENT ON FUNCTION kiln.acl_default() IS 'read, update and delete for the current user; empty without a user';

CREATE FUNCTION kiln.has_row_acl(tbl pg_catalog.regclass)
RETURNS pg_catalog.bool
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
                WHERE p.polrelid OPERATOR(pg_catalog.=) tbl
                  AND p.polname OPERATOR(pg_catalog.=) 'kiln_acl_select');
COMMENT ON FUNCTION kiln.has_row_acl(pg_catalog.regclass) IS 'true when kiln.enable_row_acl applies to the table';

CREATE FUNCTION kiln.enable_row_acl(tbl pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  rel pg_catalog.pg_class;
  col pg_catalog.pg_attribute;
  base pg_catalog.text;
BEGIN
  rel := kiln._owned_table(tbl);
  IF kiln.has_row_acl(tbl) THEN
    RAISE EXCEPTION 'row ACL is already enabled on %', tbl USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  base := pg_catalog.left(rel.relname, 50);

  SELECT * INTO col FROM pg_catalog.pg_attribute
   WHERE attrelid OPERATOR(pg_catalog.=) tbl AND attname OPERATOR(pg_catalog.=) 'acl' AND NOT attisdropped;
  IF FOUND AND col.atttypid OPERATOR(pg_catalog.<>) 'pg_catalog.text[]'::pg_catalog.regtype THEN
    RAISE EXCEPTION 'column acl of % is not of type text[]', tbl USING ERRCODE = 'datatype_mismatch';
  ELSIF NOT FOUND THEN
    -- Existing rows get no entry (only service roles see them); new rows
    -- get the creating user's.
    EXECUTE pg_catalog.format('ALTER TABLE %s ADD COLUMN acl pg_catalog.text[] NOT NULL DEFAULT %L', tbl, '{}');
    EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.acl IS %L', tbl, 'kiln: added by kiln.enable_row_acl');
  ELSE
    EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN acl SET NOT NULL', tbl);
  END IF;
  EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN acl SET DEFAULT kiln.acl_default()', tbl);
  EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (kiln.acl_is_valid(acl))',
                            tbl, base OPERATOR(pg_catalog.||) '_kiln_acl_check');
  EXECUTE pg_catalog.format('CREATE INDEX %I ON %s USING gin (acl)',
                            base OPERATOR(pg_catalog.||) '_kiln_acl_idx', tbl);
  EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE pg_catalog.format('CREATE POLICY kiln_acl_select ON %s FOR SELECT TO PUBLIC'
                            ' USING (acl OPERATOR(pg_catalog.&&) kiln.acl_principals(''read''))', tbl);
  EXECUTE pg_catalog.format('CREATE POLICY kiln_acl_insert ON %s FOR INSERT TO authenticated'
                            ' WITH CHECK (true)', tbl);
  EXECUTE pg_catalog.format('CREATE POLICY kiln_acl_update ON %s FOR UPDATE TO PUBLIC'
                            ' USING (acl OPERATOR(pg_catalog.&&) kiln.acl_principals(''update''))'
                            ' WITH CHECK (true)', tbl);
  EXECUTE pg_catalog.format('CREATE POLICY kiln_acl_delete ON %s FOR DELETE TO PUBLIC'
                            ' USING (acl OPERATOR(pg_catalog.&&) kiln.acl_principals(''delete''))', tbl);
  IF kiln.is_tenant_table(tbl) THEN
    PERFORM kiln.tenant_members_policy(tbl, false);
  END IF;
END
$$;
COMMENT ON FUNCTION kiln.enable_row_acl(pg_catalog.regclass)
  IS 'adds a row ACL: acl text[] column, entry check, GIN index, per-action policies';

CREATE FUNCTION kiln.disable_row_acl(tbl pg_catalog.regclass, keep_column pg_catalog.bool DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  rel pg_catalog.pg_class;
  base pg_catalog.text;
BEGIN
  IF NOT kiln.has_row_acl(tbl) THEN
    RAISE EXCEPTION 'row ACL is not enabled on %', tbl USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  SELECT * INTO STRICT rel FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) tbl;
  IF NOT pg_catalog.pg_has_role(rel.relowner, 'USAGE') THEN
    RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
  END IF;
  base := pg_catalog.left(rel.relname, 50);
  EXECUTE pg_catalog.format('DROP POLICY kiln_acl_select ON %s', tbl);
  EXECUTE pg_catalog.format('DROP POLICY kiln_acl_insert ON %s', tbl);
  EXECUTE pg_catalog.format('DROP POLICY kiln_acl_update ON %s', tbl);
  EXECUTE pg_catalog.format('DROP POLICY kiln_acl_delete ON %s', tbl);
  EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, base OPERATOR(pg_catalog.||) '_kiln_acl_check');
  EXECUTE pg_catalog.format('DROP INDEX %I.%I', (SELECT nspname FROM pg_catalog.pg_namespace
                                                  WHERE oid OPERATOR(pg_catalog.=) rel.relnamespace),
                            base OPERATOR(pg_catalog.||) '_kiln_acl_idx');
  IF NOT keep_column AND pg_catalog.col_description(tbl, (SELECT attnum FROM pg_catalog.pg_attribute
        WHERE attrelid OPERATOR(pg_catalog.=) tbl AND attname OPERATOR(pg_catalog.=) 'acl'))
        OPERATOR(pg_catalog.=) 'kiln: added by kiln.enable_row_acl' THEN
    EXECUTE pg_catalog.format('ALTER TABLE %s DROP COLUMN acl', tbl);
  ELSE
    EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN acl DROP DEFAULT', tbl);
  END IF;
  IF kiln.is_tenant_table(tbl) THEN
    PERFORM kiln.tenant_members_policy(tbl, true);
  END IF;
END
$$;
COMMENT ON FUNCTION kiln.disable_row_acl(pg_catalog.regclass, pg_catalog.bool)
  IS 'undoes kiln.enable_row_acl (drops acl if enable_row_acl added it, unless keep_column)';

-- Changes one row's acl, found by its single-column primary key, as the
-- caller: row security applies, so the caller needs update (and read) on it.
CREATE FUNCTION kiln.row_acl_change(tbl pg_catalog.regclass, row_id pg_catalog.text,
                                    entries pg_catalog.text[], add pg_catalog.bool)
RETURNS pg_catalog.bool
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  pkcol pg_catalog.name;
  pktype pg_catalog.text;
  n pg_catalog.int8;
BEGIN
  IF NOT kiln.has_row_acl(tbl) THEN
    RAISE EXCEPTION 'row ACL is not enabled on %', tbl USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) INTO pkcol, pktype
    FROM pg_catalog.pg_constraint c
    JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid
                                  AND a.attnum OPERATOR(pg_catalog.=) c.conkey[1]
   WHERE c.conrelid OPERATOR(pg_catalog.=) tbl AND c.contype OPERATOR(pg_catalog.=) 'p'
     AND pg_catalog.cardinality(c.conkey) OPERATOR(pg_catalog.=) 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % has no single-column primary key', tbl
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Update the acl column directly: SET acl = kiln.acl_add(acl, entries).';
  END IF;
  EXECUTE pg_catalog.format('UPDATE %s SET acl = kiln.%s(acl, $2) WHERE %I OPERATOR(pg_catalog.=) $1::%s',
                            tbl, CASE WHEN add THEN 'acl_add' ELSE 'acl_remove' END, pkcol, pktype)
    USING row_id, entries;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n OPERATOR(pg_catalog.>) 0;
END
$$;

CREATE FUNCTION kiln.grant_row(tbl pg_catalog.regclass, row_id pg_catalog.text, VARIADIC entries pg_catalog.text[])
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN kiln.row_acl_change(tbl, row_id, entries, true);
COMMENT ON FUNCTION kiln.grant_row(pg_catalog.regclass, pg_catalog.text, pg_catalog.text[])
  IS 'adds ACL entries to the row with this primary key; false when the caller cannot update it';

CREATE FUNCTION kiln.revoke_row(tbl pg_catalog.regclass, row_id pg_catalog.text, VARIADIC entries pg_catalog.text[])
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN kiln.row_acl_change(tbl, row_id, entries, false);
COMMENT ON FUNCTION kiln.revoke_row(pg_catalog.regclass, pg_catalog.text, pg_catalog.text[])
  IS 'removes ACL entries from the row with this primary key; false when the caller cannot update it';
