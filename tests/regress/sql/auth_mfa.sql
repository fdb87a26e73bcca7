-- auth_mfa: TOTP factors (sql/kiln_auth/42-mfa.sql): enroll, challenge,
-- verify to aal2, single-use codes, burned challenges, unenroll, the admin
-- factor API; PKCE flow states and the pkce grant; and the QR encoder
-- (extension/qr.c) checked without a decoder: symbol size per version,
-- finder and timing patterns, and the format information (both copies,
-- BCH-valid, the expected error-correction level).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE;
RESET client_min_messages;
SELECT kiln.rotate_signing_key('ES256') IS NOT NULL AS signing_key;

-- ---- QR codes ---------------------------------------------------------------
-- Rows of the symbol of a text.
CREATE FUNCTION pg_temp.qr_rows(t text) RETURNS text[]
LANGUAGE sql AS $$ SELECT string_to_array(kiln.qr_modules(t), E'\n') $$;
-- Module (row r, column c) dark?
CREATE FUNCTION pg_temp.qr_at(m text[], r int, c int) RETURNS int
LANGUAGE sql AS $$ SELECT CASE substr(m[r + 1], c + 1, 1) WHEN '#' THEN 1 ELSE 0 END $$;
-- The 15 format bits of copy 1 (around the top-left finder) or 2.
CREATE FUNCTION pg_temp.qr_format(m text[], copy int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  s int := array_length(m, 1);
  v int := 0;
  b int;
BEGIN
  FOR i IN 0 .. 14 LOOP
    IF copy = 1 THEN
      b := CASE WHEN i < 6 THEN pg_temp.qr_at(m, i, 8) WHEN i < 8 THEN pg_temp.qr_at(m, i + 1, 8)
                WHEN i = 8 THEN pg_temp.qr_at(m, 8, 7) ELSE pg_temp.qr_at(m, 8, 14 - i) END;
    ELSE
      b := CASE WHEN i < 8 THEN pg_temp.qr_at(m, 8, s - 1 - i) ELSE pg_temp.qr_at(m, s - 15 + i, 8) END;
    END IF;
    v := v | (b << i);
  END LOOP;
  RETURN v;
END $$;
-- Is the unmasked format word a BCH(15,5) codeword? Returns its 5 data
-- bits (level << 3 | mask) or -1.
CREATE FUNCTION pg_temp.qr_format_data(f int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  w int := f # 21522;  -- 0x5412
  r int := w;
BEGIN
  FOR i IN REVERSE 14 .. 10 LOOP
    IF (r >> i) & 1 = 1 THEN
      r := r # (1335 << (i - 10));  -- 0x537
    END IF;
  END LOOP;
  RETURN CASE WHEN r = 0 THEN w >> 10 ELSE -1 END;
END $$;
-- A finder pattern with its top-left corner at (r, c)?
CREATE FUNCTION pg_temp.qr_finder(m text[], r int, c int) RETURNS bool
LANGUAGE sql AS $$
  SELECT bool_and(pg_temp.qr_at(m, r + i, c + j) =
                  CASE WHEN greatest(abs(i - 3), abs(j - 3)) = 2 THEN 0 ELSE 1 END)
    FROM generate_series(0, 6) i, generate_series(0, 6) j
$$;

SELECT n AS bytes, array_length(m, 1) AS size, (array_length(m, 1) - 17) / 4 AS version,
       (SELECT bool_and(length(row) = array_length(m, 1)) FROM unnest(m) row) AS square,
       pg_temp.qr_finder(m, 0, 0) AND pg_temp.qr_finder(m, 0, array_length(m, 1) - 7)
         AND pg_temp.qr_finder(m, array_length(m, 1) - 7, 0) AS finders,
       (SELECT bool_and(pg_temp.qr_at(m, 6, i) = 1 - i % 2 AND pg_temp.qr_at(m, i, 6) = 1 - i % 2)
          FROM generate_series(8, array_length(m, 1) - 9) i) AS timing,
       pg_temp.qr_at(m, array_length(m, 1) - 8, 8) AS dark_module,
       pg_temp.qr_format(m, 1) = pg_temp.qr_format(m, 2) AS format_copies_agree,
       CASE pg_temp.qr_format_data(pg_temp.qr_format(m, 1)) >> 3
         WHEN 0 THEN 'M' WHEN 1 THEN 'L' WHEN -1 THEN 'invalid' ELSE 'other' END AS level
  FROM unnest(ARRAY[1, 14, 100, 200, 250, 271]) n,
       LATERAL (SELECT pg_temp.qr_rows(repeat('a', n)) AS m) x
 ORDER BY n;
-- Every mask is a candidate: texts that pick different masks.
SELECT count(DISTINCT pg_temp.qr_format_data(pg_temp.qr_format(pg_temp.qr_rows('otpauth://totp/x' || i), 1)) & 7) > 1
       AS several_masks_chosen
  FROM generate_series(1, 40) i;
-- The SVG: one path of unit squares, 4 modules of quiet zone.
SELECT kiln.qr_svg('hello') ~ '^<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 29 29" .*<path fill="#000000" d="(M\d+ \d+h1v1h-1z)+"/></svg>$' AS svg_shape,
       (SELECT count(*) FROM regexp_matches(kiln.qr_svg('hello'), 'M', 'g'))
         = length(replace(kiln.qr_modules('hello'), '.', '')) - (SELECT count(*) FROM regexp_matches(kiln.qr_modules('hello'), E'\n', 'g')) + 0
       AS one_square_per_dark_module;
SELECT kiln.qr_modules(repeat('a', 272));
\echo :SQLSTATE

-- ---- MFA ------------------------------------------------------------------
\set on '{"autoconfirm": true}'
\set meta '{"request_id": "req-mfa-1", "client_ip": "203.0.113.7"}'
SELECT auth.sign_up('mia@mfa.test', 'mia multi factor', '{}', :'on') AS s1 \gset
SELECT (:'s1'::jsonb -> 'user' ->> 'id') AS uid \gset
-- Without a user: refused.
SELECT auth.mfa_enroll('{"factor_type": "totp"}') -> 'error' ->> 'code' AS no_user;
BEGIN;
SELECT kiln.authenticate(:'s1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.mfa_enroll('{"factor_type": "phone"}') -> 'error' ->> 'code' AS phone_refused;
SELECT auth.mfa_enroll('{"factor_type": "totp", "friendly_name": "phone app", "issuer": "Acme Inc"}') AS e1 \gset
COMMIT;
SELECT :'e1'::jsonb ->> 'type' AS type, :'e1'::jsonb ->> 'friendly_name' AS name,
       :'e1'::jsonb -> 'totp' ->> 'secret' ~ '^[A-Z2-7]{32}$' AS secret_base32,
       :'e1'::jsonb -> 'totp' ->> 'uri' = 'otpauth://totp/Acme%20Inc:mia%40mfa.test?algorithm=SHA1&digits=6&issuer=Acme%20Inc&period=30&secret='
         || (:'e1'::jsonb -> 'totp' ->> 'secret') AS uri,
       :'e1'::jsonb -> 'totp' ->> 'qr_code' = kiln.qr_svg(:'e1'::jsonb -> 'totp' ->> 'uri') AS qr_of_uri;
SELECT :'e1'::jsonb ->> 'id' AS fid, :'e1'::jsonb -> 'totp' ->> 'secret' AS secret \gset
-- At rest the secret is sealed, never in clear.
SELECT secret <> :'secret' AND position(:'secret' IN secret) = 0 AS sealed,
       convert_from(kiln.decrypt(decode(secret, 'base64')), 'UTF8') = :'secret' AS opens_with_master_key,
       status FROM auth.mfa_factors WHERE id = :'fid';
BEGIN;
SELECT kiln.authenticate(:'s1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.mfa_enroll('{"factor_type": "totp", "friendly_name": "phone app"}') -> 'error' ->> 'code' AS name_taken;
SELECT auth.get_user() -> 'factors' -> 0 ->> 'status' AS listed_unverified;
SELECT auth.mfa_challenge(gen_random_uuid()) -> 'error' ->> 'code' AS unknown_factor;
SELECT auth.mfa_challenge(:'fid') AS c1 \gset
COMMIT;
SELECT :'c1'::jsonb ->> 'type' AS challenge_type,
       (:'c1'::jsonb ->> 'expires_at')::bigint - extract(epoch FROM now())::bigint BETWEEN 295 AND 301 AS five_minutes;
-- A wrong code: refused, counted.
BEGIN;
SELECT kiln.authenticate(:'s1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.mfa_verify(:'fid', (:'c1'::jsonb ->> 'id')::uuid,
                       CASE kiln.totp_code(:'secret') WHEN '000000' THEN '000001' ELSE '000000' END) -> 'error' AS wrong_code;
COMMIT;
SELECT failed_attempts FROM auth.mfa_challenges WHERE id = (:'c1'::jsonb ->> 'id')::uuid;
-- The right code: aal2, amr totp, a new refresh token; the old one is revoked.
BEGIN;
SELECT kiln.authenticate(:'s1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT kiln.totp_code(:'secret') AS totp \gset
SELECT auth.mfa_verify(:'fid', (:'c1'::jsonb ->> 'id')::uuid, :'totp') AS v1 \gset
COMMIT;
SELECT kiln.verify_jwt(:'v1'::jsonb ->> 'access_token') ->> 'aal' AS aal,
       (SELECT array_agg(a ->> 'method' ORDER BY a ->> 'method') FROM jsonb_array_elements(kiln.verify_jwt(:'v1'::jsonb ->> 'access_token') -> 'amr') a) AS amr,
       :'v1'::jsonb ->> 'refresh_token' <> :'s1'::jsonb ->> 'refresh_token' AS new_refresh_token,
       (SELECT status FROM auth.mfa_factors WHERE id = :'fid') AS factor_status;
-- Refreshing keeps aal2.
SELECT kiln.verify_jwt(auth.refresh_session(:'v1'::jsonb ->> 'refresh_token') ->> 'access_token') ->> 'aal' AS refreshed_aal;
-- The same code again (same step) is a replay: refused, even on a new challenge.
BEGIN;
SELECT kiln.authenticate(:'v1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.mfa_challenge(:'fid') AS c2 \gset
SELECT auth.mfa_verify(:'fid', (:'c2'::jsonb ->> 'id')::uuid, :'totp') -> 'error' ->> 'code' AS replay;
-- A verified challenge cannot be verified again.
SELECT auth.mfa_verify(:'fid', (:'c1'::jsonb ->> 'id')::uuid, :'totp') -> 'error' ->> 'code' AS used_challenge;
COMMIT;
-- Five wrong codes burn a challenge.
BEGIN;
SELECT kiln.authenticate(:'v1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.mfa_challenge(:'fid') AS c3 \gset
SELECT count(*) FILTER (WHERE auth.mfa_verify(:'fid', (:'c3'::jsonb ->> 'id')::uuid, '12345x') -> 'error' ->> 'code' = 'mfa_verification_failed') AS refused
  FROM generate_series(1, 5);
SELECT auth.mfa_verify(:'fid', (:'c3'::jsonb ->> 'id')::uuid, kiln.totp_code(:'secret', now() + interval '30 seconds')) -> 'error' ->> 'code' AS sixth_try;
ROLLBACK;
-- An aal1 session of the same user may not remove the verified factor.
SELECT auth.sign_in_password('mia@mfa.test', 'mia multi factor', :'on') AS s2 \gset
SELECT kiln.verify_jwt(:'s2'::jsonb ->> 'access_token') ->> 'aal' AS new_sign_in_aal;
BEGIN;
SELECT kiln.authenticate(:'s2'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.mfa_unenroll(:'fid') -> 'error' ->> 'code' AS aal1_unenroll;
SELECT auth.mfa_enroll('{"factor_type": "totp"}') -> 'error' ->> 'code' AS aal1_enroll_second;
ROLLBACK;
-- Admin: list and delete (service_role only).
SELECT auth.admin_list_factors(:'uid') -> 0 ->> 'friendly_name' AS admin_list;
SELECT auth.admin_list_factors(gen_random_uuid()) -> 'error' ->> 'code' AS admin_unknown_user;
BEGIN;
SELECT kiln.authenticate(:'s2'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.admin_list_factors(:'uid') -> 'error' ->> 'code' AS user_is_not_admin;
ROLLBACK;
-- The aal2 session unenrolls; its session drops to aal1.
BEGIN;
SELECT kiln.authenticate(:'v1'::jsonb ->> 'access_token', :'meta') AS role;
SELECT auth.mfa_unenroll(:'fid') ->> 'id' = :'fid' AS unenrolled;
SELECT auth.get_user() ? 'factors' AS factors_left;
COMMIT;
SELECT count(*) AS aal2_sessions FROM auth.sessions WHERE user_id = :'uid' AND aal = 'aal2';
SELECT payload ->> 'action' AS action, count(*) FROM auth.audit_log_entries
 WHERE payload ->> 'actor_id' = :'uid' AND payload ->> 'log_type' = 'factor'
 GROUP BY 1 ORDER BY 1;

-- ---- PKCE -----------------------------------------------------------------
\set verifier 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
\set challenge 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
SELECT auth._pkce_refusal(:'challenge', 's256') IS NULL AS rfc7636_pair_ok,
       auth._pkce_refusal(:'challenge', 'sha512') -> 'error' ->> 'code' AS bad_method,
       auth._pkce_refusal('short', 's256') -> 'error' ->> 'code' AS short_challenge;
SELECT auth._pkce_flow_start(:'uid', :'challenge', 's256', 'email', 'email/signup') IS NOT NULL AS flow_started;
SELECT auth.pkce_issue_code(:'uid', 'recovery') IS NULL AS no_flow_no_code;
SELECT auth.pkce_issue_code(:'uid', 'email/signup') AS code \gset
SELECT auth_code <> :'code' AS code_stored_hashed FROM auth.flow_state WHERE user_id = :'uid';
-- RFC 7636 appendix B: the verifier of that challenge gets a session.
SELECT auth.token_pkce(:'code', :'verifier') AS p1 \gset
SELECT :'p1'::jsonb -> 'user' ->> 'email' AS pkce_user,
       kiln.verify_jwt(:'p1'::jsonb ->> 'access_token') -> 'amr' -> 0 ->> 'method' AS amr;
SELECT auth.token_pkce(:'code', :'verifier') -> 'error' ->> 'code' AS code_reused;
-- A wrong verifier burns the code.
SELECT auth._pkce_flow_start(:'uid', :'challenge', 's256', 'email', 'magiclink') IS NOT NULL AS flow_started;
SELECT auth.pkce_issue_code(:'uid', 'magiclink') AS code \gset
SELECT auth.token_pkce(:'code', repeat('x', 43)) -> 'error' AS wrong_verifier;
SELECT auth.token_pkce(:'code', :'verifier') -> 'error' ->> 'code' AS burned;
-- plain: the challenge is the verifier.
SELECT auth._pkce_flow_start(:'uid', :'verifier', 'plain', 'email', 'magiclink') IS NOT NULL AS flow_started;
SELECT auth.pkce_issue_code(:'uid', 'magiclink') AS code \gset
SELECT auth.token_pkce(:'code', :'verifier') ? 'access_token' AS plain_ok;
-- An expired code.
SELECT auth._pkce_flow_start(:'uid', :'challenge', 's256', 'email', 'magiclink') IS NOT NULL AS flow_started;
SELECT auth.pkce_issue_code(:'uid', 'magiclink') AS code \gset
UPDATE auth.flow_state SET auth_code_issued_at = now() - interval '301 seconds' WHERE user_id = :'uid';
SELECT auth.token_pkce(:'code', :'verifier') -> 'error' AS expired;
SELECT auth.token_pkce('', :'verifier') -> 'error' ->> 'code' AS empty_code,
       auth.token_pkce('nope', :'verifier') -> 'error' ->> 'code' AS unknown_code;
SELECT auth._pkce_flow_start(:'uid', 'short', 's256', 'email', 'magiclink');
\echo :SQLSTATE
-- Sign-up from a PKCE client: a flow state for a pending confirmation only.
SELECT auth.sign_up_pkce('pat@mfa.test', 'pat pkce password', '{}', '{}', 'short', 's256') -> 'error' ->> 'code' AS bad_pair;
SELECT auth.sign_up_pkce('pat@mfa.test', 'pat pkce password', '{}', '{}', :'challenge', 's256') ->> 'email' AS pending;
SELECT count(*) AS flow_states FROM auth.flow_state f JOIN auth.users u ON u.id = f.user_id
 WHERE u.email = 'pat@mfa.test' AND f.authentication_method = 'email/signup';
SELECT auth.sign_up_pkce('pat@mfa.test', 'pat pkce password', '{}', '{}', :'challenge', 's256') ? 'error' AS look_alike_answer;
SELECT count(*) AS still_one FROM auth.flow_state f JOIN auth.users u ON u.id = f.user_id WHERE u.email = 'pat@mfa.test';
SELECT auth.sign_up_pkce('quin@mfa.test', 'quin pkce password', '{}', :'on', :'challenge', 's256') ? 'access_token' AS autoconfirm_session,
       (SELECT count(*) FROM auth.flow_state f JOIN auth.users u ON u.id = f.user_id WHERE u.email = 'quin@mfa.test') AS no_flow_state;
DELETE FROM auth.users WHERE email IN ('pat@mfa.test', 'quin@mfa.test');

-- Who may call what.
SELECT p.proname, has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated,
       has_function_privilege('anon', p.oid, 'EXECUTE') AS anon
  FROM pg_proc p WHERE p.pronamespace = 'auth'::regnamespace
   AND (p.proname LIKE 'mfa%' OR p.proname LIKE '%factor%' OR p.proname LIKE '%pkce%' OR p.proname = '_totp_match')
 ORDER BY 1;

-- Leave nothing behind for the tests that count auth rows.
DELETE FROM auth.audit_log_entries WHERE payload ->> 'actor_id' = :'uid' OR payload ->> 'request_id' = 'req-mfa-1'
   OR payload ->> 'actor_username' IN ('pat@mfa.test', 'quin@mfa.test');
DELETE FROM auth.users WHERE id = :'uid';
SELECT (SELECT count(*) FROM auth.flow_state) + (SELECT count(*) FROM auth.mfa_factors)
       + (SELECT count(*) FROM auth.sessions s WHERE s.user_id = :'uid') AS left_behind;
