// rest_media.test.mjs: the data API's output negotiation and paging
// headers through the real postgrest-js (@supabase/supabase-js) and raw
// HTTP against a real cluster and daemon: text/csv (reads and RPC),
// nulls=stripped on the array and object media types, application/geo+json
// (PostGIS from Debian, installed by scripts/install-deps, in its own
// schema as Supabase does), the Range header and Prefer on reads, and 406
// for what a handler does not produce.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { IS_ROOT, PG_USER, request, startCluster, startKiln, tempDir } from './lib/harness.mjs';

let cluster;
let kiln;
let key;

const SETUP = `
CREATE EXTENSION kiln_platform CASCADE;
SELECT kiln.rotate_signing_key('HS256');

CREATE TABLE public.people (id int PRIMARY KEY, name text NOT NULL, nick text, born date);
CREATE TABLE public.pets (id int PRIMARY KEY, owner_id int REFERENCES public.people(id), kind text);
INSERT INTO public.people VALUES
  (1, 'Ada', NULL, '1815-12-10'), (2, 'Alan, "the" one', 'al', NULL), (3, 'Grace', 'amazing', '1906-12-09');
INSERT INTO public.pets VALUES (1, 1, 'cat'), (2, 1, NULL), (3, 3, 'dog');
ALTER TABLE public.people ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.pets ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON public.people FOR SELECT USING (true);
CREATE POLICY read_all ON public.pets FOR SELECT USING (true);
GRANT SELECT ON public.people, public.pets TO anon, authenticated, service_role;

CREATE FUNCTION public.people_named(pattern text) RETURNS SETOF public.people
  LANGUAGE sql STABLE AS $$ SELECT * FROM public.people WHERE name LIKE pattern ORDER BY id $$;
CREATE FUNCTION public.twice(n int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT n * 2 $$;
CREATE FUNCTION public.maybe(n int) RETURNS public.people
  LANGUAGE sql STABLE AS $$ SELECT * FROM public.people WHERE id = n $$;
GRANT EXECUTE ON FUNCTION public.people_named(text), public.twice(int), public.maybe(int)
  TO anon, authenticated, service_role;

CREATE SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;
CREATE EXTENSION postgis SCHEMA extensions;
CREATE TABLE public.shops (id int PRIMARY KEY, name text, shop_geom extensions.geometry(POINT, 4326));
INSERT INTO public.shops VALUES (1, 'north', extensions.ST_SetSRID(extensions.ST_MakePoint(-71.1, 42.3), 4326)),
  (2, 'south', extensions.ST_SetSRID(extensions.ST_MakePoint(-70.5, 41.9), 4326));
ALTER TABLE public.shops ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON public.shops FOR SELECT USING (true);
GRANT SELECT ON public.shops TO anon, authenticated, service_role;
`;

const client = () => createClient(kiln.url, key, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
});

const get = (p, headers = {}) => request(`${kiln.url}/rest/v1/${p}`, { headers: { apikey: key, ...headers } });

