// auth_mail.test.mjs: the email flows end to end. A real SMTP server on
// loopback (the npm package smtp-server) receives what the daemon's sender
// delivers; the tests read each mail, follow its link with real HTTP (GET
// /auth/v1/verify and its 303), type its code into the real supabase-js, and
// check what the client sees: sign-up confirmation, magic link and 6-digit
// code, password recovery (which ends every other session), email change,
// invite, generate_link, resend, the five-wrong-codes burn, expiry, the
// redirect allowlist, answers that do not reveal accounts, retries while
// the SMTP server is down, two daemons delivering each message once, and
// `kiln mail` when no SMTP server is configured.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';
import { SMTPServer } from 'smtp-server';

import {
  IS_ROOT, PG_USER, freePort, request, runKiln, sleep, startCluster, startKiln, tempDir, waitFor,
} from './lib/harness.mjs';

const SITE = 'http://app.localhost:3000';
const ALLOWED = 'https://preview.example.com';
const PASSWORD = 'a reasonably long passphrase';

let cluster;
let kiln;    // confirmations on, delivering to smtp
let smtp;
let keys;
let dbUrl;

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };
const client = (url = kiln.url) => createClient(url, keys.publishable, opts);
const admin = () => createClient(kiln.url, keys.secret, opts).auth.admin;

let seq = 0;
const email = (tag) => `${tag}-${process.pid}-${++seq}@example.com`;

/** A loopback SMTP server collecting every message it accepts. */
async function startSmtp(port) {
  const messages = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        messages.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          from: session.envelope.mailFrom.address,
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  port = port || await freePort();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    port, messages, url: `smtp://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** The parts of a received mail a user acts on. */
function parseMail(m) {
  const [head, ...rest] = m.raw.split('\r\n\r\n');
  const body = rest.join('\r\n\r\n');
  const subject = /^Subject: (.*)$/m.exec(head)?.[1];
  const href = /href="([^"]+)"/.exec(body)?.[1]?.replaceAll('&amp;', '&');
  const code = /code: (\d{6})/.exec(body)?.[1];
  return { head, body, subject, link: href, code };
}

/** Waits for the next mail to addr (after `already` of them). */
async function mailTo(server, addr, already = 0, timeoutMs = 15000) {
  let found;
  await waitFor(() => {
    const list = server.messages.filter((m) => m.to.includes(addr));
    if (list.length > already) found = list[already];
    return !!found;
  }, { timeoutMs, what: `mail #${already + 1} to ${addr}` });
  return parseMail(found);
}

/** Opens a link as a browser would, without following the redirect. */
async function follow(link) {
  const r = await request(link);
  assert.equal(r.status, 303, `GET ${link} -> 303, got ${r.status} ${r.body}`);
  const loc = new URL(r.headers.location);
  return { location: r.headers.location, fragment: new URLSearchParams(loc.hash.slice(1)) };
}

before(async () => {
  const dir = tempDir('kiln-mail-');
  const keyfile = path.join(dir, 'master.key');
  fs.writeFileSync(keyfile, Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 31 + 5) & 255)));
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
  dbUrl = `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`;
  smtp = await startSmtp();
  const port = await freePort();
  kiln = await startKiln({
    dbUrl, port,
    args: ['--smtp-url', smtp.url, '--smtp-from', 'Kiln Test <auth@kiln.test>',
      '--auth-site-url', SITE, '--auth-redirect-urls', `${ALLOWED}/**`,
      '--auth-external-url', `http://127.0.0.1:${port}`],
  });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (smtp) await smtp.close();
  if (cluster) await cluster.stop();
});

