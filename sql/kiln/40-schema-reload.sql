-- kiln: schema reload on DDL.
--
-- Every `kiln` daemon serving this database keeps a schema cache and
-- LISTENs on channel kiln for the payload 'reload schema'. These event
-- triggers queue that notification whenever DDL changes a persistent object,
-- so a migration, a console or an agent never has to send it by hand.
-- Postgres delivers a notification only at commit and folds identical ones
-- within a transaction, so a migration of a thousand statements costs one
-- reload, and a rolled-back one none. Temporary objects and REFRESH
-- MATERIALIZED VIEW (no catalog change the API sees) send nothing, so apps
-- that use temp tables do not make the daemons reload.
--
-- It lives in kiln, not kiln_platform, because kiln is what every database a
-- daemon serves has (kiln.authenticate).

CREATE FUNCTION kiln.notify_schema_change()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_EVENT OPERATOR(pg_catalog.=) 'sql_drop' THEN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() o
                    WHERE NOT o.is_temporary) THEN
      RETURN;
    END IF;
  ELSIF TG_TAG OPERATOR(pg_catalog.=) 'REFRESH MATERIALIZED VIEW' THEN
    RETURN;
  ELSIF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands() c
                     WHERE c.schema_name IS NULL
                        OR c.schema_name OPERATOR(pg_catalog.!~) '^pg_(toast_)?temp(_[0-9]+)?$') THEN
    -- Only temporary objects (reported in schema pg_temp), or a DROP
    -- (reported by sql_drop instead).
    RETURN;
  END IF;
  PERFORM pg_catalog.pg_notify('kiln', 'reload schema');
END
$$;
COMMENT ON FUNCTION kiln.notify_schema_change()
  IS 'event trigger: NOTIFY kiln, ''reload schema'' when DDL changes a persistent object';
REVOKE EXECUTE ON FUNCTION kiln.notify_schema_change() FROM PUBLIC;

CREATE EVENT TRIGGER kiln_schema_reload ON ddl_command_end
  EXECUTE FUNCTION kiln.notify_schema_change();

CREATE EVENT TRIGGER kiln_schema_reload_drop ON sql_drop
  EXECUTE FUNCTION kiln.notify_schema_change();
