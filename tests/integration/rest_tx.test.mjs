// rest_tx.test.mjs: the shape of a data API request's transaction on its
// pooled connection. A GET is kiln.authenticate + the statement + a sync:
// the extended protocol's implicit transaction, no BEGIN/COMMIT. These
// tests hold the properties that shape must keep, through the real
// postgrest-js and a daemon with ONE pooled connection (so consecutive
// requests share a backend):
//   - a GET never writes, not through a volatile function, not after
//     trying to switch the transaction back to read-write;
//   - a failed statement rolls its transaction back at the sync: the
//     connection is reused as it is (same backend, idle, no reconnect);
//   - the verified context and role of one request never reach the next.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { startCluster, startKiln } from './lib/harness.mjs';

const ALICE = '11111111-1111-4111-8111-111111111111';

let cluster;
let kiln;
let keys;

const SETUP = `
CREATE EXTENSION kiln_platform CASCADE;
SELECT kiln.rotate_signing_key('HS256');

CREATE TABLE public.notes (id int PRIMARY KEY, body text);
INSERT INTO public.notes VALUES (1, 'one'), (2, 'two');
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON public.notes FOR SELECT USING (true);
GRANT SELECT ON public.notes TO anon, authenticated;

-- Written to by the volatile functions below; nobody but them may.
CREATE TABLE public.side_effects (id serial PRIMARY KEY, note text);
ALTER TABLE public.side_effects ENABLE ROW LEVEL SECURITY;
CREATE POLICY all_rows ON public.side_effects USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON public.side_effects TO anon, authenticated;
GRANT USAGE ON SEQUENCE public.side_effects_id_seq TO anon, authenticated;

CREATE FUNCTION public.write_one() RETURNS int LANGUAGE sql VOLATILE
  AS $$ INSERT INTO public.side_effects (note) VALUES ('written') RETURNING id $$;
CREATE FUNCTION public.write_after_read_write() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_catalog.set_config('transaction_read_only', 'off', true);
  INSERT INTO public.side_effects (note) VALUES ('sneaked');
  RETURN 1;
END $$;
CREATE VIEW public.writer AS SELECT public.write_one() AS id;
CREATE VIEW public.sneaky_writer AS SELECT public.write_after_read_write() AS id;
-- What the statement sees of its own transaction and identity.
CREATE VIEW public.whoami AS
  SELECT current_user::text AS usr, auth.uid() AS uid, auth.role() AS role,
         pg_catalog.current_setting('transaction_read_only') AS read_only,
         pg_catalog.pg_backend_pid() AS pid,
         pg_catalog.txid_current_if_assigned() IS NULL AS no_xid;
CREATE FUNCTION public.boom(int) RETURNS int LANGUAGE sql VOLATILE AS $$ SELECT 1 / ($1 - $1) $$;
CREATE VIEW public.exploding AS SELECT id, public.boom(id) AS x FROM public.notes;
GRANT SELECT ON public.writer, public.sneaky_writer, public.whoami, public.exploding
  TO anon, authenticated;
`;

const token = (sub) => cluster.psql(`SELECT kiln.sign_jwt(pg_catalog.jsonb_build_object(
  'iss', 'kiln', 'aud', 'authenticated', 'role', 'authenticated', 'sub', '${sub}',
  'exp', extract(epoch FROM pg_catalog.now())::int8 + 600))`);

const client = (key, accessToken) => createClient(kiln.url, key, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  global: accessToken ? { headers: { Authorization: `Bearer ${accessToken}` } } : {},
});

// The one pooled connection, as the server sees it: "pid|state|xact open".
const POOLED = `SELECT pid || '|' || state || '|' || (xact_start IS NOT NULL) FROM pg_stat_activity
  WHERE backend_type = 'client backend' AND application_name = 'kiln' AND pid <> pg_backend_pid()`;

