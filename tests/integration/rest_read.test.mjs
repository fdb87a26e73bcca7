// rest_read.test.mjs: the data API's reads through the real postgrest-js
// (@supabase/supabase-js createClient) against a real cluster and daemon.
// The daemon logs in as `authenticator`; every request runs as the role
// kiln.authenticate verifies (anon for the publishable key, authenticated
// for a user token, service_role for the secret key), so row security is
// decided by the database. Every table gets RLS and an explicit policy, so
// the tests hold with or without the exposure guard (deny by default).

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

CREATE TABLE public.authors (id int PRIMARY KEY, name text NOT NULL, data jsonb, born date);
CREATE TABLE public.books (
  id int PRIMARY KEY, title text NOT NULL, author_id int REFERENCES public.authors(id),
  tags text[], pages int, body text);
CREATE TABLE public.profiles (author_id int PRIMARY KEY REFERENCES public.authors(id), bio text);
CREATE TABLE public.todos (id serial PRIMARY KEY, owner uuid NOT NULL, task text NOT NULL);
CREATE TABLE public.labels (id int PRIMARY KEY, label text NOT NULL);
CREATE TABLE public.book_labels (
  book_id int REFERENCES public.books(id), label_id int REFERENCES public.labels(id),
  PRIMARY KEY (book_id, label_id));
CREATE TABLE public.pairs (id int PRIMARY KEY, left_id int REFERENCES public.authors(id),
  right_id int REFERENCES public.authors(id));

INSERT INTO public.authors VALUES
  (1, 'Ada', '{"a": {"b": 1}, "langs": ["en"]}', '1815-12-10'),
  (2, 'Grace', NULL, '1906-12-09'),
  (3, 'Alan, "the" one', '{"a": {"b": 2}}', NULL);
INSERT INTO public.books VALUES
  (1, 'Notes on the Engine', 1, '{math,engine}', 60, 'the analytical engine weaves patterns'),
  (2, 'Compilers', 2, '{code}', 300, 'a compiler translates programs'),
  (3, 'COBOL', 2, NULL, 500, 'common business oriented language'),
  (4, 'Anonymous', NULL, '{}', 10, NULL);
INSERT INTO public.profiles VALUES (1, 'first programmer');
INSERT INTO public.todos (owner, task) VALUES
  ('${ALICE}', 'alice one'), ('${ALICE}', 'alice two'), ('${BOB}', 'bob one');
INSERT INTO public.labels VALUES (1, 'classic'), (2, 'technical');
INSERT INTO public.book_labels VALUES (1, 1), (2, 2), (3, 1), (3, 2);

ALTER TABLE public.authors ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.books ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON public.authors FOR SELECT USING (true);
CREATE POLICY read_all ON public.books FOR SELECT USING (true);
CREATE POLICY read_all ON public.profiles FOR SELECT USING (true);
ALTER TABLE public.labels ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.book_labels ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON public.labels FOR SELECT USING (true);
CREATE POLICY read_all ON public.book_labels FOR SELECT USING (true);
GRANT SELECT ON public.labels, public.book_labels TO anon, authenticated, service_role;
ALTER TABLE public.pairs ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON public.pairs FOR SELECT USING (true);
CREATE POLICY own ON public.todos FOR SELECT TO authenticated USING (owner = auth.uid());
GRANT SELECT ON public.authors, public.books, public.profiles, public.pairs TO anon, authenticated, service_role;
GRANT SELECT ON public.todos TO authenticated, service_role;

-- views carry their tables' keys (columns renamed, reordered, filtered)
CREATE VIEW public.book_view WITH (security_invoker = true) AS
  SELECT b.title AS book_title, b.id, b.author_id AS writer FROM public.books b WHERE b.pages < 400;
CREATE VIEW public.writers WITH (security_invoker = true) AS
  SELECT a.id AS writer_id, pg_catalog.upper(a.name) AS shout, a.name FROM public.authors a;
CREATE VIEW public.titles WITH (security_invoker = true) AS SELECT b.title, b.pages + 0 AS author_id FROM public.books b;
GRANT SELECT ON public.book_view, public.writers, public.titles TO anon, authenticated, service_role;

-- computed relationships: functions of a row returning rows of a table
CREATE FUNCTION public.same_author(public.books) RETURNS SETOF public.books
  LANGUAGE sql STABLE AS $$ SELECT * FROM public.books WHERE author_id = $1.author_id AND id <> $1.id $$;
