// cli.test.mjs: the command line: help texts, `kiln config`, `kiln version`,
// and every start-up failure reported as exactly one `kiln: ...` line on
// stderr with the documented exit code.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  CONFIG_KEYS, REPO, freePort, lines, looksLikeCrash, randomSecret, request, runKiln, startCluster, startKiln, tempDir,
  writeConfigFile,
} from './lib/harness.mjs';

const COMMANDS = ['serve', 'dev', 'status', 'config', 'version', 'help'];

/** Asserts the failure shape: exit code, one `kiln: ` line on stderr, no crash. */
function assertOneLineFailure(r, { code, mentions = [] }, what) {
  const detail = `${what}: exit ${r.code ?? r.signal}\n--- stderr ---\n${r.stderr}--- stdout ---\n${r.stdout}`;
  assert.equal(r.timedOut, false, `${what}: did not finish in time\n${detail}`);
  assert.equal(r.signal, null, detail);
  assert.notEqual(r.code, 0, detail);
  if (code !== undefined) assert.equal(r.code, code, detail);
  const errLines = lines(r.stderr);
  assert.equal(errLines.length, 1, `${what}: exactly one line on stderr\n${detail}`);
  assert.ok(errLines[0].startsWith('kiln: '), `${what}: the line starts with "kiln: "\n${detail}`);
  assert.ok(!looksLikeCrash(r.stderr + r.stdout), `${what}: no crash or stack trace\n${detail}`);
  for (const m of mentions) {
    if (m instanceof RegExp) assert.match(errLines[0], m, `${what}: message matches ${m}`);
    else assert.ok(errLines[0].includes(m), `${what}: message mentions ${JSON.stringify(m)}\n${detail}`);
  }
  return errLines[0];
}

describe('help and information', () => {
  test('kiln --help lists every command', async () => {
    const r = await runKiln(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`\\b${c}\\b`), `--help mentions ${c}`);
  });

  test('kiln help serve equals kiln serve --help', async () => {
    const a = await runKiln(['help', 'serve']);
    const b = await runKiln(['serve', '--help']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(a.stdout, b.stdout);
  });

  for (const cmd of ['serve', 'config']) {
    test(`kiln ${cmd} --help documents every configuration key`, async () => {
      const r = await runKiln([cmd, '--help']);
      assert.equal(r.code, 0, r.stderr);
      for (const key of CONFIG_KEYS) assert.ok(r.stdout.includes(key), `kiln ${cmd} --help mentions ${key}`);
    });
  }

  test('kiln dev --help and kiln status --help mention --dir', async () => {
    for (const cmd of ['dev', 'status']) {
      const r = await runKiln([cmd, '--help']);
      assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
      assert.match(r.stdout, /--dir\b/, `kiln ${cmd} --help`);
    }
  });

  test('kiln version prints the VERSION file', async () => {
    const version = fs.readFileSync(path.join(REPO, 'VERSION'), 'utf8').trim();
    const r = await runKiln(['version']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(version), `"${r.stdout.trim()}" contains ${version}`);
    assert.equal(r.stderr, '');
  });
});

