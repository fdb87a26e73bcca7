-- kiln 0.1.0, part 10-crypto: password hashing, TOTP, encryption at rest.
--
-- C functions of crypto_password.c, crypto_totp.c and crypto_secretbox.c.
-- Password and TOTP functions are usable by every role (they hold no
-- secret of the server); encryption with the master key and the benchmark
-- aid are not: EXECUTE is revoked from PUBLIC.

CREATE FUNCTION kiln.hash_password(password pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE c VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_hash_password';
COMMENT ON FUNCTION kiln.hash_password(pg_catalog.text)
  IS 'argon2id hash (PHC string) with the parameters kiln.argon2_iterations / kiln.argon2_memory_kib';

CREATE FUNCTION kiln.verify_password(password pg_catalog.text, hash pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE c VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_verify_password';
COMMENT ON FUNCTION kiln.verify_password(pg_catalog.text, pg_catalog.text)
  IS 'constant-time check of a password against an argon2id/argon2i/bcrypt hash; NULL hash costs a dummy verification and is false';

CREATE FUNCTION kiln.password_needs_rehash(hash pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE c STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_password_needs_rehash';
COMMENT ON FUNCTION kiln.password_needs_rehash(pg_catalog.text)
  IS 'true unless the hash is argon2id with the current parameters';

CREATE FUNCTION kiln.totp_generate_secret()
RETURNS pg_catalog.text
LANGUAGE c VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_totp_generate_secret';
COMMENT ON FUNCTION kiln.totp_generate_secret() IS '20 random bytes in base32 (RFC 6238 secret)';

CREATE FUNCTION kiln.totp_code(secret pg_catalog.text,
                               at pg_catalog.timestamptz DEFAULT pg_catalog.now(),
                               digits pg_catalog.int4 DEFAULT 6)
RETURNS pg_catalog.text
LANGUAGE c STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_totp_code';
COMMENT ON FUNCTION kiln.totp_code(pg_catalog.text, pg_catalog.timestamptz, pg_catalog.int4)
  IS 'RFC 6238 code (HMAC-SHA-1, 30 s step) of a base32 secret at a time';

CREATE FUNCTION kiln.totp_verify(secret pg_catalog.text, code pg_catalog.text,
                                 "window" pg_catalog.int4 DEFAULT 1)
RETURNS pg_catalog.bool
LANGUAGE c VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_totp_verify';
COMMENT ON FUNCTION kiln.totp_verify(pg_catalog.text, pg_catalog.text, pg_catalog.int4)
  IS 'constant-time check of a 6-digit code against now +- window steps';

CREATE FUNCTION kiln.encrypt(plaintext pg_catalog.bytea)
RETURNS pg_catalog.bytea
LANGUAGE c VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_encrypt_bytea';
COMMENT ON FUNCTION kiln.encrypt(pg_catalog.bytea)
  IS 'XSalsa20-Poly1305 with the master key of kiln.master_key_file';
REVOKE EXECUTE ON FUNCTION kiln.encrypt(pg_catalog.bytea) FROM PUBLIC;

CREATE FUNCTION kiln.decrypt(sealed pg_catalog.bytea)
RETURNS pg_catalog.bytea
LANGUAGE c VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'kiln_decrypt_bytea';
COMMENT ON FUNCTION kiln.decrypt(pg_catalog.bytea) IS 'inverse of kiln.encrypt; fails on altered data';
REVOKE EXECUTE ON FUNCTION kiln.decrypt(pg_catalog.bytea) FROM PUBLIC;
