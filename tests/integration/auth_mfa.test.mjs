// auth_mfa.test.mjs: TOTP multi-factor authentication and the PKCE grant
// under /auth/v1 through the real supabase-js against a real cluster and
// daemon (sql/kiln_auth/42-mfa.sql, daemon/src/auth_mfa.c).
//
// TOTP codes are computed here with node's crypto (RFC 6238), and the QR
// code the server draws is decoded here (a small decoder written for this
// test: format information, unmasking, the codeword zigzag, block
// de-interleaving, a Reed-Solomon syndrome check and byte-mode parsing), so
// the test fails if the symbol does not scan to the otpauth URI.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { IS_ROOT, PG_USER, request, startCluster, startKiln, tempDir } from './lib/harness.mjs';

let cluster;
let kiln;
let strict; // confirmations on (no autoconfirm)
let keys;

const SETUP = `
CREATE EXTENSION kiln_platform CASCADE;
SELECT kiln.rotate_signing_key('ES256');
CREATE TABLE public.vault (id serial PRIMARY KEY, owner uuid NOT NULL, secret text NOT NULL);
ALTER TABLE public.vault ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_aal2 ON public.vault FOR SELECT TO authenticated
  USING (owner = auth.uid() AND auth.jwt() ->> 'aal' = 'aal2');
GRANT SELECT ON public.vault TO authenticated;
`;

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };
const client = () => createClient(kiln.url, keys.publishable, opts);

let seq = 0;
const email = (tag) => `${tag}-${process.pid}-${++seq}@example.com`;
const PASSWORD = 'a reasonably long passphrase';

async function signedUp(tag) {
  const c = client();
  const addr = email(tag);
  const { data, error } = await c.auth.signUp({ email: addr, password: PASSWORD });
  assert.equal(error, null);
  assert.ok(data.session);
  return { c, addr, user: data.user };
}

// ---- TOTP (RFC 6238) ---------------------------------------------------------

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, acc = 0;
  const out = [];
  for (const ch of s.replace(/=+$/, '')) {
    const v = alphabet.indexOf(ch.toUpperCase());
    assert.ok(v >= 0, `base32 character ${ch}`);
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) { bits -= 8; out.push((acc >> bits) & 255); }
  }
  return Buffer.from(out);
}

function totp(secret, at = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const off = mac[19] & 15;
  const n = ((mac[off] & 0x7f) << 24 | mac[off + 1] << 16 | mac[off + 2] << 8 | mac[off + 3]) % 1e6;
  return String(n).padStart(6, '0');
}

// RFC 6238 appendix B (SHA-1, 8 digits: the last six are ours).
test('the test TOTP matches RFC 6238', () => {
  const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
  assert.equal(totp(secret, 59_000), '287082');
  assert.equal(totp(secret, 1111111109_000), '081804');
});

// ---- a QR decoder (byte mode, levels L and M, versions 1..10) ------------

const CODEWORDS = [0, 26, 44, 70, 100, 134, 172, 196, 242, 292, 346];
const ECC = { L: [0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18], M: [0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26] };
const BLOCKS = { L: [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4], M: [0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5] };
const ALIGN = [[], [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50]];
const MASKS = [
  (r, c) => (r + c) % 2 === 0, (r) => r % 2 === 0, (r, c) => c % 3 === 0, (r, c) => (r + c) % 3 === 0,
  (r, c) => (Math.floor(r / 2) + Math.floor(c / 3)) % 2 === 0, (r, c) => (r * c) % 2 + (r * c) % 3 === 0,
  (r, c) => ((r * c) % 2 + (r * c) % 3) % 2 === 0, (r, c) => ((r + c) % 2 + (r * c) % 3) % 2 === 0,
];

/** The module grid of kiln's SVG: dark[r][c]. */
function svgModules(svg) {
  const vb = /viewBox="0 0 (\d+) (\d+)"/.exec(svg);
  assert.ok(vb, 'viewBox');
  const size = Number(vb[1]) - 8;
  const dark = Array.from({ length: size }, () => new Array(size).fill(false));
  for (const m of svg.matchAll(/M(\d+) (\d+)h1v1h-1z/g)) dark[Number(m[2]) - 4][Number(m[1]) - 4] = true;
  return dark;
}

