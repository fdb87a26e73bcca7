-- kiln_auth 0.1.0, part 44-limits: rate limits and per-account backoff.
--
-- Three defences, all in tables shared by every daemon of the database (a
-- limit holds however many daemons serve the API), all taken inside the
-- flow's own transaction, and none of them telling whether an account
-- exists:
--
-- 1. Per-client token buckets (auth._rate_refusal): kind sign_in (sign-up,
--    password, anonymous, pkce and id_token grants, OAuth), refresh,
--    email (requests that send mail), verify (/verify), mfa (factor
--    challenges and verifications). A bucket holds per_5min tokens and
--    refills per_5min every 5 minutes; an empty one answers 429
--    over_request_rate_limit with retry_after. The client is the verified
--    context's client_ip (the daemon's, after trusted proxies), an IPv6
--    client its /64 (one host gets a /64, so per-address buckets would be
--    as many as the attacker likes).
-- 2. Per-address mail interval (auth._email_interval_refusal): one
--    mail-sending request per address every email_min_interval_s (GoTrue's
--    SMTP max frequency); sooner is 429 over_email_send_rate_limit. It is
--    counted for the address asked for, whether or not it has an account.
--    The per-number text interval of 46-phone.sql is the same limit
--    (auth._interval_refusal).
-- 3. Per-account backoff (auth._backoff_refusal / auth._backoff_note):
--    failed sign-ins (a wrong password, a wrong or unknown email code)
--    counted per (address, client) and per address. After backoff_failures
--    failures from one client, that client waits 1 s, then 2, 4, ... up to
--    backoff_max_s before its next attempt on that address (429
--    over_request_rate_limit with retry_after; the password is not even
--    checked meanwhile). Other clients are not held back, so an attacker
--    cannot lock the owner out. When more than backoff_account_failures
--    failures hit one address within the hour from all clients together
--    (a distributed guess), every client that fails on it waits from its
--    first failure on; a client with no failures still gets in. A success
--    clears the client's count. Keys are SHA-256 of the normalised address:
--    unknown addresses get exactly the same treatment, and the tables hold
--    no address in clear.
--
-- Settings (0 or missing = off, so SQL called without them is unlimited;
-- the daemon always passes its configured values): rate_limit_sign_in,
-- rate_limit_refresh, rate_limit_email, rate_limit_verify, rate_limit_mfa
-- (per 5 minutes per client), email_min_interval_s, backoff_failures,
-- backoff_account_failures, backoff_max_s (default 900). Requests without
-- a client ip in the context (SQL outside the daemon) are never limited.
--
-- Old rows expire: a bucket row is deleted once it would be full again (an
-- absent row means a full bucket), a backoff row an hour after its last
-- failure (or its wait, if longer). Requests prune opportunistically (about
-- one in a hundred does a bounded batch), so the tables stay as large as
-- the last hour's distinct clients and addresses.

-- ---------------------------------------------------------------------------
-- Storage.

-- Token buckets: one row per bucket (kind and client, or a mail address).
CREATE TABLE auth.rate_limits (
  bucket     pg_catalog.text PRIMARY KEY,
  tokens     pg_catalog.float8 NOT NULL,
  allowed    pg_catalog.bool NOT NULL,
  updated_at pg_catalog.timestamptz NOT NULL,
  full_at    pg_catalog.timestamptz NOT NULL
);
COMMENT ON TABLE auth.rate_limits IS 'token buckets of the auth rate limits (per client ip, per mail address)';
COMMENT ON COLUMN auth.rate_limits.full_at IS 'when the bucket is full again; the row can go after that';
REVOKE ALL ON auth.rate_limits FROM PUBLIC;
ALTER TABLE auth.rate_limits ENABLE ROW LEVEL SECURITY;

-- Failed sign-ins: one row per address (subject = hash) and per (address,
-- client) (subject = hash || '|' || client).
CREATE TABLE auth.sign_in_backoff (
  subject       pg_catalog.text PRIMARY KEY,
  failures      pg_catalog.int4 NOT NULL,
  failed_at     pg_catalog.timestamptz NOT NULL,
  blocked_until pg_catalog.timestamptz
);
COMMENT ON TABLE auth.sign_in_backoff IS 'failed sign-ins per account and per (account, client ip): the backoff';
REVOKE ALL ON auth.sign_in_backoff FROM PUBLIC;
ALTER TABLE auth.sign_in_backoff ENABLE ROW LEVEL SECURITY;