CREATE FUNCTION public.first_book(public.authors) RETURNS public.books
  LANGUAGE sql STABLE AS $$ SELECT * FROM public.books WHERE author_id = $1.id ORDER BY id LIMIT 1 $$;
CREATE FUNCTION public.long_books(min int) RETURNS SETOF public.books
  LANGUAGE sql STABLE AS $$ SELECT * FROM public.books WHERE pages >= min $$;
GRANT EXECUTE ON FUNCTION public.same_author(public.books), public.first_book(public.authors),
  public.long_books(int) TO anon, authenticated, service_role;
`;

const token = (sub) => cluster.psql(`SELECT kiln.sign_jwt(pg_catalog.jsonb_build_object(
  'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated', 'sub', '${sub}',
  'exp', extract(epoch FROM pg_catalog.now())::int8 + 600))`);

const client = (key, accessToken) => createClient(kiln.url, key, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  global: accessToken ? { headers: { Authorization: `Bearer ${accessToken}` } } : {},
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
    args: ['--db-max-rows', '50'],
  });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (cluster) await cluster.stop();
});

describe('select, filters, order', () => {
  test('columns and order', async () => {
    const { data, error, status } = await client(keys.publishable).from('authors').select('id,name').order('id');
    assert.equal(error, null);
    assert.equal(status, 200);
    assert.deepEqual(data, [{ id: 1, name: 'Ada' }, { id: 2, name: 'Grace' }, { id: 3, name: 'Alan, "the" one' }]);
  });

  test('aliases, casts and JSON paths', async () => {
    const { data, error } = await client(keys.publishable).from('authors')
      .select('who:name, id::text, b:data->a->>b, data->langs->0').eq('id', 1);
    assert.equal(error, null);
    assert.deepEqual(data, [{ who: 'Ada', id: '1', b: '1', 0: 'en' }]);
  });

  test('comparison operators, not, in with quoting, is', async () => {
    const sb = client(keys.publishable);
    const ids = async (q) => {
      const { data, error } = await q.order('id');
      assert.equal(error, null, JSON.stringify(error));
      return data.map((r) => r.id);
    };
    assert.deepEqual(await ids(sb.from('books').select('id').gt('pages', 60)), [2, 3]);
    assert.deepEqual(await ids(sb.from('books').select('id').gte('pages', 60).lte('pages', 300)), [1, 2]);
    assert.deepEqual(await ids(sb.from('books').select('id').lt('pages', 60)), [4]);
    assert.deepEqual(await ids(sb.from('books').select('id').neq('author_id', 2)), [1]);
    assert.deepEqual(await ids(sb.from('books').select('id').is('author_id', null)), [4]);
    assert.deepEqual(await ids(sb.from('books').select('id').not('author_id', 'is', null)), [1, 2, 3]);
    // postgrest-js quotes items holding , ( or ) (but does not escape quotes).
    assert.deepEqual(await ids(sb.from('authors').select('id').in('name', ['Ada', 'Grace', 'x,(y)'])), [1, 2]);
    assert.deepEqual(await ids(sb.from('authors').select('id').filter('name', 'in', '(Ada,"Alan, \\"the\\" one")')), [1, 3]);
    assert.deepEqual(await ids(sb.from('authors').select('id').not('id', 'in', '(1,2)')), [3]);
    assert.deepEqual(await ids(sb.from('books').select('id').like('title', 'Co*')), [2]);
    assert.deepEqual(await ids(sb.from('books').select('id').ilike('title', 'co%')), [2, 3]);
    assert.deepEqual(await ids(sb.from('books').select('id').match({ author_id: 2, pages: 500 })), [3]);
    assert.deepEqual(await ids(sb.from('authors').select('id').filter('name', 'imatch', '^a')), [1, 3]);
  });

  test('arrays, full text, JSON filters', async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('books').select('id').contains('tags', ['engine']);
    assert.deepEqual(r.data, [{ id: 1 }]);
    r = await sb.from('books').select('id').overlaps('tags', ['code', 'math']).order('id');
    assert.deepEqual(r.data, [{ id: 1 }, { id: 2 }]);
    r = await sb.from('books').select('id').textSearch('body', 'compiler', { config: 'english' });
    assert.deepEqual(r.data, [{ id: 2 }]);
    r = await sb.from('books').select('id').textSearch('body', 'analytical engine', { type: 'plain' });
    assert.deepEqual(r.data, [{ id: 1 }]);
    r = await sb.from('books').select('id').textSearch('body', '"business oriented"', { type: 'websearch' });
    assert.deepEqual(r.data, [{ id: 3 }]);
    r = await sb.from('authors').select('id').eq('data->a->>b', '2');
    assert.deepEqual(r.data, [{ id: 3 }]);
  });

  test('or with nested and, and not.or', async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('books').select('id').or('id.eq.4,and(author_id.eq.2,pages.gt.400)').order('id');
    assert.equal(r.error, null);
    assert.deepEqual(r.data, [{ id: 3 }, { id: 4 }]);
    r = await sb.from('authors').select('id').or('name.eq."Alan, \\"the\\" one",id.eq.2').order('id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ id: 2 }, { id: 3 }]);
    // not.or=(...) has no postgrest-js helper; the wire form directly.
    const raw = await request(`${kiln.url}/rest/v1/books?select=id&not.or=(id.eq.1,id.eq.2)&order=id`,
      { headers: { apikey: keys.publishable } });
    assert.equal(raw.status, 200);
    assert.deepEqual(raw.json, [{ id: 3 }, { id: 4 }]);
  });

  test('order with nulls first/last, descending', async () => {
    const { data } = await client(keys.publishable).from('authors').select('id')
      .order('born', { ascending: false, nullsFirst: true });
    assert.deepEqual(data.map((r) => r.id), [3, 2, 1]);
  });
});

describe('range, count, head, single', () => {
  test('range with count=exact is 206 with the total', async () => {
    const r = await client(keys.publishable).from('books').select('id', { count: 'exact' }).order('id').range(1, 2);
    assert.equal(r.error, null);
    assert.equal(r.status, 206);
    assert.equal(r.count, 4);
    assert.deepEqual(r.data, [{ id: 2 }, { id: 3 }]);
  });

  test('count without a range is 200; head returns only the count', async () => {
    let r = await client(keys.publishable).from('books').select('*', { count: 'exact' });
    assert.equal(r.status, 200);
    assert.equal(r.count, 4);
    r = await client(keys.publishable).from('books').select('*', { count: 'exact', head: true }).gt('pages', 100);
    assert.equal(r.error, null);
    assert.equal(r.count, 2);
    assert.equal(r.data, null);
  });

  test('Content-Range and 416 past the end', async () => {
    const url = `${kiln.url}/rest/v1/books?select=id&offset=10&limit=2`;
    const r = await request(url, { headers: { apikey: keys.publishable, Prefer: 'count=exact' } });
    assert.equal(r.status, 416);
    assert.equal(r.headers['content-range'], '*/4');
    assert.equal(r.json.code, 'PGRST103');
    assert.equal(r.json.details, 'An offset of 10 was requested, but there are only 4 rows.');
    const ok = await request(`${kiln.url}/rest/v1/books?select=id&limit=2&order=id`, { headers: { apikey: keys.publishable } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['content-range'], '0-1/*');
    assert.equal(ok.headers['content-profile'], 'public');
  });

  test('db_max_rows caps a read', async () => {
    const r = await request(`${kiln.url}/rest/v1/books?select=id&limit=100000`, { headers: { apikey: keys.publishable } });
    assert.equal(r.status, 200);
    assert.equal(r.json.length, 4);
  });

  test('single() and maybeSingle()', async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('authors').select('id,name').eq('id', 2).single();
    assert.equal(r.error, null);
    assert.deepEqual(r.data, { id: 2, name: 'Grace' });
    r = await sb.from('authors').select('id').eq('id', 99).single();
    assert.equal(r.status, 406);
    assert.equal(r.error.code, 'PGRST116');
    assert.equal(r.error.details, 'The result contains 0 rows');
    r = await sb.from('authors').select('id').single();
    assert.equal(r.error.details, 'The result contains 3 rows');
    r = await sb.from('authors').select('id').eq('id', 99).maybeSingle();
    assert.equal(r.error, null);
    assert.equal(r.data, null);
  });
});

describe('embedded resources', () => {
  test('many-to-one is an object, one-to-many an array', async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('books').select('title, author:authors(name)').order('id');
    assert.equal(r.error, null);
    assert.deepEqual(r.data.map((b) => b.author && b.author.name), ['Ada', 'Grace', 'Grace', null]);
    r = await sb.from('authors').select('name, books(title)').order('id');
    assert.deepEqual(r.data[1], { name: 'Grace', books: [{ title: 'Compilers' }, { title: 'COBOL' }] });
    assert.deepEqual(r.data[2].books, []);
    r = await sb.from('authors').select('name, profiles(bio)').eq('id', 1).single();
    assert.deepEqual(r.data, { name: 'Ada', profiles: { bio: 'first programmer' } });
  });

  test('filters, order and limit on an embed; !inner filters the parent', async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('authors').select('id, books(title)').eq('books.pages', 500).order('id');
    assert.deepEqual(r.data, [{ id: 1, books: [] }, { id: 2, books: [{ title: 'COBOL' }] }, { id: 3, books: [] }]);
    r = await sb.from('authors').select('id, books!inner(title)').eq('books.pages', 500);
    assert.deepEqual(r.data, [{ id: 2, books: [{ title: 'COBOL' }] }]);
    r = await sb.from('authors').select('id, books(title)').eq('id', 2)
      .order('pages', { referencedTable: 'books', ascending: false }).limit(1, { referencedTable: 'books' });
    assert.deepEqual(r.data, [{ id: 2, books: [{ title: 'COBOL' }] }]);
  });

  test('many-to-many through a junction table', async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('books').select('id, labels(label)').order('id')
      .order('label', { referencedTable: 'labels' });
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [
      { id: 1, labels: [{ label: 'classic' }] },
      { id: 2, labels: [{ label: 'technical' }] },
      { id: 3, labels: [{ label: 'classic' }, { label: 'technical' }] },
      { id: 4, labels: [] },
    ]);
    r = await sb.from('labels').select('label, books!inner(id)').eq('books.id', 2);
    assert.deepEqual(r.data, [{ label: 'technical', books: [{ id: 2 }] }]);
  });

  test('an embed filtered with is.null / not.is.null filters the parents', async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('authors').select('id, books(id)').not('books', 'is', null).order('id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data.map((a) => a.id), [1, 2]);
    r = await sb.from('authors').select('id, books(id)').is('books', null);
    assert.deepEqual(r.data, [{ id: 3, books: [] }]);
  });

  test('an ambiguous embed is 300 PGRST201 with the candidates', async () => {
    const r = await client(keys.publishable).from('authors').select('id, pairs(*)');
    assert.equal(r.status, 300);
    assert.equal(r.error.code, 'PGRST201');
    assert.ok(Array.isArray(r.error.details), JSON.stringify(r.error));
    assert.deepEqual(r.error.details.map((d) => d.relationship).sort(), ['pairs_left_id_fkey', 'pairs_right_id_fkey']);
    assert.match(r.error.hint, /'pairs!pairs_left_id_fkey'/);
    const ok = await client(keys.publishable).from('authors').select('id, pairs!left_id(id)').eq('id', 1);
    assert.deepEqual(ok.data, [{ id: 1, pairs: [] }]);
  });

  test('related order through a to-one embed', async () => {
    const r = await client(keys.publishable).from('books').select('id, author:authors(name)')
      .order('author(name)', { ascending: false, nullsFirst: false }).order('id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data.map((b) => b.id), [2, 3, 1, 4]);
  });

  test('hints and spread', async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('books').select('id, writer:authors!books_author_id_fkey(name)').eq('id', 1);
    assert.deepEqual(r.data, [{ id: 1, writer: { name: 'Ada' } }]);
    r = await sb.from('books').select('id, ...authors(author_name:name)').eq('id', 2);
    assert.deepEqual(r.data, [{ id: 2, author_name: 'Grace' }]);
  });

  test('to-many spread: each column becomes an array, in the embed order; [] without rows', async () => {
    const sb = client(keys.publishable);
    const r = await sb.from('authors').select('id, ...books(title, pages)').order('id')
      .order('pages', { referencedTable: 'books', ascending: false });
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [
      { id: 1, title: ['Notes on the Engine'], pages: [60] },
      { id: 2, title: ['COBOL', 'Compilers'], pages: [500, 300] },
      { id: 3, title: [], pages: [] },
    ]);
    // through a junction table, with a to-one spread nested inside
    const m = await sb.from('labels').select('label, ...books(id, ...authors(name))').eq('id', 1)
      .order('id', { referencedTable: 'books' });
    assert.equal(m.error, null, JSON.stringify(m.error));
    assert.deepEqual(m.data, [{ label: 'classic', id: [1, 3], name: ['Ada', 'Grace'] }]);
  });
});

describe('errors', () => {
  test('unknown table, column, relationship; bad syntax', async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('nope').select('*');
    assert.equal(r.status, 404);
    assert.equal(r.error.code, 'PGRST205');
    assert.equal(r.error.message, "Could not find the table 'public.nope' in the schema cache");
    r = await sb.from('authors').select('id,nope');
    assert.equal(r.status, 400);
    assert.equal(r.error.code, '42703');
    r = await sb.from('authors').select('id,todos(*)');
    assert.equal(r.status, 400);
    assert.equal(r.error.code, 'PGRST200');
    r = await sb.from('authors').select('id,(');
    assert.equal(r.status, 400);
    assert.equal(r.error.code, 'PGRST100');
    r = await sb.from('authors').select('id').eq('id', 'not-a-number');
    assert.equal(r.status, 400);
    assert.equal(r.error.code, '22P02');
    assert.ok('details' in r.error && 'hint' in r.error);
  });

  test('unknown profile is 406 PGRST106', async () => {
    const r = await client(keys.publishable).schema('private').from('authors').select('id');
    assert.equal(r.status, 406);
    assert.equal(r.error.code, 'PGRST106');
    assert.equal(r.error.message, 'Invalid schema: private');
  });

  test('no key is 401; a bad token is 401 with WWW-Authenticate', async () => {
    let r = await request(`${kiln.url}/rest/v1/authors`);
    assert.equal(r.status, 401);
    r = await request(`${kiln.url}/rest/v1/authors`, { headers: { apikey: keys.publishable, Authorization: 'Bearer a.b.c' } });
    assert.equal(r.status, 401);
    assert.equal(r.json.code, 'PGRST301');
    assert.match(r.headers['www-authenticate'], /^Bearer/);
    r = await request(`${kiln.url}/rest/v1/authors?select=id&apikey=${keys.publishable}`);
    assert.equal(r.status, 200, 'apikey as a query parameter');
  });
});

describe('identity and row security through the API', () => {
  test('anon cannot read todos: 401 (permission denied as anon)', async () => {
    const r = await client(keys.publishable).from('todos').select('*');
    assert.equal(r.status, 401);
    assert.equal(r.error.code, '42501');
  });

  test('each user sees their own rows; the secret key sees all', async () => {
    let r = await client(keys.publishable, keys.alice).from('todos').select('task').order('id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data.map((t) => t.task), ['alice one', 'alice two']);
    r = await client(keys.publishable, keys.bob).from('todos').select('task', { count: 'exact' });
    assert.deepEqual(r.data.map((t) => t.task), ['bob one']);
    assert.equal(r.count, 1);
    r = await client(keys.secret).from('todos').select('task');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.equal(r.data.length, 3);
  });
});

describe('schema cache', () => {
  test("NOTIFY kiln, 'reload schema' makes a new table visible without restart", async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('late').select('*');
    assert.equal(r.status, 404);
    await cluster.psql(`CREATE TABLE public.late (id int PRIMARY KEY);
      INSERT INTO public.late VALUES (7); GRANT SELECT ON public.late TO anon;
      ALTER TABLE public.late ENABLE ROW LEVEL SECURITY;
      CREATE POLICY read_all ON public.late FOR SELECT USING (true);
      NOTIFY kiln, 'reload schema';`);
    await waitFor(async () => (await sb.from('late').select('*')).status === 200, { timeoutMs: 5000, what: 'the reloaded schema cache' });
    r = await sb.from('late').select('*');
    assert.deepEqual(r.data, [{ id: 7 }]);
  });

  // Statements are prepared and cached per pooled connection (keyed by SQL
  // text): a schema change must neither break nor be hidden by them.
  test('prepared statements survive ALTER TABLE between identical requests', async () => {
    const sb = client(keys.publishable);
    await cluster.psql(`CREATE TABLE public.shifty (id int PRIMARY KEY, n int);
      INSERT INTO public.shifty VALUES (1, 5); GRANT SELECT ON public.shifty TO anon;
      ALTER TABLE public.shifty ENABLE ROW LEVEL SECURITY;
      CREATE POLICY read_all ON public.shifty FOR SELECT USING (true);
      NOTIFY kiln, 'reload schema';`);
    const read = () => sb.from('shifty').select('id,n').eq('n', '5');
    await waitFor(async () => (await read()).status === 200, { timeoutMs: 5000, what: 'the reloaded schema cache' });
    const many = async (expected) => {
      for (let i = 0; i < 5; i++) {
        const r = await read();
        assert.equal(r.status, 200, JSON.stringify(r.error));
        assert.deepEqual(r.data, expected);
      }
    };
    await many([{ id: 1, n: 5 }]);
    // The parameter was inferred as integer when the statement was prepared;
    // a text column no longer compares with it (42883): the cached statement
    // is dropped and the request retried once, without any reload.
    await cluster.psql('ALTER TABLE public.shifty ALTER COLUMN n TYPE text USING n::text');
    await many([{ id: 1, n: '5' }]);
    // A reload starts a new schema generation: every connection drops its
    // statements; the same request text is prepared afresh.
    await cluster.psql(`ALTER TABLE public.shifty ALTER COLUMN n TYPE bigint USING n::bigint;
      NOTIFY kiln, 'reload schema';`);
    await waitFor(async () => {
      const r = await read();
      return r.status === 200 && r.data.length === 1 && r.data[0].n === 5;
    }, { timeoutMs: 5000, what: 'the reloaded schema cache' });
    await many([{ id: 1, n: 5 }]);
    // A new column after a reload: select=* now names it.
    await cluster.psql(`ALTER TABLE public.shifty ADD COLUMN extra text DEFAULT 'x';
      NOTIFY kiln, 'reload schema';`);
    await waitFor(async () => {
      const r = await sb.from('shifty').select('*').eq('id', 1);
      return r.status === 200 && r.data.length === 1 && r.data[0].extra === 'x';
    }, { timeoutMs: 5000, what: 'the reloaded schema cache' });
    const r = await sb.from('shifty').select('*').eq('id', 1);
    assert.deepEqual(r.data, [{ id: 1, n: 5, extra: 'x' }]);
  });
});

describe('relationships through views', () => {
  test('view -> table, table -> view, view -> view, with the key columns renamed', async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('book_view').select('id, book_title, authors(name)').order('id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [
      { id: 1, book_title: 'Notes on the Engine', authors: { name: 'Ada' } },
      { id: 2, book_title: 'Compilers', authors: { name: 'Grace' } },
      { id: 4, book_title: 'Anonymous', authors: null },
    ]);
    r = await sb.from('authors').select('id, book_view(id)').order('id').order('id', { referencedTable: 'book_view' });
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ id: 1, book_view: [{ id: 1 }] }, { id: 2, book_view: [{ id: 2 }] }, { id: 3, book_view: [] }]);
    r = await sb.from('book_view').select('id, writers(shout)').eq('id', 2);
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ id: 2, writers: { shout: 'GRACE' } }]);
    r = await sb.from('books').select('id, writers!inner(name)').eq('writers.name', 'Ada');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ id: 1, writers: { name: 'Ada' } }]);
  });

  test('other keys through views; a computed column is not a key column', async () => {
    const sb = client(keys.publishable);
    const r = await sb.from('writers').select('shout, profiles(bio)').eq('writer_id', 1);
    assert.equal(r.error, null, JSON.stringify(r.error)); // writer_id is authors.id
    assert.deepEqual(r.data, [{ shout: 'ADA', profiles: { bio: 'first programmer' } }]); // one-to-one: the key is profiles' primary key
    const j = await sb.from('book_view').select('id, book_labels(label_id)').eq('id', 2);
    assert.equal(j.error, null, JSON.stringify(j.error)); // book_view.id is books.id
    assert.deepEqual(j.data, [{ id: 2, book_labels: [{ label_id: 2 }] }]);
    const two = await sb.from('writers').select('name, pairs(id)');
    assert.equal(two.status, 300); // both keys of pairs to authors, seen through writers
    assert.equal(two.error.code, 'PGRST201');
    const none = await sb.from('titles').select('title, authors(name)');
    assert.equal(none.status, 400);
    assert.equal(none.error.code, 'PGRST200');
  });
});

describe('geojson without PostGIS', () => {
  test('application/geo+json is 406 PGRST107 when PostGIS is not installed', async () => {
    const r = await client(keys.publishable).from('authors').select('id').geojson();
    assert.equal(r.status, 406);
    assert.equal(r.error.code, 'PGRST107');
  });
});

describe('computed relationships', () => {
  test('SETOF is to-many, a single row to-one; filters, order and !inner apply', async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('books').select('id, same_author(id, title)').in('id', [2, 1]).order('id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ id: 1, same_author: [] }, { id: 2, same_author: [{ id: 3, title: 'COBOL' }] }]);
    r = await sb.from('authors').select('name, first:first_book(title)').order('id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [
      { name: 'Ada', first: { title: 'Notes on the Engine' } },
      { name: 'Grace', first: { title: 'Compilers' } },
      // a function returning one composite returns a row of NULLs when it finds none
      { name: 'Alan, "the" one', first: { title: null } },
    ]);
    r = await sb.from('books').select('id, same_author!inner(id)').gt('same_author.pages', 400).order('id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ id: 2, same_author: [{ id: 3 }] }]);
  });

  test('from the rows of an RPC result of the same table', async () => {
    const r = await client(keys.publishable).rpc('long_books', { min: 300 }).select('id, same_author(id)').order('id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ id: 2, same_author: [{ id: 3 }] }, { id: 3, same_author: [{ id: 2 }] }]);
  });

  test('a function of another row type is no relationship', async () => {
    const r = await client(keys.publishable).from('authors').select('id, same_author(id)');
    assert.equal(r.status, 400);
    assert.equal(r.error.code, 'PGRST200');
  });
});

describe('aggregates', () => {
  let agg;
  before(async () => {
    agg = await startKiln({
      dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`,
      args: ['--db-aggregates-enabled', 'true'],
    });
  });
  after(async () => { if (agg) await agg.stop(); });
  const aggClient = () => createClient(agg.url, keys.publishable, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });

  test('disabled by default: 400 PGRST123', async () => {
    const r = await client(keys.publishable).from('books').select('count()');
    assert.equal(r.status, 400);
    assert.equal(r.error.code, 'PGRST123');
    assert.equal(r.error.message, 'Use of aggregate functions is not allowed');
    const s = await client(keys.publishable).from('books').select('pages.sum()');
    assert.equal(s.error.code, 'PGRST123');
  });

  test('count() and col.sum()/avg()/min()/max() group by the plain columns', async () => {
    const sb = aggClient();
    let r = await sb.from('books').select('count()');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ count: 4 }]);
    r = await sb.from('books').select('author_id, n:count(), pages.sum(), pages.max(), pages.min(), avg:pages::numeric.avg()::int')
      .not('author_id', 'is', null).order('author_id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [
      { author_id: 1, n: 1, sum: 60, max: 60, min: 60, avg: 60 },
      { author_id: 2, n: 2, sum: 800, max: 500, min: 300, avg: 400 },
    ]);
  });

  test('aggregates inside an embed, and next to a to-one embed', async () => {
    const sb = aggClient();
    let r = await sb.from('authors').select('name, books(pages.sum())').order('id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [
      { name: 'Ada', books: [{ sum: 60 }] },
      { name: 'Grace', books: [{ sum: 800 }] },
      { name: 'Alan, "the" one', books: [{ sum: null }] },
    ]);
    r = await sb.from('books').select('pages.sum(), authors(name)').not('author_id', 'is', null);
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data.sort((x, y) => x.sum - y.sum), [
      { sum: 60, authors: { name: 'Ada' } },
      { sum: 800, authors: { name: 'Grace' } },
    ]);
  });

  test('on the rows of an RPC result', async () => {
    const r = await aggClient().rpc('long_books', { min: 0 }).select('author_id, pages.sum()').order('author_id');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ author_id: 1, sum: 60 }, { author_id: 2, sum: 800 }, { author_id: null, sum: 10 }]);
    const off = await client(keys.publishable).rpc('long_books', { min: 0 }).select('count()');
    assert.equal(off.error.code, 'PGRST123');
  });

  test('a bad aggregate is a parse error; a wrong type is the database error, 4xx', async () => {
    const sb = aggClient();
    let r = await sb.from('books').select('pages.median()');
    assert.equal(r.status, 400);
    assert.equal(r.error.code, 'PGRST100');
    r = await sb.from('books').select('title.sum()');
    assert.equal(r.status, 404);
    assert.equal(r.error.code, '42883');
  });
});
