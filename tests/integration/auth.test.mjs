// auth.test.mjs: the GoTrue API under /auth/v1 through the real auth-js
// (@supabase/supabase-js createClient) against a real cluster and daemon.
// Every flow runs in the database (sql/kiln_auth/40-flows.sql); these tests
// check what a client sees: sessions, users, refresh rotation (parallel
// refreshes, replays), sign-out scopes, anonymous sign-in, the admin API,
// account-enumeration resistance, both error formats, and that the access
// token a sign-in returns is what row security sees through /rest/v1.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { request, sleep, startCluster, startKiln } from './lib/harness.mjs';

const REUSE_S = 2; // the main daemon's refresh reuse window

let cluster;
let kiln;       // autoconfirm and anonymous sign-in on, short reuse window
let strict;     // the defaults: confirmations on, anonymous off
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
const client = (k = keys.publishable, url = kiln.url) => createClient(url, k, opts);
const admin = () => createClient(kiln.url, keys.secret, opts).auth.admin;

let seq = 0;
const email = (tag) => `${tag}-${process.pid}-${++seq}@example.com`;
const PASSWORD = 'a reasonably long passphrase';

async function signedUp(tag = 'user') {
  const c = client();
  const addr = email(tag);
  const { data, error } = await c.auth.signUp({ email: addr, password: PASSWORD });
  assert.equal(error, null);
  assert.ok(data.session, 'autoconfirm: sign-up returns a session');
  return { c, addr, session: data.session, user: data.user };
}

