// auth_limits.test.mjs: the auth rate limits, the per-account backoff, the
// per-address mail interval and trusted proxies (sql/kiln_auth/44-limits.sql,
// daemon/src/proxy.c), through the real supabase-js and raw HTTP against a
// real cluster and daemons. Clients are told apart by X-Forwarded-For from
// 127.0.0.1, which the daemons under test trust (`--trusted-proxies`); each
// test uses addresses of its own, so buckets never carry over between tests.
// Also: answers for known and unknown addresses are the same (status, body)
// and take about as long.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { request, runKiln, sleep, startCluster, startKiln } from './lib/harness.mjs';

let cluster;
let dbUrl;
let keys;
let main;   // the defaults (limits on), 127.0.0.1 trusted, debug log
let small;  // every bucket 2 per 5 minutes, 127.0.0.1 trusted
let twin;   // the same as small, a second daemon on the same database
let plain;  // no trusted proxy, 3 sign-ins per 5 minutes
let open;   // limits off (the timing measurements)

const PASSWORD = 'a limits test passphrase';
let seq = 0;
const email = (tag) => `${tag}-${process.pid}-${++seq}@limits.example`;
let ipSeq = 0;
/** A fresh client address (TEST-NET-3), one per use. */
const freshIp = () => `203.0.113.${++ipSeq}`;

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };
/** supabase-js as a browser at ip (behind the trusted proxy 127.0.0.1). */
const clientAt = (daemon, ip) => createClient(daemon.url, keys.publishable,
  { ...opts, global: { headers: { 'X-Forwarded-For': ip } } });

/** Raw POST /auth/v1/<p> as the client at ip (null: no header). */
const post = (daemon, p, body, ip, headers = {}) => request(`${daemon.url}/auth/v1/${p}`, {
  method: 'POST',
  headers: {
    apikey: keys.publishable, 'Content-Type': 'application/json', 'X-Supabase-Api-Version': '2024-01-01',
    ...(ip ? { 'X-Forwarded-For': ip } : {}), ...headers,
  },
  body: JSON.stringify(body),
});

/** A confirmed account made in SQL (no request context: no limit taken). */
async function account(tag) {
  const addr = email(tag);
  await cluster.psql(`SELECT auth.sign_up('${addr}', '${PASSWORD}', '{}', '{"autoconfirm": true}')`);
  return addr;
}

function assertLimited(r, code = 'over_request_rate_limit') {
  assert.equal(r.status, 429, `429 expected, got ${r.status} ${r.body}`);
  assert.equal(r.json.code, code);
  assert.match(r.headers['retry-after'] || '', /^[1-9][0-9]*$/, 'Retry-After in whole seconds');
  assert.equal(r.headers['x-sb-error-code'], code);
}

before(async () => {
  cluster = await startCluster();
  await cluster.psql("CREATE EXTENSION kiln_platform CASCADE; SELECT kiln.rotate_signing_key('ES256');");
  keys = {
    publishable: await cluster.psql("SELECT kiln.create_api_key('publishable')"),
    secret: await cluster.psql("SELECT kiln.create_api_key('secret')"),
  };
  dbUrl = `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`;
  const trusted = ['--trusted-proxies', '127.0.0.1, ::1'];
  const two = ['--auth-rate-limit-sign-in', '2', '--auth-rate-limit-refresh', '2', '--auth-rate-limit-email', '2',
    '--auth-rate-limit-verify', '2', '--auth-rate-limit-mfa', '2', '--auth-email-min-interval-s', '0',
    '--auth-backoff-failures', '0', '--auth-autoconfirm', 'true', '--auth-anonymous-enabled', 'true'];
  [main, small, twin, plain, open] = await Promise.all([
    startKiln({ dbUrl, limits: true, args: [...trusted, '--log-level', 'debug'] }),
    startKiln({ dbUrl, limits: true, args: [...trusted, ...two] }),
    startKiln({ dbUrl, limits: true, args: [...trusted, ...two] }),
    startKiln({ dbUrl, limits: true, args: ['--auth-rate-limit-sign-in', '3', '--auth-backoff-failures', '0'] }),
    startKiln({ dbUrl, args: trusted }),
  ]);
});

after(async () => {
  for (const d of [main, small, twin, plain, open]) if (d) await d.stop();
  if (cluster) await cluster.stop();
});

