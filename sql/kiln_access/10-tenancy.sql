-- kiln_access: tenancy.
--
-- Tenants are rows of kiln.tenants with members in kiln.tenant_members.
-- kiln.enable_tenancy(table) gives a table a tenant_id column (default: the
-- request's tenant; the row trigger refuses any other tenant, KLT01), a
-- tenant-leading unique key, forced row security with a restrictive
-- isolation policy (tenant_id = kiln.tenant_id(): no tenant, no rows), and
-- turns foreign keys between tenant tables into composite (tenant_id, key)
-- keys, because foreign key checks bypass row security.
-- kiln.disable_tenancy(table) undoes exactly what enable_tenancy did. Role
-- tenant_service (secret keys minted for one tenant) is created here when
-- kiln_auth did not create it. Nothing here trusts a setting an app role can
-- change: policies read kiln.tenant_id(), the verified context.

-- tenant_service: a tenant's own service key. Never bypasses row security.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                  WHERE rolname OPERATOR(pg_catalog.=) 'tenant_service') THEN
    CREATE ROLE tenant_service NOLOGIN NOINHERIT;
  ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                 WHERE rolname OPERATOR(pg_catalog.=) 'tenant_service'
                   AND (rolsuper OR rolbypassrls)) THEN
    RAISE EXCEPTION 'existing role "tenant_service" bypasses row security'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'The role has SUPERUSER or BYPASSRLS, which would void tenant isolation.',
            HINT = 'Run ALTER ROLE tenant_service NOSUPERUSER NOBYPASSRLS, then create the extension again.';
  END IF;
  IF NOT pg_catalog.pg_has_role('authenticator', 'tenant_service', 'MEMBER') THEN
    GRANT tenant_service TO authenticator;
  END IF;
END
$roles$;
GRANT USAGE ON SCHEMA auth TO tenant_service;

