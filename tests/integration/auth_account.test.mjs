// auth_account.test.mjs: the account flows of a signed-in user end to end,
// through the real supabase-js against a real cluster and daemon, a real
// SMTP server on loopback (smtp-server) whose mails are read to click
// links and type codes, and a real OpenID Connect provider on loopback
// (oidc-provider). Checked:
// - reauthenticate(): the nonce by mail, and updateUser({password}) with
//   auth_secure_password_change on: reauthentication_needed without it,
//   reauthentication_not_valid for a wrong, reused or burned one, success
//   with the right one or with current_password;
// - an email change notifies the old address when requested and when done;
// - PKCE (flowType 'pkce') for signUp, resend, signInWithOtp,
//   resetPasswordForEmail and updateUser({email}): the mail's link redirects
//   with ?code=, and exchangeCodeForSession turns it into a session; codes
//   are single use and bound to the client's verifier;
// - signInWithOAuth with flowType 'pkce': ?code= back to the app;
// - linkIdentity / unlinkIdentity, with GoTrue's refusals and audit rows;
// - GET /settings lists the configured providers.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';
import Provider from 'oidc-provider';
import { SMTPServer } from 'smtp-server';

import {
  IS_ROOT, PG_USER, freePort, request, startCluster, startKiln, tempDir, waitFor,
} from './lib/harness.mjs';

const SITE = 'http://app.localhost:3000';
const PASSWORD = 'a reasonably long passphrase';
const CLIENT_ID = 'kiln-app';
const CLIENT_SECRET = crypto.randomBytes(24).toString('base64url');

let cluster;
let kiln;
let keys;
let smtp;
let op;
let issuer;

const accounts = {
  'link-1': { email: 'link1@idp.test', email_verified: true, name: 'Linked' },
  'pkce-1': { email: 'pkce1@idp.test', email_verified: true, name: 'Pkce' },
};
let nextAccount = 'link-1';

const base = { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false };
const client = (flowType = 'implicit') => createClient(kiln.url, keys.publishable, { auth: { ...base, flowType } });
const admin = () => createClient(kiln.url, keys.secret, { auth: base }).auth.admin;

let seq = 0;
const email = (tag) => `${tag}-${process.pid}-${++seq}@example.com`;

/** A loopback SMTP server collecting every message it accepts. */
async function startSmtp() {
  const messages = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, callback) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        messages.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  const port = await freePort();
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); });
  return { messages, url: `smtp://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** The next mail to addr after `already` of them: subject, body, link, code. */
async function mailTo(addr, already = 0) {
  let found;
  await waitFor(() => {
    const list = smtp.messages.filter((m) => m.to.includes(addr));
    if (list.length > already) found = list[already];
    return !!found;
  }, { timeoutMs: 15000, what: `mail #${already + 1} to ${addr}` });
  const [head, ...rest] = found.raw.split('\r\n\r\n');
  const body = rest.join('\r\n\r\n');
  return {
    subject: /^Subject: (.*)$/m.exec(head)?.[1],
    body,
    link: /href="([^"]+)"/.exec(body)?.[1]?.replaceAll('&amp;', '&'),
    code: /\b(\d{6})\b/.exec(body)?.[1],
  };
}

const mailsTo = (addr) => smtp.messages.filter((m) => m.to.includes(addr)).length;

/** Opens a mail link as a browser would: the 303 target. */
async function follow(link) {
  const r = await request(link);
  assert.equal(r.status, 303, `GET ${link} -> 303, got ${r.status} ${r.body}`);
  return new URL(r.headers.location);
}

/** oidc-provider on loopback, signing in whichever account nextAccount names. */
async function startProvider(callback) {
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'acct-rs256', alg: 'RS256', use: 'sig' };
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [callback],
      grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post',
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    findAccount: async (ctx, sub) => accounts[sub] && { accountId: sub, claims: async () => ({ sub, ...accounts[sub] }) },
  });
  const handler = provider.callback();
  op = http.createServer(async (req, res) => {
    if (req.url.startsWith('/interaction/')) {
      await provider.interactionFinished(req, res, { login: { accountId: nextAccount } }, { mergeWithLastSubmission: false });
      return;
    }
    handler(req, res);
  });
  await new Promise((resolve) => op.listen(port, '127.0.0.1', resolve));
}

