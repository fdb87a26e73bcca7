-- crypto_token: kiln.random_token(nbytes): length, alphabet, encoding,
-- uniqueness and the bounds on nbytes.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

-- Default: 32 bytes, 43 characters.
SELECT pg_catalog.length(kiln.random_token()) AS default_length;

-- Unpadded base64url length is ceil(4n/3).
SELECT n, pg_catalog.length(kiln.random_token(n)) AS chars
  FROM pg_catalog.unnest(ARRAY[1, 2, 3, 4, 5, 6, 16, 32, 64, 1024]) AS n
 ORDER BY n;

-- Only the url-safe alphabet, never padding, at every length.
SELECT pg_catalog.count(*) AS bad_alphabet
  FROM pg_catalog.generate_series(1, 1024) AS n
 WHERE kiln.random_token(n) !~ '^[A-Za-z0-9_-]+$';

-- Decoding gives back n bytes, and re-encoding them gives the same token.
WITH t AS (
  SELECT n, kiln.random_token(n) AS tok
    FROM pg_catalog.generate_series(1, 300) AS n
), d AS (
  SELECT n, tok,
         pg_catalog.decode(pg_catalog.rpad(pg_catalog.translate(tok, '-_', '+/'),
                                           (pg_catalog.length(tok) + 3) / 4 * 4, '='),
                           'base64') AS raw
    FROM t
)
SELECT pg_catalog.count(*) FILTER (WHERE pg_catalog.length(raw) <> n) AS wrong_size,
       pg_catalog.count(*) FILTER (
         WHERE pg_catalog.rtrim(pg_catalog.translate(
                 pg_catalog.replace(pg_catalog.encode(raw, 'base64'), E'\n', ''),
                 '+/', '-_'), '=') <> tok) AS not_canonical
  FROM d;

-- No repeats among many tokens; all 256 byte values turn up in 16 KiB.
SELECT pg_catalog.count(DISTINCT kiln.random_token(16)) AS distinct_tokens
  FROM pg_catalog.generate_series(1, 10000);
SELECT pg_catalog.count(DISTINCT pg_catalog.get_byte(raw, i)) AS distinct_bytes
  FROM (SELECT pg_catalog.decode(pg_catalog.rpad(pg_catalog.translate(
                 kiln.random_token(1024), '-_', '+/'), 1368, '='), 'base64') AS raw
          FROM pg_catalog.generate_series(1, 16)) s,
       pg_catalog.generate_series(0, 1023) AS i;

-- NULL in, NULL out (STRICT).
SELECT kiln.random_token(NULL) IS NULL AS null_for_null;

-- Out of bounds: 22023 invalid_parameter_value.
SELECT kiln.random_token(0);
\echo :SQLSTATE
SELECT kiln.random_token(-1);
\echo :SQLSTATE
SELECT kiln.random_token(1025);
\echo :SQLSTATE
SELECT kiln.random_token('12x');
\echo :SQLSTATE
