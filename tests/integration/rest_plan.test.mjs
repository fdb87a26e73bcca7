// rest_plan.test.mjs: planner estimates and plan output of the data API
// through the real postgrest-js (@supabase/supabase-js) and raw HTTP
// against a real cluster and daemon: Prefer: count=planned and
// count=estimated on a table where the planner's estimate and the exact
// count differ, the plan media type (.explain() in both formats and with
// each option) for reads, writes and RPC, 406 while db_plan_enabled is off,
// and row security shaping both plans and counts for a user who sees fewer
// rows.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { request, startCluster, startKiln } from './lib/harness.mjs';

let cluster;
let kiln; // db_plan_enabled = true, db_max_rows = 50
let plain; // defaults: plan output off
let keys;

const ALICE = 'a1000000-0000-0000-0000-000000000001';

// events: 5,000 rows; a and b are equal (0..9), so a filter on both
// matches 1/10 of the rows while the planner, taking them as independent,
// expects 1/100. owner: ten users, Alice owns the rows with id % 10 = 1.
const SETUP = `
CREATE EXTENSION kiln_platform CASCADE;
SELECT kiln.rotate_signing_key('HS256');

CREATE TABLE public.events (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL,
                            owner uuid NOT NULL, note text);
INSERT INTO public.events
SELECT g, g % 10, g % 10,
       CASE WHEN g % 10 = 1 THEN '${ALICE}'::uuid
            ELSE ('b0000000-0000-0000-0000-00000000000' || g % 10)::uuid END,
       'note ' || g
  FROM generate_series(1, 5000) g;
ANALYZE public.events;
ALTER TABLE public.events ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON public.events FOR ALL TO authenticated
  USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());
GRANT SELECT, INSERT, UPDATE, DELETE ON public.events TO authenticated, service_role;

CREATE FUNCTION public.events_of(x int) RETURNS SETOF public.events
  LANGUAGE sql STABLE AS $$ SELECT * FROM public.events WHERE a = x $$;
CREATE FUNCTION public.bump(x int) RETURNS int
  LANGUAGE sql VOLATILE AS $$ UPDATE public.events SET note = 'bumped' WHERE id = x RETURNING id $$;
GRANT EXECUTE ON FUNCTION public.events_of(int), public.bump(int) TO authenticated, service_role;
`;

const token = (sub) => cluster.psql(`SELECT kiln.sign_jwt(pg_catalog.jsonb_build_object(
  'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated', 'sub', '${sub}',
  'exp', extract(epoch FROM pg_catalog.now())::int8 + 600))`);

const client = (key, accessToken, url = kiln.url) => createClient(url, key, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  global: accessToken ? { headers: { Authorization: `Bearer ${accessToken}` } } : {},
});
const service = () => client(keys.secret);
const alice = () => client(keys.publishable, keys.alice);

// The planner's estimate of a statement as psql (a superuser, no row
// security) sees it: the top plan node's rows.
const planRows = async (sql) => JSON.parse(await cluster.psql(`EXPLAIN (FORMAT JSON) ${sql}`))[0].Plan['Plan Rows'];

// Every plan node of a JSON plan, depth first.
const nodes = (plan) => [plan, ...(plan.Plans || []).flatMap(nodes)];
const scanOf = (doc, rel) => nodes(doc[0].Plan).find((n) => n['Relation Name'] === rel);

const rest = (p, { method = 'GET', headers = {}, body, url = kiln.url } = {}) => request(`${url}/rest/v1/${p}`, {
  method, body, headers: { apikey: keys.secret, ...headers },
});

before(async () => {
  cluster = await startCluster();
  await cluster.psql(SETUP);
  keys = {
    publishable: await cluster.psql("SELECT kiln.create_api_key('publishable')"),
    secret: await cluster.psql("SELECT kiln.create_api_key('secret')"),
    alice: await token(ALICE),
  };
  const dbUrl = `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`;
  kiln = await startKiln({ dbUrl, args: ['--db-max-rows', '50', '--db-plan-enabled', 'true'] });
  plain = await startKiln({ dbUrl });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (plain) await plain.stop();
  if (cluster) await cluster.stop();
});

