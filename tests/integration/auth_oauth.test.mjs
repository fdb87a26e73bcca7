// auth_oauth.test.mjs: sign-in with an external provider through the real
// auth-js (@supabase/supabase-js) against a real cluster and daemon, and a
// real OpenID Connect provider on loopback (the npm package oidc-provider)
// running in this process with a static client and an interaction that
// signs in whichever test account `nextAccount` names.
//
// The browser is played with real HTTP: every redirect followed by hand,
// cookies kept per origin, until the provider sends the browser back to
// the app's redirect_to. Checked: signInWithOAuth's URL -> provider ->
// /callback -> session in the fragment -> getUser shows the identity; a
// second sign-in is the same user; another subject with the same address
// takes nothing over; bad, replayed and forged state, a wrong nonce, a
// tampered ID token and a wrong audience are refused; signInWithIdToken
// with a token from the provider; a plain OAuth 2.0 provider (user info
// endpoint); redirect_to outside the allowlist is refused.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';
import Provider from 'oidc-provider';

import { freePort, request, startCluster, startKiln, tempDir } from './lib/harness.mjs';

const SITE = 'http://app.localhost:3000';
const CLIENT_ID = 'kiln-app';
const CLIENT_SECRET = crypto.randomBytes(24).toString('base64url');
const NATIVE_CB = 'http://127.0.0.1/native-callback';

let cluster;
let kiln;
let keys;
let op;          // the provider's HTTP server
let issuer;      // its issuer URL
let signingKey;  // its RS256 private key (JWK), to forge tokens for the refusal tests

// Test accounts of the provider: sub -> claims.
const accounts = {
  'alice-1': { email: 'alice@oauth.test', email_verified: true, name: 'Alice' },
  'mallory-1': { email: 'alice@oauth.test', email_verified: true, name: 'Mallory' },
  'bob-1': { email: 'bob@oauth.test', email_verified: true, name: 'Bob' },
  'carol-1': { email: 'carol@oauth.test', email_verified: false, name: 'Carol' },
  'dave-1': { email: 'dave@oauth.test', email_verified: true, name: 'Dave' },
  'erin-1': { email: 'erin@oauth.test', email_verified: true, name: 'Erin' },
};
let nextAccount = 'alice-1';

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };
const client = () => createClient(kiln.url, keys.publishable, opts);

/** Starts oidc-provider on a free loopback port. */
async function startProvider(callback) {
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID, client_secret: CLIENT_SECRET,
      redirect_uris: [callback, NATIVE_CB],
      grant_types: ['authorization_code'], response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    jwks: { keys: [signingKey] },
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    // Consent is implied: the grant is made on the spot.
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    findAccount: async (ctx, sub) => accounts[sub] && {
      accountId: sub,
      claims: async () => ({ sub, ...accounts[sub] }),
    },
  });
  const handler = provider.callback();
  op = http.createServer(async (req, res) => {
    if (req.url.startsWith('/interaction/')) {
      // The login page: signs in nextAccount without asking.
      await provider.interactionFinished(req, res, { login: { accountId: nextAccount } },
        { mergeWithLastSubmission: false });
      return;
    }
    handler(req, res);
  });
  await new Promise((resolve) => op.listen(port, '127.0.0.1', resolve));
}

/** A browser: GETs url and follows redirects with per-origin cookies until
 *  one leads outside kiln and the provider (the app). Returns the app URL
 *  (or {status, body} of a page that is not a redirect). */
