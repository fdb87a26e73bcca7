// auth_phone.test.mjs: phone sign-up and sign-in over SMS end to end. A real
// HTTP server on loopback (node's http module) plays the SMS provider and
// receives what the daemon's sender posts, in both formats: the Twilio form
// POST with HTTP Basic, and the JSON webhook with its shared secret. The
// tests read the 6-digit code out of each received message, type it into the
// real supabase-js and check what the client sees: sign-up with a
// confirmation code, the password grant by phone, OTP sign-in (new and known
// numbers), verifyOtp types sms and phone_change, resend, updateUser({phone}),
// admin createUser with phone / phone_confirm, the five-wrong-codes burn,
// answers that do not reveal accounts, retries while the provider fails,
// `kiln sms` with sms_provider outbox, and phone sign-in off without a
// provider. One daemon runs at a time: every daemon of a database takes part
// in delivery, and these differ in their provider.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { freePort, request, runKiln, sleep, startCluster, startKiln, waitFor } from './lib/harness.mjs';

const PASSWORD = 'a reasonably long passphrase';
const SID = 'AC0123456789abcdef';
const AUTH_TOKEN = 'twilio-token-not-for-logs';
const FROM = '+15550100000';
const HOOK_SECRET = 'hook-secret-not-for-logs';

let cluster;
let kiln;
let provider;
let keys;
let dbUrl;

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };
const client = () => createClient(kiln.url, keys.publishable, opts);
const admin = () => createClient(kiln.url, keys.secret, opts).auth.admin;

let seq = 0;
/** A fresh number: E.164 with '+' as a person types it, and as stored. */
function phone() {
  const digits = `1555${String(process.pid % 1000).padStart(3, '0')}${String(++seq).padStart(4, '0')}`;
  return { typed: `+${digits}`, stored: digits };
}

/** A loopback HTTP server collecting every POST; `fail` answers 500 to the next n. */
async function startProvider() {
  const posts = [];
  const state = { fail: 0 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (state.fail > 0) {
        state.fail--;
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end('{"message":"provider trouble"}');
        return;
      }
      posts.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(req.url.startsWith('/hook') ? 200 : 201, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ sid: `SM${posts.length}`, status: 'queued' }));
    });
  });
  const port = await freePort();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    port, posts, state, url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** The number, text and code of a received post, in either format. */
function parsePost(p) {
  if (p.headers['content-type'] === 'application/json') {
    const j = JSON.parse(p.body);
    return { to: j.to, text: j.message, code: /\b(\d{6})\b/.exec(j.message)?.[1], json: j, post: p };
  }
  const f = new URLSearchParams(p.body);
  const text = f.get('Body');
  return { to: f.get('To'), from: f.get('From'), text, code: /\b(\d{6})\b/.exec(text)?.[1], form: f, post: p };
}

/** Waits for text number `already + 1` to `to` (E.164 with '+'). */
async function smsTo(to, already = 0, timeoutMs = 15000) {
  let found;
  await waitFor(() => {
    const list = provider.posts.map(parsePost).filter((m) => m.to === to || m.to === `whatsapp:${to}`);
    if (list.length > already) found = list[already];
    return !!found;
  }, { timeoutMs, what: `text #${already + 1} to ${to}` });
  return found;
}

const countTo = (to) => provider.posts.map(parsePost).filter((m) => m.to === to).length;

const twilioArgs = () => ['--sms-provider', 'twilio',
  '--sms-url', `${provider.url}/2010-04-01/Accounts/${SID}/Messages.json`,
  '--sms-twilio-account-sid', SID, '--sms-twilio-auth-token', AUTH_TOKEN, '--sms-from', FROM];

/** Replaces the running daemon with one started with args. */
async function useDaemon(args) {
  if (kiln) await kiln.stop();
  kiln = await startKiln({ dbUrl, args });
}