describe('trusted proxies', () => {
  test('X-Forwarded-For from a trusted peer names the client: audit ip and buckets', async () => {
    const addr = await account('xff');
    const ip = freshIp();
    const { data, error } = await clientAt(main, `198.18.0.1, ${ip}`).auth.signInWithPassword({ email: addr, password: PASSWORD });
    assert.equal(error, null);
    assert.ok(data.session);
    const audit = await cluster.psql(`SELECT ip_address FROM auth.audit_log_entries
      WHERE payload ->> 'action' = 'login' AND payload ->> 'actor_username' = '${addr}'`);
    assert.equal(audit, ip, 'the right-most untrusted address, not what the client wrote on the left');
    assert.equal(await cluster.psql(`SELECT count(*) FROM auth.rate_limits WHERE bucket = 'sign_in:${ip}'`), '1');
    const session = await cluster.psql(`SELECT host(ip) FROM auth.sessions WHERE user_id = '${data.user.id}'`);
    assert.equal(session, ip);
  });

  test('a chain of trusted proxies is skipped; IPv6 clients count by /64', async () => {
    const addr = await account('chain');
    const r = await post(main, 'token?grant_type=password', { email: addr, password: PASSWORD },
      '2001:db8:77:1::5, 127.0.0.1, ::1');
    assert.equal(r.status, 200, r.body);
    assert.equal(await cluster.psql(`SELECT count(*) FROM auth.rate_limits WHERE bucket = 'sign_in:2001:db8:77:1::/64'`), '1');
  });

  test('a malformed header from a trusted peer is ignored (the peer counts) and logged at debug', async () => {
    const addr = await account('bad-xff');
    const from = main.logs.length;
    const r = await post(main, 'token?grant_type=password', { email: addr, password: PASSWORD }, 'unknown, [2001:db8::1]:443');
    assert.equal(r.status, 200, r.body);
    const audit = await cluster.psql(`SELECT ip_address FROM auth.audit_log_entries
      WHERE payload ->> 'action' = 'login' AND payload ->> 'actor_username' = '${addr}'`);
    assert.equal(audit, '127.0.0.1');
    const line = await main.waitForLog((l) => /malformed X-Forwarded-For/.test(l.msg || ''), 5000, from);
    assert.equal(line.level, 'debug');
    assert.equal(line.request_id, r.headers['x-request-id']);
    assert.equal(line.peer, '127.0.0.1');
  });

  test('X-Forwarded-For from an untrusted peer is ignored: 100 spoofed values still hit the limit', async () => {
    await cluster.psql("DELETE FROM auth.rate_limits WHERE bucket = 'sign_in:127.0.0.1'");
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const r = await post(plain, 'token?grant_type=password', { email: email('spoof'), password: 'wrong password' },
        `198.51.100.${i + 1}`);
      statuses.push(r.status);
      if (r.status === 429) assertLimited(r);
    }
    assert.deepEqual(statuses, [400, 400, 400, 429]);
    const audit = await cluster.psql(`SELECT DISTINCT ip_address FROM auth.audit_log_entries
      WHERE payload ->> 'actor_username' LIKE 'spoof-%'`);
    assert.equal(audit, '127.0.0.1');
    await cluster.psql("DELETE FROM auth.rate_limits WHERE bucket = 'sign_in:127.0.0.1'");
  });
});

describe('configuration', () => {
  test('trusted_proxies is checked: a bad entry stops the command with one line naming it', async () => {
    const bad = await runKiln(['config', '--trusted-proxies', '10.0.0.0/8, proxy.local']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /trusted_proxies \(flag --trusted[-_]proxies\): 'proxy\.local' is not an IP address or CIDR/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    const good = await runKiln(['config', '--trusted-proxies', '10.0.0.0/8, 2001:db8::/32']);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^trusted_proxies = 10\.0\.0\.0\/8, 2001:db8::\/32$/m);
    // The limits are on by default, and so listed.
    assert.match(good.stdout, /^auth_rate_limit_sign_in = 30$/m);
    assert.match(good.stdout, /^auth_backoff_failures = 5$/m);
    assert.match(good.stdout, /^auth_email_min_interval_s = 60$/m);
  });
});

