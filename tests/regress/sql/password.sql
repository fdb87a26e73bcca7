-- password: kiln.hash_password (argon2id, never below ASVS 5.0 Appendix C),
-- kiln.verify_password (argon2id, imported bcrypt), password_needs_rehash,
-- and the settings behind them.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

-- The hash is a PHC string with parameters at least t=2, m=19 MiB, p=1.
SELECT kiln.hash_password('correct horse battery staple') AS h \gset
SELECT m[1] AS alg, m[2]::int AS version, m[3]::int >= 19456 AS m_ok, m[4]::int >= 2 AS t_ok,
       m[5]::int = 1 AS p_ok, length(m[6]) AS salt_chars, length(m[7]) AS hash_chars
  FROM regexp_match(:'h', '^\$(argon2id)\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$') m;
SHOW kiln.argon2_iterations;
SHOW kiln.argon2_memory_kib;

-- Right and wrong passwords; a fresh salt every time.
SELECT kiln.verify_password('correct horse battery staple', :'h') AS right_password,
       kiln.verify_password('correct horse battery stapl', :'h') AS prefix,
       kiln.verify_password('Correct horse battery staple', :'h') AS other_case,
       kiln.verify_password('', :'h') AS empty,
       kiln.hash_password('correct horse battery staple') <> :'h' AS salted;
SELECT kiln.password_needs_rehash(:'h') AS current_params_need_rehash;

-- Verified exactly as typed: 100-character passwords differing in byte 80.
SELECT kiln.hash_password(repeat('p', 79) || 'A' || repeat('p', 20)) AS long_h \gset
SELECT kiln.verify_password(repeat('p', 79) || 'A' || repeat('p', 20), :'long_h') AS same,
       kiln.verify_password(repeat('p', 79) || 'B' || repeat('p', 20), :'long_h') AS differs_in_byte_80;

-- Imported bcrypt ($2b$ and $2a$, cost 10): verified, and rehashed at the next sign-in.
SELECT kiln.verify_password('correct horse battery staple',
         '$2b$10$D2Z0AHXT65qKL10BXhZi2.rTjY6L.EsdVicRVTR7SgyJT4PGnLd26') AS bcrypt_2b,
       kiln.verify_password('correct horse battery staple',
         '$2a$10$D2Z0AHXT65qKL10BXhZi2.rTjY6L.EsdVicRVTR7SgyJT4PGnLd26') AS bcrypt_2a,
       kiln.verify_password('correct horse battery stapler',
         '$2b$10$D2Z0AHXT65qKL10BXhZi2.rTjY6L.EsdVicRVTR7SgyJT4PGnLd26') AS bcrypt_wrong,
       kiln.password_needs_rehash('$2b$10$D2Z0AHXT65qKL10BXhZi2.rTjY6L.EsdVicRVTR7SgyJT4PGnLd26') AS bcrypt_needs_rehash;
-- bcrypt reads only 72 bytes: a longer password never verifies against it
-- (the 72-byte prefix alone does).
SELECT kiln.verify_password(repeat('a', 72),
         '$2b$10$1JXEs69d2C3.vFJhZaxchOKTNPa2.x/bUoHSiCjhS31DZyofJS1qC') AS bcrypt_72,
       kiln.verify_password(repeat('a', 72) || 'b',
         '$2b$10$1JXEs69d2C3.vFJhZaxchOKTNPa2.x/bUoHSiCjhS31DZyofJS1qC') AS bcrypt_73;

-- No hash (unknown user): false, after a dummy verification; unknown formats: false.
SELECT kiln.verify_password('x', NULL) AS null_hash,
       kiln.verify_password(NULL, :'h') AS null_password,
       kiln.verify_password('x', 'plaintext') AS plain_text,
       kiln.verify_password('x', '$1$abc$def') AS md5_crypt,
       kiln.verify_password('x', '$argon2id$v=19$m=19456,t=2,p=1$garbage') AS broken_argon2,
       kiln.password_needs_rehash('$1$abc$def') AS md5_needs_rehash;

-- Stronger settings make existing hashes due for rehash, and new hashes use them.
SET kiln.argon2_iterations = 3;
SELECT kiln.password_needs_rehash(:'h') AS weaker_needs_rehash,
       kiln.hash_password('x') LIKE '$argon2id$v=19$m=19456,t=3,p=1$%' AS new_params,
       kiln.verify_password('correct horse battery staple', :'h') AS old_hash_still_verifies;
RESET kiln.argon2_iterations;

-- The settings cannot go below the minimums, and only superusers set them.
SET kiln.argon2_iterations = 1;
\echo :SQLSTATE
SET kiln.argon2_memory_kib = 19455;
\echo :SQLSTATE
SET kiln.argon2_memory_kib = '32MB';
SHOW kiln.argon2_memory_kib;
RESET kiln.argon2_memory_kib;
SET ROLE authenticated;
SET kiln.argon2_iterations = 4;
\echo :SQLSTATE
RESET ROLE;

-- Bad input.
SELECT kiln.hash_password('');
\echo :SQLSTATE
SELECT kiln.hash_password(repeat('x', 4097));
\echo :SQLSTATE
SELECT kiln.hash_password(NULL) IS NULL AS null_for_null;