/** A raw POST to /auth/v1/<path> with the publishable key (versioned errors unless headers say otherwise). */
function post(path, body, headers = { 'X-Supabase-Api-Version': '2024-01-01' }) {
  return request(`${kiln.url}/auth/v1/${path}`, {
    method: 'POST',
    headers: { apikey: keys.publishable, 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

before(async () => {
  cluster = await startCluster();
  await cluster.psql("CREATE EXTENSION kiln_platform CASCADE; SELECT kiln.rotate_signing_key('ES256');");
  keys = {
    publishable: await cluster.psql("SELECT kiln.create_api_key('publishable')"),
    secret: await cluster.psql("SELECT kiln.create_api_key('secret')"),
  };
  dbUrl = `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`;
  provider = await startProvider();
  await useDaemon(twilioArgs());
});

after(async () => {
  if (kiln) await kiln.stop();
  if (provider) await provider.close();
  if (cluster) await cluster.stop();
});

describe('Twilio-compatible provider', () => {
  test('signUp({phone, password}) -> texted code -> verifyOtp sms -> session', async () => {
    const c = client();
    const n = phone();
    const { data, error } = await c.auth.signUp({ phone: n.typed, password: PASSWORD });
    assert.equal(error, null);
    assert.equal(data.session, null, 'no session before the code');
    assert.equal(data.user.phone, n.stored, 'stored as GoTrue does: digits without +');
    assert.equal(data.user.phone_confirmed_at, undefined);
    const early = await c.auth.signInWithPassword({ phone: n.typed, password: PASSWORD });
    assert.equal(early.error?.code, 'phone_not_confirmed');
    assert.equal(early.error?.status, 400);

    const sms = await smsTo(n.typed);
    // The Twilio Messages API request.
    assert.equal(sms.post.method, 'POST');
    assert.equal(sms.post.url, `/2010-04-01/Accounts/${SID}/Messages.json`);
    assert.equal(sms.post.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(sms.post.headers.authorization, `Basic ${Buffer.from(`${SID}:${AUTH_TOKEN}`).toString('base64')}`);
    assert.equal(sms.from, FROM);
    assert.match(sms.text, /^Your code is \d{6}$/);

    const v = await c.auth.verifyOtp({ phone: n.typed, token: sms.code, type: 'sms' });
    assert.equal(v.error, null);
    assert.ok(v.data.session.access_token);
    assert.equal(v.data.user.phone, n.stored);
    assert.ok(v.data.user.phone_confirmed_at);
    const claims = JSON.parse(Buffer.from(v.data.session.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.phone, n.stored);
    assert.equal(claims.amr[0].method, 'otp');
    // Single use.
    const again = await c.auth.verifyOtp({ phone: n.typed, token: sms.code, type: 'sms' });
    assert.equal(again.error?.code, 'otp_expired');
    assert.equal(again.error?.status, 403);
    // The password grant by phone works now (any spelling of the number).
    const ok = await c.auth.signInWithPassword({ phone: `+1 (${n.stored.slice(1, 4)}) ${n.stored.slice(4)}`, password: PASSWORD });
    assert.equal(ok.error, null);
    assert.equal(ok.data.user.phone, n.stored);
    const { data: u } = await c.auth.getUser(ok.data.session.access_token);
    assert.equal(u.user.phone, n.stored);
    assert.equal(u.user.identities[0].provider, 'phone');
  });

  test('signInWithOtp({phone}) signs a new number up, and a known one in', async () => {
    const c = client();
    const n = phone();
    let r = await c.auth.signInWithOtp({ phone: n.typed, options: { data: { plan: 'free' } } });
    assert.equal(r.error, null);
    const first = await smsTo(n.typed);
    let v = await c.auth.verifyOtp({ phone: n.typed, token: first.code, type: 'sms' });
    assert.equal(v.error, null);
    assert.equal(v.data.user.user_metadata.plan, 'free');
    assert.ok(v.data.user.phone_confirmed_at);

    r = await c.auth.signInWithOtp({ phone: n.typed });
    assert.equal(r.error, null);
    const second = await smsTo(n.typed, 1);
    assert.notEqual(second.code, first.code);
    v = await c.auth.verifyOtp({ phone: n.typed, token: second.code, type: 'sms' });
    assert.equal(v.error, null);
    assert.equal(v.data.user.id, (await c.auth.getUser(v.data.session.access_token)).data.user.id);
  });

  test('answers do not reveal whether a number has an account', async () => {
    const c = client();
    const known = phone();
    const unknown = phone();
    await admin().createUser({ phone: known.typed, password: PASSWORD, phone_confirm: true });
    const a = await post('otp', { phone: known.typed, create_user: false });
    const b = await post('otp', { phone: unknown.typed, create_user: false });
    assert.deepEqual([a.status, a.body], [b.status, b.body]);
    const ra = await post('resend', { type: 'sms', phone: known.typed });
    const rb = await post('resend', { type: 'sms', phone: unknown.typed });
    assert.deepEqual([ra.status, ra.body], [rb.status, rb.body]);
    const va = await post('verify', { type: 'sms', phone: known.typed, token: '000000' });
    const vb = await post('verify', { type: 'sms', phone: unknown.typed, token: '000000' });
    assert.deepEqual([va.status, va.json], [vb.status, vb.json]);
    assert.equal(va.status, 403);
    // Password grant: unknown number and wrong password look the same.
    const pa = await c.auth.signInWithPassword({ phone: known.typed, password: 'not the passphrase' });
    const pb = await c.auth.signInWithPassword({ phone: unknown.typed, password: 'not the passphrase' });
    assert.equal(pa.error?.code, 'invalid_credentials');
    assert.deepEqual([pa.error.status, pa.error.message], [pb.error.status, pb.error.message]);
    // The raw answers of the password grant, in both error formats, and
    // their cost: one argon2id verification each (a dummy hash for the
    // unknown number), so medians of alternating trials stay close.
    for (const headers of [{}, { 'X-Supabase-Api-Version': '2024-01-01' }]) {
      const x = await post('token?grant_type=password', { phone: unknown.typed, password: 'whatever it is' }, headers);
      const y = await post('token?grant_type=password', { phone: known.typed, password: 'whatever it is' }, headers);
      assert.equal(x.status, 400);
      assert.deepEqual([x.status, x.body, x.headers['x-sb-error-code']], [y.status, y.body, y.headers['x-sb-error-code']]);
    }
    const times = { unknown: [], known: [] };
    for (let i = 0; i < 8; i++) {
      for (const [k, n] of [['unknown', unknown], ['known', known]]) {
        const t0 = process.hrtime.bigint();
        await post('token?grant_type=password', { phone: n.typed, password: 'whatever it is' });
        times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
    const median = (xs) => xs.sort((x, y) => x - y)[xs.length >> 1];
    const ratio = median(times.unknown) / median(times.known);
    assert.ok(ratio > 0.5 && ratio < 2, `median latency ratio unknown/known ${ratio.toFixed(2)}`);
    // Sign-up of a registered number looks like a new one, and sends nothing.
    const s = await c.auth.signUp({ phone: known.typed, password: PASSWORD });
    assert.equal(s.error, null);
    assert.equal(s.data.session, null);
    assert.notEqual(s.data.user.id, undefined);
    await smsTo(known.typed); // the otp above
    await sleep(1500);
    assert.equal(countTo(known.typed), 1, 'only the otp code went to the known number');
    assert.equal(countTo(unknown.typed), 0, 'nothing went to the unknown number');
  });

  test('five wrong codes burn the pending one; resend sends a fresh code', async () => {
    const c = client();
    const n = phone();
    await c.auth.signUp({ phone: n.typed, password: PASSWORD });
    const sms = await smsTo(n.typed);
    const wrong = sms.code === '999999' ? '999998' : '999999';
    for (let i = 0; i < 5; i++) {
      const r = await c.auth.verifyOtp({ phone: n.typed, token: wrong, type: 'sms' });
      assert.equal(r.error?.code, 'otp_expired');
    }
    const burned = await c.auth.verifyOtp({ phone: n.typed, token: sms.code, type: 'sms' });
    assert.equal(burned.error?.code, 'otp_expired', 'the right code after five wrong ones');
    const r = await c.auth.resend({ type: 'sms', phone: n.typed });
    assert.equal(r.error, null);
    const fresh = await smsTo(n.typed, 1);
    const v = await c.auth.verifyOtp({ phone: n.typed, token: fresh.code, type: 'sms' });
    assert.equal(v.error, null);
    assert.ok(v.data.user.phone_confirmed_at);
  });

  test('updateUser({phone}) texts the new number; verifyOtp phone_change switches', async () => {
    const c = client();
    const old = phone();
    const next = phone();
    await admin().createUser({ phone: old.typed, password: PASSWORD, phone_confirm: true });
    const s = await c.auth.signInWithPassword({ phone: old.typed, password: PASSWORD });
    assert.equal(s.error, null);
    const { data, error } = await c.auth.updateUser({ phone: next.typed });
    assert.equal(error, null);
    assert.equal(data.user.phone, old.stored);
    assert.equal(data.user.new_phone, next.stored);
    const sms = await smsTo(next.typed);
    assert.equal(countTo(old.typed), 0, 'nothing to the old number');
    // A number in use is refused.
    const other = phone();
    await admin().createUser({ phone: other.typed, password: PASSWORD, phone_confirm: true });
    const taken = await c.auth.updateUser({ phone: other.typed });
    assert.equal(taken.error?.code, 'phone_exists');
    assert.equal(taken.error?.status, 422);
    const v = await c.auth.verifyOtp({ phone: next.typed, token: sms.code, type: 'phone_change' });
    assert.equal(v.error, null);
    assert.equal(v.data.user.phone, next.stored);
    const claims = JSON.parse(Buffer.from(v.data.session.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.amr[0].method, 'phone_change');
    const byNew = await c.auth.signInWithPassword({ phone: next.typed, password: PASSWORD });
    assert.equal(byNew.error, null);
    const byOld = await c.auth.signInWithPassword({ phone: old.typed, password: PASSWORD });
    assert.equal(byOld.error?.code, 'invalid_credentials');
  });

  test('admin createUser with phone and phone_confirm; duplicates are phone_exists', async () => {
    const n = phone();
    const { data, error } = await admin().createUser({ phone: n.typed, password: PASSWORD, phone_confirm: true, user_metadata: { a: 1 } });
    assert.equal(error, null);
    assert.equal(data.user.phone, n.stored);
    assert.ok(data.user.phone_confirmed_at);
    assert.deepEqual(data.user.app_metadata, { provider: 'phone', providers: ['phone'] });
    const dup = await admin().createUser({ phone: `+${n.stored.slice(0, 1)} ${n.stored.slice(1)}`, password: PASSWORD });
    assert.equal(dup.error?.code, 'phone_exists');
    assert.equal(dup.error?.status, 422);
    const s = await client().auth.signInWithPassword({ phone: n.typed, password: PASSWORD });
    assert.equal(s.error, null);
    // Unconfirmed by the admin: the password grant wants the code first.
    const m = phone();
    await admin().createUser({ phone: m.typed, password: PASSWORD });
    const u = await client().auth.signInWithPassword({ phone: m.typed, password: PASSWORD });
    assert.equal(u.error?.code, 'phone_not_confirmed');
  });

  test('bad input is refused with a clear error, before any text', async () => {
    for (const bad of ['12', 'call me', '+1 555 123 4567 ext 9', '++15551234567', '+0123456789']) {
      const r = await post('otp', { phone: bad });
      assert.equal(r.status, 400, bad);
      assert.equal(r.json.code, 'validation_failed');
      assert.equal(r.json.message, 'Invalid phone number format (E.164 required)');
    }
    const s = await post('signup', { phone: '555', password: PASSWORD });
    assert.equal(s.status, 400);
    const ch = await post('otp', { phone: phone().typed, channel: 'pigeon' });
    assert.equal(ch.status, 400);
    assert.equal(ch.json.code, 'validation_failed');
    const t = await post('otp', { phone: 15551234567 });
    assert.equal(t.status, 400);
    assert.equal(t.json.code, 'bad_json');
    const noPw = await post('signup', { phone: phone().typed });
    assert.equal(noPw.status, 422);
    const weak = await post('signup', { phone: phone().typed, password: 'short' });
    assert.equal(weak.json.code, 'weak_password');
    const vt = await post('verify', { type: 'signup', phone: phone().typed, token: '123456' });
    assert.equal(vt.status, 400);
    assert.equal(vt.json.code, 'validation_failed');
  });

  test('/settings reports phone sign-in and the provider', async () => {
    const r = await request(`${kiln.url}/auth/v1/settings`, { headers: { apikey: keys.publishable } });
    assert.equal(r.status, 200);
    assert.equal(r.json.external.phone, true);
    assert.equal(r.json.sms_provider, 'twilio');
    assert.equal(r.json.phone_autoconfirm, false);
  });

  test('a provider failure is retried with backoff; the log carries no number, code or secret', async () => {
    const n = phone();
    provider.state.fail = 1;
    const r = await client().auth.signInWithOtp({ phone: n.typed });
    assert.equal(r.error, null);
    await waitFor(() => kiln.logs.some((l) => l.msg === 'sms delivery failed, will retry'),
      { timeoutMs: 10000, what: 'a failed attempt logged' });
    const sms = await smsTo(n.typed, 0, 20000);
    assert.match(sms.code, /^\d{6}$/);
    const failed = kiln.logs.find((l) => l.msg === 'sms delivery failed, will retry');
    assert.match(failed.reason, /HTTP 500/);
    for (const secret of [n.stored, sms.code, AUTH_TOKEN, Buffer.from(`${SID}:${AUTH_TOKEN}`).toString('base64')]) {
      assert.ok(!kiln.stderr.includes(secret), `log free of ${secret === sms.code ? 'the code' : 'a secret'}`);
    }
    // The row is sent and its code wiped.
    const row = JSON.parse(await cluster.psql(`SELECT row_to_json(o) FROM auth.outbox o WHERE recipient = '${n.stored}'`));
    assert.equal(row.status, 'sent');
    assert.equal(row.attempts, 2);
    assert.equal(row.data.code, undefined);
  });
});

describe('several daemons', () => {
  test('two daemons on one database post each text once', async () => {
    await kiln.stop();
    kiln = null;
    const a = await startKiln({ dbUrl, args: twilioArgs() });
    const b = await startKiln({ dbUrl, args: twilioArgs() });
    try {
      const numbers = Array.from({ length: 12 }, () => phone());
      await Promise.all(numbers.map((n, i) => request(`${(i % 2 ? a : b).url}/auth/v1/otp`, {
        method: 'POST', headers: { apikey: keys.publishable, 'Content-Type': 'application/json' },
        body: JSON.stringify({ phone: n.typed }),
      })));
      await waitFor(() => numbers.every((n) => countTo(n.typed) > 0), { timeoutMs: 20000, what: 'every text posted' });
      await sleep(2500);
      for (const n of numbers) assert.equal(countTo(n.typed), 1, `${n.typed} once`);
      const sent = [...a.logs, ...b.logs].filter((l) => l.msg === 'sms sent').map((l) => l.id);
      assert.equal(new Set(sent).size, sent.length, 'no row sent by both');
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe('JSON webhook provider', () => {
  test('the webhook gets {to, message, channel, kind} with the shared secret; the code signs in', async () => {
    await useDaemon(['--sms-provider', 'webhook', '--sms-url', `${provider.url}/hook`,
      '--sms-webhook-secret', HOOK_SECRET, '--sms-template', 'Kiln code: {{ .Code }} (10 min)']);
    const c = client();
    const n = phone();
    const r = await c.auth.signInWithOtp({ phone: n.typed, options: { channel: 'whatsapp' } });
    assert.equal(r.error, null);
    const sms = await smsTo(n.typed);
    assert.equal(sms.post.url, '/hook');
    assert.equal(sms.post.headers.authorization, `Bearer ${HOOK_SECRET}`);
    assert.deepEqual(Object.keys(sms.json).sort(), ['channel', 'kind', 'message', 'to']);
    assert.equal(sms.json.channel, 'whatsapp');
    assert.equal(sms.json.kind, 'confirmation');
    assert.match(sms.text, /^Kiln code: \d{6} \(10 min\)$/);
    const v = await c.auth.verifyOtp({ phone: n.typed, token: sms.code, type: 'sms' });
    assert.equal(v.error, null);
    assert.equal(v.data.user.phone, n.stored);
    const cfg = await runKiln(['config', '--sms-webhook-secret', HOOK_SECRET, '--sms-twilio-auth-token', AUTH_TOKEN]);
    assert.equal(cfg.code, 0);
    assert.ok(!cfg.stdout.includes(HOOK_SECRET) && !cfg.stdout.includes(AUTH_TOKEN), 'secrets masked');
    assert.match(cfg.stdout, /^sms_webhook_secret = \*{8}$/m);
  });
});

describe('without a provider', () => {
  test('sms_provider outbox: nothing is posted, `kiln sms` shows the code, autoconfirm signs up at once', async () => {
    await useDaemon(['--sms-provider', 'outbox', '--auth-phone-autoconfirm', 'true']);
    const before = provider.posts.length;
    const c = client();
    const n = phone();
    const s = await c.auth.signUp({ phone: n.typed, password: PASSWORD });
    assert.equal(s.error, null);
    assert.ok(s.data.session?.access_token, 'autoconfirm: a session at once');
    assert.ok(s.data.user.phone_confirmed_at);
    const r = await c.auth.signInWithOtp({ phone: n.typed });
    assert.equal(r.error, null);
    await waitFor(() => kiln.logs.some((l) => l.msg?.startsWith('sms kept in the outbox')),
      { what: 'the kept line' });
    const out = await runKiln(['sms', '--db-url', dbUrl, '--to', n.typed]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`otp  to \\+${n.stored}  \\[kept`));
    const code = /code: {4}(\d{6})/.exec(out.stdout)?.[1];
    assert.ok(code, out.stdout);
    assert.match(out.stdout, new RegExp(`text: {4}Your code is ${code}`));
    const json = JSON.parse((await runKiln(['sms', '--db-url', dbUrl, '--json', '--limit', '1'])).stdout);
    assert.equal(json.length, 1);
    const v = await c.auth.verifyOtp({ phone: n.typed, token: code, type: 'sms' });
    assert.equal(v.error, null);
    // With phone autoconfirm a phone change applies at once.
    const next = phone();
    const u = await c.auth.updateUser({ phone: next.typed });
    assert.equal(u.error, null);
    assert.equal(u.data.user.phone, next.stored);
    assert.equal(u.data.user.new_phone, undefined);
    assert.equal(provider.posts.length, before, 'nothing posted');
    const bad = await runKiln(['sms', '--db-url', dbUrl, '--to', 'nobody']);
    assert.equal(bad.code, 2);
    const help = await runKiln(['sms', '--help']);
    assert.match(help.stdout, /usage: kiln sms/);
  });

  test('no sms_provider: phone sign-in is off (422, 400 on the token endpoint), /settings says so', async () => {
    await useDaemon([]);
    const c = client();
    const n = phone();
    const s = await c.auth.signUp({ phone: n.typed, password: PASSWORD });
    assert.equal(s.error?.code, 'phone_provider_disabled');
    assert.equal(s.error?.status, 422);
    const p = await c.auth.signInWithPassword({ phone: n.typed, password: PASSWORD });
    assert.equal(p.error?.code, 'phone_provider_disabled');
    assert.equal(p.error?.status, 400);
    const o = await c.auth.signInWithOtp({ phone: n.typed });
    assert.equal(o.error?.code, 'phone_provider_disabled');
    const r = await request(`${kiln.url}/auth/v1/settings`, { headers: { apikey: keys.publishable } });
    assert.equal(r.json.external.phone, false);
    assert.equal(r.json.sms_provider, '');
    // Email sign-up is unaffected.
    const e = await c.auth.signUp({ email: `phoneless-${process.pid}@example.com`, password: PASSWORD });
    assert.equal(e.error, null);
  });
});