CREATE TABLE kiln.tenants (
  id         pg_catalog.uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
  name       pg_catalog.text NOT NULL CHECK (pg_catalog.length(name) OPERATOR(pg_catalog.>) 0),
  created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE kiln.tenants IS 'tenants; tenant tables key their rows by tenant_id';

CREATE TABLE kiln.tenant_members (
  tenant_id  pg_catalog.uuid NOT NULL REFERENCES kiln.tenants (id) ON DELETE CASCADE,
  user_id    pg_catalog.uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  role       pg_catalog.text NOT NULL CHECK (role OPERATOR(pg_catalog.~) '^[a-z0-9_-]{1,64}$'),
  created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (tenant_id, user_id)
);
COMMENT ON TABLE kiln.tenant_members IS 'members of a tenant with their role (principal tenant:<id>/<role>)';
CREATE INDEX tenant_members_user_id_idx ON kiln.tenant_members (user_id);

REVOKE ALL ON kiln.tenants, kiln.tenant_members FROM PUBLIC;
GRANT SELECT ON kiln.tenants, kiln.tenant_members TO authenticated, tenant_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON kiln.tenants, kiln.tenant_members TO service_role;
ALTER TABLE kiln.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE kiln.tenant_members ENABLE ROW LEVEL SECURITY;
-- The request's tenant is visible to its members and its service key.
CREATE POLICY tenants_current ON kiln.tenants FOR SELECT TO authenticated, tenant_service
  USING (id OPERATOR(pg_catalog.=) kiln.tenant_id());
CREATE POLICY tenant_members_current ON kiln.tenant_members FOR SELECT TO authenticated, tenant_service
  USING (tenant_id OPERATOR(pg_catalog.=) kiln.tenant_id());

CREATE FUNCTION kiln.create_tenant(name pg_catalog.text)
RETURNS pg_catalog.uuid
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  INSERT INTO kiln.tenants (name) VALUES ($1) RETURNING id
$$;
COMMENT ON FUNCTION kiln.create_tenant(pg_catalog.text) IS 'creates a tenant, returns its id';

CREATE FUNCTION kiln.add_tenant_member(tenant pg_catalog.uuid, user_id pg_catalog.uuid, role pg_catalog.text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  IF role OPERATOR(pg_catalog.!~) '^[a-z0-9_-]{1,64}$' THEN
    RAISE EXCEPTION 'invalid tenant role "%"', role
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A role is 1 to 64 characters of a-z, 0-9, _ and -.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM kiln.tenants t WHERE t.id OPERATOR(pg_catalog.=) tenant) THEN
    RAISE EXCEPTION 'tenant % does not exist', tenant USING ERRCODE = 'foreign_key_violation';
  END IF;
  INSERT INTO kiln.tenant_members AS m (tenant_id, user_id, role)
  VALUES ($1, $2, $3)
  ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = EXCLUDED.role;
END
$$;
COMMENT ON FUNCTION kiln.add_tenant_member(pg_catalog.uuid, pg_catalog.uuid, pg_catalog.text)
  IS 'adds a user to a tenant with a role, or changes the role';

REVOKE EXECUTE ON FUNCTION kiln.create_tenant(pg_catalog.text),
                           kiln.add_tenant_member(pg_catalog.uuid, pg_catalog.uuid, pg_catalog.text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kiln.create_tenant(pg_catalog.text),
                          kiln.add_tenant_member(pg_catalog.uuid, pg_catalog.uuid, pg_catalog.text)
  TO service_role;

CREATE FUNCTION kiln.tenant_row_guard()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'kiln_tenant_row_guard';
COMMENT ON FUNCTION kiln.tenant_row_guard()
  IS 'row trigger of tenant tables: fills tenant_id from the request, refuses another tenant (KLT01)';

CREATE FUNCTION kiln.is_tenant_table(tbl pg_catalog.regclass)
RETURNS pg_catalog.bool
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
                  WHERE p.polrelid OPERATOR(pg_catalog.=) tbl
                    AND p.polname OPERATOR(pg_catalog.=) 'kiln_tenant_isolation')
$$;
COMMENT ON FUNCTION kiln.is_tenant_table(pg_catalog.regclass) IS 'true when kiln.enable_tenancy applies to the table';

-- Quoted, comma-separated names of the columns attnums of rel, in order.
CREATE FUNCTION kiln.column_list(rel pg_catalog.regclass, attnums pg_catalog.int2[])
RETURNS pg_catalog.text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.ord)
    FROM pg_catalog.unnest(attnums) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_catalog.pg_attribute a
      ON a.attrelid OPERATOR(pg_catalog.=) rel AND a.attnum OPERATOR(pg_catalog.=) k.attnum
$$;

-- Re-creates foreign key con with the pair (tenant_id, tenant_id) in front
-- (composite = true) or without it (composite = false), keeping its name,
-- actions and deferrability. A composite key gets a unique key on the
-- referenced side when it has none.
CREATE FUNCTION kiln.tenant_fk_rewrite(con pg_catalog.oid, composite pg_catalog.bool)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c pg_catalog.pg_constraint;
  ct pg_catalog.int2;
  pt pg_catalog.int2;
  k pg_catalog.int2[];
  fk pg_catalog.int2[];
  setcols pg_catalog.int2[];
  act pg_catalog.text;
  def pg_catalog.text;
