// rest_sqlstate.test.mjs: Kiln's own SQLSTATEs (class KL) and the
// permission refusals through the data API, against a real cluster and
// daemon, read with the real supabase-js.
//
// KLT01 is what kiln_access's tenancy trigger raises when a row names another
// tenant. Data API reads run in READ ONLY transactions, so no GET can reach
// that trigger: a view over a function raises the same SQLSTATE, message and
// detail instead, which exercises the daemon's path (tx.c -> error.c ->
// response) exactly. The trigger itself is covered by tests/regress (tenancy).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@supabase/supabase-js';

import { request, startCluster, startKiln } from './lib/harness.mjs';

let cluster;
let kiln;
let keys;

const SETUP = `
CREATE EXTENSION kiln_platform CASCADE;
CREATE FUNCTION public.write_for_other_tenant() RETURNS SETOF int LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'tenant_id does not match the request''s tenant'
    USING ERRCODE = 'KLT01',
          DETAIL = 'A row of "orders" may only be written for the tenant of the request.';
END $$;
CREATE VIEW public.tenant_refusal AS SELECT x AS id FROM public.write_for_other_tenant() x;
GRANT SELECT ON public.tenant_refusal TO anon, authenticated, service_role;
CREATE TABLE public.closed (id int PRIMARY KEY);
`;

const client = (key) => createClient(kiln.url, key, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
});

before(async () => {
  cluster = await startCluster();
  await cluster.psql(SETUP);
  keys = {
    publishable: await cluster.psql("SELECT kiln.create_api_key('publishable')"),
    secret: await cluster.psql("SELECT kiln.create_api_key('secret')"),
  };
  kiln = await startKiln({
    dbUrl: `postgresql://authenticator@127.0.0.1:${cluster.port}/postgres`,
    args: ['--access-log', 'false'],
  });
});

after(async () => {
  if (kiln) await kiln.stop();
  if (cluster) await cluster.stop();
});

describe('Kiln SQLSTATEs through the data API', () => {
  test('KLT01 (tenant mismatch) is 403 with its code, message and detail, not a token failure', async () => {
    for (const key of [keys.publishable, keys.secret]) {
      const r = await request(`${kiln.url}/rest/v1/tenant_refusal?select=id`, { headers: { apikey: key } });
      assert.equal(r.status, 403, r.body);
      assert.deepEqual(r.json, {
        code: 'KLT01',
        message: "tenant_id does not match the request's tenant",
        details: 'A row of "orders" may only be written for the tenant of the request.',
        hint: null,
      });
      assert.equal(r.headers['www-authenticate'], undefined, 'no WWW-Authenticate: the caller is authenticated');
    }
  });

  test('supabase-js sees error.code KLT01 with status 403', async () => {
    const { data, error, status } = await client(keys.publishable).from('tenant_refusal').select('id').retry(false);
    assert.equal(data, null);
    assert.equal(status, 403);
    assert.equal(error.code, 'KLT01');
  });

  test('token failures (KL001) stay 401 with a generic body', async () => {
    const r = await request(`${kiln.url}/rest/v1/tenant_refusal`, { headers: { apikey: `sb_secret_${'x'.repeat(43)}` } });
    assert.equal(r.status, 401, r.body);
    assert.equal(r.json.code, 'PGRST301');
    assert.match(r.headers['www-authenticate'] || '', /^Bearer/);
  });

  test('42501 (no privilege) is 401 for anon, 403 for an authenticated caller', async () => {
    let r = await request(`${kiln.url}/rest/v1/closed`, { headers: { apikey: keys.publishable } });
    assert.equal(r.status, 401, r.body);
    assert.equal(r.json.code, '42501');
    r = await request(`${kiln.url}/rest/v1/closed`, { headers: { apikey: keys.secret } });
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.code, '42501');
  });
});
