-- kiln 0.1.0: the base of the Kiln extension suite.
--
-- Creates schema kiln (owned by this extension, dropped with it) and the
-- functions of the C library that need no other extension: the library
-- version, random tokens and the request id. It never creates roles, never
-- touches other schemas and never leaves an object unqualified.

\echo Use "CREATE EXTENSION kiln" to load this file. \quit

-- Fails if a schema kiln already exists: the extension never adopts a schema
-- someone else created (and may hold objects in).
CREATE SCHEMA kiln;
COMMENT ON SCHEMA kiln IS 'Kiln: request context, crypto primitives, settings, platform tables';

-- Lookup only: every object in kiln carries its own privileges, and every
-- function not meant for app roles revokes EXECUTE from PUBLIC.
GRANT USAGE ON SCHEMA kiln TO PUBLIC;

CREATE FUNCTION kiln.version()
RETURNS pg_catalog.text
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_get_version';
COMMENT ON FUNCTION kiln.version() IS 'version of the loaded kiln library';

CREATE FUNCTION kiln.random_token(nbytes pg_catalog.int4 DEFAULT 32)
RETURNS pg_catalog.text
LANGUAGE c VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_generate_token';
COMMENT ON FUNCTION kiln.random_token(pg_catalog.int4)
  IS 'nbytes (1..1024) from a strong random source, base64url without padding';

CREATE FUNCTION kiln.request_id()
RETURNS pg_catalog.text
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_get_request_id';
COMMENT ON FUNCTION kiln.request_id()
  IS 'the transaction''s request id (setting kiln.request_id), NULL when unset';
