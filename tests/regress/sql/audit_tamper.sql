-- audit_tamper: kiln.audit_log refuses UPDATE, DELETE and TRUNCATE to every
-- role, its owner included, unless a superuser opened the logged
-- break-glass path for the transaction; kiln.audit_verify() then finds each
-- edited, removed, reordered row, and with a seal a removed tail.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

-- Start from an empty log: a fresh session truncates it through
-- break-glass (its TRUNCATE row starts a new chain, seq 1).
\c -
BEGIN;
SELECT kiln.audit_break_glass('regress: start audit_tamper from an empty log');
TRUNCATE kiln.audit_log;
TRUNCATE kiln.audit_seals;
COMMIT;
SELECT op, seq, nrows FROM kiln.audit_log;
SELECT * FROM kiln.audit_verify();

\c -
CREATE TABLE public.ledger (id int PRIMARY KEY, amount int);
SELECT kiln.enable_audit('public.ledger');
INSERT INTO ledger SELECT g, g * 10 FROM generate_series(1, 10) g;
CREATE TEMP TABLE my_chain AS
  SELECT chain_id FROM kiln.audit_log WHERE table_name = 'ledger' LIMIT 1;
SELECT seq, op, pk FROM kiln.audit_log WHERE chain_id = (SELECT chain_id FROM my_chain) ORDER BY seq;

-- The owner of the log (the installing superuser) is refused too.
UPDATE kiln.audit_log SET op = 'DELETE' WHERE seq = 2;
\echo :SQLSTATE
DELETE FROM kiln.audit_log WHERE seq = 2;
\echo :SQLSTATE
TRUNCATE kiln.audit_log;
\echo :SQLSTATE
-- Replica mode does not switch the guard off.
SET session_replication_role = replica;
DELETE FROM kiln.audit_log WHERE seq = 2;
\echo :SQLSTATE
RESET session_replication_role;
-- Nor can the owner switch the guard off or drop it.
ALTER TABLE kiln.audit_log DISABLE TRIGGER audit_log_guard;
\echo :SQLSTATE
ALTER TABLE kiln.audit_log ENABLE TRIGGER audit_log_guard;
\echo :SQLSTATE
DROP TRIGGER audit_log_guard ON kiln.audit_log;
\echo :SQLSTATE
DROP TRIGGER audit_seals_guard_truncate ON kiln.audit_seals;
\echo :SQLSTATE
SELECT length(kiln.audit_seal()) AS digest_hex_len;
UPDATE kiln.audit_seals SET digest = '\x00';
\echo :SQLSTATE

-- App roles have no privilege on the log at all (service_role may read).
CREATE ROLE audit_tamper_app NOLOGIN;
SET ROLE audit_tamper_app;
UPDATE kiln.audit_log SET op = 'x';
\echo :SQLSTATE
DELETE FROM kiln.audit_log;
\echo :SQLSTATE
TRUNCATE kiln.audit_log;
\echo :SQLSTATE
SELECT kiln.audit_break_glass('let me in');
\echo :SQLSTATE
RESET ROLE;
SET ROLE anon;
DELETE FROM kiln.audit_log;
\echo :SQLSTATE
RESET ROLE;
SET ROLE authenticated;
UPDATE kiln.audit_log SET op = 'x';
\echo :SQLSTATE
RESET ROLE;
SET ROLE authenticator;
TRUNCATE kiln.audit_log;
\echo :SQLSTATE
RESET ROLE;
SET ROLE service_role;
SELECT count(*) > 0 AS reads FROM kiln.audit_log;
UPDATE kiln.audit_log SET op = 'x';
\echo :SQLSTATE
DELETE FROM kiln.audit_log;
\echo :SQLSTATE
TRUNCATE kiln.audit_log;
\echo :SQLSTATE
RESET ROLE;

-- Break-glass needs a reason, and lasts only as long as the (sub)transaction
-- that opened it.
SELECT kiln.audit_break_glass('   ');
\echo :SQLSTATE
BEGIN;
SAVEPOINT s;
SELECT kiln.audit_break_glass('opened in a savepoint');
ROLLBACK TO SAVEPOINT s;
DELETE FROM kiln.audit_log WHERE seq = 2;
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT kiln.audit_break_glass('opened, then committed');
COMMIT;
DELETE FROM kiln.audit_log WHERE seq = 2;
\echo :SQLSTATE

-- Nothing changed so far.
SELECT * FROM kiln.audit_verify();

-- Tamper through break-glass, in another session (its own chain):
-- edit row 3, remove row 5, swap rows 8 and 9.
\c -
BEGIN;
SELECT kiln.audit_break_glass('regress: tamper on purpose');
UPDATE kiln.audit_log SET new = '{"id": 2, "amount": 1000000}'
 WHERE table_name = 'ledger' AND seq = 3;
DELETE FROM kiln.audit_log WHERE table_name = 'ledger' AND seq = 5;
UPDATE kiln.audit_log SET seq = -seq WHERE table_name = 'ledger' AND seq IN (8, 9);
UPDATE kiln.audit_log SET seq = CASE seq WHEN -8 THEN 9 ELSE 8 END
 WHERE table_name = 'ledger' AND seq IN (-8, -9);
COMMIT;
SELECT seq, problem, detail FROM kiln.audit_verify() ORDER BY seq, problem;

-- Break-glass left its own trail: the reason, then each change.
SELECT seq, op, table_name, nrows, pk - 'chain_id' AS pk,
       CASE WHEN op = 'DELETE' THEN old - 'at' - 'chain_id' - 'txid' - 'hash' - 'prev_hash' ELSE old END AS old,
       new
  FROM kiln.audit_log
 WHERE chain_id <> ALL (SELECT chain_id FROM kiln.audit_log WHERE table_name = 'ledger')
   AND op <> 'TRUNCATE'
 ORDER BY seq;

-- A removed tail is invisible to the chain itself; a seal catches it.
SELECT length(kiln.audit_seal()) AS digest_hex_len;
\c -
BEGIN;
SELECT kiln.audit_break_glass('regress: remove the tail');
DELETE FROM kiln.audit_log l
 WHERE l.chain_id = (SELECT chain_id FROM kiln.audit_log WHERE table_name = 'ledger' LIMIT 1)
   AND l.seq = (SELECT max(seq) FROM kiln.audit_log m WHERE m.chain_id = l.chain_id);
COMMIT;
SELECT seq, problem, detail ~ '^a row sealed at .* is missing$' AS detail_ok
  FROM kiln.audit_verify() WHERE problem = 'truncated';
-- An edited seal is found too.
\c -
BEGIN;
SELECT kiln.audit_break_glass('regress: edit the seal');
UPDATE kiln.audit_seals SET heads = '[]';
COMMIT;
SELECT problem FROM kiln.audit_verify() WHERE problem = 'seal edited';

-- Leave an empty, intact log behind.
\c -
BEGIN;
SELECT kiln.audit_break_glass('regress: clean up after audit_tamper');
TRUNCATE kiln.audit_log;
TRUNCATE kiln.audit_seals;
COMMIT;
SELECT * FROM kiln.audit_verify();
DROP TABLE public.ledger;
DROP ROLE audit_tamper_app;
