-- kiln_audit 0.1.0: audit trail (placeholder).
--
-- Will hold the C audit trigger, the append-only hash-chained audit relation
-- and kiln.audit_verify(), in schema kiln. This version creates no objects;
-- it exists so that the suite's dependency graph (kiln_audit requires kiln)
-- and its upgrade path start at 0.1.0.

\echo Use "CREATE EXTENSION kiln_audit" to load this file. \quit