function gfMul(a, b) {
  let r = 0;
  for (let i = 7; i >= 0; i--) {
    r = (r << 1) ^ ((r >> 7) * 0x11d);
    if ((b >> i) & 1) r ^= a;
  }
  return r & 255;
}

/** Decodes a QR symbol to its byte-mode text; throws on anything invalid. */
function decodeQr(dark) {
  const size = dark.length;
  const version = (size - 17) / 4;
  assert.ok(Number.isInteger(version) && version >= 1 && version <= 10, `version of size ${size}`);
  // Format information, copy 1.
  let fmt = 0;
  for (let i = 0; i < 15; i++) {
    const [r, c] = i < 6 ? [i, 8] : i < 8 ? [i + 1, 8] : i === 8 ? [8, 7] : [8, 14 - i];
    if (dark[r][c]) fmt |= 1 << i;
  }
  const word = fmt ^ 0x5412;
  let rem = word;
  for (let i = 14; i >= 10; i--) if ((rem >> i) & 1) rem ^= 0x537 << (i - 10);
  assert.equal(rem, 0, 'format information is a BCH codeword');
  const level = { 0: 'M', 1: 'L' }[word >> 13];
  assert.ok(level, 'level L or M');
  const mask = MASKS[(word >> 10) & 7];
  // Function modules.
  const fixed = Array.from({ length: size }, () => new Array(size).fill(false));
  const mark = (r, c) => { if (r >= 0 && c >= 0 && r < size && c < size) fixed[r][c] = true; };
  for (const [fr, fc] of [[0, 0], [0, size - 7], [size - 7, 0]])
    for (let r = -1; r <= 7; r++) for (let c = -1; c <= 7; c++) mark(fr + r, fc + c);
  for (let i = 0; i < size; i++) { mark(6, i); mark(i, 6); }
  for (let i = 0; i < 9; i++) { mark(8, i); mark(i, 8); }
  for (let i = 0; i < 8; i++) { mark(8, size - 1 - i); mark(size - 1 - i, 8); }
  const al = ALIGN[version];
  for (const r of al) for (const c of al) {
    if ((r === 6 && c === 6) || (r === 6 && c === al.at(-1)) || (r === al.at(-1) && c === 6)) continue;
    for (let dr = -2; dr <= 2; dr++) for (let dc = -2; dc <= 2; dc++) mark(r + dr, c + dc);
  }
  if (version >= 7) for (let i = 0; i < 18; i++) { mark(Math.floor(i / 3), size - 11 + i % 3); mark(size - 11 + i % 3, Math.floor(i / 3)); }
  // The zigzag.
  const bits = [];
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    const upward = ((right + 1) & 2) === 0;
    for (let v = 0; v < size; v++) for (let j = 0; j < 2; j++) {
      const c = right - j, r = upward ? size - 1 - v : v;
      if (!fixed[r][c]) bits.push(dark[r][c] !== mask(r, c) ? 1 : 0);
    }
  }
  const total = CODEWORDS[version];
  const cw = [];
  for (let i = 0; i < total; i++) cw.push(bits.slice(i * 8, i * 8 + 8).reduce((a, b) => a * 2 + b, 0));
  // De-interleave blocks and check every block's Reed-Solomon syndromes.
  const nb = BLOCKS[level][version], ecc = ECC[level][version];
  const nshort = nb - total % nb, shortData = Math.floor(total / nb) - ecc;
  const blocks = Array.from({ length: nb }, (_, b) => ({ data: [], ecc: [], len: shortData + (b >= nshort ? 1 : 0) }));
  let k = 0;
  for (let i = 0; i <= shortData; i++) for (const b of blocks) if (i < b.len) b.data.push(cw[k++]);
  for (let i = 0; i < ecc; i++) for (const b of blocks) b.ecc.push(cw[k++]);
  for (const b of blocks) {
    const poly = [...b.data, ...b.ecc];
    for (let i = 0, x = 1; i < ecc; i++, x = gfMul(x, 2)) {
      let s = 0;
      for (const coef of poly) s = gfMul(s, x) ^ coef;
      assert.equal(s, 0, `syndrome ${i} of a block`);
    }
  }
  const data = blocks.flatMap((b) => b.data);
  const dbits = data.flatMap((byte) => [7, 6, 5, 4, 3, 2, 1, 0].map((i) => (byte >> i) & 1));
  let pos = 0;
  const take = (n) => { let v = 0; for (let i = 0; i < n; i++) v = v * 2 + dbits[pos++]; return v; };
  assert.equal(take(4), 4, 'byte mode');
  const len = take(version < 10 ? 8 : 16);
  const bytes = Buffer.from(Array.from({ length: len }, () => take(8)));
  return { text: bytes.toString('utf8'), version, level };
}

