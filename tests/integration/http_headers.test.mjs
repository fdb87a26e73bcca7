// http_headers.test.mjs: the headers every response carries, and CORS from
// the cors_allowed_origins allowlist, against a real cluster and daemon.
//
// Besides raw requests, the real supabase-js client runs behind a fetch that
// applies the browser's CORS rules (Fetch standard): a preflight when the
// request is not "simple", the checks a browser makes on its answer, the
// check of the actual response's Access-Control-Allow-Origin, and only the
// safelisted and exposed response headers visible to the script. So a
// missing exposed header (Content-Range for count) or a header the preflight
// does not allow fails here as it would in a browser.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { lines, request, runKiln, startCluster, startKiln, waitFor } from './lib/harness.mjs';

const APP = 'https://app.example.com';
const DEV = 'http://localhost:5173';
const EVIL = 'https://app.example.com.evil.net';
const ORIGINS = `${APP}, http://localhost:*`;

let cluster;
let kiln;
let key;

const SETUP = `
CREATE EXTENSION kiln_platform CASCADE;
CREATE TABLE public.notes (id int PRIMARY KEY, body text NOT NULL);
INSERT INTO public.notes SELECT i, 'note ' || i FROM generate_series(1, 5) i;
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON public.notes FOR SELECT USING (true);
GRANT SELECT ON public.notes TO anon, authenticated, service_role;
`;

