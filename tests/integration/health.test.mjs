// health.test.mjs: the health endpoints and the properties every response
// shares (request id, cache and sniffing headers, JSON errors), the access
// log, and readiness following the database through an outage.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, startCluster, startKiln, waitFor } from './lib/harness.mjs';

const REQUEST_ID = /^[0-9a-f]{32}$/;

function assertCommonHeaders(res, what) {
  assert.match(res.headers['x-request-id'] ?? '', REQUEST_ID, `${what}: X-Request-Id`);
  assert.equal(res.headers['cache-control'], 'no-store', `${what}: Cache-Control`);
  assert.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: X-Content-Type-Options`);
  assert.match(res.headers['content-type'] ?? '', /^application\/json\b/, `${what}: Content-Type`);
}

describe('health endpoints', () => {
  let cluster;
  let kiln;

  before(async () => {
    cluster = await startCluster();
    kiln = await startKiln({ dbUrl: cluster.dbUrl });
  });
  after(async () => {
    await kiln?.stop();
    await cluster?.stop();
  });

  test('GET /health answers 200 {"status":"ok"}', async () => {
    const res = await request(`${kiln.url}/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'ok' });
    assertCommonHeaders(res, 'GET /health');
  });

  test('GET /health/ready answers 200 {"status":"ready"}', async () => {
    const res = await request(`${kiln.url}/health/ready`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'ready' });
    assertCommonHeaders(res, 'GET /health/ready');
  });

  test('HEAD /health and /health/ready: 200, headers, no body', async () => {
    for (const p of ['/health', '/health/ready']) {
      const res = await request(`${kiln.url}${p}`, { method: 'HEAD' });
      assert.equal(res.status, 200, `HEAD ${p}`);
      assert.equal(res.body, '', `HEAD ${p} must not carry a body`);
      assertCommonHeaders(res, `HEAD ${p}`);
    }
  });

  test('unknown path: 404 JSON {"code":"not_found","message":...}', async () => {
    for (const p of ['/nope', '/health/extra', '/healthz', '/']) {
      const res = await request(`${kiln.url}${p}`);
      assert.equal(res.status, 404, `GET ${p}`);
      assertCommonHeaders(res, `GET ${p}`);
      assert.equal(res.json?.code, 'not_found', `GET ${p} body: ${res.body}`);
      assert.equal(typeof res.json?.message, 'string');
      assert.ok(res.json.message.length > 0, 'message is not empty');
    }
  });

  test('/debug/sleep is 404 while debug_endpoints is off (the default)', async () => {
    const res = await request(`${kiln.url}/debug/sleep?ms=1`);
    assert.equal(res.status, 404);
    assert.equal(res.json?.code, 'not_found');
  });

  test('other methods on known paths: 405 with Allow', async () => {
    for (const [method, p] of [['POST', '/health'], ['DELETE', '/health'], ['PUT', '/health/ready'], ['PATCH', '/health/ready']]) {
      const res = await request(`${kiln.url}${p}`, { method, body: method === 'DELETE' ? undefined : '{}', headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 405, `${method} ${p}`);
      assertCommonHeaders(res, `${method} ${p}`);
      const allow = (res.headers.allow ?? '').split(',').map((s) => s.trim().toUpperCase());
      assert.ok(allow.includes('GET') && allow.includes('HEAD'), `${method} ${p}: Allow lists GET and HEAD, got ${JSON.stringify(res.headers.allow)}`);
      assert.ok(!allow.includes(method), `${method} ${p}: Allow must not list ${method}`);
      assert.equal(typeof res.json?.code, 'string', `${method} ${p}: JSON error body, got ${res.body}`);
    }
  });

  test('X-Request-Id is unique across requests (200, 404 and 405 alike)', async () => {
    const ids = new Set();
    const reqs = [];
    for (let i = 0; i < 10; i++) {
      reqs.push(request(`${kiln.url}/health`));
      reqs.push(request(`${kiln.url}/missing-${i}`));
      reqs.push(request(`${kiln.url}/health`, { method: 'POST', body: '' }));
    }
    const results = await Promise.all(reqs);
    for (const r of results) {
      assert.match(r.headers['x-request-id'] ?? '', REQUEST_ID);
      ids.add(r.headers['x-request-id']);
    }
    assert.equal(ids.size, results.length, 'every response carries its own request id');
  });

  test('one access log line per request, request_id matching the header, with stage timings', async () => {
    const sent = [
      ['GET', '/health', 200],
      ['GET', '/health/ready', 200],
      ['GET', '/no-such-thing', 404],
      ['POST', '/health', 405],
      ['HEAD', '/health', 200],
    ];
    for (const [method, p, status] of sent) {
      const res = await request(`${kiln.url}${p}?probe=1`, { method });
      assert.equal(res.status, status, `${method} ${p}`);
      const id = res.headers['x-request-id'];
      const line = await kiln.waitForLog((l) => l.msg === 'access' && l.request_id === id, 5000);
      assert.equal(line.level, 'info');
      assert.equal(line.method, method);
      assert.equal(line.path, p, 'path is logged without the query string');
      assert.equal(line.status, status);
      assert.equal(typeof line.bytes, 'number');
      assert.equal(typeof line.duration_ms, 'number');
      assert.ok(line.duration_ms >= 0);
      assert.match(line.ts ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'ts is ISO 8601 UTC');
      assert.equal(typeof line.stages, 'object', `stages present in ${JSON.stringify(line)}`);
      for (const stage of ['read_ms', 'pool_ms', 'db_ms', 'respond_ms']) {
        assert.equal(typeof line.stages[stage], 'number', `stages.${stage} in ${JSON.stringify(line)}`);
        assert.ok(line.stages[stage] >= 0);
      }
      // Exactly one line per request.
      await new Promise((r) => setTimeout(r, 50));
      const count = kiln.logs.filter((l) => l.msg === 'access' && l.request_id === id).length;
      assert.equal(count, 1, `exactly one access line for ${method} ${p}`);
    }
    // The ready probe spends time in the pool/db stages; the 200 body bytes match.
    const okLine = kiln.logs.find((l) => l.msg === 'access' && l.path === '/health' && l.method === 'GET' && l.status === 200);
    assert.equal(okLine.bytes, Buffer.byteLength('{"status":"ok"}'));
  });

  test('the ready log line names the URL', async () => {
    const line = await kiln.waitForLog((l) => l.msg === 'listening', 1000);
    assert.equal(line.level, 'info');
    assert.equal(line.url, kiln.url);
  });
});