/** Follows redirects (cookies per origin) until one leads to the app. */
async function browse(url) {
  const jar = new Map();
  for (let hop = 0; hop < 20; hop++) {
    const u = new URL(url);
    if (u.origin !== issuer && u.origin !== kiln.url) return url;
    const cookies = jar.get(u.origin) || new Map();
    const r = await request(url, { headers: cookies.size ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {} });
    for (const c of [r.headers['set-cookie'] || []].flat()) {
      const [pair] = c.split(';');
      cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    jar.set(u.origin, cookies);
    assert.ok([302, 303].includes(r.status), `redirect expected from ${url}, got ${r.status} ${r.body}`);
    url = new URL(r.headers.location, url).toString();
  }
  throw new Error('too many redirects');
}

/** A confirmed user and a client signed in as it. */
async function signedIn(tag, flowType = 'implicit') {
  const addr = email(tag);
  const made = await admin().createUser({ email: addr, password: PASSWORD, email_confirm: true });
  assert.equal(made.error, null);
  const c = client(flowType);
  const { error } = await c.auth.signInWithPassword({ email: addr, password: PASSWORD });
  assert.equal(error, null);
  return { c, addr, id: made.data.user.id };
}

before(async () => {
  const dir = tempDir('kiln-account-');
  const keyfile = path.join(dir, 'master.key');
  fs.writeFileSync(keyfile, crypto.randomBytes(32));
  fs.chmodSync(keyfile, 0o600);
  if (IS_ROOT) execFileSync('chown', [PG_USER, keyfile]);
  const prev = process.env.KILN_PG_OPTS;
  process.env.KILN_PG_OPTS = `-c kiln.master_key_file=${keyfile}`;
  try {
    cluster = await startCluster();
  } finally {
    if (prev === undefined) delete process.env.KILN_PG_OPTS; else process.env.KILN_PG_OPTS = prev;
  }
  await cluster.psql("CREATE EXTENSION kiln_platform CASCADE; SELECT kiln.rotate_signing_key('ES256');");
  keys = {
    publishable: await cluster.psql("SELECT kiln.create_api_key('publishable')"),
    secret: await cluster.psql("SELECT kiln.create_api_key('secret')"),
  };
  smtp = await startSmtp();
  const port = await freePort();
  await startProvider(`http://127.0.0.1:${port}/auth/v1/callback`);
  const providersFile = path.join(dir, 'providers.json');
  fs.writeFileSync(providersFile, JSON.stringify({ corp: { issuer, client_id: CLIENT_ID, client_secret: CLIENT_SECRET } }));
  kiln = await startKiln({
    port,
    dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`,
    args: ['--smtp-url', smtp.url, '--auth-site-url', SITE, '--auth-external-url', `http://127.0.0.1:${port}`,
      '--auth-providers', providersFile,
      // Every session counts as old: a password change always needs proof.
      '--auth-secure-password-change', 'true', '--auth-reauthentication-window-s', '0'],
  });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (smtp) await smtp.close();
  if (op) await new Promise((resolve) => op.close(resolve));
  if (cluster) await cluster.stop();
});

