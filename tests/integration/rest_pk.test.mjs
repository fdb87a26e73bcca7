// rest_pk.test.mjs: reads that can yield at most one row (every primary
// key column filtered with eq, or limit 0/1) skip the json_agg around their
// rows: the statement returns the row itself and the daemon writes the
// array (docs/rest.md, "One-row reads"). Through the real supabase-js and
// a daemon with ONE pooled connection, these tests hold that
//   - such reads do take that shape (the last statement the pooled
//     backend ran, from pg_stat_activity), and other reads do not;
//   - the answer is the one the aggregated shape gives: same rows, same
//     JSON, same statuses, Content-Range, single()/maybeSingle(), nulls
//     stripped, embeds, RLS per caller.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { request, startCluster, startKiln } from './lib/harness.mjs';

const ALICE = '11111111-1111-4111-8111-111111111111';
const BOB = '22222222-2222-4222-8222-222222222222';

let cluster;
let kiln;
let keys;

const SETUP = `
CREATE EXTENSION kiln_platform CASCADE;
SELECT kiln.rotate_signing_key('HS256');

CREATE TABLE public.items (id int PRIMARY KEY, owner uuid, name text, note text,
                           tags text[], data jsonb);
INSERT INTO public.items VALUES
  (1, NULL, 'public one', NULL, '{a,b}', '{"k": [1, "x"]}'),
  (2, '${ALICE}', 'alice''s', 'hers', NULL, NULL),
  (3, '${BOB}', 'bob''s', NULL, '{}', '{}');
ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON public.items FOR SELECT USING (owner IS NULL OR owner = auth.uid());
GRANT SELECT ON public.items TO anon, authenticated;

CREATE TABLE public.parts (id int PRIMARY KEY, item_id int REFERENCES public.items, label text);
INSERT INTO public.parts VALUES (10, 1, 'p10'), (11, 1, 'p11'), (12, 3, 'p12');
ALTER TABLE public.parts ENABLE ROW LEVEL SECURITY;
CREATE POLICY all_parts ON public.parts FOR SELECT USING (true);
GRANT SELECT ON public.parts TO anon, authenticated;

CREATE TABLE public.pairs (a int, b int, v text, PRIMARY KEY (a, b));
INSERT INTO public.pairs VALUES (1, 1, 'one-one'), (1, 2, 'one-two');
ALTER TABLE public.pairs ENABLE ROW LEVEL SECURITY;
CREATE POLICY all_pairs ON public.pairs FOR SELECT USING (true);
GRANT SELECT ON public.pairs TO anon, authenticated;
`;

const token = (sub) => cluster.psql(`SELECT kiln.sign_jwt(pg_catalog.jsonb_build_object(
  'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated', 'sub', '${sub}',
  'exp', extract(epoch FROM pg_catalog.now())::int8 + 600))`);

const client = (accessToken) => createClient(kiln.url, keys.publishable, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  global: accessToken ? { headers: { Authorization: `Bearer ${accessToken}` } } : {},
});

// The last statement the one pooled backend ran.
const lastStatement = () => cluster.psql(`SELECT query FROM pg_stat_activity
  WHERE backend_type = 'client backend' AND application_name = 'kiln' AND pid <> pg_backend_pid()`);