BEGIN
  SELECT * INTO STRICT c FROM pg_catalog.pg_constraint WHERE oid OPERATOR(pg_catalog.=) con;
  SELECT attnum INTO STRICT ct FROM pg_catalog.pg_attribute
   WHERE attrelid OPERATOR(pg_catalog.=) c.conrelid AND attname OPERATOR(pg_catalog.=) 'tenant_id';
  SELECT attnum INTO STRICT pt FROM pg_catalog.pg_attribute
   WHERE attrelid OPERATOR(pg_catalog.=) c.confrelid AND attname OPERATOR(pg_catalog.=) 'tenant_id';
  IF composite THEN
    k := ARRAY[ct] OPERATOR(pg_catalog.||) c.conkey;
    fk := ARRAY[pt] OPERATOR(pg_catalog.||) c.confkey;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint u
                    WHERE u.conrelid OPERATOR(pg_catalog.=) c.confrelid
                      AND u.contype OPERATOR(pg_catalog.=) ANY (ARRAY['p', 'u']::"char"[])
                      AND u.conkey OPERATOR(pg_catalog.@>) fk AND u.conkey OPERATOR(pg_catalog.<@) fk) THEN
      EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I UNIQUE (%s)', c.confrelid::pg_catalog.regclass,
                                pg_catalog.left(c.conname, 40) OPERATOR(pg_catalog.||) '_kiln_tenant_key',
                                kiln.column_list(c.confrelid, fk));
    END IF;
  ELSE
    -- drop the pair (tenant_id, tenant_id) wherever it sits
    SELECT pg_catalog.array_agg(a ORDER BY o), pg_catalog.array_agg(b ORDER BY o) INTO k, fk
      FROM ROWS FROM (pg_catalog.unnest(c.conkey), pg_catalog.unnest(c.confkey)) WITH ORDINALITY AS x(a, b, o)
     WHERE NOT (a OPERATOR(pg_catalog.=) ct AND b OPERATOR(pg_catalog.=) pt);
  END IF;
  setcols := c.confdelsetcols;
  IF composite AND setcols IS NULL AND c.confdeltype OPERATOR(pg_catalog.=) ANY (ARRAY['n', 'd']::"char"[]) THEN
    setcols := c.conkey;    -- never null or reset tenant_id
  ELSIF NOT composite AND setcols IS NOT NULL THEN
    setcols := NULL;
  END IF;
  def := pg_catalog.format('FOREIGN KEY (%s) REFERENCES %s (%s)', kiln.column_list(c.conrelid, k),
                           c.confrelid::pg_catalog.regclass, kiln.column_list(c.confrelid, fk));
  IF c.confmatchtype OPERATOR(pg_catalog.=) 'f' THEN def := def OPERATOR(pg_catalog.||) ' MATCH FULL'; END IF;
  FOREACH act IN ARRAY ARRAY['UPDATE', 'DELETE'] LOOP
    def := def OPERATOR(pg_catalog.||) ' ON ' OPERATOR(pg_catalog.||) act OPERATOR(pg_catalog.||)
           CASE CASE act WHEN 'UPDATE' THEN c.confupdtype ELSE c.confdeltype END
             WHEN 'a' THEN ' NO ACTION' WHEN 'r' THEN ' RESTRICT' WHEN 'c' THEN ' CASCADE'
             WHEN 'n' THEN ' SET NULL' ELSE ' SET DEFAULT' END;
    IF act OPERATOR(pg_catalog.=) 'DELETE' AND setcols IS NOT NULL THEN
      def := def OPERATOR(pg_catalog.||) pg_catalog.format(' (%s)', kiln.column_list(c.conrelid, setcols));
    END IF;
  END LOOP;
  IF c.condeferrable THEN
    def := def OPERATOR(pg_catalog.||) ' DEFERRABLE INITIALLY '
           OPERATOR(pg_catalog.||) CASE WHEN c.condeferred THEN 'DEFERRED' ELSE 'IMMEDIATE' END;
  END IF;
  EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I %s',
                            c.conrelid::pg_catalog.regclass, c.conname, c.conname, def);
  IF composite THEN
    EXECUTE pg_catalog.format('COMMENT ON CONSTRAINT %I ON %s IS %L', c.conname,
                              c.conrelid::pg_catalog.regclass, 'kiln: tenant-composite foreign key');
  END IF;
END
$$;

