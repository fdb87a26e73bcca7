// harness.mjs: what every integration test file uses to drive the real
// `kiln` binary against real, throwaway PostgreSQL clusters.
//
// Starts clusters through tests/lib/cluster (a private copy of the server
// with the extension suite installed), starts daemons on free loopback ports,
// runs one-shot CLI invocations, and makes plain HTTP requests on fresh
// connections. Everything it starts is registered and stopped: by the
// caller's stop(), by a root-level after() hook once the file's tests are
// done, and, as a last resort, with SIGKILL / `pg_ctl -m immediate` when the
// process exits or is interrupted, so a failing test never leaks a postgres
// or kiln process.
//
// It never touches clusters it did not start (`kiln dev` projects use the
// system's PostgreSQL binaries, in their own directories) and never asserts:
// test files do the asserting; the harness throws only when something it was
// asked to start does not come up, with the output that explains why.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const KILN_BIN = process.env.KILN_BIN || path.join(REPO, 'build', 'kiln');
export const CLUSTER = path.join(REPO, 'tests', 'lib', 'cluster');
export const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
export const PG_USER = process.env.KILN_TEST_USER || 'postgres';

// Every key of the configuration table in docs/daemon-contract.md.
export const CONFIG_KEYS = [
  'listen_address', 'port', 'threads', 'max_connections', 'connection_timeout_s',
  'max_body_bytes', 'shutdown_timeout_s', 'db_url', 'db_pool_size',
  'db_pool_timeout_ms', 'db_connect_timeout_s', 'db_schemas', 'db_max_rows',
  'anon_without_key', 'db_tx_allow_override', 'db_aggregates_enabled', 'db_plan_enabled', 'cors_allowed_origins', 'log_level', 'access_log', 'debug_endpoints',
  'trusted_proxies',
  'auth_signup_enabled', 'auth_anonymous_enabled', 'auth_autoconfirm',
  'auth_password_min_length', 'auth_access_token_ttl_s', 'auth_refresh_reuse_interval_s',
  'auth_session_timebox_s', 'auth_session_inactivity_timeout_s',
  'auth_rate_limit_sign_in', 'auth_rate_limit_refresh',
  'auth_site_url', 'auth_redirect_urls', 'auth_external_url', 'auth_providers', 'auth_otp_ttl_s',
  'auth_rate_limit_email', 'auth_rate_limit_verify',
  'auth_rate_limit_mfa', 'auth_email_min_interval_s', 'auth_backoff_failures',
  'auth_backoff_account_failures', 'auth_backoff_max_s',
  'smtp_url', 'smtp_user', 'smtp_password', 'smtp_from', 'mail_templates_dir', 'mail_max_attempts',
  'auth_phone_signup_enabled', 'auth_phone_autoconfirm', 'auth_rate_limit_sms', 'auth_sms_min_interval_s', 'sms_provider', 'sms_url',
  'sms_twilio_account_sid', 'sms_twilio_auth_token', 'sms_from', 'sms_webhook_secret', 'sms_template',
  'sms_max_attempts',
];

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with promise's value, or with `onTimeout` after ms; the timer is
 *  cleared either way so it never keeps the process alive. */
export function within(promise, ms, onTimeout = 'timeout') {
  let timer;
  const t = new Promise((resolve) => { timer = setTimeout(() => resolve(onTimeout), ms); });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// Registry of everything started, and the cleanup that always runs.

const live = new Set(); // entries: { name, stop: async () => void, kill: () => void (sync) }
const privateRoots = new Set();

function register(entry) {
  live.add(entry);
  return () => live.delete(entry);
}

// KILN_HARNESS_TRACE=1 logs every stop/kill to stderr (for leak hunting).
const trace = process.env.KILN_HARNESS_TRACE
  ? (msg) => process.stderr.write(`harness: ${msg}\n`)
  : () => {};

/** Stops everything still running (gracefully, then by force), newest
 *  first, then removes the temporary directories. Idempotent. */
export async function stopAll() {
  const entries = [...live].reverse();
  for (const entry of entries) {
    trace(`stopping ${entry.name}`);
    try {
      await entry.stop();
    } catch (err) {
      process.stderr.write(`harness: stopping ${entry.name} failed: ${err.message}\n`);
      try { entry.kill(); } catch { /* last resort already failed */ }
    }
    live.delete(entry);
  }
  removePrivateRoots();
}

function removePrivateRoots() {
  for (const root of privateRoots) {
    fs.rmSync(root, { recursive: true, force: true });
    privateRoots.delete(root);
  }
}

function killAllSync() {
  for (const entry of [...live].reverse()) {
    trace(`killing ${entry.name}`);
    try { entry.kill(); } catch { /* nothing more we can do */ }
    live.delete(entry);
  }
  try { removePrivateRoots(); } catch { /* best effort at exit */ }
}

// Root-level hook: runs after every test of the importing file, pass or fail.
after(stopAll);
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killAllSync();
    process.exit(128 + (os.constants.signals[sig] || 0));
  });
}

