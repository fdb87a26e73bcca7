// auth_refresh.test.mjs: the refresh-token grant (auth.refresh_session,
// written in C: extension/auth_refresh.c) as auth-js sees it, next to the
// password grant (built by the SQL flows): the same access-token claims,
// the same user object, a token that works for /rest/v1 and GET /user, and
// the refusals of bad input in both error formats. Rotation, replays and
// parallel refreshes are in auth.test.mjs; the byte-level comparison with
// the SQL builders is the auth_refresh regress test.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { request, startCluster, startKiln } from './lib/harness.mjs';

let cluster;
let kiln;
let keys;

const SETUP = `
CREATE EXTENSION kiln_platform CASCADE;
SELECT kiln.rotate_signing_key('ES256');
CREATE TABLE public.notes (id serial PRIMARY KEY, owner uuid NOT NULL, body text NOT NULL);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON public.notes FOR SELECT TO authenticated USING (owner = auth.uid());
GRANT SELECT ON public.notes TO authenticated;
`;

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };
const client = () => createClient(kiln.url, keys.publishable, opts);
const PASSWORD = 'refresh grant passphrase';

/** The claims of a compact JWS, unverified (the server verifies them). */
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

const post = (p, body, headers = {}) => request(`${kiln.url}/auth/v1/${p}`, {
  method: 'POST',
  headers: { apikey: keys.publishable, 'Content-Type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

before(async () => {
  cluster = await startCluster();
  await cluster.psql(SETUP);
  keys = { publishable: await cluster.psql("SELECT kiln.create_api_key('publishable')") };
  kiln = await startKiln({
    dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`,
    args: ['--auth-autoconfirm', 'true'],
  });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (cluster) await cluster.stop();
});

describe('the refresh grant answers as the password grant does', () => {
  test('same claims (but the times), same user object, a working token', async () => {
    const addr = `refresh-${process.pid}@example.com`;
    const c = client();
    const up = await c.auth.signUp({ email: addr, password: PASSWORD, options: { data: { name: 'Rae', n: 2 } } });
    assert.equal(up.error, null);
    const uid = up.data.user.id;
    await cluster.psql(`INSERT INTO public.notes (owner, body) VALUES ('${uid}', 'mine')`);
    const signIn = await client().auth.signInWithPassword({ email: addr, password: PASSWORD });
    assert.equal(signIn.error, null);
    const r = await client().auth.refreshSession({ refresh_token: signIn.data.session.refresh_token });
    assert.equal(r.error, null);

    const a = claims(signIn.data.session.access_token);
    const b = claims(r.data.session.access_token);
    assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
    for (const k of Object.keys(a)) {
      if (k !== 'iat' && k !== 'exp') assert.deepEqual(b[k], a[k], `claim ${k}`);
    }
    assert.equal(b.exp - b.iat, a.exp - a.iat);
    assert.equal(b.session_id, a.session_id);
    assert.deepEqual(b.user_metadata, { name: 'Rae', n: 2 });
    assert.equal(r.data.session.expires_in, signIn.data.session.expires_in);
    assert.equal(r.data.session.token_type, 'bearer');

    // The user object is the one GET /user builds.
    const got = await client().auth.getUser(r.data.session.access_token);
    assert.equal(got.error, null);
    assert.deepEqual(r.data.session.user, got.data.user);

    // The token is what row security sees.
    const rows = await request(`${kiln.url}/rest/v1/notes?select=body`, {
      headers: { apikey: keys.publishable, Authorization: `Bearer ${r.data.session.access_token}` },
    });
    assert.equal(rows.status, 200, rows.body);
    assert.deepEqual(rows.json, [{ body: 'mine' }]);
  });
});

describe('bad input', () => {
  test('missing, empty, non-string and unknown tokens: 400, in both error formats', async () => {
    const versioned = { 'X-Supabase-Api-Version': '2024-01-01' };
    const cases = [
      [{}, 'validation_failed'],
      [{ refresh_token: '' }, 'validation_failed'],
      [{ refresh_token: 'é'.repeat(3000) }, 'refresh_token_not_found'],
      [{ refresh_token: 'a\u0000b' }, null],
    ];
    for (const [body, code] of cases) {
      const v = await post('token?grant_type=refresh_token', body, versioned);
      assert.equal(v.status, 400, v.body);
      if (code) assert.equal(v.json.code, code, v.body);
      assert.doesNotMatch(v.body, /SQL|sql|ERROR|refresh_tokens/);
    }
    const typed = await post('token?grant_type=refresh_token', { refresh_token: 42 }, versioned);
    assert.equal(typed.status, 400, typed.body);
    const oauth = await post('token?grant_type=refresh_token', { refresh_token: 'x'.repeat(43) });
    assert.equal(oauth.status, 400);
    assert.equal(oauth.json.error, 'invalid_grant');
  });
});