-- Foreign keys on or to tbl, taken as a tenant table, whose other side is a
-- tenant table too, and that do not pair tenant_id with tenant_id: each
-- could point at another tenant's row (foreign key checks bypass row
-- security).
CREATE FUNCTION kiln.tenant_fks_crossing(tbl pg_catalog.regclass)
RETURNS SETOF pg_catalog.oid
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT c.oid
    FROM pg_catalog.pg_constraint c
   WHERE c.contype OPERATOR(pg_catalog.=) 'f'
     AND c.conparentid OPERATOR(pg_catalog.=) 0
     AND ((c.conrelid OPERATOR(pg_catalog.=) tbl
           AND (c.confrelid OPERATOR(pg_catalog.=) tbl OR kiln.is_tenant_table(c.confrelid)))
          OR (c.confrelid OPERATOR(pg_catalog.=) tbl AND kiln.is_tenant_table(c.conrelid)))
     AND NOT EXISTS (
       SELECT 1 FROM ROWS FROM (pg_catalog.unnest(c.conkey), pg_catalog.unnest(c.confkey)) AS x(a, b)
         JOIN pg_catalog.pg_attribute ca ON ca.attrelid OPERATOR(pg_catalog.=) c.conrelid
                                        AND ca.attnum OPERATOR(pg_catalog.=) x.a
         JOIN pg_catalog.pg_attribute pa ON pa.attrelid OPERATOR(pg_catalog.=) c.confrelid
                                        AND pa.attnum OPERATOR(pg_catalog.=) x.b
        WHERE ca.attname OPERATOR(pg_catalog.=) 'tenant_id'
          AND pa.attname OPERATOR(pg_catalog.=) 'tenant_id')
$$;

-- The tenant-wide policy for signed-in users: every row of their tenant.
-- Added only where nothing else decides inside the tenant: not on tables
-- with a row ACL, and (unless forced) not on tables whose own permissive
-- policies already apply to authenticated, which it would widen (policies
-- are ORed): `using (auth.uid() = user_id)` must stay per user.
CREATE FUNCTION kiln.tenant_members_policy(tbl pg_catalog.regclass, present pg_catalog.bool,
                                           force pg_catalog.bool DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
              WHERE p.polrelid OPERATOR(pg_catalog.=) tbl
                AND p.polname OPERATOR(pg_catalog.=) 'kiln_tenant_members') THEN
    IF NOT present THEN
      EXECUTE pg_catalog.format('DROP POLICY kiln_tenant_members ON %s', tbl);
    END IF;
    RETURN;
  ELSIF NOT present THEN
    RETURN;
  END IF;
  IF NOT force AND EXISTS (
       SELECT 1 FROM pg_catalog.pg_policy p
        WHERE p.polrelid OPERATOR(pg_catalog.=) tbl AND p.polpermissive
          AND p.polname OPERATOR(pg_catalog.!~~) 'kiln\_%'
          AND (0::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (p.polroles)
               OR 'authenticated'::pg_catalog.regrole::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (p.polroles))) THEN
    RETURN;
  END IF;
  EXECUTE pg_catalog.format(
    'CREATE POLICY kiln_tenant_members ON %s FOR ALL TO authenticated'
    ' USING (tenant_id OPERATOR(pg_catalog.=) kiln.tenant_id())'
    ' WITH CHECK (tenant_id OPERATOR(pg_catalog.=) kiln.tenant_id())', tbl);
END
$$;

-- The prologue of every enable_* function: tbl is a table (or partitioned
-- table) the caller owns; returns its pg_class row. Callable by anyone: it
-- only reads pg_class and checks the caller's own membership.
CREATE FUNCTION kiln._owned_table(tbl pg_catalog.regclass)
RETURNS pg_catalog.pg_class
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  rel pg_catalog.pg_class;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  SELECT * INTO STRICT rel FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) tbl;
  IF rel.relkind OPERATOR(pg_catalog.<>) ALL (ARRAY['r', 'p']::"char"[]) THEN
    RAISE EXCEPTION '"%" is not a table', tbl USING ERRCODE = 'wrong_object_type';
  END IF;
  IF NOT pg_catalog.pg_has_role(rel.relowner, 'USAGE') THEN
    RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN rel;
END
$$;

