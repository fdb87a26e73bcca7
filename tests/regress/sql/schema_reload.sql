-- schema_reload: kiln's event triggers that send NOTIFY kiln, 'reload schema'
-- after DDL. (Which statements notify is tested against a live daemon in
-- tests/integration/rest_ddl.test.mjs: psql prints a notification with the
-- sender's PID, which no expected output can hold.) Here: they exist, are
-- enabled, and never get in the way of DDL, whoever runs it.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kiln_test_owner') THEN
    CREATE ROLE kiln_test_owner NOLOGIN;
  END IF;
END $$;
RESET client_min_messages;
GRANT CREATE ON SCHEMA public TO kiln_test_owner;

SELECT e.evtname, e.evtevent, e.evtfoid::regproc, e.evtenabled, e.evttags, x.extname
  FROM pg_event_trigger e
  JOIN pg_depend d ON d.classid = 'pg_event_trigger'::regclass AND d.objid = e.oid AND d.deptype = 'e'
  JOIN pg_extension x ON x.oid = d.refobjid
 WHERE e.evtname LIKE 'kiln\_schema\_reload%'
 ORDER BY 1;

-- Not callable as a function, and not by app roles.
SELECT kiln.notify_schema_change();
SELECT has_function_privilege('kiln_test_owner', 'kiln.notify_schema_change()', 'EXECUTE');

-- DDL by a role without EXECUTE on the trigger function, of every kind the
-- trigger filters: persistent, temporary, drops, refresh, rollback.
SET ROLE kiln_test_owner;
CREATE TABLE public.reload_t (id int PRIMARY KEY, v text);
ALTER TABLE public.reload_t ADD COLUMN w int;
CREATE INDEX ON public.reload_t (w);
COMMENT ON TABLE public.reload_t IS 'reloads';
CREATE MATERIALIZED VIEW public.reload_mv AS SELECT count(*) AS n FROM public.reload_t;
REFRESH MATERIALIZED VIEW public.reload_mv;
CREATE TEMP TABLE reload_tmp (id int);
CREATE INDEX ON reload_tmp (id);
DROP TABLE reload_tmp;
CREATE FUNCTION public.reload_f() RETURNS int LANGUAGE sql AS 'SELECT 1';
DROP FUNCTION public.reload_f();
BEGIN;
CREATE TABLE public.reload_ghost (id int);
ROLLBACK;
DROP MATERIALIZED VIEW public.reload_mv;
ALTER TABLE public.reload_t DROP COLUMN w;
DROP TABLE public.reload_t;
RESET ROLE;
SELECT count(*) FROM pg_class WHERE relname LIKE 'reload\_%';

-- DDL inside a function, and inside a subtransaction that rolls back.
DO $$ BEGIN
  EXECUTE 'CREATE TABLE public.reload_do (id int)';
  BEGIN
    EXECUTE 'DROP TABLE public.reload_do';
    RAISE EXCEPTION 'undo';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  EXECUTE 'DROP TABLE public.reload_do';
END $$;

-- The switch for two-phase commit (docs/sql.md): off and on again.
ALTER EVENT TRIGGER kiln_schema_reload DISABLE;
ALTER EVENT TRIGGER kiln_schema_reload_drop DISABLE;
SELECT evtname, evtenabled FROM pg_event_trigger WHERE evtname LIKE 'kiln\_schema\_reload%' ORDER BY 1;
ALTER EVENT TRIGGER kiln_schema_reload ENABLE;
ALTER EVENT TRIGGER kiln_schema_reload_drop ENABLE;

REVOKE CREATE ON SCHEMA public FROM kiln_test_owner;