-- ---------------------------------------------------------------------------
-- Helpers (owner only).

-- The client a request is counted as: an IPv4 address, or an IPv6
-- address's /64; NULL without a client ip. Text that is not an address
-- (the context accepts only addresses; belt and braces) counts as itself.
CREATE FUNCTION auth._client_key(ip pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  a inet := auth._inet(ip);
BEGIN
  IF coalesce(ip, '') = '' THEN
    RETURN NULL;
  END IF;
  IF a IS NULL THEN
    RETURN left(ip, 64);
  END IF;
  IF family(a) = 6 THEN
    RETURN network(set_masklen(a, 64))::text;
  END IF;
  RETURN host(a);
END
$$;

-- The request's client key (auth._client_key of the context's client_ip).
CREATE FUNCTION auth._client()
RETURNS pg_catalog.text
LANGUAGE sql STABLE
AS $$
  SELECT auth._client_key(kiln.current_context() OPERATOR(pg_catalog.->>) 'client_ip')
$$;

-- The account key of an address: hex SHA-256 of its lower-case form.
CREATE FUNCTION auth._account_key(address pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE STRICT
AS $$
  SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
           'account:' OPERATOR(pg_catalog.||) pg_catalog.lower(address), 'UTF8')), 'hex')
$$;

-- Deletes up to batch expired rows of both tables (skipping rows another
-- transaction holds); returns how many.
CREATE FUNCTION auth._limits_prune(batch pg_catalog.int4 DEFAULT 1000)
RETURNS pg_catalog.int4
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n int;
  m int;
BEGIN
  DELETE FROM auth.rate_limits r
   WHERE r.bucket IN (SELECT x.bucket FROM auth.rate_limits x
                       WHERE x.full_at < clock_timestamp()
                       LIMIT batch FOR UPDATE SKIP LOCKED);
  GET DIAGNOSTICS n = ROW_COUNT;
  DELETE FROM auth.sign_in_backoff b
   WHERE b.subject IN (SELECT x.subject FROM auth.sign_in_backoff x
                        WHERE x.failed_at < clock_timestamp() - interval '1 hour'
                          AND coalesce(x.blocked_until, '-infinity') < clock_timestamp()
                        LIMIT batch FOR UPDATE SKIP LOCKED);
  GET DIAGNOSTICS m = ROW_COUNT;
  RETURN n + m;
END
$$;

-- Takes a token from bucket, which holds capacity tokens and gains per_s
-- tokens a second. Returns 0 when one was taken, else the seconds until
-- one will be there (a refused request takes nothing). The row is created
-- full on first use; about one call in a hundred prunes expired rows.
CREATE FUNCTION auth._take(bucket pg_catalog.text, capacity pg_catalog.float8, per_s pg_catalog.float8)
RETURNS pg_catalog.int4
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t timestamptz := clock_timestamp();
  ok bool;
  left_ float8;