CREATE FUNCTION kiln.enable_tenancy(tbl pg_catalog.regclass, existing_tenant pg_catalog.uuid DEFAULT NULL,
                                    member_access pg_catalog.bool DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  rel pg_catalog.pg_class;
  col pg_catalog.pg_attribute;
  pk pg_catalog.int2[];
  con pg_catalog.oid;
BEGIN
  rel := kiln._owned_table(tbl);
  IF kiln.is_tenant_table(tbl) THEN
    RAISE EXCEPTION 'tenancy is already enabled on %', tbl USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;

  SELECT * INTO col FROM pg_catalog.pg_attribute
   WHERE attrelid OPERATOR(pg_catalog.=) tbl AND attname OPERATOR(pg_catalog.=) 'tenant_id' AND NOT attisdropped;
  IF FOUND AND col.atttypid OPERATOR(pg_catalog.<>) 'pg_catalog.uuid'::pg_catalog.regtype THEN
    RAISE EXCEPTION 'column tenant_id of % is not of type uuid', tbl USING ERRCODE = 'datatype_mismatch';
  ELSIF NOT FOUND THEN
    IF existing_tenant IS NULL THEN
      EXECUTE pg_catalog.format('ALTER TABLE %s ADD COLUMN tenant_id pg_catalog.uuid', tbl);
    ELSE
      EXECUTE pg_catalog.format('ALTER TABLE %s ADD COLUMN tenant_id pg_catalog.uuid DEFAULT %L', tbl, existing_tenant);
    END IF;
    EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.tenant_id IS %L', tbl, 'kiln: added by kiln.enable_tenancy');
  END IF;
  EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN tenant_id SET DEFAULT kiln.tenant_id()', tbl);
  BEGIN
    EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN tenant_id SET NOT NULL', tbl);
  EXCEPTION WHEN not_null_violation THEN
    RAISE EXCEPTION 'table % has rows without a tenant', tbl
      USING ERRCODE = 'not_null_violation',
            HINT = 'Pass the tenant of the existing rows: kiln.enable_tenancy(table, existing_tenant).';
  END;

  -- The tenant-leading key: (tenant_id, primary key) when there is one, the
  -- target of composite foreign keys; else an index on tenant_id.
  SELECT c.conkey INTO pk FROM pg_catalog.pg_constraint c
   WHERE c.conrelid OPERATOR(pg_catalog.=) tbl AND c.contype OPERATOR(pg_catalog.=) 'p';
  IF pk IS NOT NULL THEN
    EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I UNIQUE (tenant_id, %s)', tbl,
                              pg_catalog.left(rel.relname, 47) OPERATOR(pg_catalog.||) '_kiln_tenant_key',
                              kiln.column_list(tbl, pk));
  ELSE
    EXECUTE pg_catalog.format('CREATE INDEX %I ON %s (tenant_id)',
                              pg_catalog.left(rel.relname, 47) OPERATOR(pg_catalog.||) '_kiln_tenant_idx', tbl);
  END IF;

  -- Before the policies: until then the event trigger does not take this
  -- table for a tenant table, so it lets the rewrites through one by one.
  FOR con IN SELECT kiln.tenant_fks_crossing(tbl) LOOP
    PERFORM kiln.tenant_fk_rewrite(con, true);
  END LOOP;
  EXECUTE pg_catalog.format('CREATE TRIGGER kiln_tenant_row_guard BEFORE INSERT OR UPDATE OF tenant_id ON %s'
                            ' FOR EACH ROW EXECUTE FUNCTION kiln.tenant_row_guard()', tbl);
  EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE pg_catalog.format(
    'CREATE POLICY kiln_tenant_isolation ON %s AS RESTRICTIVE FOR ALL TO PUBLIC'
    ' USING (tenant_id OPERATOR(pg_catalog.=) kiln.tenant_id())'
    ' WITH CHECK (tenant_id OPERATOR(pg_catalog.=) kiln.tenant_id())', tbl);
  -- The permissive policies say who may use the table at all; the
  -- restrictive one, ANDed into every command of every role, confines
  -- everyone to the request's tenant. Each states the tenant too, so that
  -- neither alone ever opens another tenant's rows.
  EXECUTE pg_catalog.format(
    'CREATE POLICY kiln_tenant_service ON %s FOR ALL TO tenant_service'
    ' USING (tenant_id OPERATOR(pg_catalog.=) kiln.tenant_id())'
    ' WITH CHECK (tenant_id OPERATOR(pg_catalog.=) kiln.tenant_id())', tbl);
  -- member_access: NULL = when no policy of the table's own applies to
  -- authenticated; true = always; false = never.
  IF member_access IS DISTINCT FROM false AND NOT kiln.has_row_acl(tbl) THEN
    PERFORM kiln.tenant_members_policy(tbl, true, COALESCE(member_access, false));
  END IF;
  EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO tenant_service', tbl);