describe('confirmation, magic link, code', () => {
  test('signUp without autoconfirm -> mail -> link -> session', async () => {
    const c = client();
    const addr = email('signup');
    const { data, error } = await c.auth.signUp({ email: addr, password: PASSWORD });
    assert.equal(error, null);
    assert.equal(data.session, null, 'no session before confirming');
    const signIn = await c.auth.signInWithPassword({ email: addr, password: PASSWORD });
    assert.equal(signIn.error?.code, 'email_not_confirmed');

    const mail = await mailTo(smtp, addr);
    assert.equal(mail.subject, 'Confirm your signup');
    assert.match(mail.head, /^From: Kiln Test <auth@kiln\.test>$/m);
    assert.match(mail.code, /^\d{6}$/);
    assert.ok(mail.link.startsWith(`${kiln.url}/auth/v1/verify?token=`), mail.link);
    assert.match(mail.link, /&type=signup&/);

    const { location, fragment } = await follow(mail.link);
    assert.ok(location.startsWith(`${SITE}#access_token=`), location);
    assert.equal(fragment.get('type'), 'signup');
    assert.equal(fragment.get('token_type'), 'bearer');
    const { data: u, error: e2 } = await c.auth.getUser(fragment.get('access_token'));
    assert.equal(e2, null);
    assert.equal(u.user.email, addr);
    assert.ok(u.user.email_confirmed_at);
    // The link is single use.
    const again = await follow(mail.link);
    assert.equal(again.fragment.get('error_code'), 'otp_expired');
    assert.equal(again.fragment.get('access_token'), null);
    // And the password works now.
    const ok = await c.auth.signInWithPassword({ email: addr, password: PASSWORD });
    assert.equal(ok.error, null);
  });

  test('signInWithOtp: the magic link and the 6-digit code each sign in', async () => {
    const addr = email('otp');
    await admin().createUser({ email: addr, password: PASSWORD, email_confirm: true });
    const c = client();
    let r = await c.auth.signInWithOtp({ email: addr, options: { emailRedirectTo: `${ALLOWED}/welcome` } });
    assert.equal(r.error, null);
    const mail1 = await mailTo(smtp, addr);
    assert.equal(mail1.subject, 'Your sign-in link');
    const { location, fragment } = await follow(mail1.link);
    assert.ok(location.startsWith(`${ALLOWED}/welcome#access_token=`), location);
    assert.equal(fragment.get('type'), 'magiclink');

    r = await c.auth.signInWithOtp({ email: addr });
    assert.equal(r.error, null);
    const mail2 = await mailTo(smtp, addr, 1);
    const v = await c.auth.verifyOtp({ email: addr, token: mail2.code, type: 'email' });
    assert.equal(v.error, null);
    assert.equal(v.data.user.email, addr);
    assert.ok(v.data.session.access_token);
    const amr = JSON.parse(Buffer.from(v.data.session.access_token.split('.')[1], 'base64url')).amr;
    assert.equal(amr[0].method, 'magiclink');
    // Used once.
    const v2 = await c.auth.verifyOtp({ email: addr, token: mail2.code, type: 'email' });
    assert.equal(v2.error?.code, 'otp_expired');
    assert.equal(v2.error?.status, 403);
  });

  test('signInWithOtp signs a new address up; verifyOtp confirms it', async () => {
    const addr = email('otpnew');
    const c = client();
    const r = await c.auth.signInWithOtp({ email: addr, options: { data: { plan: 'free' } } });
    assert.equal(r.error, null);
    const mail = await mailTo(smtp, addr);
    assert.equal(mail.subject, 'Confirm your signup');
    const v = await c.auth.verifyOtp({ email: addr, token: mail.code, type: 'email' });
    assert.equal(v.error, null);
    assert.deepEqual(v.data.user.user_metadata, { plan: 'free' });
    assert.ok(v.data.user.email_confirmed_at);
  });

  test('resend: a fresh code replaces the first', async () => {
    const c = client();
    const addr = email('resend');
    await c.auth.signUp({ email: addr, password: PASSWORD });
    const first = await mailTo(smtp, addr);
    const r = await c.auth.resend({ type: 'signup', email: addr });
    assert.equal(r.error, null);
    const second = await mailTo(smtp, addr, 1);
    assert.notEqual(second.link, first.link);
    const old = await c.auth.verifyOtp({ email: addr, token: first.code, type: 'signup' });
    // (the codes may collide one time in a million; the link never does)
    if (first.code !== second.code) assert.equal(old.error?.code, 'otp_expired');
    const { fragment } = await follow(first.link);
    assert.equal(fragment.get('error_code'), 'otp_expired');
    const v = await c.auth.verifyOtp({ email: addr, token: second.code, type: 'signup' });
    assert.equal(v.error, null);
    assert.ok(v.data.session);
  });
});