describe('per-client buckets', () => {
  test('defaults: 30 sign-ins per 5 minutes per client (distinct addresses), then 429 with Retry-After', async () => {
    const ip = freshIp();
    const c = clientAt(main, ip);
    for (let i = 0; i < 30; i++) {
      const { error } = await c.auth.signInWithPassword({ email: email('bucket'), password: 'not the password' });
      assert.equal(error.code, 'invalid_credentials', `attempt ${i + 1}`);
    }
    const { error } = await c.auth.signInWithPassword({ email: email('bucket'), password: 'not the password' });
    assert.equal(error.status, 429);
    assert.equal(error.code, 'over_request_rate_limit');
    const r = await post(main, 'token?grant_type=password', { email: email('bucket'), password: 'x' }, ip);
    assertLimited(r);
    assert.ok(Number(r.headers['retry-after']) <= 10, 'one token refills in 10 s');
    // Another client is not affected.
    const other = await clientAt(main, freshIp()).auth.signInWithPassword({ email: email('bucket'), password: 'nope' });
    assert.equal(other.error.code, 'invalid_credentials');
  });

  test('every limited endpoint: two requests per client, the third is 429', async () => {
    const addr = await account('endpoints');
    const { data } = await clientAt(small, freshIp()).auth.signInWithPassword({ email: addr, password: PASSWORD });
    const cases = [
      ['signup', () => ({ email: email('su'), password: PASSWORD })],
      ['signup (anonymous)', () => ({ data: {} }), 'signup'],
      ['token?grant_type=password', () => ({ email: email('pw'), password: 'wrong password' })],
      ['token?grant_type=refresh_token', () => ({ refresh_token: 'not-a-token' })],
      ['token?grant_type=pkce', () => ({ auth_code: 'nope', code_verifier: 'x'.repeat(43) })],
      ['otp', () => ({ email: email('otp'), create_user: false }), 'otp', 'over_email_send_rate_limit'],
      ['magiclink', () => ({ email: email('ml') }), 'magiclink', 'over_email_send_rate_limit'],
      ['recover', () => ({ email: email('rec') }), 'recover', 'over_email_send_rate_limit'],
      ['resend', () => ({ type: 'signup', email: email('res') }), 'resend', 'over_email_send_rate_limit'],
      ['verify', () => ({ type: 'email', token_hash: 'not-a-hash' })],
      ['verify (code)', () => ({ type: 'email', token: '123456', email: email('code') }), 'verify'],
    ];
    for (const [name, body, path = name, code = 'over_request_rate_limit'] of cases) {
      const ip = freshIp();
      for (let i = 0; i < 2; i++) {
        const r = await post(small, path, body(), ip);
        assert.notEqual(r.status, 429, `${name}: request ${i + 1} is within the limit (${r.body})`);
        assert.ok(r.status < 500, `${name}: ${r.status} ${r.body}`);
      }
      assertLimited(await post(small, path, body(), ip), code);
    }
    // Factors: challenges and verifications share the mfa bucket.
    const ip = freshIp();
    const c = clientAt(small, ip);
    await c.auth.setSession({ access_token: data.session.access_token, refresh_token: data.session.refresh_token });
    const enrolled = await c.auth.mfa.enroll({ factorType: 'totp' });
    assert.equal(enrolled.error, null);
    const ch = await c.auth.mfa.challenge({ factorId: enrolled.data.id });
    assert.equal(ch.error, null);
    const wrong = await c.auth.mfa.verify({ factorId: enrolled.data.id, challengeId: ch.data.id, code: '000000' });
    assert.equal(wrong.error.code, 'mfa_verification_failed');
    const limited = await c.auth.mfa.challenge({ factorId: enrolled.data.id });
    assert.equal(limited.error.status, 429);
    assert.equal(limited.error.code, 'over_request_rate_limit');
  });

  test('two daemons on one database share the buckets', async () => {
    const ip = freshIp();
    const a = await post(small, 'token?grant_type=password', { email: email('two'), password: 'x' }, ip);
    const b = await post(twin, 'token?grant_type=password', { email: email('two'), password: 'x' }, ip);
    assert.deepEqual([a.status, b.status], [400, 400]);
    assertLimited(await post(small, 'token?grant_type=password', { email: email('two'), password: 'x' }, ip));
    assertLimited(await post(twin, 'token?grant_type=password', { email: email('two'), password: 'x' }, ip));
  });

  test('12 requests at once through both daemons: exactly the bucket\'s 2 get through', async () => {
    const ip = freshIp();
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      post(i % 2 ? small : twin, 'recover', { email: email('burst') }, ip)));
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, ...Array(10).fill(429)]);
    for (const r of answers.filter((a) => a.status === 429)) assertLimited(r, 'over_email_send_rate_limit');
  });
});

