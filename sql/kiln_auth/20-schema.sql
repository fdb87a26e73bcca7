-- kiln_auth: the Supabase-compatible auth tables.
--
-- Creates auth.users, identities, sessions, refresh_tokens, one_time_tokens,
-- mfa_factors, mfa_challenges, mfa_amr_claims, flow_state and
-- audit_log_entries with the column names apps, seeds and migrations written
-- for Supabase use (`references auth.users(id)`, seed inserts into
-- auth.users). It never stores a token in clear: every token column holds a
-- hash (refresh tokens: SHA-256 in token_hash; one-time tokens and the
-- *_token columns of auth.users: the hash the flows write), and it never
-- grants app roles anything on these tables (Supabase grants anon and
-- authenticated nothing on them); the flows reach them through SECURITY
-- DEFINER functions.

CREATE TYPE auth.aal_level AS ENUM ('aal1', 'aal2', 'aal3');
CREATE TYPE auth.factor_type AS ENUM ('totp', 'webauthn', 'phone');
CREATE TYPE auth.factor_status AS ENUM ('unverified', 'verified');
CREATE TYPE auth.code_challenge_method AS ENUM ('s256', 'plain');
CREATE TYPE auth.one_time_token_type AS ENUM (
  'confirmation_token', 'reauthentication_token', 'recovery_token',
  'email_change_token_new', 'email_change_token_current', 'phone_change_token');

CREATE TABLE auth.users (
  instance_id                 pg_catalog.uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
  id                          pg_catalog.uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
  aud                         pg_catalog.varchar(255) DEFAULT 'authenticated',
  role                        pg_catalog.varchar(255) DEFAULT 'authenticated',
  email                       pg_catalog.varchar(255),
  encrypted_password          pg_catalog.varchar(255),
  email_confirmed_at          pg_catalog.timestamptz,
  invited_at                  pg_catalog.timestamptz,
  confirmation_token          pg_catalog.varchar(255),
  confirmation_sent_at        pg_catalog.timestamptz,
  recovery_token              pg_catalog.varchar(255),
  recovery_sent_at            pg_catalog.timestamptz,
  email_change_token_new      pg_catalog.varchar(255),
  email_change                pg_catalog.varchar(255),
  email_change_sent_at        pg_catalog.timestamptz,
  last_sign_in_at             pg_catalog.timestamptz,
  raw_app_meta_data           pg_catalog.jsonb DEFAULT '{}',
  raw_user_meta_data          pg_catalog.jsonb DEFAULT '{}',
  is_super_admin              pg_catalog.bool,
  created_at                  pg_catalog.timestamptz DEFAULT pg_catalog.now(),
  updated_at                  pg_catalog.timestamptz DEFAULT pg_catalog.now(),
  phone                       pg_catalog.text UNIQUE DEFAULT NULL,
  phone_confirmed_at          pg_catalog.timestamptz,
  phone_change                pg_catalog.text DEFAULT '',
  phone_change_token          pg_catalog.varchar(255) DEFAULT '',
  phone_change_sent_at        pg_catalog.timestamptz,
  confirmed_at                pg_catalog.timestamptz
                              GENERATED ALWAYS AS (LEAST(email_confirmed_at, phone_confirmed_at)) STORED,
  email_change_token_current  pg_catalog.varchar(255) DEFAULT '',
  email_change_confirm_status pg_catalog.int2 DEFAULT 0
                              CHECK (email_change_confirm_status OPERATOR(pg_catalog.>=) 0
                                     AND email_change_confirm_status OPERATOR(pg_catalog.<=) 2),
  banned_until                pg_catalog.timestamptz,
  reauthentication_token      pg_catalog.varchar(255) DEFAULT '',
  reauthentication_sent_at    pg_catalog.timestamptz,
  is_sso_user                 pg_catalog.bool NOT NULL DEFAULT false,
  deleted_at                  pg_catalog.timestamptz,
  is_anonymous                pg_catalog.bool NOT NULL DEFAULT false
);
COMMENT ON TABLE auth.users IS 'users (Supabase column names); *_token columns hold hashes, never tokens';
-- One account per address among non-SSO users, compared case-insensitively.
CREATE UNIQUE INDEX users_email_partial_key ON auth.users (pg_catalog.lower(email))
  WHERE is_sso_user OPERATOR(pg_catalog.=) false AND email IS NOT NULL;
CREATE INDEX users_instance_id_idx ON auth.users (instance_id);
CREATE INDEX users_is_anonymous_idx ON auth.users (is_anonymous);