describe('recovery and account changes', () => {
  test('resetPasswordForEmail -> verify recovery -> updateUser password ends every other session', async () => {
    const addr = email('recover');
    await admin().createUser({ email: addr, password: PASSWORD, email_confirm: true });
    const other = client();
    const s1 = await other.auth.signInWithPassword({ email: addr, password: PASSWORD });
    assert.equal(s1.error, null);

    const c = client();
    const r = await c.auth.resetPasswordForEmail(addr, { redirectTo: `${ALLOWED}/reset` });
    assert.equal(r.error, null);
    const mail = await mailTo(smtp, addr);
    assert.equal(mail.subject, 'Reset your password');
    assert.ok(mail.link.includes(`redirect_to=${encodeURIComponent(`${ALLOWED}/reset`)}`), mail.link);
    const token_hash = new URL(mail.link).searchParams.get('token');
    const v = await c.auth.verifyOtp({ token_hash, type: 'recovery' });
    assert.equal(v.error, null);
    const u = await c.auth.updateUser({ password: 'a brand new long passphrase' });
    assert.equal(u.error, null);

    // The other session is gone: its refresh token and access token are refused.
    const refreshed = await other.auth.refreshSession({ refresh_token: s1.data.session.refresh_token });
    assert.ok(refreshed.error, 'the old session cannot refresh');
    const got = await other.auth.getUser(s1.data.session.access_token);
    assert.equal(got.error?.name, 'AuthSessionMissingError');
    // The recovering session stays, and the new password works.
    assert.equal((await c.auth.getUser()).error, null);
    const again = await client().auth.signInWithPassword({ email: addr, password: 'a brand new long passphrase' });
    assert.equal(again.error, null);
  });

  test('updateUser email: confirmed by the mail to the new address', async () => {
    const addr = email('change');
    const next = email('changed');
    await admin().createUser({ email: addr, password: PASSWORD, email_confirm: true });
    const c = client();
    await c.auth.signInWithPassword({ email: addr, password: PASSWORD });
    const u = await c.auth.updateUser({ email: next });
    assert.equal(u.error, null);
    assert.equal(u.data.user.email, addr, 'unchanged until confirmed');
    assert.equal(u.data.user.new_email, next);
    const mail = await mailTo(smtp, next);
    assert.equal(mail.subject, 'Confirm your new email address');
    assert.ok(mail.body.includes(addr) && mail.body.includes(next));
    const v = await c.auth.verifyOtp({ email: next, token: mail.code, type: 'email_change' });
    assert.equal(v.error, null);
    assert.equal(v.data.user.email, next);
    const old = await client().auth.signInWithPassword({ email: addr, password: PASSWORD });
    assert.equal(old.error?.code, 'invalid_credentials');
    const fresh = await client().auth.signInWithPassword({ email: next, password: PASSWORD });
    assert.equal(fresh.error, null);
  });

  test('admin inviteUserByEmail -> mail -> link -> session; generateLink sends nothing', async () => {
    const addr = email('invite');
    const inv = await admin().inviteUserByEmail(addr, { data: { team: 'red' } });
    assert.equal(inv.error, null);
    assert.equal(inv.data.user.email, addr);
    assert.ok(inv.data.user.invited_at);
    const mail = await mailTo(smtp, addr);
    assert.equal(mail.subject, 'You have been invited');
    const { fragment } = await follow(mail.link);
    assert.equal(fragment.get('type'), 'invite');
    const got = await client().auth.getUser(fragment.get('access_token'));
    assert.deepEqual(got.data.user.user_metadata, { team: 'red' });
    // Not as a user.
    const anon = await createClient(kiln.url, keys.publishable, opts).auth.admin.inviteUserByEmail(email('x'));
    assert.ok(anon.error);

    const before = smtp.messages.length;
    const gl = await admin().generateLink({ type: 'magiclink', email: addr, options: { redirectTo: `${ALLOWED}/gl` } });
    assert.equal(gl.error, null);
    assert.equal(gl.data.user.email, addr);
    assert.equal(gl.data.properties.verification_type, 'magiclink');
    assert.match(gl.data.properties.email_otp, /^\d{6}$/);
    assert.equal(gl.data.properties.redirect_to, `${ALLOWED}/gl`);
    const { location } = await follow(gl.data.properties.action_link);
    assert.ok(location.startsWith(`${ALLOWED}/gl#access_token=`), location);
    await sleep(1500);
    assert.equal(smtp.messages.length, before, 'generate_link sends no mail');
  });
});