describe('reauthenticate and the secure password change', () => {
  test('no proof: reauthentication_needed; the mailed nonce works once', async () => {
    const { c, addr } = await signedIn('reauth');
    let r = await c.auth.updateUser({ password: 'a new long passphrase 1' });
    assert.equal(r.error?.code, 'reauthentication_needed');
    assert.equal(r.error?.status, 400);

    assert.equal((await c.auth.reauthenticate()).error, null);
    const mail = await mailTo(addr);
    assert.equal(mail.subject, 'Confirm reauthentication');
    assert.match(mail.code, /^\d{6}$/);
    assert.equal(mail.link, undefined, 'a nonce, no link');

    const wrong = mail.code === '000000' ? '111111' : '000000';
    r = await c.auth.updateUser({ password: 'a new long passphrase 1', nonce: wrong });
    assert.equal(r.error?.code, 'reauthentication_not_valid');
    assert.equal(r.error?.status, 422);
    r = await c.auth.updateUser({ password: 'a new long passphrase 1', nonce: mail.code });
    assert.equal(r.error, null);
    assert.equal(r.data.user.email, addr);
    r = await c.auth.updateUser({ password: 'a new long passphrase 2', nonce: mail.code });
    assert.equal(r.error?.code, 'reauthentication_not_valid', 'single use');

    const old = await client().auth.signInWithPassword({ email: addr, password: PASSWORD });
    assert.equal(old.error?.code, 'invalid_credentials');
    const fresh = await client().auth.signInWithPassword({ email: addr, password: 'a new long passphrase 1' });
    assert.equal(fresh.error, null);
  });

  test('five wrong nonces burn it; a refused change keeps it', async () => {
    const { c, addr } = await signedIn('burn');
    await c.auth.reauthenticate();
    let mail = await mailTo(addr);
    let r = await c.auth.updateUser({ password: 'short', nonce: mail.code });
    assert.equal(r.error?.code, 'weak_password');
    for (let i = 0; i < 5; i++) {
      r = await c.auth.updateUser({ password: 'a new long passphrase 3', nonce: `00000${i}` === mail.code ? '999999' : `00000${i}` });
      assert.equal(r.error?.code, 'reauthentication_not_valid');
    }
    r = await c.auth.updateUser({ password: 'a new long passphrase 3', nonce: mail.code });
    assert.equal(r.error?.code, 'reauthentication_not_valid', 'burned after five wrong tries');
    // A new nonce replaces it.
    await c.auth.reauthenticate();
    mail = await mailTo(addr, 1);
    r = await c.auth.updateUser({ password: 'a new long passphrase 3', nonce: mail.code });
    assert.equal(r.error, null);
  });

  test('current_password instead of a nonce', async () => {
    const { c, addr } = await signedIn('current');
    let r = await c.auth.updateUser({ password: 'a new long passphrase 4', current_password: 'not the password' });
    assert.equal(r.error?.code, 'current_password_invalid');
    r = await c.auth.updateUser({ password: 'a new long passphrase 4', current_password: PASSWORD });
    assert.equal(r.error, null);
    assert.equal(mailsTo(addr), 0, 'no mail needed');
    // Metadata changes never need proof.
    r = await c.auth.updateUser({ data: { theme: 'dark' } });
    assert.equal(r.error, null);
  });

  test('without a user: 403 bad_jwt, nothing sent; bad bodies: 400', async () => {
    // Only the apikey: no user (as GoTrue answers the anon key's JWT).
    let r = await request(`${kiln.url}/auth/v1/reauthenticate`, { headers: { apikey: keys.publishable } });
    assert.equal(r.status, 403);
    assert.equal(r.json.error_code, 'bad_jwt');
    r = await request(`${kiln.url}/auth/v1/reauthenticate`, { headers: { apikey: keys.publishable, authorization: 'Bearer x.y.z' } });
    assert.equal(r.status, 403);
    assert.equal(r.json.error_code, 'bad_jwt');
    const { c } = await signedIn('badbody');
    const token = (await c.auth.getSession()).data.session.access_token;
    r = await request(`${kiln.url}/auth/v1/user`, {
      method: 'PUT', headers: { apikey: keys.publishable, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'a new long passphrase 5', nonce: 123456 }),
    });
    assert.equal(r.status, 400);
    assert.equal(r.json.error_code, 'bad_json');
    r = await request(`${kiln.url}/auth/v1/reauthenticate`, { method: 'POST', headers: { apikey: keys.publishable, authorization: `Bearer ${token}` } });
    assert.equal(r.status, 405);
  });
});