CREATE TABLE auth.identities (
  id              pg_catalog.uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
  provider_id     pg_catalog.text NOT NULL,
  user_id         pg_catalog.uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  identity_data   pg_catalog.jsonb NOT NULL,
  provider        pg_catalog.text NOT NULL,
  last_sign_in_at pg_catalog.timestamptz,
  created_at      pg_catalog.timestamptz DEFAULT pg_catalog.now(),
  updated_at      pg_catalog.timestamptz DEFAULT pg_catalog.now(),
  email           pg_catalog.text
                  GENERATED ALWAYS AS (pg_catalog.lower(identity_data OPERATOR(pg_catalog.->>) 'email')) STORED,
  -- The identity key is (provider, subject); an email match never links.
  CONSTRAINT identities_provider_id_provider_unique UNIQUE (provider_id, provider)
);
COMMENT ON TABLE auth.identities IS 'sign-in identities of a user, one per (provider, provider_id)';
CREATE INDEX identities_user_id_idx ON auth.identities (user_id);
CREATE INDEX identities_email_idx ON auth.identities (email text_pattern_ops);

CREATE TABLE auth.sessions (
  id           pg_catalog.uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
  user_id      pg_catalog.uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  created_at   pg_catalog.timestamptz DEFAULT pg_catalog.now(),
  updated_at   pg_catalog.timestamptz DEFAULT pg_catalog.now(),
  factor_id    pg_catalog.uuid,
  aal          auth.aal_level,
  not_after    pg_catalog.timestamptz,
  refreshed_at pg_catalog.timestamp,
  user_agent   pg_catalog.text,
  ip           pg_catalog.inet,
  tag          pg_catalog.text
);
COMMENT ON TABLE auth.sessions IS 'sign-in sessions; not_after ends one absolutely';
CREATE INDEX sessions_user_id_idx ON auth.sessions (user_id);
CREATE INDEX sessions_not_after_idx ON auth.sessions (not_after DESC);
-- A deleted session (sign-out, user deleted) revokes its access tokens at
-- commit, in every backend (kiln.revoked_sessions; KL003 from then on).
CREATE TRIGGER sessions_revoke_on_delete AFTER DELETE ON auth.sessions
  FOR EACH ROW EXECUTE FUNCTION kiln.revoke_session_on_delete();

