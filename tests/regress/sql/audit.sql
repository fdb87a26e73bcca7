-- audit: kiln.enable_audit() records every committed change of an audited
-- table in kiln.audit_log, in the same transaction, and nothing of
-- rolled-back work; the log is readable by service_role only.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;
-- The tables below are plain app tables with grants of their own; this file
-- tests audit, not the exposure guard, which would force row security on
-- every new table in public (tested in exposure_guard).
SET kiln.exposed_schemas = '';

-- What this session wrote, in order (its chain), without volatile columns.
CREATE FUNCTION pg_temp.trail(tbl text DEFAULT NULL)
RETURNS TABLE (seq bigint, op text, tbl text, nrows int, pk jsonb, old jsonb, new jsonb, db_user text)
LANGUAGE sql AS $$
  SELECT l.seq, l.op, l.table_schema || '.' || l.table_name, l.nrows, l.pk, l.old, l.new, l.db_user
    FROM kiln.audit_log l
   WHERE l.chain_id = (SELECT chain_id FROM kiln.audit_log ORDER BY at DESC, seq DESC LIMIT 1)
     AND (tbl IS NULL OR l.table_name = tbl)
   ORDER BY l.seq
$$;

CREATE TABLE public.accounts (
  id int PRIMARY KEY,
  owner text NOT NULL,
  balance numeric(12,2) NOT NULL DEFAULT 0,
  tags jsonb,
  active boolean,
  score float8,
  opened date
);
SELECT kiln.enable_audit('public.accounts');

-- Attached as one AFTER row trigger and one AFTER TRUNCATE trigger.
SELECT tgname, tgtype FROM pg_trigger
 WHERE tgrelid = 'public.accounts'::regclass AND NOT tgisinternal ORDER BY 1;

-- Single-row and multi-row INSERT, UPDATE (only changed columns), DELETE.
INSERT INTO accounts VALUES (1, 'ada', 10.50, '{"tier": "gold"}', true, 1.5, '2024-01-02');
INSERT INTO accounts (id, owner) VALUES (2, 'bob'), (3, 'cy');
UPDATE accounts SET balance = balance + 5, active = false WHERE id = 1;
UPDATE accounts SET owner = upper(owner) WHERE id IN (2, 3);
UPDATE accounts SET owner = owner WHERE id = 2;   -- nothing changes: empty diff
DELETE FROM accounts WHERE id = 3;
-- ON CONFLICT DO UPDATE: an UPDATE row for the conflict, an INSERT for the rest.
INSERT INTO accounts (id, owner) VALUES (1, 'ada'), (4, 'dee')
  ON CONFLICT (id) DO UPDATE SET owner = excluded.owner || '!';
-- ON CONFLICT DO NOTHING writes nothing for the skipped row.
INSERT INTO accounts (id, owner) VALUES (1, 'nobody') ON CONFLICT DO NOTHING;
SELECT * FROM pg_temp.trail('accounts');

-- Rolled-back work leaves no row: a whole transaction, a savepoint, a
-- nested savepoint, and a failed statement caught by PL/pgSQL.
BEGIN;
INSERT INTO accounts (id, owner) VALUES (10, 'gone');
ROLLBACK;
BEGIN;
INSERT INTO accounts (id, owner) VALUES (11, 'kept');
SAVEPOINT a;
INSERT INTO accounts (id, owner) VALUES (12, 'gone');
SAVEPOINT b;
INSERT INTO accounts (id, owner) VALUES (13, 'gone');
RELEASE SAVEPOINT b;
ROLLBACK TO SAVEPOINT a;
SAVEPOINT c;
INSERT INTO accounts (id, owner) VALUES (14, 'kept');
SAVEPOINT d;
UPDATE accounts SET owner = 'gone' WHERE id = 14;
ROLLBACK TO SAVEPOINT d;
RELEASE SAVEPOINT c;
COMMIT;
DO $$
BEGIN
  BEGIN
    INSERT INTO public.accounts (id, owner) VALUES (15, 'gone');
    INSERT INTO public.accounts (id, owner) VALUES (15, 'dup');
  EXCEPTION WHEN unique_violation THEN
    NULL;
  END;
  INSERT INTO public.accounts (id, owner) VALUES (16, 'kept');
END
$$;
SELECT seq, op, pk, new ->> 'owner' AS owner FROM pg_temp.trail('accounts') WHERE seq > 12;
-- The chain has no gap and verifies.
SELECT count(*) AS rows, max(seq) AS last_seq FROM pg_temp.trail();
SELECT * FROM kiln.audit_verify();

