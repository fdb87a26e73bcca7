// pool.test.mjs: the database connection pool is bounded, fails fast with
// 503 pool_timeout when exhausted, and replaces connections the server
// killed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, startCluster, startKiln, waitFor } from './lib/harness.mjs';

// Sessions currently inside pg_sleep (i.e. requests holding a pooled connection).
const SLEEPERS = "select count(*) from pg_stat_activity where query ilike '%pg_sleep%' and state = 'active' and pid <> pg_backend_pid()";
// The daemon's pooled connections (application_name kiln; the schema cache's
// LISTEN connection is "kiln schema cache" and lives outside the pool).
const POOLED = "backend_type = 'client backend' and application_name = 'kiln' and pid <> pg_backend_pid()";
const OTHER_BACKENDS = `select coalesce(string_agg(pid::text, ',' order by pid), '') from pg_stat_activity where ${POOLED}`;

let cluster;
before(async () => { cluster = await startCluster(); });
after(async () => { await cluster?.stop(); });

describe('pool size 2', () => {
  let kiln;
  before(async () => {
    kiln = await startKiln({ dbUrl: cluster.dbUrl, args: ['--db-pool-size', '2', '--debug-endpoints', 'true'] });
  });
  after(async () => { await kiln?.stop(); });

  test('/debug/sleep answers {"slept_ms":N}', async () => {
    const res = await request(`${kiln.url}/debug/sleep?ms=20`);
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.json, { slept_ms: 20 });
  });

  test('/debug/sleep rejects ms outside 0..60000 with a 400 JSON error', async () => {
    for (const q of ['ms=-1', 'ms=60001', 'ms=abc']) {
      const res = await request(`${kiln.url}/debug/sleep?${q}`);
      assert.equal(res.status, 400, `?${q}: ${res.body}`);
      assert.equal(typeof res.json?.code, 'string', `?${q}: JSON error body`);
    }
  });

  test('4 concurrent 500 ms sleeps on 2 connections take about 1 s, never more than 2 connections', async () => {
    const t0 = Date.now();
    let peak = 0;
    const watching = (async () => {
      while (Date.now() - t0 < 900) {
        peak = Math.max(peak, Number(await cluster.psql(SLEEPERS)));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const results = await Promise.all([0, 1, 2, 3].map(() => request(`${kiln.url}/debug/sleep?ms=500`)));
    const elapsed = Date.now() - t0;
    await watching;
    for (const r of results) {
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(r.json, { slept_ms: 500 });
    }
    assert.ok(elapsed >= 950, `two rounds of 500 ms on a pool of 2 take >= ~1 s, took ${elapsed} ms`);
    assert.ok(elapsed < 1900, `the two connections run in parallel (a pool of 1 would take 2 s), took ${elapsed} ms`);
    assert.ok(peak <= 2, `at most 2 sleeping sessions at once, saw ${peak}`);
    assert.equal(peak, 2, 'both pooled connections were used at once');
  });

  test('the access line of a sleep shows the time in db_ms', async () => {
    const res = await request(`${kiln.url}/debug/sleep?ms=200`);
    assert.equal(res.status, 200);
    const line = await kiln.waitForLog((l) => l.msg === 'access' && l.request_id === res.headers['x-request-id']);
    assert.ok(line.stages.db_ms >= 150, `db_ms ${line.stages.db_ms} covers the 200 ms sleep`);
    assert.ok(line.duration_ms >= 190, `duration_ms ${line.duration_ms} covers the 200 ms sleep`);
  });

  test('backends terminated between requests are replaced; later requests succeed', async () => {
    // Make sure both pooled connections exist.
    await Promise.all([request(`${kiln.url}/debug/sleep?ms=100`), request(`${kiln.url}/debug/sleep?ms=100`)]);
    const before = (await cluster.psql(OTHER_BACKENDS)).split(',').filter(Boolean);
    assert.ok(before.length >= 1, 'the pool holds connections');
    const killed = await cluster.psql(`select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity where ${POOLED}) t`);
    assert.equal(Number(killed), before.length);
    await waitFor(async () => (await cluster.psql(OTHER_BACKENDS)) === '', { what: 'terminated backends to exit' });

    for (let i = 0; i < 4; i++) {
      const r = await request(`${kiln.url}/debug/sleep?ms=10`);
      assert.equal(r.status, 200, `sequential request ${i} after pg_terminate_backend: ${r.status} ${r.body}`);
      const ready = await request(`${kiln.url}/health/ready`);
      assert.equal(ready.status, 200, `ready probe ${i} after pg_terminate_backend: ${ready.status} ${ready.body}`);
    }
    const concurrent = await Promise.all([0, 1, 2, 3].map(() => request(`${kiln.url}/debug/sleep?ms=50`)));
    for (const r of concurrent) assert.equal(r.status, 200, r.body);

    const after = (await cluster.psql(OTHER_BACKENDS)).split(',').filter(Boolean);
    assert.ok(after.length >= 1, 'new connections were opened');
    for (const pid of after) assert.ok(!before.includes(pid), `backend ${pid} is a new connection`);
  });
});

describe('pool size 1 with a 100 ms checkout timeout', () => {
  let kiln;
  before(async () => {
    kiln = await startKiln({
      dbUrl: cluster.dbUrl,
      args: ['--db-pool-size', '1', '--db-pool-timeout-ms', '100', '--debug-endpoints', 'true'],
    });
  });
  after(async () => { await kiln?.stop(); });

  test('a second concurrent request fails fast with 503 {"code":"pool_timeout"}', async () => {
    const slow = request(`${kiln.url}/debug/sleep?ms=1500`);
    await waitFor(async () => Number(await cluster.psql(SLEEPERS)) === 1, { what: 'the slow request to hold the connection' });

    const t0 = Date.now();
    const second = await request(`${kiln.url}/debug/sleep?ms=0`);
    const waited = Date.now() - t0;
    assert.equal(second.status, 503, `expected 503 pool_timeout, got ${second.status} ${second.body}`);
    assert.equal(second.json?.code, 'pool_timeout', `body: ${second.body}`);
    assert.equal(typeof second.json?.message, 'string');
    assert.match(second.headers['x-request-id'] ?? '', /^[0-9a-f]{32}$/);
    assert.ok(waited >= 90, `waited the checkout timeout (${waited} ms)`);
    assert.ok(waited < 1000, `failed fast, not after the slow request (${waited} ms)`);

    const first = await slow;
    assert.equal(first.status, 200, first.body);
    assert.deepEqual(first.json, { slept_ms: 1500 });

    // The connection is free again.
    const third = await request(`${kiln.url}/debug/sleep?ms=0`);
    assert.equal(third.status, 200, third.body);
    assert.deepEqual(third.json, { slept_ms: 0 });
  });
});