// ---------------------------------------------------------------------------
// Small utilities.

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A fresh temporary directory (mode 755 so the cluster user can reach it),
 *  removed by stopAll()/at exit. */
export function tempDir(prefix = 'kiln-it-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  privateRoots.add(dir);
  return dir;
}

/** Random printable secret of n characters. */
export function randomSecret(n = 48) {
  return randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
}

/** Runs a command to completion. Never throws for a non-zero exit. */
export function run(cmd, args, { env, timeoutMs = 60000, input, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: env || process.env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const unregister = register({
      name: `${path.basename(cmd)} ${args.join(' ')}`,
      stop: async () => { child.kill('SIGKILL'); },
      kill: () => child.kill('SIGKILL'),
    });
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); unregister(); reject(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      unregister();
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** Runs a command; throws with its output when it exits non-zero. */
async function mustRun(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}\n${r.stdout}${r.stderr}`);
  }
  return r;
}

/** argv prefix that runs a command as the cluster user when we are root. */
export function asPgUser(cmd, args) {
  return IS_ROOT ? ['runuser', ['-u', PG_USER, '--', cmd, ...args]] : [cmd, args];
}

/** Environment for a child daemon: ours minus every KILN_* variable (the
 *  harness's own KILN_BIN, KILN_COUNTS, ... must not reach kiln's config
 *  layer), plus `extra`. */
export function kilnEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('KILN_')) env[k] = v;
  }
  return { ...env, ...extra };
}

// ---------------------------------------------------------------------------
// HTTP on a fresh connection per request (no keep-alive pool), so tests see
// exactly what the server does with each connection.

/**
 * request(url, {method, headers, body, timeoutMs}) -> {status, headers, body, json}
 * json is the parsed body or undefined when it does not parse. Rejects on a
 * connection error (err.code, e.g. ECONNREFUSED) or timeout.
 */
export function request(url, { method = 'GET', headers = {}, body, timeoutMs = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`${method} ${url}: timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/** Opens a bare TCP connection; resolves 'connected' or the error code. */
export function tryConnect(port, host = '127.0.0.1', timeoutMs = 3000) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (outcome) => { sock.destroy(); resolve(outcome); };
    sock.setTimeout(timeoutMs, () => done('timeout'));
    sock.on('connect', () => done('connected'));
    sock.on('error', (err) => done(err.code || String(err)));
  });
}

/** Polls fn() until it returns a truthy value; returns that value, or throws
 *  `what` with the last value/error after timeoutMs. */
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------
// Clusters.

let clusterSeq = 0;

let rootPromise = null;
/** The cluster root with the private PostgreSQL copy (KILN_TEST_ROOT, or one
 *  made once per test process). */
function testRoot() {
  if (!rootPromise) {
    rootPromise = (async () => {
      const root = process.env.KILN_TEST_ROOT || tempDir('kiln-pg-');
      if (!fs.existsSync(path.join(root, 'install', '.done'))) {
        await mustRun(CLUSTER, ['install', root], { timeoutMs: 300000 });
      }
      return root;
    })();
  }
  return rootPromise;
}

/** bin directory of the private PostgreSQL copy that holds the freshly built
 *  extension suite; `kiln dev` is pointed at it with KILN_PG_BINDIR, so tests
 *  never need the suite installed system-wide. */
export async function testBindir() {
  return copyBindir(await testRoot());
}

let bindirCache = new Map();
async function copyBindir(root) {
  if (!bindirCache.has(root)) {
    const r = await mustRun(CLUSTER, ['bindir', root]);
    bindirCache.set(root, r.stdout.trim());
  }
  return bindirCache.get(root);
}