before(async () => {
  const dir = tempDir('kiln-media-');
  const keyfile = path.join(dir, 'master.key');
  fs.writeFileSync(keyfile, Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 53 + 7) & 255)));
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
  key = await cluster.psql("SELECT kiln.create_api_key('publishable')");
  kiln = await startKiln({
    dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`,
    args: ['--db-max-rows', '50'],
  });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (cluster) await cluster.stop();
});

describe('text/csv', () => {
  test('csv(): a header row, then one line per row; quoting and NULL as PostgreSQL writes records', async () => {
    const { data, error, status } = await client().from('people').select('id,name,nick').order('id').csv();
    assert.equal(error, null);
    assert.equal(status, 200);
    assert.equal(data, 'id,name,nick\n1,Ada,\n2,"Alan, ""the"" one",al\n3,Grace,amazing');
  });

  test('aliases and a to-one embed (as JSON text) keep their names in the header', async () => {
    const r = await get('pets?select=pet:id,people(name)&order=id&limit=2', { Accept: 'text/csv' });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/csv/);
    assert.equal(r.headers['content-range'], '0-1/*');
    assert.equal(r.body, 'pet,people\n1,"{""name"":""Ada""}"\n2,"{""name"":""Ada""}"');
  });

  test('spread columns appear in the header; no rows gives the header alone', async () => {
    const r = await get('pets?select=id,...people(name)&id=eq.3', { Accept: 'text/csv' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'id,name\n3,Grace');
    const empty = await get('people?select=id,name&id=gt.100', { Accept: 'text/csv' });
    assert.equal(empty.status, 200);
    assert.equal(empty.body, 'id,name\n');
  });

  test('count and 206 work with csv', async () => {
    const { data, error, count, status } = await client().from('people')
      .select('id', { count: 'exact' }).order('id').range(0, 1).csv();
    assert.equal(error, null);
    assert.equal(status, 206);
    assert.equal(count, 3);
    assert.equal(data, 'id\n1\n2');
  });

  test('RPC: a set result and a scalar result as csv', async () => {
    const { data, error } = await client().rpc('people_named', { pattern: 'A%' }).select('id,name').csv();
    assert.equal(error, null);
    assert.equal(data, 'id,name\n1,Ada\n2,"Alan, ""the"" one"');
    const scalar = await get('rpc/twice?n=21', { Accept: 'text/csv' });
    assert.equal(scalar.status, 200);
    assert.equal(scalar.body, 'twice\n42');
  });

  test('csv is a read format: a write asking for it is 406 PGRST107 and writes nothing', async () => {
    const r = await request(`${kiln.url}/rest/v1/pets`, {
      method: 'POST',
      headers: { apikey: key, Accept: 'text/csv', 'Content-Type': 'application/json', Prefer: 'return=representation' },
      body: JSON.stringify({ id: 9, kind: 'fish' }),
    });
    assert.equal(r.status, 406);
    assert.equal(r.json.code, 'PGRST107');
    assert.deepEqual((await get('pets?id=eq.9')).json, []);
  });

  test('the first acceptable type wins; nothing acceptable is 406', async () => {
    assert.match((await get('people?select=id&limit=1', { Accept: 'application/json, text/csv' })).headers['content-type'], /^application\/json/);
    assert.match((await get('people?select=id&limit=1', { Accept: 'text/html, text/csv;q=0.9' })).headers['content-type'], /^text\/csv/);
    const bad = await get('people', { Accept: 'text/html' });
    assert.equal(bad.status, 406);
    assert.equal(bad.json.code, 'PGRST107');
  });
});

describe('nulls=stripped', () => {
  test('stripNulls() drops null-valued keys, nested ones too', async () => {
    const { data, error } = await client().from('people').select('id,nick,born,pets(kind)').order('id').stripNulls();
    assert.equal(error, null);
    assert.deepEqual(data, [
      { id: 1, born: '1815-12-10', pets: [{ kind: 'cat' }, {}] },
      { id: 2, nick: 'al', pets: [] },
      { id: 3, nick: 'amazing', born: '1906-12-09', pets: [{ kind: 'dog' }] },
    ]);
  });

  test('with single(): the object type stripped', async () => {
    const { data, error } = await client().from('people').select('id,nick').eq('id', 1).single().stripNulls();
    assert.equal(error, null);
    assert.deepEqual(data, { id: 1 });
    const r = await get('people?select=id,nick&id=eq.1', { Accept: 'application/vnd.pgrst.object+json;nulls=stripped' });
    assert.equal(r.body, '{"id":1}');
    assert.match(r.headers['content-type'], /^application\/vnd\.pgrst\.object\+json;nulls=stripped/);
  });

  test('without the parameter nulls stay; RPC results are stripped too', async () => {
    const plain = await get('people?select=id,nick&id=eq.1', { Accept: 'application/vnd.pgrst.array+json' });
    assert.deepEqual(plain.json, [{ id: 1, nick: null }]);
    const { data, error } = await client().rpc('maybe', { n: 1 }).select('id,nick').stripNulls();
    assert.equal(error, null);
    assert.deepEqual(data, { id: 1 });
    const set = await get('rpc/people_named?pattern=A%25&select=id,nick', { Accept: 'application/vnd.pgrst.array+json;nulls=stripped' });
    assert.equal(set.status, 200);
    assert.deepEqual(set.json, [{ id: 1 }, { id: 2, nick: 'al' }]);
  });
});

describe('Range header and Prefer on reads', () => {
  const ids = (r) => r.json.map((x) => x.id);

  test('Range: 0-1 pages like limit/offset, with Content-Range and 206 under a count', async () => {
    const r = await get('people?select=id&order=id', { Range: '0-1', 'Range-Unit': 'items', Prefer: 'count=exact' });
    assert.equal(r.status, 206);
    assert.deepEqual(ids(r), [1, 2]);
    assert.equal(r.headers['content-range'], '0-1/3');
    assert.equal(r.headers['preference-applied'], 'count=exact');
    const open = await get('people?select=id&order=id', { Range: '1-' });
    assert.equal(open.status, 200);
    assert.deepEqual(ids(open), [2, 3]);
    assert.equal(open.headers['content-range'], '1-2/*');
  });

  test('the header window meets the query window', async () => {
    const r = await get('people?select=id&order=id&offset=1&limit=5', { Range: '0-1' });
    assert.deepEqual(ids(r), [2]);
    assert.equal(r.headers['content-range'], '1-1/*');
    const apart = await get('people?select=id&order=id&limit=1', { Range: '2-2' });
    assert.equal(apart.status, 200);
    assert.deepEqual(apart.json, []);
  });

  test('last < first is 416 PGRST103; past the end with a count is 416; other shapes are ignored', async () => {
    const r = await get('people?select=id', { Range: '2-1' });
    assert.equal(r.status, 416);
    assert.equal(r.json.code, 'PGRST103');
    assert.equal(r.json.details, 'The lower boundary must be lower than or equal to the upper boundary in the Range header.');
    const past = await get('people?select=id', { Range: '10-20', Prefer: 'count=exact' });
    assert.equal(past.status, 416);
    assert.equal(past.json.details, 'An offset of 10 was requested, but there are only 3 rows.');
    for (const v of ['bytes=0-1', '-5', '1-x', 'x', '99999999999999999999-']) {
      const ok = await get('people?select=id&order=id', { Range: v });
      assert.equal(ok.status, 200, v);
      assert.deepEqual(ids(ok), [1, 2, 3], v);
    }
  });

  test('a Range on an RPC set result by GET', async () => {
    const r = await get('rpc/people_named?pattern=%25&select=id', { Range: '1-1' });
    assert.equal(r.status, 200);
    assert.deepEqual(ids(r), [2]);
  });

  test('HEAD ignores Range', async () => {
    const r = await request(`${kiln.url}/rest/v1/people?select=id`, { method: 'HEAD', headers: { apikey: key, Range: '2-1' } });
    assert.equal(r.status, 200);
  });

  test('count=planned and count=estimated answer a total (rest_plan.test.mjs has the details)', async () => {
    // estimated: 3 rows are under db_max_rows (50), so counted exactly
    const est = await client().from('people').select('id', { count: 'estimated', head: true });
    assert.equal(est.error, null);
    assert.equal(est.count, 3);
    // planned: the planner's estimate, whatever the statistics make of 3 rows
    const planned = await client().from('people').select('id', { count: 'planned', head: true });
    assert.equal(planned.error, null);
    const plan = JSON.parse(await cluster.psql('EXPLAIN (FORMAT JSON) SELECT 1 FROM public.people'));
    assert.equal(planned.count, plan[0].Plan['Plan Rows']);
  });

  test('handling=strict rejects unknown preferences with PGRST122; lenient ignores them', async () => {
    const bad = await get('people?select=id', { Prefer: 'handling=strict, count=exact, nope=1, x' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'PGRST122');
    assert.equal(bad.json.details, 'Invalid preferences: nope=1, x');
    const strict = await get('people?select=id', { Prefer: 'handling=strict, count=exact' });
    assert.equal(strict.status, 200);
    assert.equal(strict.headers['preference-applied'], 'count=exact, handling=strict');
    const lenient = await get('people?select=id', { Prefer: 'handling=lenient, nope=1' });
    assert.equal(lenient.status, 200);
  });
});

describe('application/geo+json', () => {
  test('geojson(): a FeatureCollection, the geometry column as geometry, the rest as properties', async () => {
    const { data, error, status } = await client().from('shops').select('id,name,shop_geom').order('id').geojson();
    assert.equal(error, null, JSON.stringify(error));
    assert.equal(status, 200);
    assert.deepEqual(data, {
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', geometry: { type: 'Point', coordinates: [-71.1, 42.3] }, properties: { id: 1, name: 'north' } },
        { type: 'Feature', geometry: { type: 'Point', coordinates: [-70.5, 41.9] }, properties: { id: 2, name: 'south' } },
      ],
    });
  });

  test('no rows: an empty collection; the Content-Type says geo+json', async () => {
    const r = await get('shops?id=eq.99', { Accept: 'application/geo+json' });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^application\/geo\+json/);
    assert.deepEqual(r.json, { type: 'FeatureCollection', features: [] });
  });
});