describe('email change notices', () => {
  test('the old address hears of the request and of the change', async () => {
    const { c, addr } = await signedIn('notice');
    const next = email('notice-new');
    const u = await c.auth.updateUser({ email: next });
    assert.equal(u.error, null);
    const confirm = await mailTo(next);
    assert.equal(confirm.subject, 'Confirm your new email address');
    const notice = await mailTo(addr);
    assert.equal(notice.subject, 'A change of your email address was requested');
    assert.ok(notice.body.includes(next), 'names the new address');
    assert.equal(notice.link, undefined, 'a notice carries no link');
    assert.equal(notice.code, undefined, 'and no code');
    const v = await c.auth.verifyOtp({ email: next, token: confirm.code, type: 'email_change' });
    assert.equal(v.error, null);
    const done = await mailTo(addr, 1);
    assert.equal(done.subject, 'Your email address was changed');
    assert.ok(done.body.includes(next));
    assert.equal(mailsTo(next), 1, 'the new address gets only its confirmation');
  });
});

describe('PKCE for the mail links', () => {
  test('signUp: the link redirects with ?code=, exchangeCodeForSession signs in', async () => {
    const c = client('pkce');
    const addr = email('pkce-signup');
    const { data, error } = await c.auth.signUp({ email: addr, password: PASSWORD, options: { emailRedirectTo: `${SITE}/cb` } });
    assert.equal(error, null);
    assert.equal(data.session, null);
    const mail = await mailTo(addr);
    const to = await follow(mail.link);
    assert.equal(`${to.origin}${to.pathname}`, `${SITE}/cb`);
    assert.equal(to.hash, '', 'no tokens in the fragment');
    const code = to.searchParams.get('code');
    assert.match(code, /^[A-Za-z0-9_-]{43}$/);
    const ex = await c.auth.exchangeCodeForSession(code);
    assert.equal(ex.error, null);
    assert.equal(ex.data.user.email, addr);
    assert.ok(ex.data.user.email_confirmed_at);
    assert.ok(ex.data.session.access_token && ex.data.session.refresh_token);
    // Once only.
    const again = await client('pkce').auth.exchangeCodeForSession(code);
    assert.ok(again.error);
  });

  test('resend({type: signup}): the new confirmation link carries ?code= too', async () => {
    const c = client('pkce');
    const addr = email('pkce-resend');
    assert.equal((await c.auth.signUp({ email: addr, password: PASSWORD })).error, null);
    await mailTo(addr);
    assert.equal((await c.auth.resend({ type: 'signup', email: addr })).error, null);
    const mail = await mailTo(addr, 1);
    const ex = await c.auth.exchangeCodeForSession((await follow(mail.link)).searchParams.get('code'));
    assert.equal(ex.error, null);
    assert.equal(ex.data.user.email, addr);
  });

  test('signInWithOtp: magic link -> ?code= -> session; another verifier is refused', async () => {
    const addr = email('pkce-otp');
    await admin().createUser({ email: addr, password: PASSWORD, email_confirm: true });
    const c = client('pkce');
    assert.equal((await c.auth.signInWithOtp({ email: addr })).error, null);
    const mail = await mailTo(addr);
    assert.match(mail.link, /type=magiclink/);
    const code = (await follow(mail.link)).searchParams.get('code');
    assert.ok(code);
    // A different client (its own verifier) cannot use the code, and the
    // attempt uses it up.
    const other = client('pkce');
    await other.auth.signInWithOtp({ email: email('pkce-other') });
    const stolen = await other.auth.exchangeCodeForSession(code);
    assert.equal(stolen.error?.code, 'bad_code_verifier');
    const late = await c.auth.exchangeCodeForSession(code);
    assert.equal(late.error?.code, 'flow_state_not_found');

    // A fresh link works.
    await c.auth.signInWithOtp({ email: addr });
    const again = await mailTo(addr, 1);
    const ex = await c.auth.exchangeCodeForSession((await follow(again.link)).searchParams.get('code'));
    assert.equal(ex.error, null);
    assert.equal(ex.data.user.email, addr);
    const claims = JSON.parse(Buffer.from(ex.data.session.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.amr[0].method, 'magiclink');
  });

  test('resetPasswordForEmail: ?code= -> a recovery session', async () => {
    const addr = email('pkce-recover');
    await admin().createUser({ email: addr, password: PASSWORD, email_confirm: true });
    const c = client('pkce');
    const events = [];
    c.auth.onAuthStateChange((e) => events.push(e));
    assert.equal((await c.auth.resetPasswordForEmail(addr, { redirectTo: `${SITE}/reset` })).error, null);
    const mail = await mailTo(addr);
    const to = await follow(mail.link);
    assert.equal(to.pathname, '/reset');
    const ex = await c.auth.exchangeCodeForSession(to.searchParams.get('code'));
    assert.equal(ex.error, null);
    assert.equal(ex.data.user.email, addr);
    const claims = JSON.parse(Buffer.from(ex.data.session.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.amr[0].method, 'recovery');
    assert.ok(events.includes('PASSWORD_RECOVERY'), `events: ${events}`);
  });

  test('updateUser({email}): the confirmation link redirects with ?code=', async () => {
    const { c, addr } = await signedIn('pkce-change', 'pkce');
    const next = email('pkce-changed');
    const u = await c.auth.updateUser({ email: next }, { emailRedirectTo: `${SITE}/changed` });
    assert.equal(u.error, null);
    assert.equal(u.data.user.new_email, next);
    const mail = await mailTo(next);
    const to = await follow(mail.link);
    assert.equal(to.pathname, '/changed');
    const ex = await c.auth.exchangeCodeForSession(to.searchParams.get('code'));
    assert.equal(ex.error, null);
    assert.equal(ex.data.user.email, next);
    assert.ok((await mailTo(addr, 1)).subject.startsWith('Your email address was changed'));
  });

  test('an implicit client still gets the fragment; half a PKCE pair is refused', async () => {
    const addr = email('implicit');
    await admin().createUser({ email: addr, password: PASSWORD, email_confirm: true });
    await client().auth.signInWithOtp({ email: addr });
    const to = await follow((await mailTo(addr)).link);
    assert.match(to.hash, /^#access_token=/);
    const r = await request(`${kiln.url}/auth/v1/otp`, {
      method: 'POST', headers: { apikey: keys.publishable, 'content-type': 'application/json' },
      body: JSON.stringify({ email: addr, code_challenge: 'x'.repeat(43) }),
    });
    assert.equal(r.status, 400);
    assert.equal(r.json.error_code, 'validation_failed');
  });
});

describe('OAuth: PKCE towards the app, linkIdentity, unlinkIdentity', () => {
  test('signInWithOAuth with flowType pkce: ?code= back to the app', async () => {
    nextAccount = 'pkce-1';
    const c = client('pkce');
    const { data, error } = await c.auth.signInWithOAuth({ provider: 'corp', options: { redirectTo: `${SITE}/oauth`, skipBrowserRedirect: true } });
    assert.equal(error, null);
    assert.match(data.url, /code_challenge=/);
    const back = new URL(await browse(data.url));
    assert.equal(back.pathname, '/oauth');
    assert.equal(back.hash, '');
    const ex = await c.auth.exchangeCodeForSession(back.searchParams.get('code'));
    assert.equal(ex.error, null);
    assert.equal(ex.data.user.email, 'pkce1@idp.test');
    assert.equal(ex.data.user.identities[0].provider, 'corp');
    const claims = JSON.parse(Buffer.from(ex.data.session.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.amr[0].method, 'oauth');
  });

  test('linkIdentity links the provider identity to the signed-in user', async () => {
    const { c, id } = await signedIn('linker');
    nextAccount = 'link-1';
    const { data, error } = await c.auth.linkIdentity({ provider: 'corp', options: { redirectTo: `${SITE}/linked` } });
    assert.equal(error, null);
    assert.ok(data.url.startsWith(issuer), data.url);
    const back = new URL(await browse(data.url));
    assert.equal(back.pathname, '/linked');
    const f = new URLSearchParams(back.hash.slice(1));
    assert.ok(f.get('access_token'), back.toString());
    const { data: u } = await c.auth.getUser();
    assert.equal(u.user.id, id);
    assert.deepEqual(u.user.identities.map((i) => i.provider).sort(), ['corp', 'email']);
    assert.deepEqual([...u.user.app_metadata.providers].sort(), ['corp', 'email']);
    const linked = u.user.identities.find((i) => i.provider === 'corp');
    assert.equal(linked.id, 'link-1');
    // The provider identity now signs in as this user.
    nextAccount = 'link-1';
    const viaProvider = await client().auth.signInWithOAuth({ provider: 'corp', options: { redirectTo: SITE, skipBrowserRedirect: true } });
    const session = new URLSearchParams(new URL(await browse(viaProvider.data.url)).hash.slice(1));
    assert.equal((await client().auth.getUser(session.get('access_token'))).data.user.id, id);

    // Another user cannot take it.
    const other = await signedIn('thief');
    const stolen = await other.c.auth.linkIdentity({ provider: 'corp', options: { redirectTo: `${SITE}/linked` } });
    const refused = new URL(await browse(stolen.data.url));
    assert.equal(refused.searchParams.get('error_code'), 'identity_already_exists');
    assert.equal((await other.c.auth.getUser()).data.user.identities.length, 1);

    // Unlink: the email identity goes, the last one stays.
    const email1 = u.user.identities.find((i) => i.provider === 'email');
    assert.equal((await c.auth.unlinkIdentity(email1)).error, null);
    const { data: u2 } = await c.auth.getUser();
    assert.deepEqual(u2.user.identities.map((i) => i.provider), ['corp']);
    assert.deepEqual(u2.user.app_metadata.providers, ['corp']);
    const last = await c.auth.unlinkIdentity(u2.user.identities[0]);
    assert.equal(last.error?.code, 'single_identity_not_deletable');
    // Someone else's identity is not found.
    const notMine = await other.c.auth.unlinkIdentity(u2.user.identities[0]);
    assert.equal(notMine.error?.code, 'identity_not_found');

    const audit = await cluster.psql(`SELECT string_agg(payload->>'action', ',' ORDER BY created_at)
      FROM auth.audit_log_entries WHERE payload->>'action' LIKE 'identity%'`);
    assert.equal(audit, 'identity_linked,identity_link_failed,identity_unlinked');
  });

  test('linking needs a bearer token; skip_http_redirect answers {url}', async () => {
    let r = await request(`${kiln.url}/auth/v1/user/identities/authorize?provider=corp&skip_http_redirect=true`, { headers: { apikey: keys.publishable } });
    assert.equal(r.status, 401);
    assert.equal(r.json.error_code, 'no_authorization');
    r = await request(`${kiln.url}/auth/v1/user/identities/authorize?provider=corp`, {
      headers: { apikey: keys.publishable, authorization: 'Bearer not.a.jwt' },
    });
    assert.equal(r.status, 403);
    assert.equal(r.json.error_code, 'bad_jwt');
    const { c } = await signedIn('skip');
    const token = (await c.auth.getSession()).data.session.access_token;
    r = await request(`${kiln.url}/auth/v1/user/identities/authorize?provider=corp&skip_http_redirect=true`, {
      headers: { apikey: keys.publishable, authorization: `Bearer ${token}` },
    });
    assert.equal(r.status, 200);
    assert.ok(r.json.url.startsWith(`${issuer}/auth?`));
    r = await request(`${kiln.url}/auth/v1/user/identities/authorize?provider=corp`, {
      headers: { apikey: keys.publishable, authorization: `Bearer ${token}` },
    });
    assert.equal(r.status, 302);
    assert.ok(r.headers.location.startsWith(`${issuer}/auth?`));
    r = await request(`${kiln.url}/auth/v1/user/identities/not-a-uuid`, {
      method: 'DELETE', headers: { apikey: keys.publishable, authorization: `Bearer ${token}` },
    });
    assert.equal(r.status, 404);
    assert.equal(r.json.error_code, 'identity_not_found');
  });

  test('GET /settings lists the configured provider as enabled', async () => {
    const r = await request(`${kiln.url}/auth/v1/settings`, { headers: { apikey: keys.publishable } });
    assert.equal(r.status, 200);
    assert.equal(r.json.external.corp, true);
    assert.equal(r.json.external.github, false);
    assert.equal(r.json.external.email, true);
  });
});