describe('codes and links are hard to abuse', () => {
  test('five wrong codes burn the code; the right one is refused after', async () => {
    const addr = email('burn');
    await admin().createUser({ email: addr, password: PASSWORD, email_confirm: true });
    const c = client();
    await c.auth.signInWithOtp({ email: addr });
    const mail = await mailTo(smtp, addr);
    const wrong = mail.code === '000000' ? '000001' : '000000';
    for (let i = 0; i < 5; i++) {
      const v = await c.auth.verifyOtp({ email: addr, token: wrong, type: 'email' });
      assert.equal(v.error?.code, 'otp_expired');
    }
    const right = await c.auth.verifyOtp({ email: addr, token: mail.code, type: 'email' });
    assert.equal(right.error?.code, 'otp_expired');
    assert.equal(right.data.session, null);
  });

  test('a reset requested twice: only the newest link works, and only once', async () => {
    const addr = email('twice');
    await admin().createUser({ email: addr, password: PASSWORD, email_confirm: true });
    const c = client();
    await c.auth.resetPasswordForEmail(addr);
    const first = await mailTo(smtp, addr);
    await c.auth.resetPasswordForEmail(addr);
    const second = await mailTo(smtp, addr, 1);
    assert.equal((await follow(first.link)).fragment.get('error_code'), 'otp_expired');
    assert.ok((await follow(second.link)).fragment.get('access_token'));
    assert.equal((await follow(second.link)).fragment.get('error_code'), 'otp_expired');
    assert.equal((await follow(first.link)).fragment.get('error_code'), 'otp_expired');
  });

  test('an expired code is refused', async () => {
    const addr = email('expired');
    await admin().createUser({ email: addr, password: PASSWORD, email_confirm: true });
    const c = client();
    await c.auth.signInWithOtp({ email: addr });
    const mail = await mailTo(smtp, addr);
    await cluster.psql(`UPDATE auth.one_time_tokens SET created_at = now() - interval '601 seconds'
                          WHERE user_id = (SELECT id FROM auth.users WHERE email = '${addr}')`);
    const v = await c.auth.verifyOtp({ email: addr, token: mail.code, type: 'email' });
    assert.equal(v.error?.code, 'otp_expired');
  });

  test('otp and recover answer the same for unknown and known addresses', async () => {
    const known = email('known');
    await admin().createUser({ email: known, password: PASSWORD, email_confirm: true });
    const unknown = email('unknown');
    const post = (p, body) => request(`${kiln.url}/auth/v1/${p}`, {
      method: 'POST',
      headers: { apikey: keys.publishable, 'Content-Type': 'application/json', 'X-Supabase-Api-Version': '2024-01-01' },
      body: JSON.stringify(body),
    });
    for (const [p, body] of [['otp', { create_user: false }], ['recover', {}],
      ['magiclink', { create_user: false }], ['resend', { type: 'signup' }], ['resend', { type: 'email_change' }]]) {
      const a = await post(p, { ...body, email: known });
      const b = await post(p, { ...body, email: unknown });
      assert.equal(a.status, 200, `${p} known`);
      assert.equal(a.body, b.body, `${p}: same body`);
      assert.equal(a.status, b.status, `${p}: same status`);
    }
    await sleep(1000);
    assert.ok(!smtp.messages.some((m) => m.to.includes(unknown)), 'no mail to an unknown address');
    const bad = await post('recover', { email: 'not an address' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'validation_failed');
  });

  test('GET /verify redirects only to the site URL or the allowlist', async () => {
    const addr = email('redirect');
    await admin().createUser({ email: addr, password: PASSWORD, email_confirm: true });
    for (const [target, expect] of [
      ['https://evil.example.net/steal', SITE],
      [`${SITE}.evil.example.net/`, SITE],
      ['https://user@preview.example.com/x', SITE],
      [`${ALLOWED}/deep/path?x=1`, `${ALLOWED}/deep/path?x=1`],
      [`${SITE}/dashboard`, `${SITE}/dashboard`],
    ]) {
      const gl = await admin().generateLink({ type: 'magiclink', email: addr });
      const token = gl.data.properties.hashed_token;
      const { location, fragment } = await follow(
        `${kiln.url}/auth/v1/verify?token=${token}&type=magiclink&redirect_to=${encodeURIComponent(target)}`);
      assert.ok(location.startsWith(`${expect}#access_token=`), `${target} -> ${location}`);
      assert.ok(fragment.get('refresh_token'));
    }
    // A bad token still redirects to an allowed place, with the error.
    const { location, fragment } = await follow(`${kiln.url}/auth/v1/verify?token=nope&type=signup&redirect_to=https://evil.example.net`);
    assert.ok(location.startsWith(`${SITE}#error=`), location);
    assert.equal(fragment.get('error_code'), 'otp_expired');
    // A HEAD (a link checker) does not use a link up.
    const gl = await admin().generateLink({ type: 'magiclink', email: addr });
    const link = gl.data.properties.action_link;
    const head = await request(link, { method: 'HEAD' });
    assert.equal(head.status, 405);
    assert.match(head.headers.allow, /GET/);
    assert.ok((await follow(link)).fragment.get('access_token'));
    // The browser link needs no apikey; POST /verify does.
    const noKey = await request(`${kiln.url}/auth/v1/verify`, { method: 'POST', body: '{}' });
    assert.equal(noKey.status, 401);
  });
});

describe('rate limits', () => {
  test('mail-sending requests and verifications are limited per client IP (429, Retry-After)', async () => {
    const d = await startKiln({ dbUrl, args: ['--smtp-url', smtp.url, '--auth-rate-limit-email', '2',
      '--auth-rate-limit-verify', '3'] });
    try {
      const post = (p, body) => request(`${d.url}/auth/v1/${p}`, {
        method: 'POST',
        headers: { apikey: keys.publishable, 'Content-Type': 'application/json', 'X-Supabase-Api-Version': '2024-01-01' },
        body: JSON.stringify(body),
      });
      const addr = email('limited');
      assert.equal((await post('recover', { email: addr })).status, 200);
      assert.equal((await post('otp', { email: addr, create_user: false })).status, 200);
      const third = await post('resend', { type: 'signup', email: addr });
      assert.equal(third.status, 429);
      assert.equal(third.json.code, 'over_email_send_rate_limit');
      assert.ok(Number(third.headers['retry-after']) >= 1);
      // The same for an address with an account: the limit is per IP.
      const known = email('limitedknown');
      await cluster.psql(`SELECT auth.admin_create_user('{"email": "${known}", "email_confirm": true}')`);
      assert.equal((await post('recover', { email: known })).status, 429);
      for (let i = 0; i < 3; i++) {
        const v = await post('verify', { type: 'email', email: addr, token: '123456' });
        assert.equal(v.status, 403);
      }
      const v4 = await post('verify', { type: 'email', email: addr, token: '123456' });
      assert.equal(v4.status, 429);
      assert.equal(v4.json.code, 'over_request_rate_limit');
      // The main daemon's limits are off: it still answers.
      assert.equal((await client().auth.resetPasswordForEmail(addr)).error, null);
    } finally {
      await d.stop();
    }
  });
});

describe('delivery', () => {
  test('SMTP down: retried with backoff, delivered when it comes back', async () => {
    const port = await freePort();
    await kiln.stop();
    const d = await startKiln({ dbUrl, args: ['--smtp-url', `smtp://127.0.0.1:${port}`] });
    let later;
    try {
      const addr = email('down');
      await cluster.psql(`SELECT auth.admin_create_user('{"email": "${addr}", "email_confirm": true}')`);
      const r = await client(d.url).auth.resetPasswordForEmail(addr);
      assert.equal(r.error, null);
      await waitFor(async () => {
        const row = await cluster.psql(`SELECT status || ':' || attempts || ':' || coalesce(last_error, '')
                                          FROM auth.outbox WHERE recipient = '${addr}'`);
        return /^pending:[1-9]\d*:.+/.test(row);
      }, { timeoutMs: 15000, what: 'a failed attempt' });
      assert.ok(d.logs.some((l) => l.msg === 'mail delivery failed, will retry' && /connect/i.test(l.reason)));
      assert.equal(d.logs.filter((l) => l.msg === 'mail delivery failed, will retry').length < 4, true,
        'backoff: not retried in a tight loop');
      later = await startSmtp(port);
      const mail = await mailTo(later, addr, 0, 30000);
      assert.equal(mail.subject, 'Reset your password');
      const row = await cluster.psql(`SELECT status || ':' || (attempts > 1) || ':' || (data ? 'token')
                                        FROM auth.outbox WHERE recipient = '${addr}'`);
      assert.equal(row, 'sent:true:false', 'sent after a retry, its code wiped from the outbox');
      assert.equal(later.messages.filter((m) => m.to.includes(addr)).length, 1);
    } finally {
      await d.stop();
      if (later) await later.close();
      kiln = await startKiln({ dbUrl, port: kiln.port, args: kiln.argv.slice(kiln.argv.indexOf('--db-url') + 2) });
    }
  });

  test('two daemons on one database send each message once', async () => {
    const box = await startSmtp();
    await kiln.stop();
    const a = await startKiln({ dbUrl, args: ['--smtp-url', box.url] });
    const b = await startKiln({ dbUrl, args: ['--smtp-url', box.url] });
    try {
      const addrs = Array.from({ length: 12 }, () => email('twice'));
      await cluster.psql(addrs.map((x) => `SELECT auth.admin_create_user('{"email": "${x}", "email_confirm": true}');`).join('\n'));
      await Promise.all(addrs.map((x, i) => request(`${(i % 2 ? a : b).url}/auth/v1/recover`, {
        method: 'POST', headers: { apikey: keys.publishable, 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: x }),
      })));
      await waitFor(() => addrs.every((x) => box.messages.some((m) => m.to.includes(x))),
        { timeoutMs: 20000, what: 'every message delivered' });
      await sleep(2500);
      for (const x of addrs) assert.equal(box.messages.filter((m) => m.to.includes(x)).length, 1, `${x} once`);
      const senders = new Set([...a.logs, ...b.logs].filter((l) => l.msg === 'mail sent').map((l) => l.id));
      assert.ok(senders.size >= addrs.length);
    } finally {
      await a.stop();
      await b.stop();
      await box.close();
      kiln = await startKiln({ dbUrl, port: kiln.port, args: kiln.argv.slice(kiln.argv.indexOf('--db-url') + 2) });
    }
  });

  test('template files replace the built-in ones (subject line, GoTrue fields, escaping)', async () => {
    const dir = tempDir('kiln-templates-');
    fs.writeFileSync(path.join(dir, 'confirmation.html'),
      'Subject: Welcome to {{ .SiteURL }}, {{ .Data.name }}\n\n<p>Hi {{ .Data.name }} ({{ .Email }})</p>\n'
      + '<p><a href="{{ .ConfirmationURL }}">confirm</a> or code: {{ .Token }}</p>\n');
    if (IS_ROOT) fs.chmodSync(dir, 0o755);
    await kiln.stop();
    const d = await startKiln({ dbUrl, args: ['--smtp-url', smtp.url, '--mail-templates-dir', dir, '--auth-site-url', SITE] });
    try {
      const addr = email('tmpl');
      await client(d.url).auth.signUp({ email: addr, password: PASSWORD, options: { data: { name: 'Ada <& co>' } } });
      const mail = await mailTo(smtp, addr);
      assert.equal(mail.subject, `Welcome to ${SITE}, Ada <& co>`);
      assert.ok(mail.body.includes(`<p>Hi Ada &lt;&amp; co&gt; (${addr})</p>`), mail.body);
      const v = await client(d.url).auth.verifyOtp({ email: addr, token: mail.code, type: 'signup' });
      assert.equal(v.error, null);
      // A kind without a file keeps the built-in template.
      await client(d.url).auth.resetPasswordForEmail(addr);
      assert.equal((await mailTo(smtp, addr, 1)).subject, 'Reset your password');
    } finally {
      await d.stop();
      kiln = await startKiln({ dbUrl, port: kiln.port, args: kiln.argv.slice(kiln.argv.indexOf('--db-url') + 2) });
    }
  });

  test('without smtp_url mail is kept and `kiln mail` prints its code and link', async () => {
    await kiln.stop();
    const d = await startKiln({ dbUrl, args: ['--auth-site-url', SITE] });
    try {
      const addr = email('kept');
      const c = client(d.url);
      await c.auth.signUp({ email: addr, password: PASSWORD });
      await waitFor(() => d.logs.some((l) => /kiln mail/.test(l.msg ?? '')), { timeoutMs: 10000, what: 'the kept log line' });
      const line = d.logs.find((l) => /kiln mail/.test(l.msg));
      assert.equal(line.kind, 'confirmation');
      assert.ok(!JSON.stringify(line).includes(addr), 'the log does not carry the address');
      const r = await runKiln(['mail', '--db-url', dbUrl, '--to', addr]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`confirmation  to ${addr.replace(/[.+]/g, '\\$&')}  \\[kept`));
      const code = /code: +(\d{6})/.exec(r.stdout)[1];
      const link = /link: +(\S+)/.exec(r.stdout)[1];
      assert.ok(link.startsWith(`${d.url}/auth/v1/verify?token=`), link);
      const v = await c.auth.verifyOtp({ email: addr, token: code, type: 'signup' });
      assert.equal(v.error, null);
      const json = await runKiln(['mail', '--db-url', dbUrl, '--to', addr, '--json']);
      assert.equal(JSON.parse(json.stdout)[0].status, 'kept');
      const help = await runKiln(['mail', '--help']);
      assert.match(help.stdout, /usage: kiln mail/);
      const bad = await runKiln(['mail', '--db-url', dbUrl, '--limit', 'x']);
      assert.equal(bad.code, 2);
    } finally {
      await d.stop();
      kiln = await startKiln({ dbUrl, port: kiln.port, args: kiln.argv.slice(kiln.argv.indexOf('--db-url') + 2) });
    }
  });
});
