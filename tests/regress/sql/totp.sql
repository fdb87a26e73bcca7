-- totp: RFC 6238 (HMAC-SHA-1, 30 s steps) with the RFC's SHA-1 test
-- vectors, secret generation and verification with a window.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;

-- RFC 6238 appendix B, SHA-1: secret "12345678901234567890" (ASCII), 8 digits.
SELECT t, kiln.totp_code('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', pg_catalog.to_timestamp(t), 8) AS code
  FROM pg_catalog.unnest(ARRAY[59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000]) AS t
 ORDER BY t;
-- Six digits are the last six; lower case and padding are accepted.
SELECT kiln.totp_code('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', pg_catalog.to_timestamp(59)) AS six_digits,
       kiln.totp_code('gezdgnbvgy3tqojqgezdgnbvgy3tqojq', pg_catalog.to_timestamp(59)) AS lower_case,
       kiln.totp_code('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====', pg_catalog.to_timestamp(59)) AS padded;

-- Secrets: 32 base32 characters (160 bits), all different.
SELECT pg_catalog.length(s) AS chars, s ~ '^[A-Z2-7]{32}$' AS base32
  FROM kiln.totp_generate_secret() s;
SELECT pg_catalog.count(DISTINCT kiln.totp_generate_secret()) AS distinct_secrets
  FROM pg_catalog.generate_series(1, 1000);

-- Verification against now, with a window of steps either side.
SELECT kiln.totp_generate_secret() AS s \gset
SELECT kiln.totp_verify(:'s', kiln.totp_code(:'s', pg_catalog.clock_timestamp())) AS current_code,
       kiln.totp_verify(:'s', kiln.totp_code(:'s', pg_catalog.clock_timestamp() - interval '30 seconds')) AS previous_step,
       kiln.totp_verify(:'s', kiln.totp_code(:'s', pg_catalog.clock_timestamp() - interval '120 seconds')) AS four_steps_ago,
       kiln.totp_verify(:'s', kiln.totp_code(:'s', pg_catalog.clock_timestamp() - interval '120 seconds'), 5) AS wide_window,
       kiln.totp_verify(:'s', kiln.totp_code(:'s', pg_catalog.clock_timestamp() - interval '60 seconds'), 0) AS no_window,
       kiln.totp_verify(:'s', '12345') AS five_digits,
       kiln.totp_verify(:'s', 'abcdef') AS not_digits;

-- Errors.
SELECT kiln.totp_code('not base32!', pg_catalog.now());
\echo :SQLSTATE
SELECT kiln.totp_code('', pg_catalog.now());
\echo :SQLSTATE
SELECT kiln.totp_code('GEZDGNBVGY3TQOJQ', pg_catalog.now(), 9);
\echo :SQLSTATE
SELECT kiln.totp_verify('GEZDGNBVGY3TQOJQ', '123456', 11);
\echo :SQLSTATE