/** A raw POST to /auth/v1/<p> with the publishable key. */
const post = (p, body, headers = {}, url = kiln.url) => request(`${url}/auth/v1/${p}`, {
  method: 'POST',
  headers: { apikey: keys.publishable, 'Content-Type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

before(async () => {
  // tests/lib/cluster gives every cluster its own master key
  // (kiln.rotate_signing_key seals the signing key with it).
  cluster = await startCluster();
  await cluster.psql(SETUP);
  keys = {
    publishable: await cluster.psql("SELECT kiln.create_api_key('publishable')"),
    secret: await cluster.psql("SELECT kiln.create_api_key('secret')"),
  };
  const dbUrl = `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`;
  kiln = await startKiln({
    dbUrl,
    args: ['--auth-autoconfirm', 'true', '--auth-anonymous-enabled', 'true',
      '--auth-refresh-reuse-interval-s', String(REUSE_S)],
  });
  strict = await startKiln({ dbUrl });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (strict) await strict.stop();
  if (cluster) await cluster.stop();
});

describe('sign-up and sign-in', () => {
  test('signUp with autoconfirm returns a session and the user', async () => {
    const { c, addr, session, user } = await signedUp('signup');
    assert.equal(user.email, addr);
    assert.equal(user.aud, 'authenticated');
    assert.equal(user.is_anonymous, false);
    assert.equal(session.token_type, 'bearer');
    assert.equal(session.expires_in, 3600);
    assert.ok(session.expires_at > Date.now() / 1000 + 3500);
    assert.match(session.refresh_token, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(user.app_metadata, { provider: 'email', providers: ['email'] });
    assert.equal(user.identities[0].provider, 'email');
    const { data, error } = await c.auth.getUser(session.access_token);
    assert.equal(error, null);
    assert.equal(data.user.id, user.id);
  });

  test('the access token carries the GoTrue claims and verifies against the JWKS', async () => {
    const { c, session, user } = await signedUp('claims');
    await c.auth.setSession({ access_token: session.access_token, refresh_token: session.refresh_token });
    const { data, error } = await c.auth.getClaims();
    assert.equal(error, null);
    const claims = data.claims;
    assert.equal(claims.sub, user.id);
    assert.equal(claims.aud, 'authenticated');
    assert.equal(claims.role, 'authenticated');
    assert.equal(claims.aal, 'aal1');
    assert.equal(claims.amr[0].method, 'password');
    assert.equal(claims.is_anonymous, false);
    assert.equal(claims.email, user.email);
    assert.equal(claims.phone, '');
    assert.match(claims.session_id, /^[0-9a-f-]{36}$/);
    assert.equal(claims.exp - claims.iat, 3600);
    const header = JSON.parse(Buffer.from(session.access_token.split('.')[0], 'base64url'));
    assert.equal(header.alg, 'ES256');
    const jwks = await request(`${kiln.url}/auth/v1/.well-known/jwks.json`);
    assert.equal(jwks.status, 200);
    assert.ok(jwks.json.keys.some((k) => k.kid === header.kid && k.alg === 'ES256' && !k.d));
  });

  test('weak and short passwords: 422 weak_password with reasons', async () => {
    const c = client();
    let { error } = await c.auth.signUp({ email: email('weak'), password: 'password123' });
    assert.equal(error.status, 422);
    assert.equal(error.code, 'weak_password');
    assert.deepEqual(error.reasons, ['pwned']);
    ({ error } = await c.auth.signUp({ email: email('weak'), password: 'seven77' }));
    assert.equal(error.code, 'weak_password');
    assert.deepEqual(error.reasons, ['length']);
    // 8 characters are enough; 128 round-trip.
    ({ error } = await c.auth.signUp({ email: email('eight'), password: 'ok8chars' }));
    assert.equal(error, null);
    const long = 'L'.repeat(100) + 'x'.repeat(28);
    const addr = email('long');
    ({ error } = await c.auth.signUp({ email: addr, password: long }));
    assert.equal(error, null);
    ({ error } = await c.auth.signInWithPassword({ email: addr, password: long.slice(0, 127) + 'y' }));
    assert.equal(error.code, 'invalid_credentials');
    ({ error } = await c.auth.signInWithPassword({ email: addr, password: long }));
    assert.equal(error, null);
  });

  test('an address already registered: 422 user_already_exists', async () => {
    const { addr } = await signedUp('dup');
    const { error } = await client().auth.signUp({ email: addr.toUpperCase(), password: PASSWORD });
    assert.equal(error.status, 422);
    assert.equal(error.code, 'user_already_exists');
  });

  test('signInWithPassword: a new session each time; wrong password refused', async () => {
    const { addr, session } = await signedUp('signin');
    const c = client();
    const { data, error } = await c.auth.signInWithPassword({ email: addr, password: PASSWORD });
    assert.equal(error, null);
    assert.notEqual(data.session.refresh_token, session.refresh_token);
    const sid = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url')).session_id;
    assert.notEqual(sid(data.session.access_token), sid(session.access_token));
    const bad = await c.auth.signInWithPassword({ email: addr, password: 'not the passphrase' });
    assert.equal(bad.error.status, 400);
    assert.equal(bad.error.code, 'invalid_credentials');
    assert.equal(bad.error.message, 'Invalid login credentials');
  });

  test('no account enumeration: unknown address and wrong password look the same', async () => {
    const { addr } = await signedUp('enum');
    const unknown = email('nobody');
    for (const headers of [{}, { 'X-Supabase-Api-Version': '2024-01-01' }]) {
      const a = await post('token?grant_type=password', { email: unknown, password: 'whatever it is' }, headers);
      const b = await post('token?grant_type=password', { email: addr, password: 'whatever it is' }, headers);
      assert.equal(a.status, 400);
      assert.equal(a.status, b.status);
      assert.equal(a.body, b.body);
      assert.equal(a.headers['x-sb-error-code'], 'invalid_credentials');
    }
    // Timing: both cost one argon2id verification (a dummy hash for the
    // unknown address). Medians of alternating trials stay close.
    const times = { unknown: [], known: [] };
    for (let i = 0; i < 8; i++) {
      for (const [k, e] of [['unknown', unknown], ['known', addr]]) {
        const t0 = process.hrtime.bigint();
        await post('token?grant_type=password', { email: e, password: 'whatever it is' });
        times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
    const median = (xs) => xs.sort((x, y) => x - y)[xs.length >> 1];
    const ratio = median(times.unknown) / median(times.known);
    assert.ok(ratio > 0.5 && ratio < 2, `median latency ratio unknown/known ${ratio.toFixed(2)}`);
  });

  test('updateUser: metadata merges, password changes, weak password refused', async () => {
    const { c, addr, session } = await signedUp('update');
    await c.auth.setSession({ access_token: session.access_token, refresh_token: session.refresh_token });
    let { data, error } = await c.auth.updateUser({ data: { theme: 'dark', lang: 'en' } });
    assert.equal(error, null);
    assert.deepEqual(data.user.user_metadata, { theme: 'dark', lang: 'en' });
    ({ data, error } = await c.auth.updateUser({ data: { lang: null } }));
    assert.deepEqual(data.user.user_metadata, { theme: 'dark' });
    ({ error } = await c.auth.updateUser({ password: 'qwerty123' }));
    assert.equal(error.code, 'weak_password');
    ({ error } = await c.auth.updateUser({ password: PASSWORD }));
    assert.equal(error.code, 'same_password');
    ({ error } = await c.auth.updateUser({ password: 'a brand new passphrase' }));
    assert.equal(error, null);
    const old = await client().auth.signInWithPassword({ email: addr, password: PASSWORD });
    assert.equal(old.error.code, 'invalid_credentials');
    const neu = await client().auth.signInWithPassword({ email: addr, password: 'a brand new passphrase' });
    assert.equal(neu.error, null);
  });

  test('signInAnonymously: a session for an anonymous user', async () => {
    const c = client();
    const { data, error } = await c.auth.signInAnonymously({ options: { data: { nick: 'anon' } } });
    assert.equal(error, null);
    assert.equal(data.user.is_anonymous, true);
    assert.equal(data.user.email, '');
    assert.deepEqual(data.user.user_metadata, { nick: 'anon' });
    const claims = JSON.parse(Buffer.from(data.session.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.is_anonymous, true);
    assert.equal(claims.role, 'authenticated');
    assert.equal(claims.amr[0].method, 'anonymous');
  });
});

describe('default settings (confirmations on, anonymous off)', () => {
  test('signUp answers with the user and no session; sign-in waits for confirmation', async () => {
    const c = client(keys.publishable, strict.url);
    const addr = email('confirm');
    const { data, error } = await c.auth.signUp({ email: addr, password: PASSWORD });
    assert.equal(error, null);
    assert.equal(data.session, null);
    assert.equal(data.user.email, addr);
    assert.ok(data.user.confirmation_sent_at);
    const si = await c.auth.signInWithPassword({ email: addr, password: PASSWORD });
    assert.equal(si.error.code, 'email_not_confirmed');
    // A second sign-up of the address looks like the first (no leak).
    const again = await c.auth.signUp({ email: addr, password: PASSWORD });
    assert.equal(again.error, null);
    assert.equal(again.data.user.email, addr);
    assert.notEqual(again.data.user.id, data.user.id);
  });

  test('anonymous sign-in is refused with 422 anonymous_provider_disabled', async () => {
    const { error } = await client(keys.publishable, strict.url).auth.signInAnonymously();
    assert.equal(error.status, 422);
    assert.equal(error.code, 'anonymous_provider_disabled');
  });
});

describe('refresh tokens', () => {
  test('refreshSession rotates; the old token inside the window gets the same successor', async () => {
    const { c, session } = await signedUp('rotate');
    const r1 = await c.auth.refreshSession({ refresh_token: session.refresh_token });
    assert.equal(r1.error, null);
    assert.notEqual(r1.data.session.refresh_token, session.refresh_token);
    const again = await client().auth.refreshSession({ refresh_token: session.refresh_token });
    assert.equal(again.error, null);
    assert.equal(again.data.session.refresh_token, r1.data.session.refresh_token);
  });

  test('parallel refreshes of one token all succeed with one successor; the session survives', async () => {
    const { session } = await signedUp('parallel');
    const results = await Promise.all(Array.from({ length: 12 }, () =>
      post('token?grant_type=refresh_token', { refresh_token: session.refresh_token })));
    for (const r of results) assert.equal(r.status, 200, r.body);
    const successors = new Set(results.map((r) => r.json.refresh_token));
    assert.equal(successors.size, 1);
    const [next] = successors;
    const r2 = await client().auth.refreshSession({ refresh_token: next });
    assert.equal(r2.error, null);
    const u = await client().auth.getUser(r2.data.session.access_token);
    assert.equal(u.error, null);
  });

  test('a replay after the window revokes the whole session', async () => {
    const { session } = await signedUp('replay');
    const t0 = session.refresh_token;
    const r1 = await client().auth.refreshSession({ refresh_token: t0 });
    const r2 = await client().auth.refreshSession({ refresh_token: r1.data.session.refresh_token });
    assert.equal(r2.error, null);
    await sleep(REUSE_S * 1000 + 600);
    // The parent of the active token still gets it back (grace)...
    const grace = await client().auth.refreshSession({ refresh_token: r1.data.session.refresh_token });
    assert.equal(grace.error, null);
    assert.equal(grace.data.session.refresh_token, r2.data.session.refresh_token);
    // ...the grandparent is a replay.
    const replay = await client().auth.refreshSession({ refresh_token: t0 });
    assert.equal(replay.error.status, 400);
    assert.equal(replay.error.code, 'refresh_token_already_used');
    const active = await client().auth.refreshSession({ refresh_token: r2.data.session.refresh_token });
    assert.equal(active.error.code, 'refresh_token_not_found');
    // The session's access tokens are refused too.
    const u = await client().auth.getUser(r2.data.session.access_token);
    assert.ok(u.error);
    assert.equal(u.error.name, 'AuthSessionMissingError');
  });

  test('an unknown refresh token: 400 refresh_token_not_found', async () => {
    const { error } = await client().auth.refreshSession({ refresh_token: 'x'.repeat(43) });
    assert.equal(error.status, 400);
    assert.equal(error.code, 'refresh_token_not_found');
  });
});

describe('sign-out', () => {
  async function sessions(n) {
    const { addr } = await signedUp('signout');
    const out = [];
    for (let i = 0; i < n; i++) {
      const c = client();
      const { data, error } = await c.auth.signInWithPassword({ email: addr, password: PASSWORD });
      assert.equal(error, null);
      out.push({ c, session: data.session });
    }
    return out;
  }
  const refreshes = async (s) => !(await client().auth.refreshSession({ refresh_token: s.session.refresh_token })).error;

  test('scope others ends every other session; local ends this one', async () => {
    const [a, b, c] = await sessions(3);
    await a.c.auth.setSession(a.session);
    const { error } = await a.c.auth.signOut({ scope: 'others' });
    assert.equal(error, null);
    assert.equal(await refreshes(b), false);
    assert.equal(await refreshes(c), false);
    const fresh = await a.c.auth.refreshSession({ refresh_token: a.session.refresh_token });
    assert.equal(fresh.error, null);
    assert.equal((await a.c.auth.signOut({ scope: 'local' })).error, null);
    assert.equal(await refreshes({ session: fresh.data.session }), false);
  });

  test('scope global (the default) ends every session; the access token is refused after', async () => {
    const [a, b] = await sessions(2);
    await a.c.auth.setSession(a.session);
    const r = await request(`${kiln.url}/auth/v1/logout`, {
      method: 'POST', headers: { apikey: keys.publishable, Authorization: `Bearer ${a.session.access_token}` },
    });
    assert.equal(r.status, 204);
    assert.equal(r.body, '');
    assert.equal(await refreshes(b), false);
    const u = await client().auth.getUser(b.session.access_token);
    assert.equal(u.error.name, 'AuthSessionMissingError');
  });
});

describe('admin API (service role)', () => {
  test('createUser, getUserById, listUsers paging', async () => {
    const adm = admin();
    const addrs = [email('adm'), email('adm'), email('adm')];
    for (const a of addrs) {
      const { data, error } = await adm.createUser({ email: a, password: PASSWORD, email_confirm: true, user_metadata: { via: 'admin' } });
      assert.equal(error, null);
      assert.equal(data.user.email, a);
      assert.ok(data.user.email_confirmed_at);
    }
    const dup = await adm.createUser({ email: addrs[0], password: PASSWORD });
    assert.equal(dup.error.status, 422);
    assert.equal(dup.error.code, 'email_exists');
    const page1 = await adm.listUsers({ page: 1, perPage: 2 });
    assert.equal(page1.error, null);
    assert.equal(page1.data.users.length, 2);
    assert.equal(page1.data.aud, 'authenticated');
    assert.ok(page1.data.total >= 3);
    assert.equal(page1.data.nextPage, 2);
    assert.ok(page1.data.lastPage >= 2);
    const total = Number(await cluster.psql('SELECT count(*) FROM auth.users WHERE deleted_at IS NULL'));
    assert.equal(page1.data.total, total);
    const raw = await request(`${kiln.url}/auth/v1/admin/users?page=2&per_page=2`, {
      headers: { apikey: keys.secret, Authorization: `Bearer ${keys.secret}` },
    });
    assert.equal(raw.headers['x-total-count'], String(total));
    assert.match(raw.headers.link, /^<\/auth\/v1\/admin\/users\?page=\d+&per_page=2>; rel="(next|last)"/);
    const ids1 = page1.data.users.map((u) => u.id);
    assert.ok(raw.json.users.every((u) => !ids1.includes(u.id)), 'pages do not overlap');
    const one = (await adm.listUsers()).data.users.find((u) => u.email === addrs[1]);
    const got = await adm.getUserById(one.id);
    assert.equal(got.data.user.email, addrs[1]);
    assert.deepEqual(got.data.user.user_metadata, { via: 'admin' });
  });

  test('updateUserById with a ban: sign-in refused, sessions ended; lifting it works', async () => {
    const { addr, user, session } = await signedUp('ban');
    const adm = admin();
    const { data, error } = await adm.updateUserById(user.id, { ban_duration: '24h' });
    assert.equal(error, null);
    assert.ok(data.user.banned_until);
    const si = await client().auth.signInWithPassword({ email: addr, password: PASSWORD });
    assert.equal(si.error.status, 400);
    assert.equal(si.error.code, 'user_banned');
    const rf = await client().auth.refreshSession({ refresh_token: session.refresh_token });
    assert.ok(rf.error);
    assert.equal((await adm.updateUserById(user.id, { ban_duration: 'none' })).error, null);
    assert.equal((await client().auth.signInWithPassword({ email: addr, password: PASSWORD })).error, null);
    const bad = await adm.updateUserById(user.id, { ban_duration: 'soon' });
    assert.equal(bad.error.code, 'validation_failed');
  });

  test('deleteUser: hard and soft', async () => {
    const adm = admin();
    const a = await signedUp('delhard');
    assert.equal((await adm.deleteUser(a.user.id)).error, null);
    const gone = await adm.getUserById(a.user.id);
    assert.equal(gone.error.status, 404);
    assert.equal(gone.error.code, 'user_not_found');
    const b = await signedUp('delsoft');
    assert.equal((await adm.deleteUser(b.user.id, true)).error, null);
    const soft = await cluster.psql(`SELECT deleted_at IS NOT NULL, email IS NULL FROM auth.users WHERE id = '${b.user.id}'`);
    assert.equal(soft, 't|t');
    const si = await client().auth.signInWithPassword({ email: b.addr, password: PASSWORD });
    assert.equal(si.error.code, 'invalid_credentials');
  });

  test('the publishable key and user tokens are not admins', async () => {
    const anonAdmin = createClient(kiln.url, keys.publishable, opts).auth.admin;
    const r = await anonAdmin.listUsers();
    assert.equal(r.error.status, 403);
    assert.equal(r.error.code, 'not_admin');
    const { session } = await signedUp('notadmin');
    const u = await request(`${kiln.url}/auth/v1/admin/users`, {
      headers: { apikey: keys.publishable, Authorization: `Bearer ${session.access_token}` },
    });
    assert.equal(u.status, 403);
    assert.equal(u.json.error_code, 'not_admin');
  });
});

describe('rate limits', () => {
  test('per client IP, shared by the daemons of a database: 429 with Retry-After', async () => {
    const { addr, session } = await signedUp('rate');
    const dbUrl = `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`;
    const args = ['--auth-rate-limit-sign-in', '3', '--auth-rate-limit-refresh', '2'];
    const a = await startKiln({ dbUrl, args });
    const b = await startKiln({ dbUrl, args });
    try {
      const ca = client(keys.publishable, a.url);
      const cb = client(keys.publishable, b.url);
      // Three sign-ins (right or wrong) through two daemons use up the bucket.
      assert.equal((await ca.auth.signInWithPassword({ email: addr, password: PASSWORD })).error, null);
      assert.equal((await cb.auth.signInWithPassword({ email: addr, password: 'wrong wrong wrong' })).error.code, 'invalid_credentials');
      assert.equal((await ca.auth.signInWithPassword({ email: addr, password: PASSWORD })).error, null);
      const limited = await cb.auth.signInWithPassword({ email: addr, password: PASSWORD });
      assert.equal(limited.error.status, 429);
      assert.equal(limited.error.code, 'over_request_rate_limit');
      const raw = await post('token?grant_type=password', { email: addr, password: PASSWORD }, {}, a.url);
      assert.equal(raw.status, 429);
      assert.ok(Number(raw.headers['retry-after']) >= 1 && Number(raw.headers['retry-after']) <= 100, raw.headers['retry-after']);
      // Sign-up shares the bucket; the unlimited daemon is not affected.
      assert.equal((await ca.auth.signUp({ email: email('rate'), password: PASSWORD })).error.status, 429);
      assert.equal((await client().auth.signInWithPassword({ email: addr, password: PASSWORD })).error, null);
      // Refreshes have a bucket of their own.
      const r1 = await ca.auth.refreshSession({ refresh_token: session.refresh_token });
      assert.equal(r1.error, null);
      const r2 = await cb.auth.refreshSession({ refresh_token: r1.data.session.refresh_token });
      assert.equal(r2.error, null);
      const r3 = await ca.auth.refreshSession({ refresh_token: r2.data.session.refresh_token });
      assert.equal(r3.error.status, 429);
    } finally {
      await a.stop();
      await b.stop();
      await cluster.psql('DELETE FROM auth.rate_limits');
    }
  });
});

describe('row security with the signed-in user', () => {
  test('/rest/v1 sees only the rows whose policy matches auth.uid()', async () => {
    const a = await signedUp('rls');
    const b = await signedUp('rls');
    await cluster.psql(`INSERT INTO public.notes (owner, body) VALUES
      ('${a.user.id}', 'a one'), ('${a.user.id}', 'a two'), ('${b.user.id}', 'b one')`);
    await a.c.auth.setSession(a.session);
    const { data, error } = await a.c.from('notes').select('body').order('id');
    assert.equal(error, null);
    assert.deepEqual(data.map((r) => r.body), ['a one', 'a two']);
    const anon = await client().from('notes').select('body');
    assert.ok(anon.error || anon.data.length === 0);
  });
});

describe('wire details', () => {
  test('both error formats, keyed off X-Supabase-Api-Version', async () => {
    const legacy = await post('signup', { email: email('fmt'), password: '123' });
    assert.equal(legacy.status, 422);
    assert.equal(legacy.headers['x-supabase-api-version'], undefined);
    assert.equal(legacy.json.code, 422);
    assert.equal(legacy.json.error_code, 'weak_password');
    assert.equal(typeof legacy.json.msg, 'string');
    assert.deepEqual(legacy.json.weak_password, { reasons: ['length'] });
    const v = await post('signup', { email: email('fmt'), password: '123' }, { 'X-Supabase-Api-Version': '2024-01-01' });
    assert.equal(v.headers['x-supabase-api-version'], '2024-01-01');
    assert.deepEqual(Object.keys(v.json).sort(), ['code', 'message', 'weak_password']);
    assert.equal(v.json.code, 'weak_password');
    const grant = await post('token?grant_type=password', { email: email('fmt'), password: 'x'.repeat(12) });
    assert.equal(grant.json.error, 'invalid_grant');
    assert.equal(grant.json.error_description, 'Invalid login credentials');
  });

  test('bad input: malformed JSON, wrong types, unknown grant, no key, unknown path', async () => {
    for (const body of ['{"email":', '[1,2]', '{"a":1,"a":2}', '"text"']) {
      const r = await post('signup', body);
      assert.equal(r.status, 400, body);
      assert.equal(r.json.error_code, 'bad_json');
    }
    const typed = await post('token?grant_type=password', { email: 42, password: 'x' });
    assert.equal(typed.status, 400);
    assert.equal(typed.json.error_code, 'bad_json');
    const grant = await post('token?grant_type=magic', {});
    assert.equal(grant.status, 400);
    assert.equal(grant.json.error_code, 'validation_failed');
    const nokey = await request(`${kiln.url}/auth/v1/signup`, { method: 'POST', body: '{}' });
    assert.equal(nokey.status, 401);
    const badkey = await post('signup', {}, { apikey: 'sb_publishable_' + 'A'.repeat(43) });
    assert.equal(badkey.status, 401);
    assert.equal(badkey.json.error_code, 'invalid_api_key');
    const nopath = await post('nowhere', {});
    assert.equal(nopath.status, 404);
    const method = await request(`${kiln.url}/auth/v1/signup`, { headers: { apikey: keys.publishable } });
    assert.equal(method.status, 405);
    assert.equal(method.headers.allow, 'POST');
    const userMethods = await request(`${kiln.url}/auth/v1/user`, { method: 'DELETE', headers: { apikey: keys.publishable } });
    assert.equal(userMethods.headers.allow, 'GET, HEAD, PUT');
    const bearerOnly = await request(`${kiln.url}/auth/v1/user`, { headers: { Authorization: `Bearer ${keys.publishable}` } });
    assert.equal(bearerOnly.status, 401);
    assert.equal(bearerOnly.json.error_code, 'no_api_key');
    const noUser = await request(`${kiln.url}/auth/v1/user`, { headers: { apikey: keys.publishable } });
    assert.equal(noUser.status, 403);
    assert.equal(noUser.json.error_code, 'bad_jwt');
    const forged = await request(`${kiln.url}/auth/v1/user`, {
      headers: { apikey: keys.publishable, Authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' },
    });
    assert.equal(forged.status, 403);
    assert.equal(forged.json.error_code, 'bad_jwt');
    for (const r of [nokey, badkey, nopath, noUser, forged, typed]) {
      assert.doesNotMatch(r.body, /ERROR:|SQLSTATE|pg_catalog|auth\.\w+\(/);
      assert.equal(r.headers['cache-control'], 'no-store');
    }
  });

  test('the database holds no refresh token, access token or password in clear', async () => {
    const { session } = await signedUp('clear');
    const r1 = await client().auth.refreshSession({ refresh_token: session.refresh_token });
    const secrets = [session.refresh_token, r1.data.session.refresh_token, PASSWORD,
      r1.data.session.access_token.split('.')[2]];
    const n = await cluster.psql(`SELECT count(*) FROM (
        SELECT t::text FROM auth.refresh_tokens t UNION ALL SELECT t::text FROM auth.sessions t
        UNION ALL SELECT t::text FROM auth.users t UNION ALL SELECT t::text FROM auth.identities t
        UNION ALL SELECT t::text FROM auth.audit_log_entries t UNION ALL SELECT t::text FROM auth.refresh_token_keys t
        UNION ALL SELECT t::text FROM auth.mfa_amr_claims t) x(v)
      WHERE ${secrets.map((x) => `strpos(v, '${x.replace(/'/g, "''")}') > 0`).join(' OR ')}`);
    assert.equal(n, '0');
  });

  test('random bodies never get a 5xx or database text', async () => {
    const paths = ['signup', 'token?grant_type=password', 'token?grant_type=refresh_token', 'user',
      'admin/users', 'logout?scope=local', 'admin/users/00000000-0000-4000-8000-000000000000'];
    const values = [null, true, 0, -1, 1e308, '', 'x'.repeat(5000), "'; select 1; --", '\u0000', [], {}, { a: [1, { b: 2 }] },
      '😀', 'a@b', 'ada@example.com', '2024-01-01', 'none'];
    const keysOf = ['email', 'password', 'phone', 'data', 'refresh_token', 'user_metadata', 'app_metadata',
      'ban_duration', 'should_soft_delete', 'email_confirm', 'password_hash', 'id', 'role'];
    let seed = 42;
    const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    for (let i = 0; i < 150; i++) {
      const body = {};
      for (let k = rnd(4); k > 0; k--) body[keysOf[rnd(keysOf.length)]] = values[rnd(values.length)];
      const p = paths[rnd(paths.length)];
      const method = p.startsWith('admin/users/') ? ['GET', 'PUT', 'DELETE'][rnd(3)] : p === 'user' ? 'PUT' : 'POST';
      const key = [keys.publishable, keys.secret][rnd(2)];
      const raw = rnd(5) === 0 ? JSON.stringify(body).slice(0, -1 - rnd(3)) : JSON.stringify(body);
      const r = await request(`${kiln.url}/auth/v1/${p}`, {
        method, body: raw, headers: { apikey: key, Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      });
      assert.ok(r.status < 500, `${method} ${p} ${raw.slice(0, 200)} -> ${r.status} ${r.body}`);
      assert.ok(r.json && typeof r.json === 'object', `${p}: JSON body`);
      assert.doesNotMatch(r.body, /ERROR:|SQLSTATE|pg_catalog|syntax error|auth\._/);
    }
  });

  test('JWT matrix on GET /user: only the valid token gets the user', async () => {
    const { user, session } = await signedUp('jwt');
    const sign = (claims) => cluster.psql(`SELECT kiln.sign_jwt(jsonb_build_object(
      'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated', 'sub', '${user.id}',
      'exp', extract(epoch FROM now())::int8 + 600) || '${JSON.stringify(claims)}'::jsonb)`);
    const [h, p, sig] = session.access_token.split('.');
    const other = (await signedUp('jwt')).session.access_token.split('.');
    const cases = {
      valid: session.access_token,
      expired: await sign({ exp: Math.floor(Date.now() / 1000) - 120 }),
      wrong_aud: await sign({ aud: 'someone-else' }),
      wrong_iss: await sign({ iss: 'evil' }),
      role_postgres: await sign({ role: 'postgres' }),
      alg_none: `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`,
      swapped_payload: `${h}.${other[1]}.${sig}`,
      truncated: `${h}.${p}`,
    };
    for (const [name, token] of Object.entries(cases)) {
      const r = await request(`${kiln.url}/auth/v1/user`, {
        headers: { apikey: keys.publishable, Authorization: `Bearer ${token}`, 'X-Supabase-Api-Version': '2024-01-01' },
      });
      if (name === 'valid') {
        assert.equal(r.status, 200, name);
        assert.equal(r.json.id, user.id);
      } else {
        assert.equal(r.status, 403, `${name}: ${r.body}`);
        assert.equal(r.json.code, 'bad_jwt', name);
        assert.doesNotMatch(r.body, /KL00|SQLSTATE/);
      }
    }
  });

  test('settings, health and the audit trail', async () => {
    const s = await request(`${kiln.url}/auth/v1/settings`, { headers: { apikey: keys.publishable } });
    assert.equal(s.status, 200);
    assert.equal(s.json.external.email, true);
    assert.equal(s.json.external.anonymous_users, true);
    assert.equal(s.json.mailer_autoconfirm, true);
    assert.equal(s.json.disable_signup, false);
    const st = await request(`${strict.url}/auth/v1/settings`, { headers: { apikey: keys.publishable } });
    assert.equal(st.json.external.anonymous_users, false);
    const h = await request(`${kiln.url}/auth/v1/health`, { headers: { apikey: keys.publishable } });
    assert.equal(h.status, 200);
    assert.equal(h.json.name, 'GoTrue');
    // Sign-ins, failures and replays are audited with the request id and ip.
    const { addr } = await signedUp('audit');
    const bad = await post('token?grant_type=password', { email: addr, password: 'wrong wrong wrong' });
    const rid = bad.headers['x-request-id'];
    assert.ok(rid);
    const row = await cluster.psql(`SELECT payload->>'action', ip_address, payload->'traits'->>'reason'
      FROM auth.audit_log_entries WHERE payload->>'request_id' = '${rid}'`);
    assert.equal(row, 'login_failed|127.0.0.1|invalid_credentials');
  });
});
