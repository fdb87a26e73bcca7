// rest_rpc.test.mjs: function calls at /rest/v1/rpc/<fn> through the real
// supabase-js (supabase.rpc) against a real cluster and daemon, and the
// OpenAPI description at /rest/v1/. Every call runs as the role
// kiln.authenticate verifies, so what a SECURITY INVOKER function sees is
// decided by row security; GET and HEAD run READ ONLY.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { request, startCluster, startKiln, waitFor } from './lib/harness.mjs';

const ALICE = '11111111-1111-4111-8111-111111111111';
const BOB = '22222222-2222-4222-8222-222222222222';

let cluster;
let kiln;
let keys;

const SETUP = `
CREATE EXTENSION kiln_platform CASCADE;
SELECT kiln.rotate_signing_key('HS256');

CREATE TABLE public.categories (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.items (
  id int PRIMARY KEY, owner uuid NOT NULL, name text NOT NULL, price numeric NOT NULL,
  category_id int REFERENCES public.categories(id));
CREATE TABLE public.calls (id serial PRIMARY KEY, note text);
CREATE TABLE public.vault (id int PRIMARY KEY, secret text);
GRANT SELECT ON public.vault TO service_role;
INSERT INTO public.categories VALUES (1, 'tools'), (2, 'toys');
INSERT INTO public.items VALUES
  (1, '${ALICE}', 'hammer', 12.5, 1), (2, '${ALICE}', 'kite', 8, 2),
  (3, '${BOB}', 'saw', 20, 1), (4, '${BOB}', 'ball', 3, 2), (5, '${BOB}', 'drill', 55, 1);
ALTER TABLE public.categories ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.calls ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON public.categories FOR SELECT USING (true);
CREATE POLICY read_all ON public.items FOR SELECT TO anon, service_role USING (true);
CREATE POLICY own ON public.items FOR SELECT TO authenticated USING (owner = auth.uid());
CREATE POLICY write_all ON public.calls FOR ALL USING (true) WITH CHECK (true);
GRANT SELECT ON public.categories, public.items TO anon, authenticated, service_role;
GRANT SELECT, INSERT ON public.calls TO anon, authenticated, service_role;
GRANT USAGE ON SEQUENCE public.calls_id_seq TO anon, authenticated, service_role;

CREATE FUNCTION public.add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
COMMENT ON FUNCTION public.add(int, int) IS 'Adds two integers';
CREATE FUNCTION public.add_num(a numeric, b numeric) RETURNS numeric LANGUAGE sql IMMUTABLE
  AS 'SELECT a + b';
CREATE FUNCTION public.hello(name text DEFAULT 'world', punct text DEFAULT '!') RETURNS text
  LANGUAGE sql STABLE AS $$SELECT 'hello ' || name || punct$$;
CREATE FUNCTION public.my_items() RETURNS SETOF public.items LANGUAGE sql STABLE
  AS 'SELECT * FROM public.items';
CREATE FUNCTION public.all_items() RETURNS SETOF public.items LANGUAGE sql STABLE
  SECURITY DEFINER SET search_path = '' AS 'SELECT * FROM public.items';
CREATE FUNCTION public.items_over(min numeric) RETURNS SETOF public.items LANGUAGE sql STABLE
  AS 'SELECT * FROM public.items WHERE price >= min';
CREATE FUNCTION public.item_summary(lo numeric DEFAULT 0)
  RETURNS TABLE (item text, cost numeric) LANGUAGE sql STABLE
  AS 'SELECT name, price FROM public.items WHERE price >= lo ORDER BY id';
CREATE FUNCTION public.cheapest() RETURNS public.items LANGUAGE sql STABLE
  AS 'SELECT * FROM public.items ORDER BY price LIMIT 1';
CREATE FUNCTION public.point(OUT x int, OUT y int) LANGUAGE sql IMMUTABLE AS 'SELECT 3, 4';
CREATE FUNCTION public.numbers(n int) RETURNS SETOF int LANGUAGE sql IMMUTABLE
  AS 'SELECT pg_catalog.generate_series(1, n)';
CREATE FUNCTION public.note(msg text) RETURNS void LANGUAGE sql VOLATILE
  AS 'INSERT INTO public.calls (note) VALUES (msg)';
CREATE FUNCTION public.note_many(n int) RETURNS SETOF public.calls LANGUAGE sql VOLATILE
  AS $$INSERT INTO public.calls (note) SELECT 'many ' || g FROM pg_catalog.generate_series(1, n) g RETURNING *$$;
CREATE FUNCTION public.sneaky() RETURNS int LANGUAGE plpgsql STABLE
  AS $$BEGIN PERFORM public.note('sneaky'); RETURN 1; END$$;
CREATE FUNCTION public.echo_json(jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS 'SELECT $1';
CREATE FUNCTION public.echo_text(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'got ' || $1$$;
CREATE FUNCTION public.byte_len(bytea) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT length($1)';
CREATE FUNCTION public.json_arg(doc jsonb, tags text[]) RETURNS jsonb LANGUAGE sql IMMUTABLE
  AS $$SELECT jsonb_build_object('doc', doc, 'ntags', cardinality(tags), 'first', tags[1])$$;
CREATE FUNCTION public.one_doc(doc jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS 'SELECT doc';
CREATE FUNCTION public.sum_all(VARIADIC nums int[]) RETURNS int LANGUAGE sql IMMUTABLE
  AS 'SELECT sum(x)::int FROM unnest(nums) x';
CREATE FUNCTION public.over(a int) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'int ' || a$$;
CREATE FUNCTION public.over(b text) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'text ' || b$$;
CREATE FUNCTION public.amb(a int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a';
CREATE FUNCTION public.amb(a text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT a';
CREATE FUNCTION public.whoami() RETURNS text LANGUAGE sql STABLE AS 'SELECT current_user::text';
CREATE FUNCTION public.secret_fn() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 42';
REVOKE EXECUTE ON FUNCTION public.secret_fn() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.secret_fn() TO authenticated;
CREATE FUNCTION public.fail(msg text) RETURNS int LANGUAGE plpgsql IMMUTABLE
  AS $$BEGIN RAISE EXCEPTION '%', msg USING HINT = 'fix it'; END$$;

CREATE SCHEMA private;
GRANT USAGE ON SCHEMA private TO anon, authenticated, service_role;
CREATE FUNCTION private.hidden() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 7';
`;