/**
 * startCluster() -> {port, host, socketDir, dataDir, dbUrl, bindir,
 *                    psql(sql, {db}), pgStop(mode), pgStart(), stop()}
 * A fresh initdb'd cluster on a free loopback port, superuser postgres,
 * trust auth. pgStop/pgStart stop and start the same data directory (for
 * outage tests); stop() ends and deletes it.
 */
export async function startCluster() {
  const root = await testRoot();
  const bindir = await copyBindir(root);
  const name = `c${process.pid}_${++clusterSeq}`;
  let port;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const r = await run(CLUSTER, ['start', root, name, String(port)], { timeoutMs: 120000 });
    if (r.code === 0) break;
    if (attempt >= 2) throw new Error(`tests/lib/cluster start failed:\n${r.stdout}${r.stderr}`);
  }
  const socketDir = path.join(root, name);
  const dataDir = path.join(socketDir, 'data');
  const logFile = path.join(socketDir, 'postgres.log');
  const pgCtl = path.join(bindir, 'pg_ctl');

  const pgCtlRun = (args, timeoutMs = 90000) => {
    const [cmd, argv] = asPgUser(pgCtl, args);
    return run(cmd, argv, { timeoutMs });
  };
  const pgStop = async (mode = 'fast') => {
    if (!fs.existsSync(path.join(dataDir, 'postmaster.pid'))) return;
    const r = await pgCtlRun(['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    if (r.code !== 0) throw new Error(`pg_ctl stop failed:\n${r.stdout}${r.stderr}`);
  };
  // The same server options tests/lib/cluster starts with.
  const pgStart = async () => {
    const r = await pgCtlRun(['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o',
      `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, 'start']);
    if (r.code !== 0) {
      let log = '';
      try { log = fs.readFileSync(logFile, 'utf8').slice(-4000); } catch { /* no log */ }
      throw new Error(`pg_ctl start failed:\n${r.stdout}${r.stderr}${log}`);
    }
  };

  let stopped = false;
  const entry = {
    name: `cluster ${name}`,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await run(CLUSTER, ['stop', root, name], { timeoutMs: 90000 });
      fs.rmSync(socketDir, { recursive: true, force: true });
    },
    kill: () => {
      if (stopped) return;
      stopped = true;
      if (fs.existsSync(path.join(dataDir, 'postmaster.pid'))) {
        const [cmd, argv] = asPgUser(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop']);
        spawnSync(cmd, argv, { stdio: 'ignore', timeout: 40000 });
      }
      fs.rmSync(socketDir, { recursive: true, force: true });
    },
  };
  register(entry);

  const cluster = {
    port,
    host: '127.0.0.1',
    socketDir,
    dataDir,
    bindir,
    dbUrl: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    psql: (sql, opts = {}) => psql(bindir, `postgresql://postgres@127.0.0.1:${port}/${opts.db || 'postgres'}`, sql, opts),
    pgStop,
    pgStart,
    stop: async () => { await entry.stop(); live.delete(entry); },
  };
  return cluster;
}

/**
 * psql(bindir, conninfo, sql) -> stdout trimmed (unaligned, tuples only,
 * `|`-separated). Throws with psql's stderr on any error.
 */
export async function psql(bindir, conninfo, sql, { timeoutMs = 30000 } = {}) {
  const r = await run(path.join(bindir, 'psql'),
    ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', conninfo, '-c', sql],
    { timeoutMs, env: { ...process.env, PGCONNECT_TIMEOUT: '5' } });
  if (r.code !== 0) throw new Error(`psql failed (${r.code ?? r.signal}): ${r.stderr.trim()}\nSQL: ${sql}`);
  return r.stdout.trim();
}

/** The system PostgreSQL's bin directory. */
export function systemBindir() {
  const r = spawnSync(process.env.PG_CONFIG || 'pg_config', ['--bindir'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pg_config --bindir failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** The system PostgreSQL's share directory. */
export function systemSharedir() {
  const r = spawnSync(process.env.PG_CONFIG || 'pg_config', ['--sharedir'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pg_config --sharedir failed: ${r.stderr}`);
  return r.stdout.trim();
}

// ---------------------------------------------------------------------------
// The daemon.

/** Writes a `key = value` config file from an object; returns its path. */
export function writeConfigFile(file, config) {
  const lines = ['# written by tests/integration/lib/harness.mjs'];
  for (const [k, v] of Object.entries(config)) lines.push(`${k} = ${v}`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function assertBinary() {
  if (!fs.existsSync(KILN_BIN)) {
    throw new Error(`kiln binary not found at ${KILN_BIN}: build it with \`make\` (or set KILN_BIN)`);
  }
}

/**
 * Wraps a spawned kiln process: collects stdout, stderr lines and parsed
 * JSON log lines; registers it for cleanup.
 * Returns {proc, logs, stderrLines, stderr (text so far), stdout (text so
 * far), exitInfo (null while running), exited, waitForLog, waitForOutput,
 * stop, kill}; callers add their own fields with Object.assign (the getters
 * must stay live, so never copy it with spread).
 */
export function superviseKiln(proc, name) {
  const logs = [];
  const stderrLines = [];
  let stdoutText = '';
  const waiters = new Set();
  const notify = () => { for (const w of [...waiters]) w(); };

  readline.createInterface({ input: proc.stderr }).on('line', (line) => {
    stderrLines.push(line);
    try {
      const obj = JSON.parse(line);
      if (obj && typeof obj === 'object') logs.push(obj);
    } catch { /* not JSON: kept in stderrLines */ }
    notify();
  });
  proc.stdout.setEncoding('utf8').on('data', (d) => { stdoutText += d; notify(); });

  let exitInfo = null;
  // `exited` resolves once the process is gone and its output has been read
  // (stdio closed), or 1 s after exit when a child of it still holds the
  // pipes open.
  let closed = false;
  const exited = new Promise((resolve) => {
    const finish = () => { closed = true; notify(); resolve(exitInfo); };
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      setTimeout(finish, 1000).unref();
    });
    proc.on('close', (code, signal) => {
      if (!exitInfo) exitInfo = { code, signal };
      finish();
    });
    proc.on('error', (err) => {
      exitInfo = { code: null, signal: null, error: err.message };
      finish();
    });
  });

  const stderr = () => stderrLines.join('\n');
  const stdout = () => stdoutText;
  const context = () => `\n--- ${name} stderr ---\n${stderr()}\n--- stdout ---\n${stdoutText}`;

  // Resolves with check()'s first truthy value; rejects on timeout, or as
  // soon as the process is gone without check() having come true.
  const waitUntil = (check, timeoutMs, what) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${context()}`));
    }, timeoutMs);
    const waiter = () => {
      const v = check();
      if (v) { cleanup(); resolve(v); return; }
      if (closed) {
        cleanup();
        reject(new Error(`${name} exited (${JSON.stringify(exitInfo)}) while waiting for ${what}${context()}`));
      }
    };
    const cleanup = () => { clearTimeout(timer); waiters.delete(waiter); };
    waiters.add(waiter);
    waiter();
  });

  /** Resolves with the first parsed log line (index >= from) matching predicate. */
  const waitForLog = (predicate, timeoutMs = 5000, from = 0) =>
    waitUntil(() => logs.slice(from).find(predicate), timeoutMs, `a log line matching ${predicate}`);

  /** Resolves when stdout+stderr contains text (string or RegExp). */
  const waitForOutput = (pattern, timeoutMs = 5000) => waitUntil(() => {
    const all = stdoutText + '\n' + stderr();
    return typeof pattern === 'string' ? all.includes(pattern) : pattern.test(all);
  }, timeoutMs, `output matching ${pattern}`);

  const kill = () => { if (!exitInfo) proc.kill('SIGKILL'); };

  /** Sends signal and resolves {code, signal} once the process exits;
   *  SIGKILLs it and rejects when it has not exited within timeoutMs. */
  const stop = async (signal = 'SIGTERM', timeoutMs = 40000) => {
    if (!exitInfo) {
      proc.kill(signal);
      const outcome = await within(exited, timeoutMs, 'timeout');
      if (outcome === 'timeout') {
        proc.kill('SIGKILL');
        await exited;
        throw new Error(`${name} did not exit within ${timeoutMs} ms of ${signal}\n${stderr()}`);
      }
    }
    return exitInfo;
  };

  return {
    proc, logs, stderrLines, exited, waitForLog, waitForOutput, stop, kill,
    get stderr() { return stderr(); },
    get stdout() { return stdout(); },
    get exitInfo() { return exitInfo; },
  };
}

// The auth rate limits and the backoff are on by default (docs/auth.md). A
// test file signs in hundreds of times from 127.0.0.1, so startKiln turns
// them off (as KILN_* variables: the file and flags still win) unless the
// caller passes `limits: true`; tests/integration/auth_limits.test.mjs
// tests them at their defaults.
export const LIMITS_OFF = {
  KILN_AUTH_RATE_LIMIT_SIGN_IN: '0', KILN_AUTH_RATE_LIMIT_REFRESH: '0',
  KILN_AUTH_RATE_LIMIT_EMAIL: '0', KILN_AUTH_RATE_LIMIT_VERIFY: '0',
  KILN_AUTH_RATE_LIMIT_MFA: '0', KILN_AUTH_EMAIL_MIN_INTERVAL_S: '0',
  KILN_AUTH_BACKOFF_FAILURES: '0', KILN_AUTH_RATE_LIMIT_SMS: '0',
  KILN_AUTH_SMS_MIN_INTERVAL_S: '0',
};

/**
 * startKiln({dbUrl, args, env, config, port, waitHealthy, limits})
 *   -> {url, port, proc, logs, stderrLines, stderr, stdout, exitInfo,
 *       configPath, writeConfig(obj), reload(), stop(signal), waitForLog(pred, ms, from), exited}
 * Spawns `kiln serve --port P --db-url URL [--config F] ...args`
 * and waits (15 s) until GET /health answers 200.
 * dbUrl null: the flag is left out. config: object written as a
 * config file (restartable with writeConfig + reload()). limits: keep the
 * auth rate limits at their configured values (else LIMITS_OFF).
 */
export async function startKiln({ dbUrl, args = [], env = {}, config = null, port, waitHealthy = true, timeoutMs = 15000, limits = false } = {}) {
  assertBinary();
  port = port || await freePort();
  const argv = ['serve', '--port', String(port)];
  if (dbUrl) argv.push('--db-url', dbUrl);
  let configPath = null;
  if (config) {
    configPath = path.join(tempDir('kiln-conf-'), 'kiln.conf');
    writeConfigFile(configPath, config);
    argv.push('--config', configPath);
  }
  argv.push(...args);

  const proc = spawn(KILN_BIN, argv, { env: kilnEnv(limits ? env : { ...LIMITS_OFF, ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  const k = superviseKiln(proc, `kiln serve :${port}`);
  const entry = {
    name: `kiln serve :${port}`,
    stop: async () => { try { await k.stop('SIGTERM', 20000); } catch { k.kill(); } },
    kill: k.kill,
  };
  register(entry);
  k.exited.then(() => live.delete(entry));

  const url = `http://127.0.0.1:${port}`;
  const handle = Object.assign(k, {
    url,
    port,
    configPath,
    argv,
    writeConfig: (obj) => writeConfigFile(configPath, obj),
    writeConfigText: (text) => fs.writeFileSync(configPath, text),
    reload: () => proc.kill('SIGHUP'),
  });

  if (waitHealthy) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (k.exitInfo) {
        throw new Error(`kiln exited (${JSON.stringify(k.exitInfo)}) before /health answered\nargs: ${argv.join(' ')}\n--- stderr ---\n${k.stderr}`);
      }
      try {
        const r = await request(`${url}/health`, { timeoutMs: 1000 });
        if (r.status === 200) break;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) {
        k.kill();
        throw new Error(`kiln did not answer GET /health within ${timeoutMs} ms\nargs: ${argv.join(' ')}\n--- stderr ---\n${k.stderr}`);
      }
      await sleep(50);
    }
  }
  return handle;
}

/**
 * runKiln(args, {env, timeoutMs, input}) -> {code, signal, stdout, stderr, timedOut}
 * One-shot CLI invocation with KILN_* stripped from the environment (plus env).
 */
export async function runKiln(args, { env = {}, timeoutMs = 15000, input, cwd } = {}) {
  assertBinary();
  return run(KILN_BIN, args, { env: kilnEnv(env), timeoutMs, input, cwd });
}

/** Non-empty lines of a text. */
export const lines = (text) => text.split('\n').filter((l) => l.trim() !== '');

/** Signs of a crash or a stack trace in output. */
export function looksLikeCrash(text) {
  return /(AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:|Segmentation fault|core dumped|Aborted|^\s+at\s|^#\d+\s+0x|Traceback)/m.test(text);
}

// ---------------------------------------------------------------------------
// `kiln dev` instances.

/**
 * Data directories a `kiln dev` project may have started a cluster in: DIR's
 * pgdata/ and any directory named in DIR/state.json that holds PG_VERSION.
 */
export function devDataDirs(dir) {
  const found = new Set();
  const consider = (p) => {
    if (typeof p === 'string' && path.isAbsolute(p) && fs.existsSync(path.join(p, 'PG_VERSION'))) found.add(p);
  };
  consider(path.join(dir, 'pgdata'));
  try {
    const walk = (v) => {
      if (typeof v === 'string') { consider(v); consider(path.join(v, 'pgdata')); consider(path.join(v, 'data')); }
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')));
  } catch { /* no state yet */ }
  return [...found];
}

// bin directory the dev projects were started with (see startDev).
let devBindir = null;

function stopDevClustersSync(dir) {
  const pgCtl = path.join(devBindir || systemBindir(), 'pg_ctl');
  for (const data of devDataDirs(dir)) {
    if (fs.existsSync(path.join(data, 'postmaster.pid'))) {
      const [cmd, argv] = asPgUser(pgCtl, ['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']);
      spawnSync(cmd, argv, { stdio: 'ignore', timeout: 40000 });
    }
  }
}

/** Removes a dev project and any cluster it keeps outside DIR under
 *  /var/lib/kiln/dev (only there: never anything else outside DIR). */
export function removeDevProject(dir) {
  stopDevClustersSync(dir);
  for (const data of devDataDirs(dir)) {
    if (data.startsWith('/var/lib/kiln/dev/')) {
      const rel = path.relative('/var/lib/kiln/dev', data).split(path.sep)[0];
      fs.rmSync(path.join('/var/lib/kiln/dev', rel), { recursive: true, force: true });
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * devProject({parentMode}) -> path of a not yet existing project directory
 * inside a fresh temporary parent (mode parentMode, default 0755). Registered
 * so that, after the kiln dev processes using it have stopped, its clusters
 * are stopped and it is removed together with any cluster kept for it under
 * /var/lib/kiln/dev.
 */
export function devProject({ parentMode = 0o755 } = {}) {
  const parent = tempDir('kiln-dev-');
  fs.chmodSync(parent, parentMode);
  const dir = path.join(parent, 'proj');
  register({
    name: `dev project ${dir}`,
    stop: async () => removeDevProject(dir),
    kill: () => removeDevProject(dir),
  });
  return dir;
}

/**
 * startDev({dir, port, args, env, waitReady, timeoutMs}) -> supervised
 * `kiln dev --dir DIR --port P ...args` plus {url, port, dir}. With
 * waitReady (default) waits for "Kiln is running" and GET /health 200.
 * Cleanup stops the process (SIGTERM, then SIGKILL) and then any cluster
 * still running for DIR.
 */
export async function startDev({ dir, port, args = [], env = {}, waitReady = true, timeoutMs = 90000 } = {}) {
  assertBinary();
  port = port || await freePort();
  devBindir = devBindir || await testBindir();
  const argv = ['dev', '--dir', dir, '--port', String(port), ...args];
  const proc = spawn(KILN_BIN, argv, {
    env: { ...kilnEnv(env), KILN_PG_BINDIR: devBindir }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const k = superviseKiln(proc, `kiln dev ${dir}`);
  const entry = {
    name: `kiln dev ${dir}`,
    stop: async () => {
      try { await k.stop('SIGTERM', 30000); } catch { k.kill(); await k.exited; }
      stopDevClustersSync(dir);
    },
    kill: () => { k.kill(); stopDevClustersSync(dir); },
  };
  register(entry);
  k.exited.then(() => {
    // The process is gone; only a leftover cluster would still need stopping.
    live.delete(entry);
    register({ name: `dev clusters of ${dir}`, stop: async () => stopDevClustersSync(dir), kill: () => stopDevClustersSync(dir) });
  });
  const url = `http://127.0.0.1:${port}`;
  const handle = Object.assign(k, { url, port, dir, argv });
  if (waitReady) {
    const deadline = Date.now() + timeoutMs;
    await k.waitForOutput('Kiln is running', timeoutMs);
    await waitFor(async () => (await request(`${url}/health`, { timeoutMs: 1000 })).status === 200,
      { timeoutMs: Math.max(1000, deadline - Date.now()), what: `GET ${url}/health` });
  }
  return handle;
}