describe('readiness follows the database', () => {
  let cluster;
  let kiln;

  before(async () => {
    cluster = await startCluster();
    kiln = await startKiln({ dbUrl: cluster.dbUrl, args: ['--db-pool-size', '2', '--db-connect-timeout-s', '2'] });
  });
  after(async () => {
    await kiln?.stop();
    await cluster?.stop();
  });

  test('/health/ready: 503 with Retry-After while the cluster is down, 200 again after it restarts', async () => {
    assert.equal((await request(`${kiln.url}/health/ready`)).status, 200);

    await cluster.pgStop('fast');
    const down = await waitFor(async () => {
      const r = await request(`${kiln.url}/health/ready`);
      return r.status === 503 ? r : null;
    }, { timeoutMs: 15000, what: '/health/ready to answer 503' });
    assert.equal(down.headers['retry-after'], '1');
    assertCommonHeaders(down, 'GET /health/ready (down)');

    // Every pooled connection is broken now: ask more times than the pool is big.
    const bodies = [down.body];
    for (let i = 0; i < 4; i++) {
      const r = await request(`${kiln.url}/health/ready`);
      assert.equal(r.status, 503, `ready probe ${i} while down`);
      assert.equal(r.headers['retry-after'], '1');
      bodies.push(r.body);
    }
    // Liveness does not depend on the database.
    const live = await request(`${kiln.url}/health`);
    assert.equal(live.status, 200);
    assert.deepEqual(live.json, { status: 'ok' });

    await cluster.pgStart();
    await waitFor(async () => (await request(`${kiln.url}/health/ready`)).status === 200,
      { timeoutMs: 15000, what: '/health/ready to answer 200 after the restart' });
    // Once back, it stays back: the pool replaced its broken connections.
    for (let i = 0; i < 6; i++) {
      const r = await request(`${kiln.url}/health/ready`);
      assert.equal(r.status, 200, `ready probe ${i} after the restart`);
      assert.deepEqual(r.json, { status: 'ready' });
    }

    // Checked last so that a wrong body does not hide the recovery checks:
    // the documented body, never the driver's error text.
    for (const b of bodies) {
      assert.deepEqual(JSON.parse(b), { code: 'db_unavailable', message: 'database unreachable' }, `503 body while down: ${b}`);
    }
  });
});