// ---- cluster and daemon -----------------------------------------------------

before(async () => {
  const dir = tempDir('kiln-mfa-');
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
  await cluster.psql(SETUP);
  keys = {
    publishable: await cluster.psql("SELECT kiln.create_api_key('publishable')"),
    secret: await cluster.psql("SELECT kiln.create_api_key('secret')"),
  };
  kiln = await startKiln({
    dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`,
    args: ['--auth-autoconfirm', 'true'],
  });
  strict = await startKiln({ dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres` });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (strict) await strict.stop();
  if (cluster) await cluster.stop();
});

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

/** A raw call to /auth/v1/<p> with the publishable key (and a bearer). */
const call = (method, p, { body, bearer, key = keys.publishable } = {}) => request(`${kiln.url}/auth/v1/${p}`, {
  method,
  headers: {
    apikey: key, 'Content-Type': 'application/json', 'X-Supabase-Api-Version': '2024-01-01',
    ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}),
  },
  body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
});
const json = (res) => JSON.parse(res.body);

/** A user with a verified TOTP factor: its client (aal2), factor, secret. */
async function enrolledAndVerified(tag) {
  const { c, addr, user } = await signedUp(tag);
  const { data: f, error } = await c.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'phone' });
  assert.equal(error, null);
  const { data: ch } = await c.auth.mfa.challenge({ factorId: f.id });
  const code = totp(f.totp.secret);
  const { data: v, error: verr } = await c.auth.mfa.verify({ factorId: f.id, challengeId: ch.id, code });
  assert.equal(verr, null);
  return { c, addr, user, factor: f, secret: f.totp.secret, code, session: v };
}

// ---- MFA ----------------------------------------------------------------------