-- A table without a primary key: pk is null, the values say what changed.
CREATE TABLE public.events (kind text, payload json, at_n int8);
SELECT kiln.enable_audit('public.events');
INSERT INTO events VALUES ('login', '{"ip": "10.0.0.1", "ok": true}', 42);
UPDATE events SET at_n = 43;
DELETE FROM events;
SELECT op, pk, old, new FROM pg_temp.trail('events');

-- Values: numbers stay numbers, special floats become strings, other types
-- their text form; a column named like a keyword is just a key.
CREATE TABLE public.kinds (id bigint PRIMARY KEY, n numeric, f float4, i int2,
                           u uuid, ts timestamptz, arr int[], b bytea, "select" text);
SELECT kiln.enable_audit('public.kinds');
SET timezone = 'UTC';
INSERT INTO kinds VALUES (1, 'NaN', 'Infinity', -3, '6f1c3f4e-8a52-4b0e-9b0a-3c1d2e4f5a6b',
                          '2024-05-06 07:08:09+00', '{1,2}', '\x0102', E'line\nbreak');
SELECT new FROM pg_temp.trail('kinds');

-- Statement-level capture: one log row per statement (up to 1000 changes),
-- pk/old/new as arrays in the statement's order.
CREATE TABLE public.bulk (id int PRIMARY KEY, v text);
SELECT kiln.enable_audit('public.bulk', 'statement');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.bulk'::regclass AND NOT tgisinternal ORDER BY 1;
INSERT INTO bulk SELECT g, 'v' || g FROM generate_series(1, 3) g;
UPDATE bulk SET v = v || '+' WHERE id >= 2;
DELETE FROM bulk WHERE id = 1;
INSERT INTO bulk VALUES (2, 'x'), (9, 'nine') ON CONFLICT (id) DO UPDATE SET v = 'dup';
UPDATE bulk SET v = v WHERE false;   -- no row: no log row
SELECT op, nrows, pk, old, new FROM pg_temp.trail('bulk');
-- 2500 rows: three log rows of 1000, 1000 and 500.
INSERT INTO bulk SELECT g, 'b' FROM generate_series(100, 2599) g;
SELECT nrows, jsonb_array_length(new) AS n, new -> 0 ->> 'id' AS first_id
  FROM pg_temp.trail('bulk') WHERE op = 'INSERT' AND nrows > 2;
SELECT * FROM kiln.audit_verify();

-- A statement whose transition table spills to disk (tiny work_mem): every
-- logged value still matches the table.
CREATE TABLE public.spill (id int PRIMARY KEY, v text, n numeric);
SELECT kiln.enable_audit('public.spill', 'statement');
SET work_mem = '64kB';
INSERT INTO spill SELECT g, repeat('x', g % 50) || g, g / 7.0 FROM generate_series(1, 3000) g;
UPDATE spill SET v = v || '!', n = n * 2;
RESET work_mem;
SELECT l.op, count(*) AS changes,
       count(*) FILTER (WHERE (e ->> 'v') = s.v OR (e ->> 'v') = left(s.v, -1)) AS v_ok,
       count(*) FILTER (WHERE (e ->> 'n')::numeric IN (s.n, s.n / 2)) AS n_ok
  FROM pg_temp.trail('spill') l
 CROSS JOIN LATERAL jsonb_array_elements(l.new) WITH ORDINALITY AS x(e, i)
  JOIN spill s ON s.id = (l.pk -> (x.i::int - 1) ->> 'id')::int
 WHERE l.op IN ('INSERT', 'UPDATE')
 GROUP BY l.op ORDER BY 1;
DROP TABLE public.spill;

-- Partitioned tables: row level records the partition a row lives in (a
-- row moving between partitions is a DELETE and an INSERT); statement level
-- records the partitioned table, a move as one UPDATE.
CREATE TABLE public.parted (id int, region text, v int, PRIMARY KEY (id, region))
  PARTITION BY LIST (region);
CREATE TABLE public.parted_eu PARTITION OF public.parted FOR VALUES IN ('eu');
CREATE TABLE public.parted_us PARTITION OF public.parted FOR VALUES IN ('us');
SELECT kiln.enable_audit('public.parted');
INSERT INTO parted VALUES (1, 'eu', 1), (2, 'us', 2);
UPDATE parted SET region = 'us' WHERE id = 1;
SELECT kiln.enable_audit('public.parted', 'statement');
UPDATE parted SET v = v + 1;
UPDATE parted SET region = 'eu' WHERE id = 2;
SELECT tbl, op, nrows, pk, old, new FROM pg_temp.trail() WHERE tbl LIKE 'public.parted%';
DROP TABLE public.parted;

