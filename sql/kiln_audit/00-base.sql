-- kiln_audit 0.1.0: the audit trail, in schema kiln (docs/sql.md, "Audit").
--
-- The append-only, hash-chained relation kiln.audit_log, the capture trigger
-- written in C, sealing and kiln.audit_verify(). Requires kiln (the verified
-- request context the log's actor columns come from).

\echo Use "CREATE EXTENSION kiln_audit" to load this file. \quit
