// dev.test.mjs: `kiln dev` and `kiln status`: first run creates a project
// directory with a cluster, the database and secrets; a second run reuses it;
// --reset starts over; a damaged project refuses to start; SIGTERM stops both
// the server and its PostgreSQL.
//
// kiln dev runs the private PostgreSQL copy of the test root (KILN_PG_BINDIR),
// which holds the freshly built extension suite.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  IS_ROOT, devDataDirs, devProject, freePort, lines, looksLikeCrash, psql, request, runKiln, startDev,
  testBindir, tempDir, tryConnect, within,
} from './lib/harness.mjs';

const SECRET_FILES = ['jwt_secret', 'db_password', 'publishable_key', 'secret_key', 'anon_key', 'service_role_key'];
const KEY_FIELDS = ['publishable_key', 'secret_key', 'anon_key', 'service_role_key'];

let bindir;
const newProjectDir = () => devProject();

async function status(dir) {
  const r = await runKiln(['status', '--dir', dir, '--json']);
  assert.equal(r.code, 0, `kiln status --json: ${r.stderr}`);
  let s;
  assert.doesNotThrow(() => { s = JSON.parse(r.stdout); }, `kiln status --json prints JSON, got:\n${r.stdout}`);
  return s;
}

function dbPort(dbUrl) {
  const u = new URL(dbUrl);
  assert.ok(u.port, `db_url names a port: ${dbUrl}`);
  return Number(u.port);
}

function decodeJwt(token) {
  const parts = token.split('.');
  assert.equal(parts.length, 3, `a JWT has three parts: ${token.slice(0, 20)}...`);
  const [h, p, sig] = parts;
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    signingInput: `${h}.${p}`,
    sig,
  };
}

async function stopDev(dev) {
  const exit = await dev.stop('SIGTERM', 30000);
  assert.deepEqual(exit, { code: 0, signal: null }, `kiln dev exits 0 on SIGTERM; stderr:\n${dev.stderr}`);
}

async function assertPostgresStopped(dir, port) {
  assert.equal(await tryConnect(port), 'ECONNREFUSED', `postgres of ${dir} no longer listens on ${port}`);
  for (const d of devDataDirs(dir)) {
    assert.ok(!fs.existsSync(path.join(d, 'postmaster.pid')), `${d}/postmaster.pid removed`);
  }
}

before(async () => {
  // kiln dev runs the private PostgreSQL copy with the fresh extension build.
  bindir = await testBindir();
});

