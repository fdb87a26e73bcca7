// lifecycle.test.mjs: graceful shutdown on SIGTERM (drain in-flight
// requests, refuse new connections, exit 0) and configuration reload on
// SIGHUP (a good file takes effect, a bad one is logged and ignored).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, sleep, startCluster, startKiln, tryConnect, waitFor, within } from './lib/harness.mjs';

const SLEEPERS = "select count(*) from pg_stat_activity where query ilike '%pg_sleep%' and state = 'active' and pid <> pg_backend_pid()";
const RELOAD_FAILED = 'reload failed, keeping the previous configuration';

let cluster;
before(async () => { cluster = await startCluster(); });
after(async () => { await cluster?.stop(); });

describe('SIGTERM', () => {
  test('drains the in-flight request, refuses new connections, exits 0 with "stopped"', async () => {
    const kiln = await startKiln({ dbUrl: cluster.dbUrl, args: ['--debug-endpoints', 'true'] });
    let slowDone = false;
    const slow = request(`${kiln.url}/debug/sleep?ms=1500`).finally(() => { slowDone = true; });
    await waitFor(async () => Number(await cluster.psql(SLEEPERS)) === 1, { what: 'the slow request to reach the database' });

    const from = kiln.logs.length;
    kiln.proc.kill('SIGTERM');
    const shutting = await kiln.waitForLog((l) => l.msg === 'shutting down', 2000, from);
    assert.equal(shutting.level, 'info');

    // New connections are refused while the slow request is still running.
    const outcome = await waitFor(async () => {
      const o = await tryConnect(kiln.port);
      return o === 'ECONNREFUSED' ? o : null;
    }, { timeoutMs: 500, intervalMs: 50, what: 'a new connection to be refused after SIGTERM' });
    assert.equal(outcome, 'ECONNREFUSED');
    await assert.rejects(request(`${kiln.url}/health`, { timeoutMs: 2000 }), (err) => err.code === 'ECONNREFUSED');
    assert.equal(slowDone, false, 'the refusal happened while the first request was still in flight');

    const res = await slow;
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.json, { slept_ms: 1500 });

    const exit = await within(kiln.exited, 10000, 'still running');
    assert.deepEqual(exit, { code: 0, signal: null }, `exit status; stderr:\n${kiln.stderr}`);
    const stoppedIdx = kiln.logs.findIndex((l) => l.msg === 'stopped');
    const shuttingIdx = kiln.logs.findIndex((l) => l.msg === 'shutting down');
    assert.ok(stoppedIdx > shuttingIdx, '"stopped" is logged after "shutting down"');
    const accessIdx = kiln.logs.findIndex((l) => l.msg === 'access' && l.request_id === res.headers['x-request-id']);
    assert.ok(accessIdx > shuttingIdx && accessIdx < stoppedIdx, 'the drained request is logged between "shutting down" and "stopped"');
  });

  test('SIGINT stops the server the same way', async () => {
    const kiln = await startKiln({ dbUrl: cluster.dbUrl });
    const exit = await kiln.stop('SIGINT', 10000);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(kiln.logs.some((l) => l.msg === 'stopped'), `"stopped" logged:\n${kiln.stderr}`);
  });

  test('shutdown_timeout_s bounds the drain: a longer request does not hold the exit', async () => {
    const kiln = await startKiln({ dbUrl: cluster.dbUrl, args: ['--debug-endpoints', 'true', '--shutdown-timeout-s', '1'] });
    const slow = request(`${kiln.url}/debug/sleep?ms=8000`, { timeoutMs: 12000 }).catch((err) => err);
    await waitFor(async () => Number(await cluster.psql(SLEEPERS)) === 1, { what: 'the slow request to reach the database' });
    const t0 = Date.now();
    kiln.proc.kill('SIGTERM');
    const exit = await within(kiln.exited, 6000, 'still running');
    const took = Date.now() - t0;
    assert.deepEqual(exit, { code: 0, signal: null }, `exit status within 6 s (took ${took} ms); stderr:\n${kiln.stderr}`);
    assert.ok(took >= 900, `waited about shutdown_timeout_s before giving up (${took} ms)`);
    assert.ok(took < 4000, `gave up after about shutdown_timeout_s (${took} ms)`);
    assert.ok(kiln.logs.some((l) => l.msg === 'stopped'));
    const res = await slow;
    assert.ok(res instanceof Error || res.status !== 200, 'the cut-off request did not pretend to succeed');
  });
});