describe('Prefer: count=planned', () => {
  test('the planner\'s estimate of the filtered rows, not the exact count', async () => {
    const expected = await planRows('SELECT 1 FROM public.events WHERE a = 1 AND b = 1');
    assert.ok(expected < 100, `the fixture makes the estimate low (${expected})`);
    const planned = await service().from('events').select('id', { count: 'planned', head: true })
      .eq('a', 1).eq('b', 1);
    assert.equal(planned.error, null);
    assert.equal(planned.count, expected);
    const exact = await service().from('events').select('id', { count: 'exact', head: true })
      .eq('a', 1).eq('b', 1);
    assert.equal(exact.count, 500);
  });

  test('the page is still the rows; Content-Range and Preference-Applied say planned', async () => {
    const r = await rest('events?select=id&a=lt.5&b=lt.5&order=id&limit=3', { headers: { Prefer: 'count=planned' } });
    const expected = await planRows('SELECT 1 FROM public.events WHERE a < 5 AND b < 5');
    assert.notEqual(expected, 2500);
    assert.equal(r.status, 206);
    assert.deepEqual(r.json, [{ id: 1 }, { id: 2 }, { id: 3 }]);
    assert.equal(r.headers['content-range'], `0-2/${expected}`);
    assert.equal(r.headers['preference-applied'], 'count=planned');
  });

  test('filter values are bound, so a hostile value is a 400, never SQL', async () => {
    const r = await rest(`events?select=id&a=eq.${encodeURIComponent("1'; DROP TABLE public.events; --")}`,
      { headers: { Prefer: 'count=planned' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, '22P02');
    assert.doesNotMatch(r.body, /kiln\.plan_rows|SELECT/);
    assert.equal(await cluster.psql('SELECT count(*) FROM public.events'), '5000');
  });
});

describe('Prefer: count=estimated', () => {
  test('at most db_max_rows matching rows: the exact count, however far off the planner is', async () => {
    // a = 1 AND b <> 1 matches nothing; the planner expects about 450.
    assert.ok(await planRows('SELECT 1 FROM public.events WHERE a = 1 AND b <> 1') > 100);
    const none = await service().from('events').select('id', { count: 'estimated' }).eq('a', 1).neq('b', 1);
    assert.equal(none.error, null);
    assert.equal(none.count, 0);
    // 20 rows (under 50), where the planner expects about 2.
    const few = await service().from('events').select('id', { count: 'estimated' })
      .eq('a', 1).eq('b', 1).lt('id', 200);
    assert.equal(few.count, 20);
    assert.equal(few.data.length, 20);
  });

  test('more than db_max_rows: the estimate, never below db_max_rows + 1', async () => {
    const expected = await planRows('SELECT 1 FROM public.events WHERE a < 5 AND b < 5');
    assert.ok(expected > 51 && expected !== 2500, `estimate ${expected}`);
    const big = await service().from('events').select('id', { count: 'estimated', head: true }).lt('a', 5).lt('b', 5);
    assert.equal(big.error, null);
    assert.equal(big.count, expected);
    // 500 rows whose estimate (about 50) is under the threshold: db_max_rows + 1.
    const low = await service().from('events').select('id', { count: 'estimated', head: true }).eq('a', 1).eq('b', 1);
    assert.equal(low.count, 51);
  });

  test('RPC results and writes still count exactly', async () => {
    const { count, error } = await service().rpc('events_of', { x: 3 }, { count: 'planned', head: true });
    assert.equal(error, null);
    assert.equal(count, 500);
  });
});

describe('row security shapes counts', () => {
  test('a user who sees a tenth of the rows gets a tenth in every count', async () => {
    const exact = await alice().from('events').select('id', { count: 'exact', head: true });
    assert.equal(exact.error, null);
    assert.equal(exact.count, 500);
    const planned = await alice().from('events').select('id', { count: 'planned', head: true });
    assert.equal(planned.error, null);
    assert.ok(planned.count >= 400 && planned.count <= 600, `planned ${planned.count}`);
    const all = await service().from('events').select('id', { count: 'planned', head: true });
    assert.equal(all.count, 5000);
    // estimated: past db_max_rows for Alice too, so the estimate
    const estimated = await alice().from('events').select('id', { count: 'estimated', head: true });
    assert.equal(estimated.count, Math.max(51, planned.count));
    // under the threshold: exact, counting only her rows
    const mine = await alice().from('events').select('id', { count: 'estimated' }).lt('id', 100);
    assert.equal(mine.count, 10);
  });
});

describe('plan output (Accept: application/vnd.pgrst.plan)', () => {
  test('off by default: 406 PGRST107, and nothing runs', async () => {
    const { data, error, status } = await client(keys.secret, null, plain.url).from('events').select('id').explain();
    assert.equal(status, 406);
    assert.equal(data, null);
    assert.equal(error.code, 'PGRST107');
    const w = await rest('events?id=eq.1', {
      url: plain.url, method: 'DELETE',
      headers: { Accept: 'application/vnd.pgrst.plan+json; options=analyze' },
    });
    assert.equal(w.status, 406);
    assert.equal(await cluster.psql('SELECT count(*) FROM public.events WHERE id = 1'), '1');
  });

  test('explain(): the text plan of the statement the request would run', async () => {
    const { data, error, status } = await service().from('events').select('id,note').eq('a', 2).limit(5).explain();
    assert.equal(error, null);
    assert.equal(status, 200);
    assert.equal(typeof data, 'string');
    assert.match(data, /^Aggregate {2}\(cost=/);
    assert.match(data, /Seq Scan on events|Index Scan/);
    const r = await rest('events?select=id&a=eq.2', { headers: { Accept: 'application/vnd.pgrst.plan' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/vnd.pgrst.plan+text; for="application/json"; charset=utf-8');
    assert.equal(r.headers['content-profile'], 'public');
  });

  test('format json: one document, its Plan tree', async () => {
    const { data, error } = await service().from('events').select('id').eq('a', 2).explain({ format: 'json' });
    assert.equal(error, null);
    assert.ok(Array.isArray(data));
    assert.equal(data[0].Plan['Node Type'], 'Aggregate');
    assert.equal(data[0].Plan['Actual Rows'], undefined);
    const scan = scanOf(data, 'events');
    assert.ok(scan, 'the plan reads events');
  });

  test('each option reaches EXPLAIN', async () => {
    const q = () => service().from('events').select('id').lt('id', 21);
    const analyze = await q().explain({ format: 'json', analyze: true });
    assert.equal(analyze.error, null);
    assert.equal(analyze.data[0].Plan['Actual Rows'], 1);
    assert.equal(scanOf(analyze.data, 'events')['Actual Rows'], 20);
    const verbose = await q().explain({ format: 'json', verbose: true });
    assert.ok(Array.isArray(verbose.data[0].Plan.Output));
    assert.equal(verbose.data[0].Plan['Actual Rows'], undefined);
    const settings = await q().explain({ format: 'json', settings: true });
    assert.ok('Settings' in settings.data[0]);
    const buffers = await q().explain({ format: 'json', analyze: true, buffers: true });
    assert.ok('Shared Hit Blocks' in buffers.data[0].Plan);
    const wal = await q().explain({ format: 'json', analyze: true, wal: true });
    assert.ok('WAL Records' in wal.data[0].Plan);
    const walAlone = await q().explain({ wal: true });
    assert.equal(walAlone.status, 400);
    assert.equal(walAlone.error.code, '22023');
    assert.equal(walAlone.error.message, 'EXPLAIN option WAL requires ANALYZE');
    const text = await q().explain({ analyze: true, verbose: true });
    assert.match(text.data, /actual time=/);
    assert.match(text.data, /Output: /);
    const r = await rest('events?select=id', {
      headers: { Accept: 'application/vnd.pgrst.plan+text; for="application/json"; options=analyze|verbose|bogus;' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'],
      'application/vnd.pgrst.plan+text; for="application/json"; options=analyze|verbose; charset=utf-8');
  });

  test('for= another media type explains that statement (csv, single object)', async () => {
    const csv = await service().from('events').select('id').eq('id', 1).csv().explain({ verbose: true });
    assert.equal(csv.error, null);
    assert.match(csv.data, /string_agg/);
    const r = await rest('events?select=id&id=eq.1', {
      headers: { Accept: 'application/vnd.pgrst.plan+json; for="text/csv"' },
    });
    assert.equal(r.headers['content-type'], 'application/vnd.pgrst.plan+json; for="text/csv"; charset=utf-8');
    // A single object by primary key: the one-row statement, no aggregate
    // (docs/rest.md, "One-row reads"); by another filter, json_agg's.
    const single = await service().from('events').select('id').eq('id', 1).single()
      .explain({ format: 'json', verbose: true });
    assert.equal(single.error, null);
    assert.match(JSON.stringify(single.data[0].Plan.Output), /row_to_json/);
    assert.notEqual(single.data[0].Plan['Node Type'], 'Aggregate');
    const some = await service().from('events').select('id').eq('a', 1).limit(2).single()
      .explain({ format: 'json' });
    assert.equal(some.error, null);
    assert.equal(some.data[0].Plan['Node Type'], 'Aggregate');
    const bad = await rest('events?select=id', { headers: { Accept: 'application/vnd.pgrst.plan; for="image/png"' } });
    assert.equal(bad.status, 406);
    assert.equal(bad.json.code, 'PGRST107');
    const odd = await rest('events?select=id', { headers: { Accept: 'application/vnd.pgrst.plan; for="text/html<script>"' } });
    assert.equal(odd.status, 406);
  });

  test('analyze of a write runs it and rolls it back: nothing is written', async () => {
    const ins = await service().from('events')
      .insert({ id: 9001, a: 1, b: 1, owner: ALICE, note: 'planned' }).explain({ analyze: true, format: 'json' });
    assert.equal(ins.error, null);
    assert.ok(nodes(ins.data[0].Plan).some((n) => n['Operation'] === 'Insert'));
    const del = await service().from('events').delete().lt('id', 100).explain({ analyze: true });
    assert.equal(del.error, null);
    assert.match(del.data, /Delete on events/);
    const upd = await service().from('events').update({ note: 'changed' }).eq('id', 5).select().explain({ analyze: true, format: 'json' });
    assert.equal(upd.error, null);
    assert.equal(await cluster.psql('SELECT count(*) FROM public.events WHERE id = 9001 OR id < 100'), '99');
    assert.equal(await cluster.psql('SELECT note FROM public.events WHERE id = 5'), 'note 5');
  });

  test('RPC: the call\'s plan; a writing function analysed writes nothing', async () => {
    const { data, error } = await service().rpc('events_of', { x: 4 }).select('id').explain({ format: 'json' });
    assert.equal(error, null);
    assert.equal(data[0].Plan['Node Type'], 'Aggregate');
    const bump = await service().rpc('bump', { x: 7 }).explain({ analyze: true });
    assert.equal(bump.error, null);
    assert.match(bump.data, /actual time=/);
    assert.equal(await cluster.psql('SELECT note FROM public.events WHERE id = 7'), 'note 7');
  });

  test('row security: a user\'s plan is planned and run as that user', async () => {
    const { data, error } = await alice().from('events').select('id').lt('id', 40)
      .explain({ format: 'json', analyze: true });
    assert.equal(error, null);
    assert.equal(scanOf(data, 'events')['Actual Rows'], 4);
    assert.match(JSON.stringify(data), /owner = /);
    const all = await service().from('events').select('id').lt('id', 40).explain({ format: 'json', analyze: true });
    assert.equal(scanOf(all.data, 'events')['Actual Rows'], 39);
    assert.doesNotMatch(JSON.stringify(all.data), /owner = /);
    // Alice's analysed delete reaches only her rows, and is rolled back.
    const del = await alice().from('events').delete().gt('id', 0).explain({ format: 'json', analyze: true });
    assert.equal(del.error, null);
    assert.equal(scanOf(del.data, 'events')['Actual Rows'], 500);
    assert.equal(await cluster.psql('SELECT count(*) FROM public.events'), '5000');
  });

  test('no more than the caller may run: anon without a grant gets 401, a bad filter 400', async () => {
    const anon = await client(keys.publishable).from('events').select('id').explain();
    assert.equal(anon.status, 401);
    assert.equal(anon.error.code, '42501');
    const r = await rest('events?select=nope', { headers: { Accept: 'application/vnd.pgrst.plan' } });
    assert.equal(r.status, 400);
    assert.doesNotMatch(r.body, /kiln\.explain/);
  });
});