-- TRUNCATE is recorded (no values); mode can be switched; disabling is logged.
TRUNCATE bulk;
SELECT kiln.enable_audit('public.bulk', 'row');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.bulk'::regclass AND NOT tgisinternal ORDER BY 1;
SELECT kiln.disable_audit('public.bulk');
INSERT INTO bulk VALUES (1, 'not audited');
SELECT kiln.disable_audit('public.bulk');   -- already off: no second note
SELECT op, nrows, new FROM pg_temp.trail('bulk') WHERE op NOT IN ('INSERT', 'UPDATE', 'DELETE');
SELECT count(*) AS triggers_left FROM pg_trigger
 WHERE tgrelid = 'public.bulk'::regclass AND NOT tgisinternal;

-- Bad calls.
SELECT kiln.enable_audit('public.accounts', 'sometimes');
\echo :SQLSTATE
CREATE VIEW public.v_accounts AS SELECT * FROM accounts;
SELECT kiln.enable_audit('public.v_accounts');
\echo :SQLSTATE
SELECT kiln.enable_audit('kiln.audit_log');
\echo :SQLSTATE
SELECT kiln.audit_note('public.bulk', 'AUDIT_ENABLE', NULL);   -- not true
\echo :SQLSTATE
SELECT kiln.audit_note('public.accounts', 'FORGED', NULL);
\echo :SQLSTATE

-- App roles: their writes are audited under their own name; they cannot
-- read, insert into or verify the log, nor switch auditing off on a table
-- they do not own. service_role reads it.
CREATE ROLE audit_app NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON accounts TO audit_app, authenticated, service_role;
SET ROLE audit_app;
INSERT INTO accounts (id, owner) VALUES (20, 'app');
SELECT kiln.disable_audit('public.accounts');
\echo :SQLSTATE
SELECT kiln.enable_audit('public.accounts');
\echo :SQLSTATE
SELECT count(*) FROM kiln.audit_log;
\echo :SQLSTATE
INSERT INTO kiln.audit_log (chain_id, seq, at, txid, db_user, op, nrows, prev_hash, hash)
VALUES (gen_random_uuid(), 1, now(), '1', 'x', 'INSERT', 1, '\x', '\x');
\echo :SQLSTATE
SELECT * FROM kiln.audit_verify();
\echo :SQLSTATE
RESET ROLE;
SET ROLE authenticated;
UPDATE accounts SET balance = 1 WHERE id = 20;
SELECT count(*) FROM kiln.audit_log;
\echo :SQLSTATE
RESET ROLE;
SET ROLE service_role;
DELETE FROM accounts WHERE id = 20;
SELECT count(*) > 0 AS service_role_reads FROM kiln.audit_log;
SELECT count(*) AS problems FROM kiln.audit_verify();
RESET ROLE;
SELECT op, pk, db_user FROM pg_temp.trail('accounts') WHERE pk = '{"id": 20}';

-- Capture cannot be switched off behind the log's back: a table's owner
-- cannot drop, disable or rename the capture triggers (only
-- kiln.disable_audit() removes them, and logs it); dropping the table
-- itself is allowed and logged.
CREATE ROLE audit_owner NOLOGIN;
CREATE TABLE public.owned (id int PRIMARY KEY);
ALTER TABLE public.owned OWNER TO audit_owner;
SET ROLE audit_owner;
SELECT kiln.enable_audit('public.owned');
DROP TRIGGER kiln_audit_row ON public.owned;
\echo :SQLSTATE
ALTER TABLE public.owned DISABLE TRIGGER kiln_audit_row;
\echo :SQLSTATE
ALTER TABLE public.owned DISABLE TRIGGER USER;
\echo :SQLSTATE
ALTER TABLE public.owned ENABLE REPLICA TRIGGER kiln_audit_row;
\echo :SQLSTATE
ALTER TRIGGER kiln_audit_row ON public.owned RENAME TO quiet;
\echo :SQLSTATE
ALTER TABLE public.owned ENABLE ALWAYS TRIGGER kiln_audit_row;   -- stronger: fine
ALTER TABLE public.owned ADD COLUMN note text;                   -- other DDL: fine
INSERT INTO public.owned VALUES (1, 'x');
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'public.owned'::regclass ORDER BY 1;
RESET ROLE;
SET ROLE audit_app;
SELECT kiln.audit_detach('public.owned');
\echo :SQLSTATE
RESET ROLE;
SET ROLE audit_owner;
DROP TABLE public.owned;
RESET ROLE;
SELECT op, new FROM kiln.audit_log WHERE table_name = 'owned' ORDER BY seq;

