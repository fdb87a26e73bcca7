-- secretbox: kiln.encrypt / kiln.decrypt with the master key of
-- kiln.master_key_file (never stored in the database): round trip,
-- tampering, and clear errors when the key is missing or unusable.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

-- Round trip; a fresh nonce every time; 41 bytes of overhead.
SELECT kiln.decrypt(kiln.encrypt('\x00010203'::bytea)) AS round_trip,
       kiln.decrypt(kiln.encrypt(''::bytea)) AS empty,
       pg_catalog.length(kiln.encrypt('secret'::bytea)) - 6 AS overhead,
       kiln.encrypt('secret'::bytea) <> kiln.encrypt('secret'::bytea) AS fresh_nonce,
       pg_catalog.convert_from(kiln.decrypt(kiln.encrypt(pg_catalog.convert_to(pg_catalog.repeat('x', 100000), 'UTF8'))), 'UTF8')
         = pg_catalog.repeat('x', 100000) AS large;

-- Any change to the sealed value is detected.
SELECT kiln.encrypt('attack at dawn'::bytea) AS sealed \gset
SELECT kiln.decrypt(pg_catalog.set_byte(:'sealed'::bytea, 30, pg_catalog.get_byte(:'sealed'::bytea, 30) # 1));
\echo :SQLSTATE
SELECT kiln.decrypt(pg_catalog.set_byte(:'sealed'::bytea, 5, pg_catalog.get_byte(:'sealed'::bytea, 5) # 1));
\echo :SQLSTATE
SELECT kiln.decrypt(pg_catalog.substr(:'sealed'::bytea, 1, 40));
\echo :SQLSTATE
SELECT kiln.decrypt('\x02'::bytea || pg_catalog.substr(:'sealed'::bytea, 2));
\echo :SQLSTATE

-- The key's file name is for superusers only, and app roles cannot encrypt.
SET ROLE authenticated;
SHOW kiln.master_key_file;
\echo :SQLSTATE
SELECT kiln.encrypt('x'::bytea);
\echo :SQLSTATE
RESET ROLE;
SELECT pg_catalog.current_setting('kiln.master_key_file') <> '' AS configured_for_superuser;

-- Not settable in a session (PGC_SIGHUP).
SET kiln.master_key_file = '/tmp/other.key';
\echo :SQLSTATE

-- Without a usable master key: clear errors (the setting is changed with
-- ALTER SYSTEM and a reload here, then restored).
SELECT pg_catalog.current_setting('kiln.master_key_file') AS key_file \gset
ALTER SYSTEM SET kiln.master_key_file = '';
SELECT pg_catalog.pg_reload_conf();
SELECT pg_catalog.pg_sleep(0.5);
SELECT kiln.encrypt('x'::bytea);
\echo :SQLSTATE
SELECT kiln.decrypt(:'sealed'::bytea);
\echo :SQLSTATE
ALTER SYSTEM SET kiln.master_key_file = 'no-such-kiln-master.key';
SELECT pg_catalog.pg_reload_conf();
SELECT pg_catalog.pg_sleep(0.5);
\set VERBOSITY terse
SELECT kiln.encrypt('x'::bytea);
\set VERBOSITY default
\echo :SQLSTATE
SELECT pg_catalog.current_setting('data_directory') || '/kiln-short-master.key' AS short_file \gset
-- (COPY writes it readable by others: refused for that before its size.)
COPY (SELECT 'too short') TO :'short_file';
ALTER SYSTEM SET kiln.master_key_file = :'short_file';
SELECT pg_catalog.pg_reload_conf();
SELECT pg_catalog.pg_sleep(0.5);
SELECT kiln.encrypt('x'::bytea);
\echo :SQLSTATE
ALTER SYSTEM SET kiln.master_key_file = :'key_file';
SELECT pg_catalog.pg_reload_conf();
SELECT pg_catalog.pg_sleep(0.5);
SELECT pg_catalog.convert_from(kiln.decrypt(:'sealed'::bytea), 'UTF8') AS restored;
