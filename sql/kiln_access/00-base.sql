-- kiln_access 0.1.0: access control (placeholder).
--
-- Will hold tenancy (kiln.enable_tenancy), row ACLs, the deny-by-default
-- exposure guard and the exposure report, all in schema kiln. This version
-- creates no objects; it exists so that the suite's dependency graph
-- (kiln_access requires kiln_auth) and its upgrade path start at 0.1.0.

\echo Use "CREATE EXTENSION kiln_access" to load this file. \quit
