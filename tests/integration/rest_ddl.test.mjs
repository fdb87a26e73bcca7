// rest_ddl.test.mjs: the schema cache follows DDL by itself (kiln's event
// triggers send NOTIFY kiln, 'reload schema'; the daemon listens), while
// requests keep running: a table created, altered and dropped through psql
// is served, changed and gone within a deadline, and no request of the loops
// running meanwhile gets a 5xx. Also: temporary tables and rolled-back DDL
// do not make the daemon reload.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { request, sleep, startCluster, startKiln, waitFor } from './lib/harness.mjs';

const DEADLINE_MS = 10000;

let cluster;
let kiln;
let key;

const SETUP = `
CREATE EXTENSION kiln_platform CASCADE;
CREATE TABLE public.steady (id int PRIMARY KEY, v text);
INSERT INTO public.steady SELECT i, 'v' || i FROM generate_series(1, 20) i;
ALTER TABLE public.steady ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON public.steady FOR SELECT USING (true);
GRANT SELECT ON public.steady TO anon;
`;

before(async () => {
  cluster = await startCluster();
  await cluster.psql(SETUP);
  key = await cluster.psql("SELECT kiln.create_api_key('publishable')");
  kiln = await startKiln({
    dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`,
    args: ['--access-log', 'false', '--db-pool-size', '4'],
  });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (cluster) await cluster.stop();
});

const get = (path) => request(`${kiln.url}/rest/v1/${path}`, { headers: { apikey: key } });

/** Polls path until check(response) holds; returns the ms it took. */
async function until(path, check, what) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < DEADLINE_MS) {
    last = await get(path);
    if (check(last)) return Date.now() - t0;
    await sleep(25);
  }
  assert.fail(`${what}: not within ${DEADLINE_MS} ms; last answer ${last?.status} ${last?.body}`);
}

const reloads = () => kiln.logs.filter((l) => l.msg === 'schema cache reloaded').length;

/** Waits until no reload has happened for 500 ms (earlier DDL all served). */
async function settle() {
  let n = reloads();
  let since = Date.now();
  const t0 = Date.now();
  while (Date.now() - since < 500) {
    if (Date.now() - t0 > DEADLINE_MS) assert.fail('reloads did not settle');
    await sleep(25);
    if (reloads() !== n) { n = reloads(); since = Date.now(); }
  }
}

describe('schema reload on DDL', () => {
  test('create, alter and drop a table while requests run: served shortly after, never a 5xx', async () => {
    // Request loops on the steady table and on the table that comes and goes.
    let running = true;
    const seen = new Map();
    const fivexx = [];
    const loop = async (path) => {
      while (running) {
        const r = await get(path);
        seen.set(r.status, (seen.get(r.status) || 0) + 1);
        if (r.status >= 500) fivexx.push(`${path}: ${r.status} ${r.body}`);
      }
    };
    const loops = [loop('steady?select=id,v&order=id'), loop('steady?id=eq.3'), loop('fresh?select=*'),
      loop('fresh?select=id,note')];

    try {
      let r = await get('fresh?select=*');
      assert.equal(r.status, 404, 'no table yet');
      assert.equal(r.json.code, 'PGRST205');

      const created = Date.now();
      await cluster.psql(`
        CREATE TABLE public.fresh (id int PRIMARY KEY, name text NOT NULL);
        INSERT INTO public.fresh VALUES (1, 'one'), (2, 'two');
        ALTER TABLE public.fresh ENABLE ROW LEVEL SECURITY;
        CREATE POLICY read_all ON public.fresh FOR SELECT USING (true);
        GRANT SELECT ON public.fresh TO anon;`);
      const visibleMs = await until('fresh?select=id,name&order=id',
        (x) => x.status === 200 && x.json?.length === 2, 'the new table served');
      r = await get('fresh?select=id,name&order=id');
      assert.deepEqual(r.json, [{ id: 1, name: 'one' }, { id: 2, name: 'two' }]);

      // supabase-js sees it too.
      const supabase = createClient(kiln.url, key, { auth: { persistSession: false, autoRefreshToken: false } });
      const { data, error } = await supabase.from('fresh').select('name').eq('id', 2);
      assert.equal(error, null);
      assert.deepEqual(data, [{ name: 'two' }]);

      await cluster.psql("ALTER TABLE public.fresh ADD COLUMN note text NOT NULL DEFAULT 'new'");
      await until('fresh?select=id,note&id=eq.1', (x) => x.status === 200 && x.json?.[0]?.note === 'new',
        'the new column served');

      await cluster.psql('ALTER TABLE public.fresh DROP COLUMN name');
      await until('fresh?select=*&order=id', (x) => x.status === 200 && x.json?.[0] && !('name' in x.json[0]),
        'select=* without the dropped column');
      r = await get('fresh?select=*&order=id');
      assert.deepEqual(r.json, [{ id: 1, note: 'new' }, { id: 2, note: 'new' }], 'select=* follows the change');
      r = await get('fresh?select=name');
      assert.equal(r.status, 400, 'the dropped column is refused');
      assert.equal(r.json.code, '42703');

      await cluster.psql('DROP TABLE public.fresh');
      await until('fresh?select=*', (x) => x.status === 404 && x.json?.code === 'PGRST205', 'the dropped table gone');

      // The steady table answered throughout.
      r = await get('steady?select=id&order=id&limit=2');
      assert.deepEqual(r.json, [{ id: 1 }, { id: 2 }]);
      process.stdout.write(`# new table served ${visibleMs} ms after the DDL returned (${Date.now() - created} ms for the whole sequence)\n`);
    } finally {
      running = false;
      await Promise.all(loops);
    }
    assert.deepEqual(fivexx, [], 'no 5xx while the schema changed');
    assert.ok((seen.get(200) || 0) > 20, `the loops ran: ${JSON.stringify([...seen])}`);
  });

  test('temporary tables, REFRESH MATERIALIZED VIEW and rolled-back DDL send no reload; COMMENT does', async () => {
    const start = reloads();
    await cluster.psql('CREATE MATERIALIZED VIEW public.mv AS SELECT 1 AS x');
    await waitFor(() => reloads() > start, { timeoutMs: DEADLINE_MS, what: 'the reload after CREATE MATERIALIZED VIEW' });
    await settle();
    const before = reloads();
    await cluster.psql(`CREATE TEMP TABLE scratch (id int); CREATE INDEX ON scratch (id);
      ALTER TABLE scratch ADD COLUMN y int; DROP TABLE scratch;`);
    await cluster.psql('CREATE TEMP TABLE scratch2 AS SELECT 1 AS x');
    await cluster.psql('REFRESH MATERIALIZED VIEW public.mv');
    await cluster.psql('BEGIN; CREATE TABLE public.ghost (id int); ROLLBACK;');
    await sleep(1500);
    assert.equal(reloads(), before, 'no reload for temporary objects, a refresh or a rollback');

    await cluster.psql("COMMENT ON TABLE public.steady IS 'steady rows'");
    const t0 = Date.now();
    while (reloads() === before && Date.now() - t0 < DEADLINE_MS) await sleep(25);
    assert.equal(reloads(), before + 1, 'one reload for a committed DDL statement');
  });

  test('a migration of many statements in one transaction reloads once', async () => {
    await settle();
    const before = reloads();
    const stmts = [];
    for (let i = 0; i < 50; i++) stmts.push(`CREATE TABLE public.m${i} (id int PRIMARY KEY);`);
    for (let i = 0; i < 50; i++) stmts.push(`DROP TABLE public.m${i};`);
    await cluster.psql(`BEGIN; ${stmts.join(' ')} COMMIT;`);
    const t0 = Date.now();
    while (reloads() === before && Date.now() - t0 < DEADLINE_MS) await sleep(25);
    await sleep(1000);
    assert.equal(reloads(), before + 1, 'notifications are folded into one per transaction');
  });

  test('DDL committed statement by statement (200 commits) is folded into a few reloads; the last change is served', async () => {
    await cluster.psql(`CREATE PROCEDURE public.burst(n int) LANGUAGE plpgsql AS $$ BEGIN
        FOR i IN 1..n LOOP EXECUTE format('COMMENT ON TABLE public.steady IS %L', 'rev ' || i); COMMIT; END LOOP;
        CREATE TABLE public.after_burst (id int PRIMARY KEY);
        ALTER TABLE public.after_burst ENABLE ROW LEVEL SECURITY;
        CREATE POLICY read_all ON public.after_burst FOR SELECT USING (true);
        GRANT SELECT ON public.after_burst TO anon;
        COMMIT; END $$`);
    await settle();
    const before = reloads();
    const t0 = Date.now();
    await cluster.psql('CALL public.burst(200)');
    const burstMs = Date.now() - t0;
    await until('after_burst?select=id', (x) => x.status === 200, 'the table created after the burst served');
    await sleep(1200);
    const n = reloads() - before;
    process.stdout.write(`# 201 committed DDL transactions in ${burstMs} ms -> ${n} reloads\n`);
    assert.ok(n >= 1 && n <= 50, `${n} reloads for 201 commits`);
  });
});