const token = (sub) => cluster.psql(`SELECT kiln.sign_jwt(pg_catalog.jsonb_build_object(
  'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated', 'sub', '${sub}',
  'exp', extract(epoch FROM pg_catalog.now())::int8 + 600))`);

const client = (key, accessToken) => createClient(kiln.url, key, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  global: accessToken ? { headers: { Authorization: `Bearer ${accessToken}` } } : {},
});

const raw = (p, opts = {}) => request(`${kiln.url}/rest/v1/${p}`, {
  ...opts, headers: { apikey: keys.publishable, ...(opts.headers || {}) },
});

before(async () => {
  // tests/lib/cluster gives every cluster its own master key
  // (kiln.rotate_signing_key seals the signing key with it).
  cluster = await startCluster();
  await cluster.psql(SETUP);
  keys = {
    publishable: await cluster.psql("SELECT kiln.create_api_key('publishable')"),
    secret: await cluster.psql("SELECT kiln.create_api_key('secret')"),
    alice: await token(ALICE),
    bob: await token(BOB),
  };
  kiln = await startKiln({
    dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`,
    args: ['--db-max-rows', '50', '--db-schemas', 'public,private'],
  });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (cluster) await cluster.stop();
});

describe('results', () => {
  test('scalar by POST and by GET', async () => {
    const sb = client(keys.publishable);
    let r = await sb.rpc('add', { a: 2, b: 40 });
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.equal(r.status, 200);
    assert.equal(r.data, 42);
    r = await sb.rpc('add', { a: 1, b: 2 }, { get: true });
    assert.equal(r.error, null);
    assert.equal(r.data, 3);
  });

  test('numbers keep their precision', async () => {
    const r = await client(keys.publishable).rpc('add_num', { a: 0.1, b: 0.2 });
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.equal(r.data, 0.3);
    const big = await raw('rpc/add_num', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: '{"a": 12345678901234567890.125, "b": 1}' });
    assert.equal(big.status, 200);
    assert.equal(big.body, '12345678901234567891.125');
  });

  test('default arguments may be omitted', async () => {
    const sb = client(keys.publishable);
    assert.equal((await sb.rpc('hello')).data, 'hello world!');
    assert.equal((await sb.rpc('hello', { name: 'kiln' })).data, 'hello kiln!');
    assert.equal((await sb.rpc('hello', { punct: '?' }, { get: true })).data, 'hello world?');
  });

  test('SETOF a table: filters, select, order, range, embeds, count', async () => {
    const sb = client(keys.secret);
    let r = await sb.rpc('items_over', { min: 5 }).select('id,name').order('price', { ascending: false });
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ id: 5, name: 'drill' }, { id: 3, name: 'saw' },
      { id: 1, name: 'hammer' }, { id: 2, name: 'kite' }]);
    r = await sb.rpc('items_over', { min: 5 }).select('id').eq('category_id', 1).lt('price', 50).order('id');
    assert.deepEqual(r.data, [{ id: 1 }, { id: 3 }]);
    r = await sb.rpc('items_over', { min: 0 }, { count: 'exact' }).select('id').order('id').range(1, 2);
    assert.equal(r.status, 206);
    assert.equal(r.count, 5);
    assert.deepEqual(r.data, [{ id: 2 }, { id: 3 }]);
    r = await sb.rpc('items_over', { min: 10 }).select('name,categories(name)').order('id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ name: 'hammer', categories: { name: 'tools' } },
      { name: 'saw', categories: { name: 'tools' } }, { name: 'drill', categories: { name: 'tools' } }]);
    // By GET: the function's own argument is an argument, the rest filter.
    r = await sb.rpc('items_over', { min: 10 }, { get: true }).select('id').eq('category_id', 1).order('id');
    assert.deepEqual(r.data, [{ id: 1 }, { id: 3 }, { id: 5 }]);
  });

  test('head with count', async () => {
    const r = await client(keys.secret).rpc('items_over', { min: 10 }, { head: true, count: 'exact' });
    assert.equal(r.error, null);
    assert.equal(r.count, 3);
    assert.equal(r.data, null);
  });

  test('TABLE(...) result and OUT columns', async () => {
    const sb = client(keys.secret);
    let r = await sb.rpc('item_summary', { lo: 20 });
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ item: 'saw', cost: 20 }, { item: 'drill', cost: 55 }]);
    r = await sb.rpc('item_summary').select('item').gt('cost', 10).order('item');
    assert.deepEqual(r.data, [{ item: 'drill' }, { item: 'hammer' }, { item: 'saw' }]);
    r = await sb.rpc('point');
    assert.deepEqual(r.data, { x: 3, y: 4 });
  });

  test('composite result is an object', async () => {
    const r = await client(keys.secret).rpc('cheapest');
    assert.equal(r.error, null);
    assert.deepEqual(r.data, { id: 4, owner: BOB, name: 'ball', price: 3, category_id: 2 });
  });

  test('SETOF scalar is an array, filtered by the function name', async () => {
    const sb = client(keys.publishable);
    let r = await sb.rpc('numbers', { n: 5 });
    assert.deepEqual(r.data, [1, 2, 3, 4, 5]);
    r = await sb.rpc('numbers', { n: 5 }).gt('numbers', 2).limit(2);
    assert.deepEqual(r.data, [3, 4]);
    r = await sb.rpc('numbers', { n: 3 }, { get: true });
    assert.deepEqual(r.data, [1, 2, 3]);
  });

  test('void is 204 and data null; it ran', async () => {
    const r = await client(keys.publishable).rpc('note', { msg: 'from rpc' });
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.equal(r.status, 204);
    assert.equal(r.data, null);
    assert.equal(await cluster.psql("SELECT count(*) FROM public.calls WHERE note = 'from rpc'"), '1');
  });

  test('single() takes one object; more rows are 406 PGRST116', async () => {
    const sb = client(keys.secret);
    let r = await sb.rpc('items_over', { min: 50 }).single();
    assert.equal(r.error, null);
    assert.equal(r.data.name, 'drill');
    r = await sb.rpc('items_over', { min: 0 }).single();
    assert.equal(r.status, 406);
    assert.equal(r.error.code, 'PGRST116');
    assert.equal(r.error.details, 'The result contains 5 rows');
  });

  test('single() on a writing call: other than one row is 406 and nothing is written', async () => {
    const sb = client(keys.secret);
    let r = await sb.rpc('note_many', { n: 2 }).single();
    assert.equal(r.status, 406);
    assert.equal(r.error.code, 'PGRST116');
    assert.equal(r.error.details, 'The result contains 2 rows');
    assert.equal(await cluster.psql("SELECT count(*) FROM public.calls WHERE note LIKE 'many %'"), '0');
    r = await sb.rpc('note_many', { n: 1 }).single();
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.equal(r.data.note, 'many 1');
    assert.equal(await cluster.psql("SELECT count(*) FROM public.calls WHERE note LIKE 'many %'"), '1');
  });
});

describe('arguments', () => {
  test('a single unnamed jsonb parameter takes the whole body', async () => {
    const body = { any: ['shape', 1, { deep: true }], n: null };
    const r = await client(keys.publishable).rpc('echo_json', body);
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, body);
  });

  test('raw text and bytes bodies for single unnamed text/bytea parameters', async () => {
    let r = await raw('rpc/echo_text', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'plain "words"' });
    assert.equal(r.status, 200);
    assert.equal(r.json, 'got plain "words"');
    r = await raw('rpc/byte_len', { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' },
      body: Buffer.from([0, 1, 2, 255, 0]) });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json, 5);
  });

  test('json and array arguments by POST; arrays by GET', async () => {
    const sb = client(keys.publishable);
    let r = await sb.rpc('json_arg', { doc: { a: [1, 2] }, tags: ['x', 'y,z', 'q"t'] });
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, { doc: { a: [1, 2] }, ntags: 3, first: 'x' });
    r = await sb.rpc('sum_all', { nums: [1, 2, 3] });
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.equal(r.data, 6);
    // GET: postgrest-js joins arrays as {a,b}; repeated keys fill a VARIADIC.
    r = await sb.rpc('sum_all', { nums: [4, 5] }, { get: true });
    assert.equal(r.data, 9);
    const g = await raw('rpc/sum_all?nums=1&nums=2&nums=10');
    assert.equal(g.status, 200);
    assert.equal(g.json, 13);
  });

  test('overloads are chosen by argument names; ambiguity is 300 PGRST203', async () => {
    const sb = client(keys.publishable);
    assert.equal((await sb.rpc('over', { a: 1 })).data, 'int 1');
    assert.equal((await sb.rpc('over', { b: 'x' }, { get: true })).data, 'text x');
    const r = await sb.rpc('amb', { a: 1 });
    assert.equal(r.status, 300);
    assert.equal(r.error.code, 'PGRST203');
    assert.match(r.error.message, /^Could not choose the best candidate function between: public\.amb\(a => (integer|text)\), public\.amb\(a => (integer|text)\)$/);
    assert.equal(r.error.hint, 'Try renaming the parameters or the function itself in the database so function overloading can be resolved');
  });

  test('an unknown function or argument set is 404 PGRST202 in PostgREST words', async () => {
    const sb = client(keys.publishable);
    let r = await sb.rpc('nope', { b: 1, a: 2 });
    assert.equal(r.status, 404);
    assert.deepEqual(r.error, {
      code: 'PGRST202',
      message: 'Could not find the function public.nope(a, b) in the schema cache',
      details: 'Searched for the function public.nope with parameters a, b or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.',
      hint: null,
    });
    r = await sb.rpc('add', { a: 1 }, { get: true });
    assert.equal(r.status, 404);
    assert.equal(r.error.message, 'Could not find the function public.add(a) in the schema cache');
    assert.equal(r.error.details, 'Searched for the function public.add with parameter a, but no matches were found in the schema cache.');
    r = await sb.rpc('add');
    assert.equal(r.error.message, 'Could not find the function public.add without parameters in the schema cache');
    // pg_catalog and kiln functions are never callable
    for (const fn of ['now', 'version', 'authenticate', 'sign_jwt']) {
      r = await sb.rpc(fn);
      assert.equal(r.status, 404, fn);
    }
  });

  test('injection attempts stay names that match nothing, or values', async () => {
    const sb = client(keys.publishable);
    let r = await sb.rpc('add"; DROP TABLE public.items; --', { a: 1, b: 2 });
    assert.equal(r.status, 404);
    r = await sb.rpc('add', { 'a" => 1); DROP TABLE public.items; --': 1, b: 2 });
    assert.equal(r.status, 404);
    r = await sb.rpc('add', { a: '1); DROP TABLE public.items; --', b: 2 });
    assert.equal(r.status, 400);
    assert.equal(r.error.code, '22P02');
    r = await sb.rpc('echo_text', { "'; DROP TABLE public.items; --": 1 });
    assert.equal(r.status, 404);
    r = await sb.rpc('hello', { name: "'); DROP TABLE public.items; --" });
    assert.equal(r.data, "hello '); DROP TABLE public.items; --!");
    assert.equal(await cluster.psql('SELECT count(*) FROM public.items'), '5');
  });

  test('bad bodies and methods', async () => {
    let r = await raw('rpc/add', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"a": 1,' });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'PGRST102');
    r = await raw('rpc/add', { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: 'x' });
    assert.equal(r.status, 415);
    r = await raw('rpc/add', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 405);
    assert.equal(r.json.code, 'PGRST101');
    assert.equal(r.json.message, 'Cannot use the PUT method on RPC');
    r = await raw('rpc/add?a=1&b=2&select=nope(');
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'PGRST100');
    r = await raw('rpc/items_over?min=1&nope=eq.1');
    assert.equal(r.status, 400);
    assert.equal(r.json.code, '42703');
    r = await raw('rpc/');
    assert.equal(r.status, 404);
  });

  test('form bodies give named arguments; GET counts and HEAD ranges', async () => {
    let r = await raw('rpc/add', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'a=20&b=%32' });
    assert.equal(r.status, 200);
    assert.equal(r.json, 22);
    r = await raw('rpc/numbers?n=10&numbers=gt.3&limit=2&offset=1', { headers: { Prefer: 'count=exact' } });
    assert.equal(r.status, 206);
    assert.deepEqual(r.json, [5, 6]);
    assert.equal(r.headers['content-range'], '1-2/7');
    assert.equal(r.headers['preference-applied'], 'count=exact');
    // the same Prefer parser as reads and writes: strict handling refuses the unknown
    r = await raw('rpc/numbers?n=3', { headers: { Prefer: 'handling=strict, count=exact, nonsense=1' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'PGRST122');
    assert.equal(r.json.details, 'Invalid preferences: nonsense=1');
    r = await raw('rpc/numbers?n=3', { method: 'HEAD', headers: { Prefer: 'count=exact' } });
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
    assert.equal(r.headers['content-range'], '0-2/3');
    r = await raw('rpc/numbers?n=3&offset=5', { headers: { Prefer: 'count=exact' } });
    assert.equal(r.status, 416);
    assert.equal(r.json.code, 'PGRST103');
  });

  test('single() on a scalar and on a filtered-out composite', async () => {
    const sb = client(keys.secret);
    let r = await sb.rpc('add', { a: 1, b: 1 }).single();
    assert.equal(r.error, null);
    assert.equal(r.data, 2);
    r = await sb.rpc('cheapest').select('name').single();
    assert.deepEqual(r.data, { name: 'ball' });
    r = await sb.rpc('cheapest').eq('id', 99).single();
    assert.equal(r.status, 406);
    assert.equal(r.error.details, 'The result contains 0 rows');
  });

  test('head with object arguments: POST with return=minimal has no body', async () => {
    const r = await client(keys.publishable).rpc('json_arg', { doc: { a: 1 }, tags: ['x'] }, { head: true, count: 'exact' });
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.equal(r.status, 204);
    assert.equal(r.data, null);
    assert.equal(r.count, 1);
  });

  test('Prefer: params=single-object passes the whole body (PostgREST <= 12 apps)', async () => {
    let r = await raw('rpc/one_doc', { method: 'POST', headers: { 'Content-Type': 'application/json', Prefer: 'params=single-object' },
      body: '{"x": [1, 2]}' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { x: [1, 2] });
    assert.equal(r.headers['preference-applied'], 'params=single-object');
    r = await client(keys.publishable).rpc('one_doc', { doc: { y: 1 } });
    assert.deepEqual(r.data, { y: 1 });
  });

  test('database errors keep their status and text (RAISE is 400)', async () => {
    const r = await client(keys.publishable).rpc('fail', { msg: 'no way' });
    assert.equal(r.status, 400);
    assert.equal(r.error.code, 'P0001');
    assert.equal(r.error.message, 'no way');
    assert.equal(r.error.hint, 'fix it');
  });
});

describe('security', () => {
  test('SECURITY INVOKER sees the caller rows; DEFINER sees all', async () => {
    let r = await client(keys.publishable, keys.alice).rpc('my_items').select('id').order('id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ id: 1 }, { id: 2 }]);
    r = await client(keys.publishable, keys.bob).rpc('my_items').select('id').order('id');
    assert.deepEqual(r.data, [{ id: 3 }, { id: 4 }, { id: 5 }]);
    r = await client(keys.publishable, keys.alice).rpc('all_items', {}, { count: 'exact' }).select('id');
    assert.equal(r.count, 5);
    r = await client(keys.publishable, keys.alice).rpc('whoami');
    assert.equal(r.data, 'authenticated');
    r = await client(keys.publishable).rpc('whoami', {}, { get: true });
    assert.equal(r.data, 'anon');
  });

  test('EXECUTE privilege: anon 401, a user with the grant 200', async () => {
    let r = await client(keys.publishable).rpc('secret_fn');
    assert.equal(r.status, 401);
    assert.equal(r.error.code, '42501');
    r = await client(keys.publishable, keys.alice).rpc('secret_fn');
    assert.equal(r.data, 42);
  });

  test('GET runs read-only: a write is 405 25006; POST of a STABLE one too', async () => {
    const before = await cluster.psql('SELECT count(*) FROM public.calls');
    let r = await client(keys.publishable).rpc('note', { msg: 'by get' }, { get: true });
    assert.equal(r.status, 405);
    assert.equal(r.error.code, '25006');
    r = await client(keys.publishable).rpc('sneaky');
    assert.equal(r.status, 405);
    assert.equal(r.error.code, '25006');
    assert.equal(await cluster.psql('SELECT count(*) FROM public.calls'), before);
  });

  test('schemas: Content-Profile for POST, Accept-Profile for GET', async () => {
    let r = await client(keys.publishable).schema('private').rpc('hidden');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.equal(r.data, 7);
    r = await client(keys.publishable).schema('private').rpc('hidden', {}, { get: true });
    assert.equal(r.data, 7);
    r = await client(keys.publishable).rpc('hidden');
    assert.equal(r.status, 404);
    r = await client(keys.publishable).schema('elsewhere').rpc('hidden');
    assert.equal(r.status, 406);
    assert.equal(r.error.code, 'PGRST106');
  });

  test('no key is 401; a bad token is 401 with WWW-Authenticate', async () => {
    let r = await request(`${kiln.url}/rest/v1/rpc/add?a=1&b=2`);
    assert.equal(r.status, 401);
    r = await request(`${kiln.url}/rest/v1/rpc/add?a=1&b=2`, { headers: { apikey: keys.publishable, Authorization: 'Bearer a.b.c' } });
    assert.equal(r.status, 401);
    assert.ok(r.headers['www-authenticate']);
  });

  test('a new function is callable after a schema reload', async () => {
    const sb = client(keys.publishable);
    assert.equal((await sb.rpc('late', { x: 1 })).status, 404);
    await cluster.psql(`CREATE FUNCTION public.late(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x * 10';
      NOTIFY kiln, 'reload schema';`);
    await waitFor(async () => (await sb.rpc('late', { x: 1 })).status === 200, { timeoutMs: 5000, what: 'the reloaded schema cache' });
    assert.equal((await sb.rpc('late', { x: 2 })).data, 20);
  });
});

describe('OpenAPI', () => {
  test('GET /rest/v1/ describes tables and functions the caller may use', async () => {
    const r = await raw('', { headers: { Accept: 'application/openapi+json' } });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^application\/openapi\+json/);
    const doc = r.json;
    assert.equal(doc.swagger, '2.0');
    assert.equal(doc.basePath, '/rest/v1');
    assert.deepEqual(doc.produces, ['application/json', 'application/vnd.pgrst.object+json', 'text/csv']);
    assert.ok(doc.paths['/items'].get);
    assert.deepEqual(doc.definitions.items.properties.id, { type: 'integer', format: 'integer', description: 'Note:\nThis is a Primary Key.<pk/>' });
    assert.deepEqual(doc.definitions.items.properties.price, { type: 'number', format: 'numeric' });
    assert.ok(doc.parameters['rowFilter.items.name']);
    assert.deepEqual(doc.paths['/items'].get.responses['200'].schema, { type: 'array', items: { $ref: '#/definitions/items' } });
    const add = doc.paths['/rpc/add'];
    assert.deepEqual(add.post.parameters[0].schema, {
      type: 'object', required: ['a', 'b'],
      properties: { a: { type: 'integer', format: 'integer' }, b: { type: 'integer', format: 'integer' } },
    });
    assert.equal(add.get.summary, 'Adds two integers');
    assert.deepEqual(add.get.parameters.map((p) => [p.name, p.in, p.required]), [['a', 'query', true], ['b', 'query', true]]);
    // a VOLATILE function is described by POST only
    assert.ok(doc.paths['/rpc/note'].post);
    assert.equal(doc.paths['/rpc/note'].get, undefined);
    // what the caller may not use, and what is not exposed, is absent
    assert.equal(doc.paths['/rpc/secret_fn'], undefined);
    assert.ok(doc.paths['/calls']);
    assert.equal(doc.paths['/vault'], undefined); // no SELECT for anon
    assert.equal(doc.definitions.vault, undefined);
  });

  test('privileges decide what is described; Accept-Profile picks the schema', async () => {
    const anon = (await raw('')).json;
    assert.equal(anon.paths['/rpc/secret_fn'], undefined);
    const user = (await raw('', { headers: { Authorization: `Bearer ${keys.alice}` } })).json;
    assert.ok(user.paths['/rpc/secret_fn']);
    const priv = (await raw('', { headers: { 'Accept-Profile': 'private' } })).json;
    assert.ok(priv.paths['/rpc/hidden']);
    assert.equal(priv.paths['/items'], undefined);
    const service = (await raw('', { headers: { apikey: keys.secret } })).json;
    assert.ok(service.paths['/vault']);
  });

  test('supabase.getOpenApiSpec() reads it, per schema and per caller', async () => {
    let r = await client(keys.publishable).getOpenApiSpec();
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.equal(r.status, 200);
    assert.equal(r.data.swagger, '2.0');
    assert.ok(r.data.paths['/rpc/items_over'].post);
    assert.equal(r.data.paths['/rpc/secret_fn'], undefined);
    r = await client(keys.publishable, keys.bob).getOpenApiSpec();
    assert.ok(r.data.paths['/rpc/secret_fn']);
    r = await client(keys.publishable).schema('private').getOpenApiSpec();
    assert.equal(r.error, null);
    assert.deepEqual(Object.keys(r.data.paths).sort(), ['/', '/rpc/hidden']);
    r = await client(keys.publishable).schema('elsewhere').getOpenApiSpec();
    assert.equal(r.status, 406);
    assert.equal(r.error.code, 'PGRST106');
  });

  test('HEAD answers the headers only', async () => {
    const r = await raw('', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
    assert.match(r.headers['content-type'], /^application\/openapi\+json/);
  });

  test('unacceptable media type is 406; no key is 401', async () => {
    let r = await raw('', { headers: { Accept: 'text/html' } });
    assert.equal(r.status, 406);
    r = await request(`${kiln.url}/rest/v1/`);
    assert.equal(r.status, 401);
  });
});