async function browse(url, { jar = new Map(), edit = null, maxHops = 20 } = {}) {
  for (let hop = 0; hop < maxHops; hop++) {
    const u = new URL(url);
    if (u.origin !== issuer && u.origin !== kiln.url) return { url };
    if (edit) url = edit(url);
    const cookies = jar.get(u.origin) || new Map();
    const r = await request(url, {
      headers: cookies.size ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {},
    });
    for (const c of [r.headers['set-cookie'] || []].flat()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
    jar.set(u.origin, cookies);
    if (![302, 303].includes(r.status)) return { status: r.status, body: r.body, json: r.json, url };
    url = new URL(r.headers.location, url).toString();
  }
  throw new Error('too many redirects');
}

/** signInWithOAuth as an app does it, then the browser round trip. */
async function oauthSignIn(account, { provider = 'corp', redirectTo = `${SITE}/welcome`, edit } = {}) {
  nextAccount = account;
  const { data, error } = await client().auth.signInWithOAuth({
    provider, options: { redirectTo, skipBrowserRedirect: true },
  });
  assert.equal(error, null);
  return browse(data.url, { edit });
}

const fragment = (url) => Object.fromEntries(new URLSearchParams(new URL(url).hash.slice(1)));
const query = (url) => Object.fromEntries(new URL(url).searchParams);

/** An ID token straight from the provider (code flow as a native app). */
async function providerIdToken(account, nonce) {
  nextAccount = account;
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const auth = new URL(`${issuer}/auth`);
  Object.entries({
    client_id: CLIENT_ID, response_type: 'code', scope: 'openid email profile', redirect_uri: NATIVE_CB,
    code_challenge: challenge, code_challenge_method: 'S256', ...(nonce ? { nonce } : {}),
  }).forEach(([k, v]) => auth.searchParams.set(k, v));
  const jar = new Map();
  let url = auth.toString();
  for (let hop = 0; !url.startsWith(NATIVE_CB); hop++) {
    assert.ok(hop < 20, 'the provider answers with a redirect');
    const u = new URL(url);
    const cookies = jar.get(u.origin) || new Map();
    const r = await request(url, { headers: cookies.size ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {} });
    for (const c of [r.headers['set-cookie'] || []].flat()) {
      const [pair] = c.split(';');
      cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    jar.set(u.origin, cookies);
    assert.ok([302, 303].includes(r.status), `provider redirect, got ${r.status} ${r.body}`);
    url = new URL(r.headers.location, url).toString();
  }
  const code = new URL(url).searchParams.get('code');
  const r = await request(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: NATIVE_CB, client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET, code_verifier: verifier,
    }).toString(),
  });
  assert.equal(r.status, 200, r.body);
  return r.json.id_token;
}

/** A token signed with the provider's own key, claims as given. */
function forge(claims, header = {}) {
  const h = Buffer.from(JSON.stringify({ alg: 'RS256', kid: signingKey.kid, typ: 'JWT', ...header })).toString('base64url');
  const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const key = crypto.createPrivateKey({ key: signingKey, format: 'jwk' });
  const s = crypto.sign('sha256', Buffer.from(`${h}.${p}`), key).toString('base64url');
  return `${h}.${p}.${s}`;
}
const now = () => Math.floor(Date.now() / 1000);
const goodClaims = (extra = {}) => ({
  iss: issuer, aud: CLIENT_ID, sub: 'forged-1', email: 'forged@oauth.test', email_verified: true,
  iat: now(), exp: now() + 300, ...extra,
});