describe('TOTP factors', () => {
  test('enroll answers a secret, an otpauth URI and a QR code that scans to it', async () => {
    const { c, addr } = await signedUp('enroll');
    const { data, error } = await c.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'my phone', issuer: 'Acme Co' });
    assert.equal(error, null);
    assert.equal(data.type, 'totp');
    assert.equal(data.friendly_name, 'my phone');
    assert.match(data.id, /^[0-9a-f-]{36}$/);
    assert.match(data.totp.secret, /^[A-Z2-7]{32}$/);
    assert.equal(data.totp.uri, `otpauth://totp/Acme%20Co:${encodeURIComponent(addr)}?algorithm=SHA1&digits=6&issuer=Acme%20Co&period=30&secret=${data.totp.secret}`);
    const prefix = 'data:image/svg+xml;utf-8,';
    assert.ok(data.totp.qr_code.startsWith(prefix), 'supabase-js makes it a data URI');
    const svg = data.totp.qr_code.slice(prefix.length);
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const decoded = decodeQr(svgModules(svg));
    assert.equal(decoded.text, data.totp.uri);
    assert.equal(decoded.level, 'M');
    // The decoder has teeth: one flipped data module breaks a syndrome.
    const broken = svgModules(svg);
    broken[broken.length - 1][broken.length - 1] = !broken[broken.length - 1][broken.length - 1];
    assert.throws(() => decodeQr(broken), /syndrome/);
    // Unverified: listed under all, not under totp; the next level is still aal1.
    const { data: list } = await c.auth.mfa.listFactors();
    assert.deepEqual(list.all.map((f) => [f.id, f.status, f.friendly_name]), [[data.id, 'unverified', 'my phone']]);
    assert.deepEqual(list.totp, []);
    const { data: aal } = await c.auth.mfa.getAuthenticatorAssuranceLevel();
    assert.deepEqual([aal.currentLevel, aal.nextLevel], ['aal1', 'aal1']);
    // The same friendly name again is a conflict.
    const again = await c.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'my phone' });
    assert.equal(again.error.code, 'mfa_factor_name_conflict');
    assert.equal(again.error.status, 422);
  });

  test('a long account name still fits a QR code (level M or L up to version 10)', async () => {
    const c = client();
    const addr = `${'x'.repeat(60)}-${process.pid}@example.com`;
    const { error } = await c.auth.signUp({ email: addr, password: PASSWORD });
    assert.equal(error, null);
    const { data, error: eerr } = await c.auth.mfa.enroll({ factorType: 'totp', issuer: 'Acme' });
    assert.equal(eerr, null);
    const decoded = decodeQr(svgModules(data.totp.qr_code.replace('data:image/svg+xml;utf-8,', '')));
    assert.equal(decoded.text, data.totp.uri);
    assert.ok(decoded.version >= 7, `version ${decoded.version} carries version information`);
  });

  test('verify moves the session to aal2; RLS that requires aal2 passes only then', async () => {
    const { c, user } = await signedUp('aal2');
    await cluster.psql(`INSERT INTO public.vault (owner, secret) VALUES ('${user.id}', 'the crown jewels')`);
    const { data: f } = await c.auth.mfa.enroll({ factorType: 'totp' });
    const before1 = await c.from('vault').select('secret');
    assert.equal(before1.error, null);
    assert.deepEqual(before1.data, [], 'aal1 sees nothing');

    const { data: ch, error: cerr } = await c.auth.mfa.challenge({ factorId: f.id });
    assert.equal(cerr, null);
    assert.equal(ch.type, 'totp');
    assert.ok(ch.expires_at > Date.now() / 1000 + 250);
    const wrongCode = totp(f.totp.secret) === '000000' ? '000001' : '000000';
    const wrong = await c.auth.mfa.verify({ factorId: f.id, challengeId: ch.id, code: wrongCode });
    assert.equal(wrong.error.code, 'mfa_verification_failed');
    assert.equal(wrong.error.status, 422);

    const { data: v, error } = await c.auth.mfa.verify({ factorId: f.id, challengeId: ch.id, code: totp(f.totp.secret) });
    assert.equal(error, null);
    const cl = claims(v.access_token);
    assert.equal(cl.aal, 'aal2');
    assert.deepEqual(cl.amr.map((a) => a.method).sort(), ['password', 'totp']);
    assert.ok(v.refresh_token && v.expires_in);
    const { data: aal } = await c.auth.mfa.getAuthenticatorAssuranceLevel();
    assert.deepEqual([aal.currentLevel, aal.nextLevel], ['aal2', 'aal2']);
    assert.ok(aal.currentAuthenticationMethods.some((m) => m.method === 'totp'));

    const after1 = await c.from('vault').select('secret');
    assert.deepEqual(after1.data, [{ secret: 'the crown jewels' }], 'aal2 sees the row');

    const { data: list } = await c.auth.mfa.listFactors();
    assert.deepEqual(list.totp.map((x) => [x.id, x.status]), [[f.id, 'verified']]);

    // A refresh keeps aal2.
    const { data: r, error: rerr } = await c.auth.refreshSession();
    assert.equal(rerr, null);
    assert.equal(claims(r.session.access_token).aal, 'aal2');

    // A new password sign-in is aal1 with aal2 as the next level, and sees nothing.
    const other = client();
    const { error: serr } = await other.auth.signInWithPassword({ email: user.email, password: PASSWORD });
    assert.equal(serr, null);
    const { data: aal1 } = await other.auth.mfa.getAuthenticatorAssuranceLevel();
    assert.deepEqual([aal1.currentLevel, aal1.nextLevel], ['aal1', 'aal2']);
    assert.deepEqual((await other.from('vault').select('secret')).data, []);
  });

  test('a code is single-use: the same code on a new challenge is refused', async () => {
    const { c, factor, code } = await enrolledAndVerified('replay');
    const { data: ch } = await c.auth.mfa.challenge({ factorId: factor.id });
    const again = await c.auth.mfa.verify({ factorId: factor.id, challengeId: ch.id, code });
    assert.equal(again.error.code, 'mfa_verification_failed');
    assert.equal(again.error.status, 422);
  });

  test('challengeAndVerify reaches aal2 in one call', async () => {
    const { c } = await signedUp('cav');
    const { data: f } = await c.auth.mfa.enroll({ factorType: 'totp' });
    const { data, error } = await c.auth.mfa.challengeAndVerify({ factorId: f.id, code: totp(f.totp.secret) });
    assert.equal(error, null);
    assert.equal(claims(data.access_token).aal, 'aal2');
  });

  test('five wrong codes burn a challenge; wrong codes per factor are limited', async () => {
    const { c, factor, secret } = await enrolledAndVerified('burn');
    const { data: ch } = await c.auth.mfa.challenge({ factorId: factor.id });
    for (let i = 0; i < 5; i++) {
      const { error } = await c.auth.mfa.verify({ factorId: factor.id, challengeId: ch.id, code: 'abcdef' });
      assert.equal(error.code, 'mfa_verification_failed');
    }
    const next = totp(secret, Date.now() + 30_000);
    const sixth = await c.auth.mfa.verify({ factorId: factor.id, challengeId: ch.id, code: next });
    assert.equal(sixth.error.code, 'mfa_challenge_expired');
    // Five more on a new challenge reach the per-factor limit (10 per 5 minutes).
    const { data: ch2 } = await c.auth.mfa.challenge({ factorId: factor.id });
    for (let i = 0; i < 5; i++) await c.auth.mfa.verify({ factorId: factor.id, challengeId: ch2.id, code: 'abcdef' });
    const { data: ch3 } = await c.auth.mfa.challenge({ factorId: factor.id });
    const limited = await call('POST', `factors/${factor.id}/verify`, {
      bearer: (await c.auth.getSession()).data.session.access_token, body: { challenge_id: ch3.id, code: next },
    });
    assert.equal(limited.status, 429);
    assert.equal(json(limited).code, 'over_request_rate_limit');
    assert.ok(Number(limited.headers['retry-after']) > 0);
  });

  test('unenroll needs aal2 when a verified factor exists', async () => {
    const { c, user, factor } = await enrolledAndVerified('unenroll');
    const other = client();
    await other.auth.signInWithPassword({ email: user.email, password: PASSWORD });
    const refused = await other.auth.mfa.unenroll({ factorId: factor.id });
    assert.equal(refused.error.code, 'insufficient_aal');
    assert.equal(refused.error.status, 422);
    const { data, error } = await c.auth.mfa.unenroll({ factorId: factor.id });
    assert.equal(error, null);
    assert.equal(data.id, factor.id);
    const { data: list } = await c.auth.mfa.listFactors();
    assert.deepEqual(list.all, []);
    const gone = await c.auth.mfa.unenroll({ factorId: factor.id });
    assert.equal(gone.error.code, 'mfa_factor_not_found');
  });

  test('someone else\'s factor is not found', async () => {
    const { factor } = await enrolledAndVerified('owner');
    const { c } = await signedUp('intruder');
    const { error } = await c.auth.mfa.challenge({ factorId: factor.id });
    assert.equal(error.code, 'mfa_factor_not_found');
    assert.equal(error.status, 404);
  });

  test('bad requests get clear errors', async () => {
    const { c } = await signedUp('bad');
    const token = (await c.auth.getSession()).data.session.access_token;
    let res = await call('POST', 'factors', { bearer: token, body: { factor_type: 'sms' } });
    assert.equal(res.status, 400);
    assert.equal(json(res).code, 'validation_failed');
    res = await call('POST', 'factors', { bearer: token, body: { factor_type: 'phone', phone: '+15550100' } });
    assert.equal(res.status, 422);
    res = await call('POST', 'factors', { bearer: token, body: '{"factor_type": 7}' });
    assert.equal(res.status, 400);
    assert.equal(json(res).code, 'bad_json');
    res = await call('POST', 'factors/not-a-uuid/challenge', { bearer: token, body: {} });
    assert.equal(res.status, 404);
    assert.equal(json(res).code, 'mfa_factor_not_found');
    res = await call('POST', `factors/${crypto.randomUUID()}/verify`, { bearer: token, body: { challenge_id: 'x', code: '123456' } });
    assert.equal(res.status, 400);
    res = await call('POST', `factors/${crypto.randomUUID()}/elsewhere`, { bearer: token, body: {} });
    assert.equal(res.status, 404);
    res = await call('PUT', `factors/${crypto.randomUUID()}`, { bearer: token, body: {} });
    assert.equal(res.status, 405);
    res = await call('POST', 'factors', { body: { factor_type: 'totp' } });
    assert.equal(res.status, 401, 'the apikey alone is not a user');
    for (const r of [res]) assert.doesNotMatch(r.body, /SELECT|auth\.|ERROR/);
  });
});

