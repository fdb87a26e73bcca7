-- kiln_auth: teams and memberships with roles.
--
-- Creates auth.teams and auth.team_members (user, team, roles). Row ACLs
-- (kiln_access) turn a membership into the principals team:<id> and
-- team:<id>/<role>, so a role is a short lower-case word and can never spell
-- another principal. Members read their own memberships and the teams they
-- belong to; only service_role and SECURITY DEFINER code write. It never
-- creates tenants (kiln_access does).

CREATE TABLE auth.teams (
  id         pg_catalog.uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
  name       pg_catalog.text NOT NULL CHECK (pg_catalog.length(name) OPERATOR(pg_catalog.>) 0),
  created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE auth.teams IS 'teams; memberships in auth.team_members';

CREATE TABLE auth.team_members (
  team_id    pg_catalog.uuid NOT NULL REFERENCES auth.teams (id) ON DELETE CASCADE,
  user_id    pg_catalog.uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  roles      pg_catalog.text[] NOT NULL DEFAULT '{}'
             CHECK (pg_catalog.array_to_string(roles, ',') OPERATOR(pg_catalog.~) '^([a-z0-9_-]{1,64}(,[a-z0-9_-]{1,64})*)?$'
                    AND pg_catalog.array_position(roles, NULL) IS NULL),
  created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (team_id, user_id)
);
COMMENT ON TABLE auth.team_members IS 'team memberships; roles are [a-z0-9_-]{1,64} words (owner, admin, ...)';
-- Principals are looked up by user once per transaction.
CREATE INDEX team_members_user_id_idx ON auth.team_members (user_id);

REVOKE ALL ON auth.teams, auth.team_members FROM PUBLIC;
GRANT SELECT ON auth.teams, auth.team_members TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth.teams, auth.team_members TO service_role;
ALTER TABLE auth.teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.team_members ENABLE ROW LEVEL SECURITY;

CREATE POLICY team_members_own ON auth.team_members
  FOR SELECT TO authenticated
  USING (user_id OPERATOR(pg_catalog.=) auth.uid());

CREATE POLICY teams_member ON auth.teams
  FOR SELECT TO authenticated
  USING (EXISTS (SELECT 1 FROM auth.team_members m
                  WHERE m.team_id OPERATOR(pg_catalog.=) teams.id
                    AND m.user_id OPERATOR(pg_catalog.=) auth.uid()));