BEGIN
  IF random() < 0.01 THEN
    PERFORM auth._limits_prune(1000);
  END IF;
  -- L = the level now: the tokens left plus the refill since, at most
  -- capacity (spelled out: an upsert's SET cannot name a computed value).
  INSERT INTO auth.rate_limits AS r (bucket, tokens, allowed, updated_at, full_at)
  VALUES (bucket, capacity - 1, true, t, t + make_interval(secs => 1 / per_s))
  ON CONFLICT ON CONSTRAINT rate_limits_pkey DO UPDATE
     SET allowed = least(capacity, r.tokens + extract(epoch FROM t - r.updated_at)::float8 * per_s) >= 1,
         -- L - 1 when L >= 1, else L
         tokens = least(capacity, r.tokens + extract(epoch FROM t - r.updated_at)::float8 * per_s)
                  - CASE WHEN least(capacity, r.tokens + extract(epoch FROM t - r.updated_at)::float8 * per_s) >= 1
                         THEN 1 ELSE 0 END,
         updated_at = t,
         full_at = t + make_interval(secs => (capacity - least(capacity, r.tokens + extract(epoch FROM t - r.updated_at)::float8 * per_s)
                                              + CASE WHEN least(capacity, r.tokens + extract(epoch FROM t - r.updated_at)::float8 * per_s) >= 1
                                                     THEN 1 ELSE 0 END) / per_s)
  RETURNING r.allowed, r.tokens INTO ok, left_;
  IF ok THEN
    RETURN 0;
  END IF;
  RETURN greatest(1, ceil((1 - left_) / per_s))::int;
END
$$;

-- Takes a token from the bucket of the request's client for `kind`, which
-- holds per_5min tokens and refills per_5min every 5 minutes. Returns NULL
-- when the request may go on, else the 429 refusal with retry_after
-- (seconds). No limit when per_5min is 0 or the request has no client ip.
CREATE FUNCTION auth._rate_refusal(kind pg_catalog.text, per_5min pg_catalog.int4)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  client text := auth._client();
  wait int;
BEGIN
  IF coalesce(per_5min, 0) <= 0 OR client IS NULL THEN
    RETURN NULL;
  END IF;
  wait := auth._take(kind || ':' || client, per_5min, per_5min / 300.0);
  IF wait = 0 THEN
    RETURN NULL;
  END IF;
  RETURN auth._err(429, 'over_request_rate_limit', 'Request rate limit reached',
                   jsonb_build_object('retry_after', wait));
END
$$;

-- refusal (a 429 of auth._rate_refusal, or NULL) answered with the error
-- code and message of the limit that refused, as GoTrue names its send
-- limits.
CREATE FUNCTION auth._refusal_as(refusal pg_catalog.jsonb, code pg_catalog.text, message pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql IMMUTABLE
AS $$
  SELECT pg_catalog.jsonb_set(pg_catalog.jsonb_set(refusal, '{error,code}', pg_catalog.to_jsonb(code)),
                              '{error,message}', pg_catalog.to_jsonb(message))
$$;

-- One request every secs per subject, an address or a number, in bucket
-- "<bucket>:<account key>": NULL when it may be asked for now (and the
-- request is counted), else the 429 refusal code with retry_after.
-- Counted per subject asked for, account or not, so the answer never
-- depends on one existing. secs 0 and requests without a client (SQL) are
-- not limited.
CREATE FUNCTION auth._interval_refusal(bucket pg_catalog.text, subject pg_catalog.text, secs pg_catalog.int4,
                                       code pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  wait int;
BEGIN
  IF secs = 0 OR subject IS NULL OR auth._client() IS NULL THEN
    RETURN NULL;
  END IF;
  wait := auth._take(bucket || ':' || auth._account_key(subject), 1, 1.0 / secs);
  IF wait = 0 THEN
    RETURN NULL;
  END IF;
  RETURN auth._err(429, code, 'For security purposes, you can only request this after ' || wait || ' seconds.',
                   jsonb_build_object('retry_after', wait));
END
$$;

-- The per-address mail interval (email_min_interval_s): NULL or 429
-- over_email_send_rate_limit (auth._interval_refusal).
CREATE FUNCTION auth._email_interval_refusal(address pg_catalog.text, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
AS $$
  SELECT auth._interval_refusal('email_address', address,
                                auth._setting_int(settings, 'email_min_interval_s', 0, 0, 86400),
                                'over_email_send_rate_limit')
$$;

-- The backoff: NULL when the request's client may try address now, else
-- the 429 refusal with retry_after. Reads only.
CREATE FUNCTION auth._backoff_refusal(address pg_catalog.text, settings pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  client text := auth._client();
  until_ timestamptz;
BEGIN
  IF auth._setting_int(settings, 'backoff_failures', 0, 0, 1000) = 0 OR client IS NULL OR address IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT b.blocked_until INTO until_ FROM auth.sign_in_backoff b
   WHERE b.subject = auth._account_key(address) || '|' || client;
  IF until_ IS NULL OR until_ <= clock_timestamp() THEN
    RETURN NULL;
  END IF;
  RETURN auth._err(429, 'over_request_rate_limit', 'Too many failed attempts; try again later',
                   jsonb_build_object('retry_after',
                                      greatest(1, ceil(extract(epoch FROM until_ - clock_timestamp())))::int));
END
$$;

-- Records the outcome of a sign-in attempt on address by the request's
-- client: a success clears the client's failures on it; a failure counts
-- for the client and for the address, and sets the client's wait once it
-- has failed backoff_failures times (or once, while the address has seen
-- more than backoff_account_failures failures this hour).
CREATE FUNCTION auth._backoff_note(address pg_catalog.text, succeeded pg_catalog.bool, settings pg_catalog.jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  client text := auth._client();
  per_client int := auth._setting_int(settings, 'backoff_failures', 0, 0, 1000);
  per_account int := auth._setting_int(settings, 'backoff_account_failures', 0, 0, 100000);
  max_s int := auth._setting_int(settings, 'backoff_max_s', 900, 1, 86400);
  acct text;
  t timestamptz := clock_timestamp();
  total int;
  threshold int;
BEGIN
  IF per_client = 0 OR client IS NULL OR address IS NULL THEN
    RETURN;
  END IF;
  acct := auth._account_key(address);
  IF succeeded THEN
    DELETE FROM auth.sign_in_backoff b WHERE b.subject = acct || '|' || client;
    RETURN;
  END IF;
  -- Counts restart after an hour without failures.
  INSERT INTO auth.sign_in_backoff AS b (subject, failures, failed_at)
  VALUES (acct, 1, t)
  ON CONFLICT ON CONSTRAINT sign_in_backoff_pkey DO UPDATE
     SET failures = CASE WHEN b.failed_at < t - interval '1 hour' THEN 1 ELSE b.failures + 1 END,
         failed_at = t
  RETURNING b.failures INTO total;
  threshold := CASE WHEN per_account > 0 AND total > per_account THEN 1 ELSE per_client END;
  INSERT INTO auth.sign_in_backoff AS b (subject, failures, failed_at, blocked_until)
  VALUES (acct || '|' || client, 1, t, CASE WHEN threshold <= 1 THEN t + interval '1 second' END)
  ON CONFLICT ON CONSTRAINT sign_in_backoff_pkey DO UPDATE
     SET failures = CASE WHEN b.failed_at < t - interval '1 hour' THEN 1 ELSE b.failures + 1 END,
         failed_at = t,
         blocked_until = CASE WHEN (CASE WHEN b.failed_at < t - interval '1 hour' THEN 1 ELSE b.failures + 1 END)
                                   >= threshold
                              THEN t + make_interval(secs => least(max_s, 2 ^ least(
                                     (CASE WHEN b.failed_at < t - interval '1 hour' THEN 1 ELSE b.failures + 1 END)
                                     - threshold, 20)))
                         END;
END
$$;

-- What a mail flow does for an address that gets no mail (no account, or
-- nothing pending), so that its answer takes about as long as one that
-- sends: the same token and link work (thrown away), one row written (an
-- audit row, mail_not_sent, with the reason) so both commit a write, and
-- the senders woken as queued mail wakes them. Without it an unknown
-- address answers in half the time (tests/integration/auth_limits.test.mjs
-- measures both).
CREATE FUNCTION auth._mail_decoy(address pg_catalog.text, kind pg_catalog.text, settings pg_catalog.jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  link text := kiln.random_token(32);
  fields jsonb;
BEGIN
  fields := jsonb_build_object(
    'token_hash', auth._sha256_hex(link), 'otp_hash', auth._sha256_hex(gen_random_uuid()::text || ':' || auth._otp_code()),
    'confirmation_url', auth._verify_link(link, kind, auth._redirect_target(settings ->> 'redirect_to', settings), settings));
  PERFORM auth._not_sent('email', address, kind, fields);
END
$$;

-- The end of a decoy (auth._mail_decoy, auth._sms_decoy): the audit row
-- that says why nothing was sent (mail_not_sent, sms_not_sent), and the
-- wake-up of channel's sender that a queued message would have caused
-- (auth._outbox_notify), so that the work after the commit is alike too.
CREATE FUNCTION auth._not_sent(channel pg_catalog.text, recipient pg_catalog.text, kind pg_catalog.text,
                               fields pg_catalog.jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM auth._audit(CASE channel WHEN 'email' THEN 'mail_not_sent' WHEN 'sms' THEN 'sms_not_sent' END,
                      NULL, left(recipient, 255), 'user',
                      jsonb_build_object('kind', kind, 'reason', 'no_account_or_nothing_pending',
                                         'fields', pg_catalog.jsonb_typeof(fields)));
  PERFORM pg_notify('kiln_outbox', channel);
END
$$;

DO $helpers$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'auth'::regnamespace
              AND p.proname IN ('_client_key', '_client', '_account_key', '_limits_prune', '_take',
                                '_rate_refusal', '_refusal_as', '_interval_refusal', '_email_interval_refusal',
                                '_backoff_refusal',
                                '_backoff_note', '_mail_decoy', '_not_sent')
  LOOP
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END
$helpers$;