-- Without a verified context the actor columns are null.
SELECT count(*) FILTER (WHERE actor_role IS NOT NULL OR actor_user IS NOT NULL
                           OR tenant_id IS NOT NULL OR client_ip IS NOT NULL) AS with_actor
  FROM kiln.audit_log;
-- The request id comes along for correlation.
BEGIN;
SELECT set_config('kiln.request_id', 'req-audit-1', true) IS NOT NULL AS set;
INSERT INTO accounts (id, owner) VALUES (30, 'req');
COMMIT;
SELECT request_id FROM kiln.audit_log WHERE pk = '{"id": 30}';

-- With a verified context (kiln.authenticate), the actor columns come from
-- it: user, role, tenant, session, request id, client ip.
SELECT kiln.rotate_signing_key('HS256') IS NOT NULL AS signing_key;
SELECT kiln.sign_jwt(jsonb_build_object(
  'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated',
  'sub', '6f1c3f4e-8a52-4b0e-9b0a-3c1d2e4f5a6b', 'tenant_id', '7d9e3c1a-2b4f-4c6d-8e0f-1a2b3c4d5e6f',
  'session_id', '0b6f4a2c-1d3e-4f5a-8b9c-0d1e2f3a4b5c',
  'exp', extract(epoch FROM now())::int8 + 600)) AS user_token \gset
SELECT kiln.sign_jwt(jsonb_build_object(
  'iss', 'kiln', 'role', 'service_role',
  'exp', extract(epoch FROM now())::int8 + 600)) AS service_token \gset
CREATE TABLE public.notes (id int PRIMARY KEY, body text);
SELECT kiln.enable_audit('public.notes');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.notes TO authenticated, service_role, tenant_service;
SET SESSION AUTHORIZATION authenticator;
BEGIN;
SELECT kiln.authenticate(:'user_token', '{"request_id": "req-ctx-1", "client_ip": "203.0.113.7"}');
INSERT INTO notes VALUES (1, 'by a user');
COMMIT;
BEGIN;
SELECT kiln.authenticate(:'service_token', '{"request_id": "req-ctx-2"}');
UPDATE notes SET body = 'by the service' WHERE id = 1;
COMMIT;
RESET SESSION AUTHORIZATION;
-- Settings an app role can write are not the context: a forged claim is
-- not an actor.
BEGIN;
SELECT set_config('request.jwt.claims',
  '{"sub": "00000000-0000-0000-0000-000000000001", "role": "service_role"}', true) IS NOT NULL AS forged;
SET LOCAL ROLE authenticated;
DELETE FROM notes WHERE id = 1;
COMMIT;
SELECT l.op, l.db_user, l.actor_role, l.actor_user, l.tenant_id, l.session_id, l.request_id, l.client_ip
  FROM kiln.audit_log l
 WHERE l.table_name = 'notes'
 ORDER BY l.seq;

-- A wide row: objects of more than 32 keys (every 32nd entry of a jsonb
-- container holds an offset, not a length), numerics after odd-length
-- strings (aligned with padding), multibyte text, booleans and nulls; the
-- re-parse below checks that the stored bytes are canonical.
SELECT format('CREATE TABLE public.wide (id int PRIMARY KEY, %s)',
              string_agg(format('c%s %s', g, (ARRAY['numeric', 'text', 'bool', 'int8'])[g % 4 + 1]), ', ' ORDER BY g))
  FROM generate_series(1, 40) g \gexec
SELECT kiln.enable_audit('public.wide');
SELECT format('INSERT INTO public.wide VALUES (1, %s)',
              string_agg((ARRAY[(g * 1.25)::text, quote_literal(repeat('é', g % 5)), CASE WHEN g % 3 = 0 THEN 'NULL' ELSE 'true' END, (g * 100003)::text])[g % 4 + 1], ', ' ORDER BY g))
  FROM generate_series(1, 40) g \gexec
UPDATE public.wide SET c4 = -7.5, c5 = 'x', c8 = NULL, c37 = 1e20;
SELECT op, (SELECT count(*) FROM jsonb_object_keys(new)) AS new_keys, new->>'c4' AS c4, new->>'c37' AS c37, old->>'c5' AS old_c5
  FROM kiln.audit_log WHERE table_name = 'wide' ORDER BY seq;

-- Long values in row-level log rows: a text past the writer's first guess
-- of an object's size, and one stored out of line (TOAST), both whole.
CREATE TABLE public.longtext (id int PRIMARY KEY, body text);
SELECT kiln.enable_audit('public.longtext');
INSERT INTO public.longtext VALUES (1, repeat('abc', 100)),
  (2, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 4000) g));