describe('one project: first run, reuse, reset', () => {
  let dir;
  let first; // status of the first run

  test('first run creates the project, serves, and reports it', async () => {
    dir = newProjectDir();
    const dev = await startDev({ dir });
    try {
      const health = await request(`${dev.url}/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(health.json, { status: 'ok' });
      const ready = await request(`${dev.url}/health/ready`);
      assert.equal(ready.status, 200, ready.body);
      // Browser apps on a local dev server may call the API (cors_allowed_origins
      // from the base layer); other origins may not.
      for (const origin of ['http://localhost:5173', 'http://127.0.0.1:3000']) {
        const pre = await request(`${dev.url}/rest/v1/x`, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'GET' } });
        assert.equal(pre.status, 204, `${origin}: ${pre.body}`);
        assert.equal(pre.headers['access-control-allow-origin'], origin);
      }
      const evil = await request(`${dev.url}/rest/v1/x`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'GET' } });
      assert.equal(evil.status, 403);

      for (const f of SECRET_FILES) {
        const p = path.join(dir, 'secrets', f);
        assert.ok(fs.existsSync(p), `secrets/${f} exists`);
        assert.equal(fs.statSync(p).mode & 0o777, 0o600, `secrets/${f} is mode 0600`);
        assert.ok(fs.readFileSync(p, 'utf8').trim().length > 0, `secrets/${f} is not empty`);
      }
      assert.ok(fs.readFileSync(path.join(dir, 'secrets', 'jwt_secret'), 'utf8').trim().length >= 32, 'jwt secret >= 32 chars');
      assert.doesNotThrow(() => JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')), 'state.json is JSON');

      first = await status(dir);
      assert.equal(first.running, true);
      assert.equal(path.resolve(first.dir), path.resolve(dir));
      assert.match(first.api_url, new RegExp(`^http://(localhost|127\\.0\\.0\\.1):${dev.port}/?$`), `api_url ${first.api_url}`);
      assert.match(first.db_url, /^postgres(ql)?:\/\//, `db_url ${first.db_url}`);
      for (const k of KEY_FIELDS) {
        assert.equal(typeof first[k], 'string', `status has ${k}`);
        assert.equal(first[k], fs.readFileSync(path.join(dir, 'secrets', k), 'utf8').trim(), `status ${k} equals secrets/${k}`);
      }
      // The printed banner carries the URLs and keys.
      const out = dev.stdout + dev.stderr;
      assert.ok(out.includes(`:${dev.port}`), 'banner prints the API URL');
      assert.ok(out.includes(first.anon_key), 'banner prints the anon key');

      // anon / service_role keys are HS256 JWTs signed with the project's jwt secret.
      const jwtSecret = fs.readFileSync(path.join(dir, 'secrets', 'jwt_secret'), 'utf8').trim();
      for (const [k, role] of [['anon_key', 'anon'], ['service_role_key', 'service_role']]) {
        const jwt = decodeJwt(first[k]);
        assert.equal(jwt.header.alg, 'HS256', `${k} alg`);
        assert.equal(jwt.payload.role, role, `${k} role claim`);
        const expected = createHmac('sha256', jwtSecret).update(jwt.signingInput).digest('base64url');
        assert.equal(jwt.sig, expected, `${k} is signed with secrets/jwt_secret`);
      }

      // The database exists with the extension suite, and takes data.
      const ext = await psql(bindir, first.db_url, "select count(*) from pg_extension where extname = 'kiln_platform'");
      assert.equal(ext, '1', 'kiln_platform is created in the dev database');
      assert.equal(await psql(bindir, first.db_url, 'select current_database()'), 'kiln');
      await psql(bindir, first.db_url, "create table public.it_persist (v text); insert into public.it_persist values ('from the first run')");

      // Secrets never show up in the server's log.
      assert.ok(!dev.stderr.includes(jwtSecret), 'jwt secret not in the log');
    } finally {
      await stopDev(dev);
    }
    await assertPostgresStopped(dir, dbPort(first.db_url));
    const stopped = await status(dir);
    assert.equal(stopped.running, false, 'status reports not running after SIGTERM');
  });

  test('the project directory is private: DIR 0700 (0711 as root with the cluster inside), secrets/ 0700, files 0600', () => {
    assert.ok(first, 'the first run succeeded');
    // As root the cluster runs as postgres; when it lives inside DIR, postgres
    // must traverse DIR (x), never list or read it.
    const clusterInside = fs.existsSync(path.join(dir, 'pgdata', 'PG_VERSION'));
    const want = process.getuid() === 0 && clusterInside ? '711' : '700';
    assert.equal((fs.statSync(dir).mode & 0o777).toString(8), want, `mode of ${dir}`);
    assert.equal((fs.statSync(path.join(dir, 'secrets')).mode & 0o777).toString(8), '700', 'mode of secrets/');
    for (const f of SECRET_FILES) {
      assert.equal((fs.statSync(path.join(dir, 'secrets', f)).mode & 0o777).toString(8), '600', `mode of secrets/${f}`);
    }
  });

  test('the keys it hands out are registered in the database: each authenticates to its role', async () => {
    assert.ok(first, 'the first run succeeded');
    const dev = await startDev({ dir });
    try {
      const want = { publishable_key: 'anon', anon_key: 'anon', secret_key: 'service_role', service_role_key: 'service_role' };
      for (const [field, role] of Object.entries(want)) {
        const key = first[field].replace(/'/g, "''");
        const got = await psql(bindir, first.db_url,
          `begin; set session authorization authenticator; select kiln.authenticate('${key}', '{}'); ` +
          `select current_user; rollback;`);
        assert.equal(got.split('\n').pop(), role, `${field} authenticates as ${role}`);
      }
      // A key the project never issued is refused.
      await assert.rejects(psql(bindir, first.db_url,
        `begin; set session authorization authenticator; select kiln.authenticate('sb_secret_${'x'.repeat(32)}', '{}'); rollback;`),
        /KL|invalid|unknown|API key/i);
      // The master key encrypting the keys lives beside the cluster, 0600, 32 bytes, never in the database.
      const home = devDataDirs(dir).map((d) => path.dirname(d))[0];
      const mk = fs.statSync(path.join(home, 'master.key'));
      assert.equal(mk.size, 32);
      assert.equal((mk.mode & 0o777).toString(8), '600');
      assert.equal(await psql(bindir, first.db_url, "select current_setting('kiln.master_key_file')"), path.join(home, 'master.key'));
    } finally {
      await stopDev(dev);
    }
  });

  test('second run reuses the project: same keys, data persists', async () => {
    assert.ok(first, 'the first run succeeded');
    const dev = await startDev({ dir });
    let again;
    try {
      again = await status(dir);
      for (const k of KEY_FIELDS) assert.equal(again[k], first[k], `${k} unchanged on the second run`);
      assert.equal(again.running, true);
      assert.equal(await psql(bindir, again.db_url, 'select v from public.it_persist'), 'from the first run');
      assert.equal((await request(`${dev.url}/health/ready`)).status, 200);
    } finally {
      await stopDev(dev);
    }
    await assertPostgresStopped(dir, dbPort(again.db_url));
  });

  test('--reset starts over: new keys, old data gone', async () => {
    assert.ok(first, 'the first run succeeded');
    const dev = await startDev({ dir, args: ['--reset'] });
    let fresh;
    try {
      fresh = await status(dir);
      for (const k of KEY_FIELDS) assert.notEqual(fresh[k], first[k], `${k} regenerated by --reset`);
      assert.equal(await psql(bindir, fresh.db_url, "select count(*) from pg_class where relname = 'it_persist'"), '0');
      assert.equal((await request(`${dev.url}/health/ready`)).status, 200);
    } finally {
      await stopDev(dev);
    }
    await assertPostgresStopped(dir, dbPort(fresh.db_url));
  });

  test('a missing secret file refuses to start with one line', async () => {
    assert.ok(first, 'the first run succeeded');
    const s = await status(dir);
    fs.rmSync(path.join(dir, 'secrets', 'jwt_secret'));
    const dev = await startDev({ dir, waitReady: false });
    const exit = await within(dev.exited, 60000, 'still running');
    assert.notEqual(exit, 'still running', `kiln dev refused to start; it is running instead:\n${dev.stderr}`);
    assert.notEqual(exit.code, 0);
    const errLines = lines(dev.stderr);
    assert.equal(errLines.length, 1, `exactly one line on stderr:\n${dev.stderr}`);
    assert.ok(errLines[0].startsWith('kiln: '), errLines[0]);
    assert.match(errLines[0], /jwt_secret/, 'names the missing file');
    assert.ok(!looksLikeCrash(dev.stderr + dev.stdout));
    await assertPostgresStopped(dir, dbPort(s.db_url));
  });

  test('a short secret file refuses to start with one line', async () => {
    assert.ok(first, 'the first run succeeded');
    const s = await status(dir);
    fs.writeFileSync(path.join(dir, 'secrets', 'jwt_secret'), 'tooshort\n', { mode: 0o600 });
    const dev = await startDev({ dir, waitReady: false });
    const exit = await within(dev.exited, 60000, 'still running');
    assert.notEqual(exit, 'still running', `kiln dev refused to start; it is running instead:\n${dev.stderr}`);
    assert.notEqual(exit.code, 0);
    const errLines = lines(dev.stderr);
    assert.equal(errLines.length, 1, `exactly one line on stderr:\n${dev.stderr}`);
    assert.ok(errLines[0].startsWith('kiln: '), errLines[0]);
    assert.match(errLines[0], /jwt_secret/);
    assert.ok(!errLines[0].includes('tooshort'), 'the bad secret is not echoed');
    await assertPostgresStopped(dir, dbPort(s.db_url));
  });
});

describe('the master key', () => {
  test('a missing master key refuses to start with one line and stops PostgreSQL', async () => {
    const dir = newProjectDir();
    const dev = await startDev({ dir });
    const s = await status(dir);
    await stopDev(dev);
    const home = devDataDirs(dir).map((d) => path.dirname(d))[0];
    fs.rmSync(path.join(home, 'master.key'));
    const again = await startDev({ dir, waitReady: false });
    const exit = await within(again.exited, 60000, 'still running');
    assert.notEqual(exit, 'still running', `kiln dev refused to start; it is running instead:\n${again.stderr}`);
    assert.notEqual(exit.code, 0);
    const errLines = lines(again.stderr);
    assert.equal(errLines.length, 1, `exactly one line on stderr:\n${again.stderr}`);
    assert.match(errLines[0], /^kiln: master key .*master\.key is missing/);
    await assertPostgresStopped(dir, dbPort(s.db_url));
  });
});

describe('two projects side by side', () => {
  test('two dev instances on different dirs and ports run at once', async () => {
    const dirA = newProjectDir();
    const dirB = newProjectDir();
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await startDev({ dir: dirA, port: portA });
    const b = await startDev({ dir: dirB, port: portB });
    let sa;
    let sb;
    try {
      sa = await status(dirA);
      sb = await status(dirB);
      assert.notEqual(dbPort(sa.db_url), dbPort(sb.db_url), 'separate clusters on separate ports');
      for (const k of KEY_FIELDS) assert.notEqual(sa[k], sb[k], `${k} differs between projects`);
      for (const [dev, s] of [[a, sa], [b, sb]]) {
        assert.equal((await request(`${dev.url}/health/ready`)).status, 200);
        assert.equal(s.running, true);
      }
      await psql(bindir, sa.db_url, 'create table public.only_in_a (x int)');
      assert.equal(await psql(bindir, sb.db_url, "select count(*) from pg_class where relname = 'only_in_a'"), '0');
    } finally {
      await stopDev(a);
      // b keeps working after a stopped.
      assert.equal((await request(`${b.url}/health/ready`)).status, 200);
      await stopDev(b);
    }
    await assertPostgresStopped(dirA, dbPort(sa.db_url));
    await assertPostgresStopped(dirB, dbPort(sb.db_url));
  });
});

describe('where the cluster lives', () => {
  test('a DIR the cluster user cannot reach: the cluster goes elsewhere (root) and --reset removes its data', async () => {
    const dir = devProject({ parentMode: 0o700 });
    const dev = await startDev({ dir });
    let s;
    let state;
    try {
      s = await status(dir);
      state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700, 'project dir is mode 0700');
      if (IS_ROOT) {
        assert.match(state.cluster_home ?? '', /^\/var\/lib\/kiln\/dev\/./, `state.json records the cluster under /var/lib/kiln/dev: ${JSON.stringify(state)}`);
        assert.ok(fs.existsSync(path.join(state.cluster_home, 'pgdata', 'PG_VERSION')), 'the cluster is there');
        assert.ok(!fs.existsSync(path.join(dir, 'pgdata', 'PG_VERSION')), 'and not in DIR');
      } else {
        assert.ok(fs.existsSync(path.join(dir, 'pgdata', 'PG_VERSION')), 'the cluster is in DIR/pgdata');
      }
      await psql(bindir, s.db_url, 'create table public.placed (x int)');
    } finally {
      await stopDev(dev);
    }
    await assertPostgresStopped(dir, dbPort(s.db_url));

    const again = await startDev({ dir, args: ['--reset'] });
    try {
      const fresh = await status(dir);
      assert.notEqual(fresh.anon_key, s.anon_key, 'new keys after --reset');
      assert.equal(await psql(bindir, fresh.db_url, "select count(*) from pg_class where relname = 'placed'"), '0', 'old data gone');
    } finally {
      await stopDev(again);
    }
  });
});

describe('kiln status without a project', () => {
  test('reports a directory that holds no project: not running, or one line naming it', async () => {
    const missing = path.join(tempDir('kiln-dev-'), 'absent');
    const r = await runKiln(['status', '--dir', missing, '--json']);
    if (r.code === 0) {
      assert.equal(JSON.parse(r.stdout).running, false, r.stdout);
    } else {
      const errLines = lines(r.stderr);
      assert.equal(errLines.length, 1, r.stderr);
      assert.ok(errLines[0].startsWith('kiln: '), errLines[0]);
      assert.ok(errLines[0].includes(missing), errLines[0]);
    }
    assert.ok(!fs.existsSync(missing), 'kiln status does not create the directory');
  });
});