describe('SIGHUP', () => {
  let kiln;
  before(async () => {
    kiln = await startKiln({ dbUrl: cluster.dbUrl, config: { debug_endpoints: 'false', log_level: 'info', access_log: 'true' } });
  });
  after(async () => { await kiln?.stop(); });

  const reloaded = async () => {
    const from = kiln.logs.length;
    kiln.reload();
    return kiln.waitForLog((l) => l.msg === 'configuration reloaded' || l.msg === RELOAD_FAILED, 5000, from);
  };

  test('a valid changed file is applied: "configuration reloaded" and debug_endpoints toggles', async () => {
    assert.equal((await request(`${kiln.url}/debug/sleep?ms=1`)).status, 404, 'debug endpoints start off');

    kiln.writeConfig({ debug_endpoints: 'true', log_level: 'debug', access_log: 'true' });
    const line = await reloaded();
    assert.equal(line.msg, 'configuration reloaded', JSON.stringify(line));
    assert.equal(line.level, 'info');
    const on = await request(`${kiln.url}/debug/sleep?ms=1`);
    assert.equal(on.status, 200, on.body);
    assert.deepEqual(on.json, { slept_ms: 1 });

    kiln.writeConfig({ debug_endpoints: 'false', log_level: 'info', access_log: 'true' });
    assert.equal((await reloaded()).msg, 'configuration reloaded');
    assert.equal((await request(`${kiln.url}/debug/sleep?ms=1`)).status, 404, 'debug endpoints off again');
  });

  test('access_log = false takes effect on reload', async () => {
    kiln.writeConfig({ debug_endpoints: 'false', log_level: 'info', access_log: 'false' });
    assert.equal((await reloaded()).msg, 'configuration reloaded');
    const quiet = await request(`${kiln.url}/health`);
    assert.equal(quiet.status, 200);
    await sleep(300);
    assert.ok(!kiln.logs.some((l) => l.request_id === quiet.headers['x-request-id'] && l.msg === 'access'),
      'no access line while access_log = false');

    kiln.writeConfig({ debug_endpoints: 'false', log_level: 'info', access_log: 'true' });
    assert.equal((await reloaded()).msg, 'configuration reloaded');
    const loud = await request(`${kiln.url}/health`);
    await kiln.waitForLog((l) => l.msg === 'access' && l.request_id === loud.headers['x-request-id'], 3000);
  });

  test('a broken file is refused with the reason; the previous configuration keeps serving', async () => {
    kiln.writeConfig({ debug_endpoints: 'true', log_level: 'info', access_log: 'true' });
    assert.equal((await reloaded()).msg, 'configuration reloaded');
    assert.equal((await request(`${kiln.url}/debug/sleep?ms=1`)).status, 200);

    const broken = [
      ['unknown key', 'debug_endpoints = false\nbogus_key = 1\n', /bogus_key/],
      ['out of range', 'debug_endpoints = false\ndb_pool_timeout_ms = 0\n', /db_pool_timeout_ms/],
      ['malformed bool', 'debug_endpoints = false\naccess_log = maybe\n', /access_log/],
      ['bad log level', 'debug_endpoints = false\nlog_level = chatty\n', /log_level/],
    ];
    for (const [what, text, reasonPattern] of broken) {
      kiln.writeConfigText(text);
      const line = await reloaded();
      assert.equal(line.msg, RELOAD_FAILED, `${what}: ${JSON.stringify(line)}`);
      assert.equal(line.level, 'error', what);
      assert.equal(typeof line.reason, 'string', `${what}: reason present`);
      assert.match(line.reason, reasonPattern, `${what}: reason names the key`);
      assert.equal(kiln.exitInfo, null, `${what}: still running`);
      // Old snapshot still in force: debug endpoints stay on although the file says off.
      const res = await request(`${kiln.url}/debug/sleep?ms=1`);
      assert.equal(res.status, 200, `${what}: previous configuration kept (debug_endpoints still true)`);
      assert.equal((await request(`${kiln.url}/health/ready`)).status, 200, `${what}: still ready`);
    }

    // A fixed file is accepted again afterwards.
    kiln.writeConfig({ debug_endpoints: 'false', log_level: 'info', access_log: 'true' });
    assert.equal((await reloaded()).msg, 'configuration reloaded');
    assert.equal((await request(`${kiln.url}/debug/sleep?ms=1`)).status, 404);
  });
});