describe('kiln config', () => {
  test('prints key = value for every key with defaults', async () => {
    const r = await runKiln(['config']);
    assert.equal(r.code, 0, r.stderr);
    const map = new Map();
    for (const l of lines(r.stdout)) {
      const m = /^([a-z_]+) = ?(.*)$/.exec(l);
      if (m) map.set(m[1], m[2]);
    }
    for (const key of CONFIG_KEYS) assert.ok(map.has(key), `kiln config prints ${key}`);
    assert.equal(map.get('listen_address'), '127.0.0.1');
    assert.equal(map.get('port'), '8000');
    assert.equal(map.get('db_pool_size'), '10');
    assert.equal(map.get('max_body_bytes'), '10485760');
    assert.equal(map.get('log_level'), 'info');
    assert.equal(map.get('access_log'), 'true');
    assert.equal(map.get('debug_endpoints'), 'false');
    assert.equal(map.get('db_url'), '', 'an unset secret shows empty');
    for (const retired of ['jwt_secret', 'publishable_key', 'secret_key']) {
      assert.ok(!map.has(retired), `the retired key ${retired} is not printed`);
    }
  });

  test('masks secrets: the secret text never appears', async () => {
    const password = randomSecret(24);
    const r = await runKiln(['config', '--db-url', `postgresql://kiln:${password}@db.example/app`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(password) && !r.stderr.includes(password), 'a secret leaked into the output');
    assert.match(r.stdout, /^db_url = \*{8}$/m);
  });

  test('retired keys (jwt_secret, publishable_key, secret_key) are warnings, never printed', async () => {
    const jwt = randomSecret(48);
    const pub = `sb_publishable_${randomSecret(24)}`;
    const sec = `sb_secret_${randomSecret(24)}`;
    const r = await runKiln(['config', '--jwt-secret', jwt, `--publishable-key=${pub}`],
      { env: { KILN_SECRET_KEY: sec } });
    assert.equal(r.code, 0, r.stderr);
    for (const s of [jwt, pub, sec]) {
      assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), 'a retired key\'s value leaked into the output');
    }
    assert.match(r.stdout, /^# warning: jwt_secret \(flag --jwt_secret\) is no longer read and is ignored; .*kiln\.set_legacy_jwt_secret/m);
    assert.match(r.stdout, /^# warning: publishable_key \(flag --publishable_key\) is no longer read.*kiln\.import_api_key/m);
    assert.match(r.stdout, /^# warning: secret_key \(environment variable KILN_SECRET_KEY\) is no longer read/m);
    assert.doesNotMatch(r.stdout, /^(jwt_secret|publishable_key|secret_key) =/m);
  });

  test('docs/config.md holds the table `kiln config --markdown` prints', async () => {
    const r = await runKiln(['config', '--markdown']);
    assert.equal(r.code, 0, r.stderr);
    const doc = fs.readFileSync(path.join(REPO, 'docs', 'config.md'), 'utf8');
    assert.ok(doc.includes(r.stdout.trim()), 'docs/config.md is stale: regenerate its table with build/kiln config --markdown');
  });

  test('precedence: file < env < flag', async () => {
    const dir = tempDir();
    const file = writeConfigFile(path.join(dir, 'kiln.conf'), { port: 8101, threads: 3, db_pool_size: 7 });
    const r = await runKiln(['config', '--config', file, '--db-pool-size', '9'], { env: { KILN_THREADS: '5' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^port = 8101$/m, 'file value');
    assert.match(r.stdout, /^threads = 5$/m, 'env beats file');
    assert.match(r.stdout, /^db_pool_size = 9$/m, 'flag beats file');
    const r2 = await runKiln(['config', '--threads', '6'], { env: { KILN_CONFIG: file, KILN_THREADS: '5' } });
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, /^port = 8101$/m, 'KILN_CONFIG names the file');
    assert.match(r2.stdout, /^threads = 6$/m, 'flag beats env');
  });
});

describe('bad input: one line on stderr, non-zero exit', () => {
  let cluster;
  let dir;
  const secret = randomSecret(48);

  before(async () => {
    cluster = await startCluster();
    dir = tempDir();
  });
  after(async () => { await cluster?.stop(); });

  test('unknown key in a config file names the key and file:line (exit 2)', async () => {
    const file = path.join(dir, 'unknown.conf');
    fs.writeFileSync(file, '# comment\nport = 8123\n\nfrobnicate = yes\n');
    const r = await runKiln(['serve', '--config', file, '--db-url', cluster.dbUrl]);
    assertOneLineFailure(r, { code: 2, mentions: ['frobnicate', `${file}:4`] }, 'unknown key in file');
  });

  test('unknown flag names the flag (exit 2)', async () => {
    const r = await runKiln(['serve', '--db-url', cluster.dbUrl, '--no-such-flag', '1']);
    assertOneLineFailure(r, { code: 2, mentions: ['--no-such-flag'] }, 'unknown flag');
  });

  test('unknown command (exit 2)', async () => {
    const r = await runKiln(['frobnicate']);
    assertOneLineFailure(r, { code: 2, mentions: ['frobnicate'] }, 'unknown command');
  });

  test('out-of-range --port 70000 names the key, the flag and the range (exit 2)', async () => {
    const r = await runKiln(['serve', '--db-url', cluster.dbUrl, '--port', '70000']);
    assertOneLineFailure(r, { code: 2, mentions: ['port', '70000', '65535'] }, '--port 70000');
  });

  test('out-of-range value in the environment names the variable (exit 2)', async () => {
    const r = await runKiln(['serve', '--db-url', cluster.dbUrl], { env: { KILN_DB_POOL_SIZE: '0' } });
    assertOneLineFailure(r, { code: 2, mentions: ['db_pool_size', 'KILN_DB_POOL_SIZE'] }, 'KILN_DB_POOL_SIZE=0');
  });

  test('malformed value: --threads abc (exit 2)', async () => {
    const r = await runKiln(['serve', '--db-url', cluster.dbUrl, '--threads', 'abc']);
    assertOneLineFailure(r, { code: 2, mentions: ['threads'] }, '--threads abc');
  });

  test('missing db_url (exit 2)', async () => {
    const r = await runKiln(['serve']);
    const line = assertOneLineFailure(r, { code: 2, mentions: ['db_url'] }, 'missing db_url');
    assert.doesNotMatch(line, /KILN_[A-Z0-9_]*[a-z]/, `a hinted environment variable is one kiln reads (upper case): ${line}`);
  });

  test('an old config file with jwt_secret still starts; one warn line names key and file:line, never the value', async () => {
    const kiln = await startKiln({ dbUrl: cluster.dbUrl, config: { jwt_secret: secret, access_log: false } });
    try {
      const line = await kiln.waitForLog((l) => l.msg === 'ignored configuration key', 2000);
      assert.ok(line, `a warning was logged\n${kiln.stderr}`);
      assert.equal(line.level, 'warn');
      const want = `jwt_secret (${kiln.configPath}:2) is no longer read and is ignored`; // line 1 is a comment
      assert.ok(line.detail.startsWith(want), `${line.detail} starts with ${want}`);
      assert.ok(!kiln.stderr.includes(secret), 'the retired secret is not logged');
      const r = await request(`${kiln.url}/health`);
      assert.equal(r.status, 200);
    } finally {
      await kiln.stop();
    }
  });

  test('config file that does not exist (exit 2)', async () => {
    const missing = path.join(dir, 'nope.conf');
    const r = await runKiln(['serve', '--config', missing, '--db-url', cluster.dbUrl]);
    assertOneLineFailure(r, { code: 2, mentions: [missing] }, 'missing config file');
  });

  test('unreachable database (exit 1, within the connect timeout)', async () => {
    const closed = await freePort();
    const t0 = Date.now();
    const r = await runKiln(['serve', '--port', String(await freePort()),
      '--db-url', `postgresql://postgres@127.0.0.1:${closed}/x`, '--db-connect-timeout-s', '2'], { timeoutMs: 15000 });
    assertOneLineFailure(r, { code: 1 }, 'unreachable database');
    assert.ok(Date.now() - t0 < 10000, 'gave up promptly');
  });

  test('port in use names the port (exit 1)', async () => {
    const srv = net.createServer();
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const { port } = srv.address();
    try {
      const r = await runKiln(['serve', '--port', String(port), '--db-url', cluster.dbUrl]);
      assertOneLineFailure(r, { code: 1, mentions: [String(port)] }, 'port in use');
    } finally {
      await new Promise((resolve) => srv.close(resolve));
    }
  });

  test('listen_address that is not an IP literal (exit 2)', async () => {
    const r = await runKiln(['serve', '--db-url', cluster.dbUrl, '--listen-address', 'localhost.example']);
    assertOneLineFailure(r, { code: 2, mentions: ['listen_address'] }, 'bad listen_address');
  });
});