describe('per-account backoff', () => {
  test('5 failures from one client make it wait; the owner signs in from another address', async () => {
    const victim = await account('victim');
    const attacker = clientAt(main, freshIp());
    for (let i = 0; i < 5; i++) {
      const { error } = await attacker.auth.signInWithPassword({ email: victim, password: `guess ${i}` });
      assert.equal(error.code, 'invalid_credentials', `guess ${i + 1}`);
    }
    // Now even the right password is refused from there, without being checked.
    const held = await attacker.auth.signInWithPassword({ email: victim, password: PASSWORD });
    assert.equal(held.error.status, 429);
    assert.equal(held.error.code, 'over_request_rate_limit');
    // The owner, from another address, is not held back.
    const owner = await clientAt(main, freshIp()).auth.signInWithPassword({ email: victim, password: PASSWORD });
    assert.equal(owner.error, null);
    assert.ok(owner.data.session.access_token);
    // The audit trail has every failure and the refusal.
    const rows = await cluster.psql(`SELECT payload -> 'traits' ->> 'reason', count(*) FROM auth.audit_log_entries
      WHERE payload ->> 'action' = 'login_failed' AND payload ->> 'actor_username' = '${victim}' GROUP BY 1 ORDER BY 1`);
    assert.equal(rows, 'backoff|1\ninvalid_credentials|5');
  });

  test('the wait doubles: 1 s after the 5th failure, 2 s after the 6th', async () => {
    const victim = await account('doubling');
    const ip = freshIp();
    for (let i = 0; i < 5; i++) await post(main, 'token?grant_type=password', { email: victim, password: `g${i}` }, ip);
    const first = await post(main, 'token?grant_type=password', { email: victim, password: 'g5' }, ip);
    assertLimited(first);
    assert.equal(first.headers['retry-after'], '1');
    await sleep(1100);
    const sixth = await post(main, 'token?grant_type=password', { email: victim, password: 'g6' }, ip);
    assert.equal(sixth.json.code, 'invalid_credentials');
    const second = await post(main, 'token?grant_type=password', { email: victim, password: PASSWORD }, ip);
    assertLimited(second);
    assert.equal(second.headers['retry-after'], '2');
  });

  test('an unknown address backs off exactly like a known one', async () => {
    const known = await account('known-bo');
    const unknown = email('unknown-bo');
    const seen = {};
    for (const [tag, addr] of [['known', known], ['unknown', unknown]]) {
      const ip = freshIp();
      seen[tag] = [];
      for (let i = 0; i < 6; i++) {
        const r = await post(main, 'token?grant_type=password', { email: addr, password: `wrong ${i}` }, ip);
        seen[tag].push([r.status, r.body, r.headers['retry-after'] || null]);
      }
    }
    assert.deepEqual(seen.known, seen.unknown);
    assert.equal(seen.known[5][0], 429);
  });

  test('a distributed guess: past the account ceiling every failing client waits at once, a clean one gets in', async () => {
    const victim = await account('spray');
    // 50 failures from 50 clients (the ceiling), as a botnet would spread them.
    await cluster.psql(`INSERT INTO auth.sign_in_backoff (subject, failures, failed_at)
      VALUES (auth._account_key('${victim}'), 50, now())`);
    const bot = freshIp();
    const r1 = await post(main, 'token?grant_type=password', { email: victim, password: 'spray' }, bot);
    assert.equal(r1.json.code, 'invalid_credentials');
    assertLimited(await post(main, 'token?grant_type=password', { email: victim, password: 'spray 2' }, bot));
    const owner = await clientAt(main, freshIp()).auth.signInWithPassword({ email: victim, password: PASSWORD });
    assert.equal(owner.error, null, 'no malicious lockout');
  });

  test('email codes back off per address too', async () => {
    const victim = await account('codes');
    const ip = freshIp();
    const c = clientAt(main, ip);
    for (let i = 0; i < 5; i++) {
      const { error } = await c.auth.verifyOtp({ email: victim, token: String(100000 + i), type: 'email' });
      assert.equal(error.code, 'otp_expired');
    }
    const { error } = await c.auth.verifyOtp({ email: victim, token: '999999', type: 'email' });
    assert.equal(error.status, 429);
    const other = await clientAt(main, freshIp()).auth.verifyOtp({ email: victim, token: '999999', type: 'email' });
    assert.equal(other.error.code, 'otp_expired');
  });
});