before(async () => {
  cluster = await startCluster();
  await cluster.psql(SETUP);
  key = await cluster.psql("SELECT kiln.create_api_key('publishable')");
  kiln = await startKiln({
    dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`,
    config: { cors_allowed_origins: `"${ORIGINS}"`, access_log: false },
  });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (cluster) await cluster.stop();
});

const preflight = (path, origin, { method = 'GET', headers = 'apikey, authorization, x-client-info' } = {}) => {
  const h = { Origin: origin, 'Access-Control-Request-Method': method };
  if (headers) h['Access-Control-Request-Headers'] = headers;
  return request(`${kiln.url}${path}`, { method: 'OPTIONS', headers: h });
};

// ---------------------------------------------------------------------------
// A fetch with the browser's CORS rules, for supabase-js.

const SAFELISTED_RESPONSE = ['cache-control', 'content-language', 'content-length', 'content-type',
  'expires', 'last-modified', 'pragma'];
const SAFELISTED_REQUEST = ['accept', 'accept-language', 'content-language'];
const corsError = (why) => Object.assign(new TypeError('Failed to fetch'), { cause: why });

function browserFetch(origin, log) {
  return async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input.url;
    const method = (init.method || 'GET').toUpperCase();
    const headers = new Headers(init.headers);
    const unsafe = [...headers.keys()].filter((h) => !SAFELISTED_REQUEST.includes(h)
      && !(h === 'content-type' && /^(text\/plain|multipart\/form-data|application\/x-www-form-urlencoded)/.test(headers.get(h))))
      .sort();
    if (!['GET', 'HEAD', 'POST'].includes(method) || unsafe.length) {
      const pre = await fetch(url, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': method,
          ...(unsafe.length ? { 'Access-Control-Request-Headers': unsafe.join(',') } : {}) },
      });
      log.push({ preflight: url, status: pre.status });
      if (pre.status < 200 || pre.status > 299) throw corsError(`preflight status ${pre.status}`);
      const acao = pre.headers.get('access-control-allow-origin');
      if (acao !== '*' && acao !== origin) throw corsError(`preflight allow-origin ${acao}`);
      const methods = (pre.headers.get('access-control-allow-methods') || '').split(',').map((m) => m.trim());
      if (!['GET', 'HEAD', 'POST'].includes(method) && !methods.includes(method)) throw corsError(`method ${method}`);
      const allowed = (pre.headers.get('access-control-allow-headers') || '').split(',').map((h) => h.trim().toLowerCase());
      for (const h of unsafe) if (!allowed.includes(h) && !allowed.includes('*')) throw corsError(`header ${h}`);
    }
    headers.set('Origin', origin);
    const res = await fetch(url, { ...init, headers });
    const acao = res.headers.get('access-control-allow-origin');
    if (acao !== '*' && acao !== origin) throw corsError(`allow-origin ${acao}`);
    const exposed = (res.headers.get('access-control-expose-headers') || '').split(',').map((h) => h.trim().toLowerCase());
    const visible = new Headers();
    for (const [k, v] of res.headers) if (SAFELISTED_RESPONSE.includes(k) || exposed.includes(k)) visible.set(k, v);
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: visible });
  };
}

const browserClient = (origin, log = []) => createClient(kiln.url, key, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  global: { fetch: browserFetch(origin, log) },
});

// ---------------------------------------------------------------------------

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};

describe('headers on every response', () => {
  test('Cache-Control: no-store and the security headers on API answers, errors, preflights and /health', async () => {
    const u = kiln.url;
    const cases = [
      ['data API 200', `${u}/rest/v1/notes?select=id`, { headers: { apikey: key } }, 200],
      ['data API 206 with count', `${u}/rest/v1/notes?select=id&limit=1`, { headers: { apikey: key, Prefer: 'count=exact' } }, 206],
      ['data API HEAD', `${u}/rest/v1/notes`, { method: 'HEAD', headers: { apikey: key } }, 200],
      ['data API 401 (no key)', `${u}/rest/v1/notes`, {}, 401],
      ['data API 404 (unknown table)', `${u}/rest/v1/no_such_table`, { headers: { apikey: key } }, 404],
      ['data API 400 (bad filter)', `${u}/rest/v1/notes?id=zz.1`, { headers: { apikey: key } }, 400],
      ['405', `${u}/health`, { method: 'DELETE' }, 405],
      ['preflight 204', `${u}/rest/v1/notes`, { method: 'OPTIONS', headers: { Origin: APP, 'Access-Control-Request-Method': 'GET' } }, 204],
      ['preflight 403', `${u}/rest/v1/notes`, { method: 'OPTIONS', headers: { Origin: EVIL, 'Access-Control-Request-Method': 'GET' } }, 403],
      ['/health', `${u}/health`, {}, 200],
      ['/health/ready', `${u}/health/ready`, {}, 200],
      ['unknown path 404', `${u}/nope`, {}, 404],
    ];
    for (const [what, url, opts, status] of cases) {
      const r = await request(url, opts);
      assert.equal(r.status, status, `${what}: ${r.body}`);
      for (const [h, v] of Object.entries(SECURITY_HEADERS)) assert.equal(r.headers[h], v, `${what}: ${h}`);
      assert.match(r.headers['x-request-id'] || '', /^[0-9a-f]{32}$/, `${what}: X-Request-Id`);
    }
  });

  test('a body too large (413, answered before the body is read) carries them too', async () => {
    // Raw socket: announce 64 MiB, send none of it, read the early answer.
    const head = await new Promise((resolve, reject) => {
      const sock = net.connect(kiln.port, '127.0.0.1', () => {
        sock.write(`GET /rest/v1/notes HTTP/1.1\r\nHost: x\r\napikey: ${key}\r\nContent-Length: ${64 << 20}\r\n\r\n`);
      });
      let got = '';
      sock.setTimeout(5000, () => { sock.destroy(); reject(new Error(`no answer: ${got}`)); });
      sock.on('data', (d) => { got += d.toString('latin1'); if (got.includes('\r\n\r\n')) { sock.destroy(); resolve(got); } });
      sock.on('error', reject);
    });
    assert.match(head, /^HTTP\/1\.1 413 /);
    for (const [h, v] of Object.entries(SECURITY_HEADERS)) {
      assert.ok(head.toLowerCase().includes(`\r\n${h}: ${v.toLowerCase()}\r\n`), `413: ${h}\n${head}`);
    }
  });
});

describe('CORS preflight', () => {
  test('an allowed origin gets 204 with origin, methods, reflected headers and max-age', async () => {
    const r = await preflight('/rest/v1/notes?select=*', APP,
      { headers: 'accept-profile, apikey, authorization, prefer, x-client-info, x-retry-count' });
    assert.equal(r.status, 204, r.body);
    assert.equal(r.body, '');
    assert.equal(r.headers['access-control-allow-origin'], APP);
    assert.equal(r.headers['access-control-allow-methods'], 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    assert.equal(r.headers['access-control-allow-headers'], 'accept-profile, apikey, authorization, prefer, x-client-info, x-retry-count');
    assert.equal(r.headers['access-control-max-age'], '7200');
    assert.match(r.headers.vary, /\bOrigin\b/);
    assert.equal(r.headers['access-control-allow-credentials'], undefined, 'no credentials: the SDK sends tokens in headers');
    assert.match(r.headers['x-request-id'], /^[0-9a-f]{32}$/);
  });

  test('a port wildcard entry allows that host on any port, and only that host and scheme', async () => {
    for (const origin of [DEV, 'http://localhost:3000', 'http://localhost']) {
      const r = await preflight('/rest/v1/notes', origin);
      assert.equal(r.status, 204, `${origin}: ${r.body}`);
      assert.equal(r.headers['access-control-allow-origin'], origin);
    }
    for (const origin of ['https://localhost:5173', 'http://localhost.evil.net:5173', 'http://127.0.0.1:5173']) {
      const r = await preflight('/rest/v1/notes', origin);
      assert.equal(r.status, 403, `${origin} is not listed`);
    }
  });

  test('a disallowed origin gets 403 with a JSON reason and no CORS grant', async () => {
    const r = await preflight('/rest/v1/notes', EVIL);
    assert.equal(r.status, 403);
    assert.equal(r.json.code, 'cors_origin_not_allowed');
    assert.match(r.json.message, /cors_allowed_origins/);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.equal(r.headers['access-control-allow-methods'], undefined);
    assert.equal(r.headers['access-control-allow-headers'], undefined);
    assert.match(r.headers.vary, /\bOrigin\b/);
  });

  test('every route answers preflights: /health and /health/ready too', async () => {
    const writes = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';
    for (const [p, methods] of [['/health', 'GET, HEAD, OPTIONS'], ['/health/ready', 'GET, HEAD, OPTIONS'],
      ['/rest/v1/', 'GET, HEAD, OPTIONS'], ['/rest/v1/no_such_table', writes], ['/rest/v1/rpc/f', writes]]) {
      const r = await preflight(p, APP);
      assert.equal(r.status, 204, `${p}: ${r.body}`);
      assert.equal(r.headers['access-control-allow-origin'], APP, p);
      assert.equal(r.headers['access-control-allow-methods'], methods, p);
    }
  });

  test('requested headers that are not header names are not reflected', async () => {
    const r = await preflight('/rest/v1/notes', APP, { headers: 'apikey, x bad' });
    assert.equal(r.status, 204);
    assert.equal(r.headers['access-control-allow-headers'], undefined);
  });

  test('OPTIONS without Origin is not a preflight: 204 with Allow; unknown paths stay 404', async () => {
    let r = await request(`${kiln.url}/rest/v1/notes`, { method: 'OPTIONS' });
    assert.equal(r.status, 204);
    assert.equal(r.headers.allow, 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    r = await request(`${kiln.url}/nope`, { method: 'OPTIONS', headers: { Origin: APP, 'Access-Control-Request-Method': 'GET' } });
    assert.equal(r.status, 404);
  });
});

describe('CORS on actual responses', () => {
  test('an allowed origin can read the response and the exposed headers', async () => {
    const r = await request(`${kiln.url}/rest/v1/notes?select=id&order=id&limit=2`,
      { headers: { Origin: APP, apikey: key, Prefer: 'count=exact' } });
    assert.equal(r.status, 206, r.body);
    assert.equal(r.headers['access-control-allow-origin'], APP);
    assert.match(r.headers.vary, /\bOrigin\b/);
    const exposed = r.headers['access-control-expose-headers'].split(',').map((h) => h.trim());
    for (const h of ['Content-Range', 'Content-Location', 'Location', 'Preference-Applied', 'X-Total-Count',
      'Link', 'X-Request-Id', 'Content-Profile', 'Range-Unit', 'Retry-After', 'WWW-Authenticate']) {
      assert.ok(exposed.includes(h), `${h} is exposed`);
    }
    assert.equal(r.headers['content-range'], '0-1/5');
  });

  test('errors carry the CORS headers too, so the browser app can read them', async () => {
    let r = await request(`${kiln.url}/rest/v1/notes`, { headers: { Origin: APP } }); // no key
    assert.equal(r.status, 401);
    assert.equal(r.headers['access-control-allow-origin'], APP);
    r = await request(`${kiln.url}/rest/v1/no_such_table`, { headers: { Origin: APP, apikey: key } });
    assert.equal(r.status, 404);
    assert.equal(r.headers['access-control-allow-origin'], APP);
    r = await request(`${kiln.url}/health`, { method: 'DELETE', headers: { Origin: APP } });
    assert.equal(r.status, 405);
    assert.equal(r.headers['access-control-allow-origin'], APP);
  });

  test('a disallowed origin gets no grant (the browser blocks the read), only Vary', async () => {
    const r = await request(`${kiln.url}/rest/v1/notes?select=id`, { headers: { Origin: EVIL, apikey: key } });
    assert.equal(r.status, 200, 'the server does not refuse: CORS is enforced by the browser');
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.equal(r.headers['access-control-expose-headers'], undefined);
    assert.match(r.headers.vary, /\bOrigin\b/);
  });

  test('requests without Origin carry no CORS headers', async () => {
    const r = await request(`${kiln.url}/rest/v1/notes?select=id`, { headers: { apikey: key } });
    assert.equal(r.status, 200);
    for (const h of Object.keys(r.headers)) assert.ok(!h.startsWith('access-control-'), `${h} without Origin`);
  });
});

describe('supabase-js under browser CORS rules', () => {
  test('an allowed origin reads rows and the exact count (Content-Range exposed)', async () => {
    const log = [];
    const { data, error, count, status } = await browserClient(APP, log).from('notes')
      .select('id, body', { count: 'exact' }).order('id').range(0, 1);
    assert.equal(error, null);
    assert.equal(status, 206);
    assert.deepEqual(data, [{ id: 1, body: 'note 1' }, { id: 2, body: 'note 2' }]);
    assert.equal(count, 5, 'count comes from Content-Range, which must be exposed');
    assert.ok(log.some((l) => l.preflight && l.status === 204), 'the request was preflighted');
  });

  test('a disallowed origin fails as in a browser', async () => {
    const { data, error } = await browserClient(EVIL).from('notes').select('id').retry(false);
    assert.equal(data, null);
    assert.ok(error, 'an error');
    assert.match(String(error.message) + String(error.details), /Failed to fetch|preflight status 403/);
  });
});

describe('cors_allowed_origins configuration', () => {
  test('SIGHUP applies a new allowlist', async () => {
    const other = 'https://other.example.org';
    let r = await preflight('/rest/v1/notes', other);
    assert.equal(r.status, 403);
    kiln.writeConfig({ cors_allowed_origins: `"${ORIGINS}, ${other}"`, access_log: false });
    kiln.reload();
    await waitFor(async () => (await preflight('/rest/v1/notes', other)).status === 204, { what: 'the new origin allowed' });
    r = await preflight('/rest/v1/notes', APP);
    assert.equal(r.status, 204, 'the old entries stay');
    kiln.writeConfig({ cors_allowed_origins: `"${ORIGINS}"`, access_log: false });
    kiln.reload();
    await waitFor(async () => (await preflight('/rest/v1/notes', other)).status === 403, { what: 'the origin removed again' });
  });

  test('a bad entry stops kiln serve with one line naming the key and the entry (exit 2)', async () => {
    for (const [value, mention] of [['https://app.example.com/', "'https://app.example.com/'"],
      ['null', "'null'"], ['*, https://a.example', '* alone'], ['app.example.com', "'app.example.com'"]]) {
      const r = await runKiln(['serve', '--db-url', cluster.dbUrl, '--cors-allowed-origins', value]);
      assert.equal(r.code, 2, `${value}: ${r.stderr}`);
      const errLines = lines(r.stderr);
      assert.equal(errLines.length, 1, r.stderr);
      assert.match(errLines[0], /^kiln: cors_allowed_origins \(flag --cors_allowed_origins\): /);
      assert.ok(errLines[0].includes(mention), `${errLines[0]} mentions ${mention}`);
    }
  });

  test('the default (unset) is no CORS: preflights are refused, responses carry no grant', async () => {
    const plain = await startKiln({ dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`, args: ['--access-log', 'false'] });
    try {
      let r = await request(`${plain.url}/rest/v1/notes`, { method: 'OPTIONS', headers: { Origin: APP, 'Access-Control-Request-Method': 'GET' } });
      assert.equal(r.status, 403);
      assert.equal(r.headers['access-control-allow-origin'], undefined);
      r = await request(`${plain.url}/rest/v1/notes?select=id`, { headers: { Origin: APP, apikey: key } });
      assert.equal(r.status, 200);
      for (const h of Object.keys(r.headers)) assert.ok(!h.startsWith('access-control-'), `${h} with CORS off`);
    } finally {
      await plain.stop();
    }
  });

  test('* alone allows any origin with the literal *', async () => {
    const any = await startKiln({ dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`,
      args: ['--access-log', 'false', '--cors-allowed-origins', '*'] });
    try {
      const r = await request(`${any.url}/rest/v1/notes?select=id`, { headers: { Origin: EVIL, apikey: key } });
      assert.equal(r.headers['access-control-allow-origin'], '*');
      const p = await request(`${any.url}/rest/v1/notes`, { method: 'OPTIONS', headers: { Origin: EVIL, 'Access-Control-Request-Method': 'GET' } });
      assert.equal(p.status, 204);
      assert.equal(p.headers['access-control-allow-origin'], '*');
    } finally {
      await any.stop();
    }
  });
});