before(async () => {
  // tests/lib/cluster gives every cluster its own master key
  // (kiln.rotate_signing_key seals the signing key with it).
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

const sideEffects = () => cluster.psql('SELECT count(*) FROM public.side_effects');

describe('a GET is a read-only implicit transaction', () => {
  test('the statement runs read-only, without a transaction id', async () => {
    const r = await client(keys.publishable).from('whoami').select('read_only,no_xid');
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.deepEqual(r.data, [{ read_only: 'on', no_xid: true }]);
  });

  test('a volatile function that writes is refused: 405 (25006), nothing written', async () => {
    const before = await sideEffects();
    const r = await client(keys.publishable).from('writer').select('id');
    assert.equal(r.status, 405, JSON.stringify(r));
    assert.equal(r.error.code, '25006');
    assert.equal(await sideEffects(), before);
    // The same function, called by a role that may write, does write: the
    // refusal above is the transaction's read-only mode, not a privilege.
    await cluster.psql('SET ROLE anon; SELECT public.write_one(); RESET ROLE;');
    assert.equal(Number(await sideEffects()), Number(before) + 1);
  });

  test('switching the transaction back to read-write is refused, nothing written', async () => {
    const before = await sideEffects();
    const r = await client(keys.publishable).from('sneaky_writer').select('id');
    // 25001 ("must be set before any query"): class 25 is a 500, whose body
    // never carries the database's text.
    assert.equal(r.status, 500, JSON.stringify(r));
    assert.equal(r.error.code, '25001');
    assert.equal(r.error.message, 'internal server error');
    assert.equal(await sideEffects(), before);
  });
});

describe('failures and the pooled connection', () => {
  test('a failed statement leaves the connection idle and reused (no reconnect)', async () => {
    const sb = client(keys.publishable);
    let r = await sb.from('whoami').select('pid');
    assert.equal(r.status, 200, JSON.stringify(r.error));
    const pid = r.data[0].pid;
    const [pooledPid, state, inXact] = (await cluster.psql(POOLED)).split('|');
    assert.equal(Number(pooledPid), pid);
    assert.equal(state, 'idle');
    assert.equal(inXact, 'false');

    // Division by zero at run time (22012 -> 400), a bad value for an
    // integer filter (22P02 -> 400), a refused write (25006 -> 405).
    r = await sb.from('exploding').select('x');
    assert.equal(r.status, 400, JSON.stringify(r));
    assert.equal(r.error.code, '22012');
    r = await sb.from('notes').select('id').eq('id', 'not-a-number');
    assert.equal(r.status, 400, JSON.stringify(r));
    assert.equal(r.error.code, '22P02');
    r = await sb.from('writer').select('id');
    assert.equal(r.status, 405);

    for (let i = 0; i < 3; i++) {
      r = await sb.from('whoami').select('pid,read_only');
      assert.equal(r.status, 200, JSON.stringify(r.error));
      assert.deepEqual(r.data, [{ pid, read_only: 'on' }]);
    }
    assert.equal(await cluster.psql(POOLED), `${pid}|idle|false`);
  });

  test('a failed authentication rolls back too: the next request is served on the same backend', async () => {
    const sb = client(keys.publishable);
    const pid = (await sb.from('whoami').select('pid')).data[0].pid;
    const bad = await client(keys.publishable, 'not.a.jwt').from('notes').select('id');
    assert.equal(bad.status, 401);
    const r = await sb.from('whoami').select('pid,role');
    assert.deepEqual(r.data, [{ pid, role: 'anon' }]);
    assert.equal(await cluster.psql(POOLED), `${pid}|idle|false`);
  });
});

// libmicrohttpd keeps a request's line and headers in its per-connection
// memory (32 KiB): it must still hold the data API's own 16 KiB query
// string limit next to a few KiB of headers, so that the limit is the data
// API's 414, never a dropped connection or the HTTP layer's own refusal.
describe('long requests', () => {
  const ids = (n) => Array.from({ length: n }, (_, i) => 100000 + i).join(',');
  test('a query string just under 16 KiB with a 3 KiB header is served', async () => {
    const list = ids(2300).slice(0, 15800);
    const url = `${kiln.url}/rest/v1/notes?select=id&id=in.(1,${list.slice(0, list.lastIndexOf(','))})`;
    assert.ok(url.length > 15800 && url.length < 16384 + kiln.url.length, String(url.length));
    const r = await fetch(url, { headers: { apikey: keys.publishable, 'X-Padding': 'p'.repeat(3000) } });
    const body = await r.text();
    assert.equal(r.status, 200, body);
    assert.deepEqual(JSON.parse(body), [{ id: 1 }]);
  });

  test('a query string over 16 KiB is 414 PGRST100', async () => {
    const r = await fetch(`${kiln.url}/rest/v1/notes?select=id&id=in.(${ids(3000)})`,
      { headers: { apikey: keys.publishable } });
    assert.equal(r.status, 414);
    assert.equal((await r.json()).code, 'PGRST100');
  });
});

describe('the context ends with the request', () => {
  test('a user request, then anon on the same backend: no uid, role anon', async () => {
    const user = await client(keys.publishable, keys.alice).from('whoami').select('usr,uid,role,pid');
    assert.equal(user.status, 200, JSON.stringify(user.error));
    assert.deepEqual(user.data.map(({ usr, uid, role }) => ({ usr, uid, role })),
      [{ usr: 'authenticated', uid: ALICE, role: 'authenticated' }]);
    const anon = await client(keys.publishable).from('whoami').select('usr,uid,role,pid');
    assert.deepEqual(anon.data, [{ usr: 'anon', uid: null, role: 'anon', pid: user.data[0].pid }]);
    // A failed user request in between changes nothing either.
    const failed = await client(keys.publishable, keys.alice).from('exploding').select('x');
    assert.equal(failed.status, 400);
    const again = await client(keys.publishable).from('whoami').select('usr,uid,role,pid');
    assert.deepEqual(again.data, anon.data);
  });
});