describe('admin factors', () => {
  test('list and delete a user\'s factors with the secret key', async () => {
    const { user, factor } = await enrolledAndVerified('admin');
    const admin = createClient(kiln.url, keys.secret, opts).auth.admin;
    const { data, error } = await admin.mfa.listFactors({ userId: user.id });
    assert.equal(error, null);
    assert.deepEqual(data.factors.map((f) => [f.id, f.status, f.factor_type]), [[factor.id, 'verified', 'totp']]);
    const { data: del, error: derr } = await admin.mfa.deleteFactor({ userId: user.id, id: factor.id });
    assert.equal(derr, null);
    // auth-js 2.119 hands back the body under data.data here.
    assert.equal((del.data ?? del).id, factor.id);
    assert.deepEqual((await admin.mfa.listFactors({ userId: user.id })).data.factors, []);
    const again = await admin.mfa.deleteFactor({ userId: user.id, id: factor.id });
    assert.equal(again.error.status, 404);
    // A user's token is not an admin's.
    const { c } = await signedUp('not-admin');
    const token = (await c.auth.getSession()).data.session.access_token;
    const res = await call('GET', `admin/users/${user.id}/factors`, { bearer: token });
    assert.equal(res.status, 403);
    assert.equal(json(res).code, 'not_admin');
  });
});