UPDATE public.longtext SET body = body || 'z' WHERE id = 2;
SELECT l.op, l.pk, length(l.old ->> 'body') AS old_len, length(l.new ->> 'body') AS new_len,
       l.new ->> 'body' = t.body AS new_whole
  FROM kiln.audit_log l LEFT JOIN public.longtext t ON t.id = (l.pk ->> 'id')::int
 WHERE l.table_name = 'longtext' ORDER BY l.seq;

-- Every change of this file, in one intact chain per session.
SELECT * FROM kiln.audit_verify();

-- The hash is the documented one (docs/sql.md, "Hash chains"), recomputed
-- here in SQL for the rows without jsonb values (TRUNCATE rows and notes
-- without detail), whose every field SQL can encode.
CREATE FUNCTION pg_temp.enc(b bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN b IS NULL THEN '\x00'::bytea ELSE '\x01'::bytea || int4send(length(b)) || b END $$;
SELECT count(*) AS rows, count(*) FILTER (WHERE hash = sha256(
         'kiln-audit-v1'::bytea || '\x00'::bytea
         || pg_temp.enc(uuid_send(chain_id)) || pg_temp.enc(timestamptz_send(at)) || pg_temp.enc(xid8send(txid))
         || pg_temp.enc(textsend(db_user)) || pg_temp.enc(textsend(actor_role)) || pg_temp.enc(uuid_send(actor_user))
         || pg_temp.enc(uuid_send(tenant_id)) || pg_temp.enc(uuid_send(session_id)) || pg_temp.enc(textsend(request_id))
         || pg_temp.enc(textsend(client_ip)) || pg_temp.enc(textsend(table_schema)) || pg_temp.enc(textsend(table_name))
         || pg_temp.enc(textsend(op)) || pg_temp.enc(int4send(nrows))
         || pg_temp.enc(NULL) || pg_temp.enc(NULL) || pg_temp.enc(NULL) || pg_temp.enc(prev_hash))) AS matching
  FROM kiln.audit_log WHERE pk IS NULL AND old IS NULL AND new IS NULL;

-- The hash covers jsonb in its binary form, which is canonical: re-parsing
-- every value from its text, as a dump and restore does, keeps every chain
-- verifiable.
\c -
BEGIN;
SELECT kiln.audit_break_glass('regress: re-parse every jsonb as a restore would');
UPDATE kiln.audit_log SET pk = pk::text::jsonb, old = old::text::jsonb, new = new::text::jsonb
 WHERE op <> 'BREAK_GLASS';
COMMIT;
SELECT * FROM kiln.audit_verify();

-- One writer per transaction keeps the log open and its last page pinned
-- between audited writes; a utility command on the log in the same
-- transaction (an index, break-glass TRUNCATE) still finds it free, the
-- next write picks the new index up, and an error in a savepoint leaves
-- the writer usable.
BEGIN;
INSERT INTO notes VALUES (10, 'before the index');
CREATE INDEX audit_log_table_name ON kiln.audit_log (table_name);
INSERT INTO notes VALUES (11, 'after the index');
SAVEPOINT s;
INSERT INTO notes VALUES (11, 'duplicate key');
ROLLBACK TO SAVEPOINT s;
UPDATE notes SET body = 'updated in the same transaction' WHERE id = 10;
COMMIT;
SET enable_seqscan = off;
SELECT op, pk ->> 'id' AS id, new ->> 'body' AS body FROM kiln.audit_log
 WHERE table_name = 'notes' AND (pk ->> 'id')::int >= 10 ORDER BY seq;
RESET enable_seqscan;
SELECT * FROM kiln.audit_verify();
BEGIN;
DELETE FROM notes WHERE id >= 10;
SELECT kiln.audit_break_glass('regress: truncate after audited writes in one transaction');
TRUNCATE kiln.audit_log;
INSERT INTO notes VALUES (12, 'after the truncate');
DROP INDEX kiln.audit_log_table_name;
COMMIT;
SELECT op, table_name, seq FROM kiln.audit_log ORDER BY seq;
SELECT * FROM kiln.audit_verify();
-- An index the writer cannot maintain: audited writes are refused (0A000),
-- and a savepoint that catches the refusal leaves nothing open at commit.
CREATE INDEX audit_log_expr ON kiln.audit_log ((lower(table_name)));
BEGIN;
SAVEPOINT s;
INSERT INTO notes VALUES (13, 'refused');
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS notes FROM notes;
COMMIT;
DROP INDEX kiln.audit_log_expr;

DROP VIEW public.v_accounts;
DROP TABLE public.accounts, public.events, public.kinds, public.bulk, public.notes, public.wide, public.longtext;
DROP ROLE audit_app, audit_owner;