before(async () => {
  const dir = tempDir('kiln-oauth-');
  const keyfile = path.join(dir, 'master.key');
  fs.writeFileSync(keyfile, crypto.randomBytes(32));
  fs.chmodSync(keyfile, 0o600);
  const { IS_ROOT, PG_USER } = await import('./lib/harness.mjs');
  if (IS_ROOT) (await import('node:child_process')).execFileSync('chown', [PG_USER, keyfile]);
  const prev = process.env.KILN_PG_OPTS;
  process.env.KILN_PG_OPTS = `-c kiln.master_key_file=${keyfile}`;
  try {
    cluster = await startCluster();
  } finally {
    if (prev === undefined) delete process.env.KILN_PG_OPTS; else process.env.KILN_PG_OPTS = prev;
  }
  await cluster.psql(`CREATE EXTENSION kiln_platform CASCADE; SELECT kiln.rotate_signing_key('ES256');`);
  keys = { publishable: await cluster.psql("SELECT kiln.create_api_key('publishable')") };

  const port = await freePort();
  await startProvider(`http://127.0.0.1:${port}/auth/v1/callback`);
  const providersFile = path.join(dir, 'providers.json');
  fs.writeFileSync(providersFile, JSON.stringify({
    corp: { issuer, client_id: CLIENT_ID, client_secret: CLIENT_SECRET },
    // The same server as a plain OAuth 2.0 provider: explicit endpoints,
    // the subject from the user info.
    plain: {
      client_id: CLIENT_ID, client_secret: CLIENT_SECRET, scopes: 'openid email',
      authorize_url: `${issuer}/auth`, token_url: `${issuer}/token`, userinfo_url: `${issuer}/me`,
      subject_field: 'sub',
    },
  }));
  kiln = await startKiln({
    port,
    dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`,
    args: ['--auth-site-url', SITE, '--auth-redirect-urls', 'http://other.localhost:4000/auth/**',
      '--auth-providers', providersFile],
  });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (op) await new Promise((resolve) => op.close(resolve));
  if (cluster) await cluster.stop();
});

describe('sign-in through the browser (implicit flow)', () => {
  let alice;

  test('signInWithOAuth -> provider -> callback -> session in the fragment', async () => {
    const { data } = await client().auth.signInWithOAuth({
      provider: 'corp', options: { redirectTo: `${SITE}/welcome`, skipBrowserRedirect: true },
    });
    // The first hop: /authorize sends the browser to the provider with
    // state, nonce and an S256 challenge.
    const first = await request(data.url);
    assert.equal(first.status, 302);
    const to = new URL(first.headers.location);
    assert.equal(to.origin, issuer);
    assert.equal(to.searchParams.get('client_id'), CLIENT_ID);
    assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
    assert.match(to.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
    assert.match(to.searchParams.get('state'), /^[0-9a-f-]{36}$/);
    assert.ok(to.searchParams.get('nonce').length >= 16);
    assert.equal(to.searchParams.get('redirect_uri'), `${kiln.url}/auth/v1/callback`);

    const { url } = await oauthSignIn('alice-1');
    assert.ok(url.startsWith(`${SITE}/welcome#`), url);
    const f = fragment(url);
    assert.equal(f.token_type, 'bearer');
    assert.ok(f.access_token && f.refresh_token && f.provider_token);
    assert.ok(Number(f.expires_at) > now());

    const c = client();
    const { data: u, error } = await c.auth.getUser(f.access_token);
    assert.equal(error, null);
    assert.equal(u.user.email, 'alice@oauth.test');
    assert.ok(u.user.email_confirmed_at, 'a verified address counts as confirmed');
    assert.deepEqual(u.user.app_metadata, { provider: 'corp', providers: ['corp'] });
    assert.equal(u.user.identities.length, 1);
    assert.equal(u.user.identities[0].provider, 'corp');
    assert.equal(u.user.identities[0].id, 'alice-1');
    assert.equal(u.user.identities[0].identity_data.name, 'Alice');
    alice = u.user;

    // The session is a real one: it refreshes.
    const { data: s, error: e2 } = await c.auth.setSession({ access_token: f.access_token, refresh_token: f.refresh_token });
    assert.equal(e2, null);
    assert.equal(s.user.id, alice.id);
    const claims = JSON.parse(Buffer.from(f.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.amr[0].method, 'oauth');
  });

  test('a second sign-in is the same user', async () => {
    const { url } = await oauthSignIn('alice-1');
    const f = fragment(url);
    const { data } = await client().auth.getUser(f.access_token);
    assert.equal(data.user.id, alice.id);
    assert.equal(data.user.identities.length, 1);
  });

  test('another subject with the same verified address takes nothing over', async () => {
    const { url } = await oauthSignIn('mallory-1');
    assert.ok(url.startsWith(`${SITE}/welcome?`), url);
    assert.equal(fragment(url).access_token, undefined);
    const q = query(url);
    assert.equal(q.error_code, 'email_exists');
    assert.equal(q.error, 'invalid_request');
    const n = await cluster.psql(`SELECT count(*) FROM auth.identities WHERE provider = 'corp' AND provider_id = 'mallory-1'`);
    assert.equal(n, '0');
    const owner = await cluster.psql(`SELECT user_id FROM auth.identities WHERE provider = 'corp' AND provider_id = 'alice-1'`);
    assert.equal(owner, alice.id);
  });

  test('an unverified address from the provider is kept unconfirmed', async () => {
    const { url } = await oauthSignIn('carol-1');
    const { data } = await client().auth.getUser(fragment(url).access_token);
    assert.equal(data.user.email, 'carol@oauth.test');
    assert.equal(data.user.email_confirmed_at, undefined);
  });

  test('redirect_to from auth_redirect_urls (wildcard) is honoured', async () => {
    const { url } = await oauthSignIn('bob-1', { redirectTo: 'http://other.localhost:4000/auth/done?x=1' });
    assert.ok(url.startsWith('http://other.localhost:4000/auth/done?x=1#access_token='), url);
  });

  test('a plain OAuth 2.0 provider: the subject from the user info', async () => {
    const { url } = await oauthSignIn('dave-1', { provider: 'plain' });
    const { data, error } = await client().auth.getUser(fragment(url).access_token);
    assert.equal(error, null);
    assert.equal(data.user.identities[0].provider, 'plain');
    assert.equal(data.user.identities[0].id, 'dave-1');
    // OAuth 2.0 user info is not an assertion about the address.
    assert.equal(data.user.email_confirmed_at, undefined);
  });
});

describe('refusals', () => {
  test('redirect_to outside the allowlist: 400, no redirect', async () => {
    for (const bad of ['https://evil.test/', 'http://app.localhost:3000.evil.test/', 'http://user@app.localhost:3000/',
      'javascript:alert(1)', 'http://other.localhost:4000/elsewhere']) {
      const r = await request(`${kiln.url}/auth/v1/authorize?provider=corp&redirect_to=${encodeURIComponent(bad)}`);
      assert.equal(r.status, 400, bad);
      assert.equal(r.headers.location, undefined);
      assert.equal(r.json.error_code, 'validation_failed');
    }
  });

  test('unknown provider and a malformed PKCE challenge are refused', async () => {
    let r = await request(`${kiln.url}/auth/v1/authorize?provider=nope`);
    assert.equal(r.status, 400);
    assert.match(r.json.msg, /Provider nope could not be found/);
    r = await request(`${kiln.url}/auth/v1/authorize?provider=corp&code_challenge=abc&code_challenge_method=s256`);
    assert.equal(r.status, 400);
  });

  test('bad and missing state: 400 bad_oauth_state', async () => {
    for (const q of ['state=garbage&code=x', `state=${crypto.randomUUID()}&code=x`, 'code=x']) {
      const r = await request(`${kiln.url}/auth/v1/callback?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.error_code, 'bad_oauth_state');
      assert.equal(r.headers.location, undefined);
    }
  });

  test('a replayed callback (state used once) is refused', async () => {
    nextAccount = 'bob-1';
    let callback;
    const { url } = await browse(`${kiln.url}/auth/v1/authorize?provider=corp`, {
      edit: (u) => {
        if (u.startsWith(`${kiln.url}/auth/v1/callback`)) callback = u;
        return u;
      },
    });
    assert.ok(url.startsWith(`${SITE}/#access_token=`), url); // no redirect_to: the site URL
    const r = await request(callback);
    assert.equal(r.status, 400);
    assert.equal(r.json.error_code, 'bad_oauth_state');
  });

  test('a nonce changed on the way to the provider fails the ID token check', async () => {
    const { url } = await oauthSignIn('erin-1', {
      edit: (u) => u.startsWith(`${issuer}/auth?`) ? u.replace(/nonce=[^&]+/, 'nonce=swapped-nonce-value') : u,
    });
    const q = query(url);
    assert.equal(q.error_code, 'bad_id_token');
    assert.match(q.error_description, /nonce/);
    assert.equal(await cluster.psql(`SELECT count(*) FROM auth.identities WHERE provider_id = 'erin-1'`), '0');
    // Refused in the daemon, audited in the database.
    const audited = await cluster.psql(`SELECT count(*) FROM auth.audit_log_entries
      WHERE payload ->> 'action' = 'login_failed' AND payload -> 'traits' ->> 'reason' = 'bad_id_token'`);
    assert.ok(Number(audited) >= 1);
  });

  test('the provider refusing sends the app an error', async () => {
    const r = await request(`${kiln.url}/auth/v1/authorize?provider=corp`);
    const state = new URL(r.headers.location).searchParams.get('state');
    const cb = await request(`${kiln.url}/auth/v1/callback?state=${state}&error=access_denied&error_description=no`);
    assert.equal(cb.status, 303);
    const q = query(cb.headers.location);
    assert.equal(q.error, 'access_denied');
  });
});

describe('signInWithIdToken (grant_type=id_token)', () => {
  test('a token from the provider signs in (nonce checked)', async () => {
    const raw = crypto.randomBytes(16).toString('hex');
    const hashed = crypto.createHash('sha256').update(raw).digest('hex');
    const token = await providerIdToken('bob-1', hashed);
    const c = client();
    const { data, error } = await c.auth.signInWithIdToken({ provider: 'corp', token, nonce: raw });
    assert.equal(error, null);
    assert.equal(data.user.email, 'bob@oauth.test');
    assert.equal(data.user.identities[0].id, 'bob-1');
    // Without the nonce the same token is refused.
    const again = await c.auth.signInWithIdToken({ provider: 'corp', token });
    assert.equal(again.error.status, 400);
    assert.equal(again.error.code, 'bad_id_token');
    const wrong = await c.auth.signInWithIdToken({ provider: 'corp', token, nonce: 'other' });
    assert.equal(wrong.error.code, 'bad_id_token');
  });

  test('forged, tampered, expired, wrong aud or iss, alg none: refused', async () => {
    const c = client();
    // A well-formed token with the provider's key is accepted (the control).
    const ok = await c.auth.signInWithIdToken({ provider: 'corp', token: forge(goodClaims()) });
    assert.equal(ok.error, null);
    const good = forge(goodClaims({ sub: 'forged-2', email: 'forged2@oauth.test' }));
    const [h, p, s] = good.split('.');
    const swapped = Buffer.from(JSON.stringify(goodClaims({ sub: 'alice-1' }))).toString('base64url');
    const { privateKey: otherKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const foreign = (() => {
      const hh = Buffer.from(JSON.stringify({ alg: 'RS256', kid: signingKey.kid })).toString('base64url');
      const pp = Buffer.from(JSON.stringify(goodClaims())).toString('base64url');
      return `${hh}.${pp}.${crypto.sign('sha256', Buffer.from(`${hh}.${pp}`), otherKey).toString('base64url')}`;
    })();
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    const cases = {
      tampered: `${h}.${swapped}.${s}`,
      foreign_key: foreign,
      wrong_aud: forge(goodClaims({ aud: 'someone-else' })),
      wrong_iss: forge(goodClaims({ iss: 'http://127.0.0.1:1' })),
      expired: forge(goodClaims({ exp: now() - 3600, iat: now() - 7200 })),
      unknown_kid: forge(goodClaims(), { kid: 'nope' }),
      alg_none: none,
      garbage: 'not.a.jwt',
    };
    const auditedBefore = Number(await cluster.psql(`SELECT count(*) FROM auth.audit_log_entries
      WHERE payload ->> 'action' = 'login_failed' AND payload -> 'traits' ->> 'reason' = 'bad_id_token'`));
    for (const [name, token] of Object.entries(cases)) {
      const { data, error } = await c.auth.signInWithIdToken({ provider: 'corp', token });
      assert.equal(data.session, null, name);
      assert.equal(error.status, 400, name);
      assert.equal(error.code, 'bad_id_token', name);
    }
    assert.equal(await cluster.psql(`SELECT count(*) FROM auth.identities WHERE provider_id = 'forged-2'`), '0');
    const auditedAfter = Number(await cluster.psql(`SELECT count(*) FROM auth.audit_log_entries
      WHERE payload ->> 'action' = 'login_failed' AND payload -> 'traits' ->> 'reason' = 'bad_id_token'`));
    assert.equal(auditedAfter - auditedBefore, Object.keys(cases).length);
  });

  test('unknown provider, plain OAuth 2.0 provider and a missing token are refused', async () => {
    const c = client();
    let r = await c.auth.signInWithIdToken({ provider: 'nope', token: forge(goodClaims()) });
    assert.equal(r.error.status, 400);
    r = await c.auth.signInWithIdToken({ provider: 'plain', token: forge(goodClaims()) });
    assert.equal(r.error.status, 400);
    const raw = await request(`${kiln.url}/auth/v1/token?grant_type=id_token`, {
      method: 'POST', headers: { apikey: keys.publishable, 'content-type': 'application/json' }, body: '{"provider":"corp"}',
    });
    assert.equal(raw.status, 400);
    assert.equal(raw.json.error_code, 'validation_failed');
    const nokey = await request(`${kiln.url}/auth/v1/token?grant_type=id_token`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
    });
    assert.equal(nokey.status, 401);
  });
});