END
$$;
COMMENT ON FUNCTION kiln.enable_tenancy(pg_catalog.regclass, pg_catalog.uuid, pg_catalog.bool)
  IS 'makes a table tenant-keyed: tenant_id, tenant-leading key, forced isolation policy, composite foreign keys';

CREATE FUNCTION kiln.disable_tenancy(tbl pg_catalog.regclass, keep_column pg_catalog.bool DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  con pg_catalog.oid;
  name pg_catalog.name;
BEGIN
  IF NOT kiln.is_tenant_table(tbl) THEN
    RAISE EXCEPTION 'tenancy is not enabled on %', tbl USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF NOT pg_catalog.pg_has_role((SELECT relowner FROM pg_catalog.pg_class
                                  WHERE oid OPERATOR(pg_catalog.=) tbl), 'USAGE') THEN
    RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- Policies first: from here on the event trigger no longer takes this
  -- table for a tenant table and lets the plain foreign keys back in.
  EXECUTE pg_catalog.format('DROP POLICY kiln_tenant_isolation ON %s', tbl);
  EXECUTE pg_catalog.format('DROP POLICY kiln_tenant_service ON %s', tbl);
  PERFORM kiln.tenant_members_policy(tbl, false);
  FOR con IN
    SELECT c.oid FROM pg_catalog.pg_constraint c
     WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.conparentid OPERATOR(pg_catalog.=) 0
       AND (c.conrelid OPERATOR(pg_catalog.=) tbl OR c.confrelid OPERATOR(pg_catalog.=) tbl)
       AND pg_catalog.obj_description(c.oid, 'pg_constraint') OPERATOR(pg_catalog.=) 'kiln: tenant-composite foreign key'
  LOOP
    PERFORM kiln.tenant_fk_rewrite(con, false);
  END LOOP;
  FOR name IN
    SELECT c.conname FROM pg_catalog.pg_constraint c
     WHERE c.conrelid OPERATOR(pg_catalog.=) tbl AND c.contype OPERATOR(pg_catalog.=) 'u'
       AND c.conname OPERATOR(pg_catalog.~) '_kiln_tenant_key$' AND c.conparentid OPERATOR(pg_catalog.=) 0
  LOOP
    EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, name);
  END LOOP;
  FOR name IN
    SELECT i.relname FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid OPERATOR(pg_catalog.=) x.indexrelid
     WHERE x.indrelid OPERATOR(pg_catalog.=) tbl AND i.relname OPERATOR(pg_catalog.~) '_kiln_tenant_idx$'
  LOOP
    EXECUTE pg_catalog.format('DROP INDEX %s', pg_catalog.quote_ident(
      (SELECT n.nspname FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n
          ON n.oid OPERATOR(pg_catalog.=) r.relnamespace WHERE r.oid OPERATOR(pg_catalog.=) tbl))
      OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(name));
  END LOOP;
  EXECUTE pg_catalog.format('DROP TRIGGER kiln_tenant_row_guard ON %s', tbl);
  EXECUTE pg_catalog.format('REVOKE SELECT, INSERT, UPDATE, DELETE ON %s FROM tenant_service', tbl);
  IF NOT keep_column AND pg_catalog.col_description(tbl, (SELECT attnum FROM pg_catalog.pg_attribute
        WHERE attrelid OPERATOR(pg_catalog.=) tbl AND attname OPERATOR(pg_catalog.=) 'tenant_id'))
        OPERATOR(pg_catalog.=) 'kiln: added by kiln.enable_tenancy' THEN
    EXECUTE pg_catalog.format('ALTER TABLE %s DROP COLUMN tenant_id', tbl);
  ELSE
    EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN tenant_id DROP DEFAULT', tbl);
  END IF;
END
$$;
COMMENT ON FUNCTION kiln.disable_tenancy(pg_catalog.regclass, pg_catalog.bool)
  IS 'undoes kiln.enable_tenancy (drops tenant_id if enable_tenancy added it, unless keep_column)';