describe('per-address mail interval', () => {
  test('a second mail request for one address within 60 s is 429 over_email_send_rate_limit, account or not', async () => {
    const known = await account('mail-known');
    const unknown = email('mail-unknown');
    const answers = {};
    for (const [tag, addr] of [['known', known], ['unknown', unknown]]) {
      const first = await clientAt(main, freshIp()).auth.resetPasswordForEmail(addr);
      assert.equal(first.error, null, `${tag}: the first request is accepted`);
      const again = await post(main, 'recover', { email: addr }, freshIp()); // another client, same address
      assertLimited(again, 'over_email_send_rate_limit');
      assert.ok(Number(again.headers['retry-after']) > 50 && Number(again.headers['retry-after']) <= 60);
      const otp = await clientAt(main, freshIp()).auth.signInWithOtp({ email: addr, options: { shouldCreateUser: false } });
      assert.equal(otp.error.status, 429);
      assert.equal(otp.error.code, 'over_email_send_rate_limit');
      answers[tag] = [again.status, again.json.code, again.headers['retry-after']];
    }
    assert.deepEqual(answers.known.slice(0, 2), answers.unknown.slice(0, 2));
    // Other addresses are not affected.
    const other = await clientAt(main, freshIp()).auth.resetPasswordForEmail(email('mail-other'));
    assert.equal(other.error, null);
  });
});

// ---------------------------------------------------------------------------
// Enumeration: known and unknown addresses get the same answer, in about the
// same time. Each pair of requests is sent back to back (known, unknown,
// alternating which goes first) so that load from other work on the machine
// falls on both sides alike.

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const quantile = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

/** Sends 50 requests for a known and 50 for an unknown address; returns the
 *  answers (status, body) seen and the timings in ms. */
async function measure(path, bodyFor, known, unknownFor) {
  const times = { known: [], unknown: [] };
  const answers = { known: new Set(), unknown: new Set() };
  for (let i = 0; i < 50; i++) {
    const order = i % 2 ? ['known', 'unknown'] : ['unknown', 'known'];
    for (const side of order) {
      const addr = side === 'known' ? known : unknownFor(i);
      const t0 = performance.now();
      const r = await post(open, path, bodyFor(addr), freshIp());
      times[side].push(performance.now() - t0);
      // Ids, times and the address itself differ by design; the rest must not.
      answers[side].add(`${r.status} ${r.body.replace(/[0-9a-f-]{36}|\d{4}-\d\d-\d\dT[0-9:.]+Z|[a-z0-9.-]+@limits\.example/g, '<v>')}`);
    }
  }
  return { times, answers };
}

describe('account enumeration', () => {
  const flows = [
    ['otp (no new users)', 'otp', (a) => ({ email: a, create_user: false })],
    ['recover', 'recover', (a) => ({ email: a })],
    ['resend', 'resend', (a) => ({ type: 'signup', email: a })],
    ['signup of a registered address', 'signup', (a) => ({ email: a, password: PASSWORD })],
  ];
  for (const [name, path, body] of flows) {
    test(`${name}: same status and body, similar time`, async () => {
      const known = await account(`enum-${path}`);
      if (path === 'resend') await cluster.psql(`UPDATE auth.users SET email_confirmed_at = NULL WHERE email = '${known}'`);
      // signup: the open daemon runs with confirmations on (the default), so
      // a new address gets a user and a registered one a look-alike.
      const { times, answers } = await measure(path, body, known, (i) => email(`enum-u${i}`));
      assert.deepEqual([...answers.known], [...answers.unknown], 'one answer for both');
      assert.equal(answers.known.size, 1);
      const mk = median(times.known), mu = median(times.unknown);
      const spread = Math.max(quantile(times.known, 0.75) - quantile(times.known, 0.25),
        quantile(times.unknown, 0.75) - quantile(times.unknown, 0.25));
      const gap = Math.abs(mk - mu);
      const bound = Math.max(0.1 * Math.max(mk, mu), spread);
      console.log(`# ${name}: median known ${mk.toFixed(2)} ms, unknown ${mu.toFixed(2)} ms, ` +
        `gap ${gap.toFixed(2)} ms, spread (IQR) ${spread.toFixed(2)} ms, bound ${bound.toFixed(2)} ms`);
      assert.ok(gap <= bound, `median gap ${gap.toFixed(2)} ms exceeds ${bound.toFixed(2)} ms`);
    });
  }
});