// ---- PKCE ---------------------------------------------------------------------

describe('PKCE grant', () => {
  const b64url = (buf) => Buffer.from(buf).toString('base64url');
  const newVerifier = () => b64url(crypto.randomBytes(48));
  const s256 = (v) => b64url(crypto.createHash('sha256').update(v).digest());

  /** A flow state for the user, as the email flows start it, and its issued code. */
  async function issuedCode(userId, challenge, method = 's256') {
    await cluster.psql(`SELECT auth._pkce_flow_start('${userId}', '${challenge}', '${method}', 'email', 'magiclink')`);
    return cluster.psql(`SELECT auth.pkce_issue_code('${userId}', 'magiclink')`);
  }

  test('exchangeCodeForSession with the right verifier signs in', async () => {
    const { user } = await signedUp('pkce');
    const verifier = newVerifier();
    const code = await issuedCode(user.id, s256(verifier));
    const store = new Map([['kiln-pkce-code-verifier', JSON.stringify(verifier)]]);
    const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
    const c = createClient(kiln.url, keys.publishable, {
      auth: { flowType: 'pkce', storage, storageKey: 'kiln-pkce', persistSession: true, autoRefreshToken: false, detectSessionInUrl: false },
    });
    const { data, error } = await c.auth.exchangeCodeForSession(code);
    assert.equal(error, null);
    assert.equal(data.user.id, user.id);
    assert.equal(claims(data.session.access_token).amr[0].method, 'magiclink');
    // The code is used up.
    const reuse = await call('POST', 'token?grant_type=pkce', { body: { auth_code: code, code_verifier: verifier } });
    assert.equal(reuse.status, 404);
    assert.equal(json(reuse).code, 'flow_state_not_found');
  });

  test('a wrong verifier is refused and burns the code; plain works; expiry; bad input', async () => {
    const { user } = await signedUp('pkce2');
    const verifier = newVerifier();
    let code = await issuedCode(user.id, s256(verifier));
    let res = await call('POST', 'token?grant_type=pkce', { body: { auth_code: code, code_verifier: newVerifier() } });
    assert.equal(res.status, 403);
    assert.equal(json(res).code, 'bad_code_verifier');
    res = await call('POST', 'token?grant_type=pkce', { body: { auth_code: code, code_verifier: verifier } });
    assert.equal(json(res).code, 'flow_state_not_found', 'burned by the wrong attempt');

    code = await issuedCode(user.id, verifier, 'plain');
    res = await call('POST', 'token?grant_type=pkce', { body: { auth_code: code, code_verifier: verifier } });
    assert.equal(res.status, 200);
    assert.equal(json(res).user.id, user.id);

    code = await issuedCode(user.id, s256(verifier));
    await cluster.psql(`UPDATE auth.flow_state SET auth_code_issued_at = now() - interval '6 minutes' WHERE user_id = '${user.id}'`);
    res = await call('POST', 'token?grant_type=pkce', { body: { auth_code: code, code_verifier: verifier } });
    assert.equal(res.status, 422);
    assert.equal(json(res).code, 'flow_state_expired');

    res = await call('POST', 'token?grant_type=pkce', { body: { auth_code: '', code_verifier: verifier } });
    assert.equal(res.status, 400);
    res = await call('POST', 'token?grant_type=pkce', { body: { auth_code: 5 } });
    assert.equal(res.status, 400);
    assert.equal(json(res).code, 'bad_json');
  });

  test('signUp from a PKCE client starts the flow state its confirmation completes', async () => {
    const store = new Map();
    const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
    const c = createClient(strict.url, keys.publishable, {
      auth: { flowType: 'pkce', storage, storageKey: 'kiln-signup', persistSession: true, autoRefreshToken: false, detectSessionInUrl: false },
    });
    const addr = email('pkce-signup');
    const { data, error } = await c.auth.signUp({ email: addr, password: PASSWORD });
    assert.equal(error, null);
    assert.equal(data.session, null, 'confirmation pending');
    assert.ok(store.get('kiln-signup-code-verifier'), 'supabase-js kept the verifier');
    const uid = data.user.id;
    assert.equal(await cluster.psql(`SELECT count(*) FROM auth.flow_state WHERE user_id = '${uid}' AND authentication_method = 'email/signup'`), '1');
    // What /verify will do once the address is confirmed: issue the code.
    await cluster.psql(`UPDATE auth.users SET email_confirmed_at = now() WHERE id = '${uid}'`);
    const code = await cluster.psql(`SELECT auth.pkce_issue_code('${uid}', 'email/signup')`);
    const { data: ex, error: exErr } = await c.auth.exchangeCodeForSession(code);
    assert.equal(exErr, null);
    assert.equal(ex.user.id, uid);
    assert.equal(claims(ex.session.access_token).amr[0].method, 'otp');
    // Half a PKCE pair is refused; a registered address gets no flow state.
    const res = await request(`${strict.url}/auth/v1/signup`, {
      method: 'POST', headers: { apikey: keys.publishable, 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: email('half'), password: PASSWORD, code_challenge: 'x'.repeat(43) }),
    });
    assert.equal(res.status, 400);
    const again = await c.auth.signUp({ email: addr, password: PASSWORD });
    assert.equal(again.error, null);
    assert.equal(await cluster.psql(`SELECT count(*) FROM auth.flow_state WHERE user_id = '${uid}'`), '0');
  });
});
