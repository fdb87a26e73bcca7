-- kiln_access 0.1.0: access control, in schema kiln (docs/sql.md).
--
-- Tenancy (kiln.enable_tenancy), tenant-scoped secret keys, row ACLs, the
-- deny-by-default exposure guard and the exposure report. Requires kiln_auth
-- (users, teams and the request context's readers).

\echo Use "CREATE EXTENSION kiln_access" to load this file. \quit
