-- install: what CREATE EXTENSION kiln_platform CASCADE puts into a plain
-- database, and the installs the suite refuses.

-- Not relocatable: the suite's objects live in fixed schemas.
CREATE EXTENSION kiln SCHEMA public;
\echo :SQLSTATE

-- A schema the suite would own must not exist already (no adoption).
CREATE SCHEMA auth;
CREATE EXTENSION kiln_auth CASCADE;
\echo :SQLSTATE
DROP SCHEMA auth;

-- The whole suite in one statement.
CREATE EXTENSION kiln_platform CASCADE;

SELECT e.extname, e.extversion, n.nspname AS extschema, e.extrelocatable
  FROM pg_catalog.pg_extension e
  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
 ORDER BY e.extname;

-- Every control file agrees with the library's compiled-in version.
SELECT e.extname
  FROM pg_catalog.pg_extension e
 WHERE e.extname LIKE 'kiln%' AND e.extversion <> kiln.version();

-- What each extension requires.
SELECT e.extname, r.extname AS requires
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_extension e ON e.oid = d.objid
  JOIN pg_catalog.pg_extension r ON r.oid = d.refobjid
 WHERE d.classid = 'pg_catalog.pg_extension'::pg_catalog.regclass
   AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
 ORDER BY 1, 2;

-- Schemas are members of the extension that created them.
SELECT n.nspname, e.extname
  FROM pg_catalog.pg_namespace n
  JOIN pg_catalog.pg_depend d
    ON d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
   AND d.objid = n.oid AND d.deptype = 'e'
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
 ORDER BY 1;

-- Functions, with volatility, strictness and pinned settings.
SELECT p.oid::pg_catalog.regprocedure AS function,
       p.prorettype::pg_catalog.regtype AS returns,
       p.provolatile, p.proisstrict, p.proparallel, p.prosecdef,
       p.proconfig, e.extname
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_depend d
    ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
   AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
 WHERE e.extname LIKE 'kiln%'
 ORDER BY 1::pg_catalog.text;

-- Every SECURITY DEFINER function of the suite pins search_path (none yet).
SELECT p.oid::pg_catalog.regprocedure
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_depend d
    ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
   AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
 WHERE e.extname LIKE 'kiln%' AND p.prosecdef
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proconfig) c
                    WHERE c LIKE 'search\_path=%');

SELECT kiln.version() = (SELECT extversion FROM pg_catalog.pg_extension
                          WHERE extname = 'kiln') AS version_matches;

-- kiln cannot go while the rest of the suite needs it.
DROP EXTENSION kiln;
\echo :SQLSTATE
