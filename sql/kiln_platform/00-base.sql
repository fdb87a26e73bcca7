-- kiln_platform 0.1.0: platform schemas; CREATE EXTENSION kiln_platform
-- CASCADE installs the whole suite.
--
-- Creates schema storage (owned by this extension). Buckets, objects and the
-- kiln platform tables (sites, deployments, functions, secrets, schedules)
-- arrive in later versions. It never creates roles (kiln_auth does).

\echo Use "CREATE EXTENSION kiln_platform" to load this file. \quit

CREATE SCHEMA storage;
COMMENT ON SCHEMA storage IS 'Kiln file storage: buckets and objects (Supabase-compatible)';

GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;