before(async () => {
  cluster = await startCluster();
  await cluster.psql(SETUP);
  keys = {
    publishable: await cluster.psql("SELECT kiln.create_api_key('publishable')"),
    alice: await token(ALICE),
  };
  kiln = await startKiln({
    dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`,
    args: ['--db-pool-size', '1'],
  });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (cluster) await cluster.stop();
});

describe('which reads return their row without an aggregate', () => {
  test('eq on the primary key, and limit 1, do', async () => {
    let r = await client().from('items').select('id,name').eq('id', 1);
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.match(await lastStatement(), /row_to_json/);
    assert.doesNotMatch(await lastStatement(), /json_agg/);
    // by key, the row cap's LIMIT goes too (one row at most anyway)
    assert.doesNotMatch(await lastStatement(), /LIMIT/);
    r = await client().from('items').select('id').order('id').limit(1);
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.match(await lastStatement(), /row_to_json/);
    r = await client().from('pairs').select('v').eq('a', 1).eq('b', 2);
    assert.deepEqual(r.data, [{ v: 'one-two' }]);
    assert.match(await lastStatement(), /row_to_json/);
  });

  test('other filters, part of a composite key, a count or CSV do not', async () => {
    const cases = [
      client().from('items').select('id').gte('id', 1),
      client().from('items').select('id').in('id', [1]),
      client().from('pairs').select('v').eq('a', 1),
      client().from('items').select('id', { count: 'exact' }).eq('id', 1),
      client().from('items').select('id').eq('id', 1).csv(),
    ];
    for (const q of cases) {
      const r = await q;
      assert.equal(r.status, 200, JSON.stringify(r.error));
      assert.match(await lastStatement(), /json_agg|string_agg/);
    }
  });
});

describe('the answer is the aggregated one', () => {
  test('same rows and JSON as the aggregated shape, nested values included', async () => {
    for (const id of [1, 3]) {
      const one = await client(keys.alice).from('items').select('*,parts(label)').eq('id', id);
      const agg = await client(keys.alice).from('items').select('*,parts(label)').in('id', [id]);
      assert.equal(one.status, 200, JSON.stringify(one.error));
      assert.deepEqual(one.data, agg.data);
    }
    const r = await client().from('items').select('id,tags,data,parts(id,label)').eq('id', 1);
    assert.deepEqual(r.data, [{ id: 1, tags: ['a', 'b'], data: { k: [1, 'x'] },
      parts: [{ id: 10, label: 'p10' }, { id: 11, label: 'p11' }] }]);
  });

  test('no row: an empty array, Content-Range */*', async () => {
    const res = await request(`${kiln.url}/rest/v1/items?id=eq.99`, {
      headers: { apikey: keys.publishable },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body, '[]');
    assert.equal(res.headers['content-range'], '*/*');
    const hit = await request(`${kiln.url}/rest/v1/items?id=eq.1&select=id`, {
      headers: { apikey: keys.publishable },
    });
    assert.equal(hit.headers['content-range'], '0-0/*');
    assert.deepEqual(JSON.parse(hit.body), [{ id: 1 }]);
  });

  test('limit 0 and an offset past the one row still answer no row', async () => {
    let r = await client().from('items').select('id').eq('id', 1).limit(0);
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.deepEqual(r.data, []);
    r = await client().from('items').select('id').eq('id', 1).range(1, 5);
    assert.deepEqual(r.data, []);
    r = await client().from('items').select('id').eq('id', 1).range(0, 5);
    assert.deepEqual(r.data, [{ id: 1 }]);
  });

  test('RLS: a row the caller may not see is no row', async () => {
    let r = await client().from('items').select('id').eq('id', 2);
    assert.deepEqual(r.data, []);
    r = await client(keys.alice).from('items').select('id,note').eq('id', 2);
    assert.deepEqual(r.data, [{ id: 2, note: 'hers' }]);
    r = await client(keys.alice).from('items').select('id').eq('id', 3);
    assert.deepEqual(r.data, []);
  });

  test('single() and maybeSingle()', async () => {
    let r = await client().from('items').select('id,name').eq('id', 1).single();
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.deepEqual(r.data, { id: 1, name: 'public one' });
    r = await client().from('items').select('id').eq('id', 2).single();
    assert.equal(r.status, 406);
    assert.equal(r.error.code, 'PGRST116');
    assert.equal(r.error.details, 'The result contains 0 rows');
    r = await client().from('items').select('id').eq('id', 99).maybeSingle();
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.equal(r.data, null);
  });

  test('nulls=stripped drops null keys, array and object', async () => {
    for (const [accept, want] of [
      ['application/vnd.pgrst.array+json;nulls=stripped', '[{"id":1,"name":"public one"}]'],
      ['application/vnd.pgrst.object+json;nulls=stripped', '{"id":1,"name":"public one"}'],
    ]) {
      const res = await request(`${kiln.url}/rest/v1/items?id=eq.1&select=id,name,note,owner`, {
        headers: { apikey: keys.publishable, Accept: accept },
      });
      assert.equal(res.status, 200, res.body);
      assert.match(await lastStatement(), /row_to_json/);
      assert.deepEqual(JSON.parse(res.body), JSON.parse(want));
    }
  });

  test('HEAD answers the headers without a body', async () => {
    const res = await request(`${kiln.url}/rest/v1/items?id=eq.1`, {
      method: 'HEAD', headers: { apikey: keys.publishable },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body, '');
    assert.equal(res.headers['content-range'], '0-0/*');
  });
});