-- GoTrue keeps the token itself (refresh_tokens.token); Kiln keeps only
-- SHA-256 of it, and of the parent it replaced.
CREATE TABLE auth.refresh_tokens (
  instance_id pg_catalog.uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
  id          pg_catalog.int8 GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  token_hash  pg_catalog.bytea NOT NULL UNIQUE
              CHECK (pg_catalog.length(token_hash) OPERATOR(pg_catalog.=) 32),
  -- No foreign key to auth.users (as in GoTrue's schema): the session's key
  -- already ties the token to the user (sessions.user_id, and a user's
  -- deletion cascades through the session), while a key here would lock the
  -- user's row on every refresh.
  user_id     pg_catalog.uuid NOT NULL,
  session_id  pg_catalog.uuid NOT NULL REFERENCES auth.sessions (id) ON DELETE CASCADE,
  parent      pg_catalog.bytea
              CHECK (pg_catalog.length(parent) OPERATOR(pg_catalog.=) 32),
  revoked     pg_catalog.bool NOT NULL DEFAULT false,
  created_at  pg_catalog.timestamptz DEFAULT pg_catalog.now(),
  updated_at  pg_catalog.timestamptz DEFAULT pg_catalog.now()
);
COMMENT ON TABLE auth.refresh_tokens IS 'refresh tokens as SHA-256 hashes (token_hash, parent), single use';
-- One index besides the keys: every refresh inserts a row and updates one,
-- and each index costs both. Without an index on revoked or updated_at the
-- update that revokes a token can be a HOT update (no index entries).
-- session_id serves sign-out and the session delete's cascade; nothing
-- looks tokens up by parent or by time.
CREATE INDEX refresh_tokens_session_id_idx ON auth.refresh_tokens (session_id);
-- Room on each page for that update to stay on the page (HOT needs it).
ALTER TABLE auth.refresh_tokens SET (fillfactor = 80);

CREATE TABLE auth.one_time_tokens (
  id         pg_catalog.uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
  user_id    pg_catalog.uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  token_type auth.one_time_token_type NOT NULL,
  token_hash pg_catalog.text NOT NULL CHECK (pg_catalog.length(token_hash) OPERATOR(pg_catalog.>) 0),
  relates_to pg_catalog.text NOT NULL,
  created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  CONSTRAINT one_time_tokens_user_id_token_type_key UNIQUE (user_id, token_type)
);
COMMENT ON TABLE auth.one_time_tokens IS 'one pending one-time token per user and type, stored hashed';
CREATE INDEX one_time_tokens_token_hash_idx ON auth.one_time_tokens USING hash (token_hash);
CREATE INDEX one_time_tokens_relates_to_idx ON auth.one_time_tokens USING hash (relates_to);

CREATE TABLE auth.mfa_factors (
  id                 pg_catalog.uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
  user_id            pg_catalog.uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  friendly_name      pg_catalog.text,
  factor_type        auth.factor_type NOT NULL,
  status             auth.factor_status NOT NULL,
  created_at         pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_at         pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  -- TOTP secret, encrypted with the master key (never in clear).
  secret             pg_catalog.text,
  phone              pg_catalog.text,
  last_challenged_at pg_catalog.timestamptz UNIQUE
);
COMMENT ON TABLE auth.mfa_factors IS 'MFA factors; secret is encrypted with the master key';
CREATE UNIQUE INDEX mfa_factors_user_friendly_name_unique ON auth.mfa_factors (friendly_name, user_id)
  WHERE pg_catalog.btrim(friendly_name) OPERATOR(pg_catalog.<>) '';
CREATE INDEX mfa_factors_user_id_idx ON auth.mfa_factors (user_id);

CREATE TABLE auth.mfa_challenges (
  id          pg_catalog.uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
  factor_id   pg_catalog.uuid NOT NULL REFERENCES auth.mfa_factors (id) ON DELETE CASCADE,
  created_at  pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  verified_at pg_catalog.timestamptz,
  ip_address  pg_catalog.inet NOT NULL,
  otp_code    pg_catalog.text
);
COMMENT ON TABLE auth.mfa_challenges IS 'MFA challenges; otp_code (phone factors) is stored hashed';
CREATE INDEX mfa_challenges_created_at_idx ON auth.mfa_challenges (created_at DESC);

CREATE TABLE auth.mfa_amr_claims (
  id                    pg_catalog.uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
  session_id            pg_catalog.uuid NOT NULL REFERENCES auth.sessions (id) ON DELETE CASCADE,
  created_at            pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_at            pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  authentication_method pg_catalog.text NOT NULL,
  CONSTRAINT mfa_amr_claims_session_id_authentication_method_pkey UNIQUE (session_id, authentication_method)
);
COMMENT ON TABLE auth.mfa_amr_claims IS 'authentication methods (amr) of a session';

CREATE TABLE auth.flow_state (
  id                     pg_catalog.uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
  user_id                pg_catalog.uuid REFERENCES auth.users (id) ON DELETE CASCADE,
  auth_code              pg_catalog.text NOT NULL,
  code_challenge_method  auth.code_challenge_method NOT NULL,
  code_challenge         pg_catalog.text NOT NULL,
  provider_type          pg_catalog.text NOT NULL,
  provider_access_token  pg_catalog.text,
  provider_refresh_token pg_catalog.text,
  created_at             pg_catalog.timestamptz DEFAULT pg_catalog.now(),
  updated_at             pg_catalog.timestamptz DEFAULT pg_catalog.now(),
  authentication_method  pg_catalog.text NOT NULL,
  auth_code_issued_at    pg_catalog.timestamptz
);
COMMENT ON TABLE auth.flow_state IS 'PKCE flow states';
CREATE INDEX flow_state_auth_code_idx ON auth.flow_state (auth_code);
CREATE INDEX flow_state_created_at_idx ON auth.flow_state (created_at DESC);

CREATE TABLE auth.audit_log_entries (
  instance_id pg_catalog.uuid DEFAULT '00000000-0000-0000-0000-000000000000',
  id          pg_catalog.uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
  payload     pg_catalog.json,
  created_at  pg_catalog.timestamptz DEFAULT pg_catalog.now(),
  ip_address  pg_catalog.varchar(64) NOT NULL DEFAULT ''
);
COMMENT ON TABLE auth.audit_log_entries IS 'auth events (sign-in, sign-up, token refresh, ...)';
CREATE INDEX audit_log_entries_instance_id_idx ON auth.audit_log_entries (instance_id);

-- No app role reads or writes these tables directly; row security is on
-- (with no policy) so that a grant made by mistake still shows nothing.
DO $lock$
DECLARE
  t pg_catalog.text;
BEGIN
  FOREACH t IN ARRAY ARRAY['users', 'identities', 'sessions', 'refresh_tokens',
                           'one_time_tokens', 'mfa_factors', 'mfa_challenges',
                           'mfa_amr_claims', 'flow_state', 'audit_log_entries']
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON auth.%I FROM PUBLIC', t);
    EXECUTE pg_catalog.format('ALTER TABLE auth.%I ENABLE ROW LEVEL SECURITY', t);
  END LOOP;
END
$lock$;
