-- kiln_auth 0.1.0, part 39-outbox: the one outbox of auth messages.
--
-- Every mail (41-mail.sql, 45-account.sql) and every text message
-- (46-phone.sql) is a row of auth.outbox written in the flow's
-- transaction: the message exists exactly when the flow committed. The
-- row's channel says which sender delivers it: 'email' (the daemon's mail
-- sender, daemon/src/auth_mail.c) or 'sms' (its SMS sender,
-- daemon/src/auth_sms.c). Both work through their channel with the same
-- functions: auth.outbox_claim, auth.outbox_done and auth.outbox_prune;
-- `kiln mail` and `kiln sms` read it with auth.outbox_list.
--
-- The row holds the message's template fields, with its clear one-time
-- codes and link tokens until it is delivered; then they are wiped. So the
-- table is the owner's only: the app roles never read it, and the
-- functions that do are the daemon's login role's (authenticator) only.
-- It never decides what a message says or whom it goes to: the flows do.

-- ---------------------------------------------------------------------------
-- Storage.

CREATE TABLE auth.outbox (
  id              pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_at      pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  channel         pg_catalog.text NOT NULL
                  CHECK (channel OPERATOR(pg_catalog.=) ANY (ARRAY['email', 'sms'])),
  user_id         pg_catalog.uuid REFERENCES auth.users (id) ON DELETE SET NULL,
  kind            pg_catalog.text NOT NULL,
  -- An address (email) or E.164 digits without '+' (sms).
  recipient       pg_catalog.text NOT NULL,
  -- The template fields. email: token, token_hash, confirmation_url,
  -- site_url, redirect_to, email, new_email, type, data; sms: code, type
  -- (sms or phone_change), channel (sms or whatsapp). The codes and tokens
  -- are wiped once sent.
  data            pg_catalog.jsonb NOT NULL,
  status          pg_catalog.text NOT NULL DEFAULT 'pending'
                  CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'sent', 'failed', 'kept'])),
  attempts        pg_catalog.int4 NOT NULL DEFAULT 0,
  next_attempt_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  locked_until    pg_catalog.timestamptz,
  sent_at         pg_catalog.timestamptz,
  last_error      pg_catalog.text,
  -- The kinds of each channel (the mail templates and texts the daemon
  -- knows), and a text's recipient is a stored number.
  CONSTRAINT outbox_kind_check CHECK (
    CASE channel
      WHEN 'email' THEN kind OPERATOR(pg_catalog.=) ANY (ARRAY['confirmation', 'magiclink', 'recovery',
                                                               'email_change', 'invite',
                                                               -- 45-account.sql
                                                               'reauthentication', 'email_change_notice',
                                                               'email_changed'])
      WHEN 'sms' THEN kind OPERATOR(pg_catalog.=) ANY (ARRAY['confirmation', 'otp', 'phone_change'])
                      AND recipient OPERATOR(pg_catalog.~) '^[1-9][0-9]{6,14}$'
      ELSE false
    END)
);
COMMENT ON TABLE auth.outbox IS
  'outgoing auth mail and text messages, written in the flow''s transaction; delivered by the daemon per channel (pending -> sent | failed | kept)';
-- What a sender claims: its channel's due rows.
CREATE INDEX outbox_due_idx ON auth.outbox (channel, next_attempt_at)
  WHERE status OPERATOR(pg_catalog.=) 'pending';
REVOKE ALL ON auth.outbox FROM PUBLIC;
ALTER TABLE auth.outbox ENABLE ROW LEVEL SECURITY;

-- ---------------------------------------------------------------------------
-- The senders' side (the daemon's login role only). Each function works on
-- one channel's rows only.

-- Claims up to n due messages of channel for lease_s seconds (FOR UPDATE
-- SKIP LOCKED: concurrent senders never claim the same row) and returns
-- them as a JSON array [{id, kind, recipient, data, attempts}]. A claimed
-- row is hidden from other senders until its lease ends, so a message is
-- sent twice only when a sender dies between delivering it and recording
-- that.
CREATE FUNCTION auth.outbox_claim(channel pg_catalog.text, n pg_catalog.int4, lease_s pg_catalog.int4)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  res jsonb;
BEGIN
  WITH due AS (
    SELECT o.id FROM auth.outbox o
     WHERE o.channel = outbox_claim.channel AND o.status = 'pending' AND o.next_attempt_at <= now()
       AND (o.locked_until IS NULL OR o.locked_until < now())
     ORDER BY o.next_attempt_at, o.id
     LIMIT greatest(n, 1)
     FOR UPDATE SKIP LOCKED),
  claimed AS (
    UPDATE auth.outbox o
       SET locked_until = now() + make_interval(secs => greatest(lease_s, 5)), attempts = o.attempts + 1
      FROM due WHERE o.id = due.id
    RETURNING o.id, o.kind, o.recipient, o.data, o.attempts)
  SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.id), '[]') INTO res FROM claimed c;
  RETURN res;
END
$$;

-- Records the outcome of a claimed message of channel: 'sent' (its codes,
-- tokens and link are wiped from the row), 'kept' (this daemon delivers
-- nothing on the channel: left readable for `kiln mail` / `kiln sms`), or
-- 'retry' with an error: tried again after a backoff of 2^attempts seconds
-- (at most 10 minutes), 'failed' after max_attempts. Returns the new
-- status, NULL for an id that is not a message of channel.
CREATE FUNCTION auth.outbox_done(channel pg_catalog.text, id pg_catalog.int8, outcome pg_catalog.text,
                                 error pg_catalog.text, max_attempts pg_catalog.int4 DEFAULT 8)
RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  m auth.outbox;
  st text;
BEGIN
  SELECT * INTO m FROM auth.outbox o
   WHERE o.id = outbox_done.id AND o.channel = outbox_done.channel FOR UPDATE;
  IF m.id IS NULL THEN
    RETURN NULL;
  END IF;
  IF outcome = 'sent' THEN
    UPDATE auth.outbox o
       SET status = 'sent', sent_at = now(), locked_until = NULL, last_error = NULL,
           data = o.data - 'token' - 'token_hash' - 'confirmation_url' - 'code'
     WHERE o.id = m.id;
  ELSIF outcome = 'kept' THEN
    UPDATE auth.outbox o SET status = 'kept', locked_until = NULL WHERE o.id = m.id;
  ELSE
    UPDATE auth.outbox o
       SET status = CASE WHEN m.attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
           locked_until = NULL, last_error = left(error, 500),
           next_attempt_at = now() + make_interval(secs => least(power(2, m.attempts)::int, 600))
     WHERE o.id = m.id;
  END IF;
  SELECT o.status INTO st FROM auth.outbox o WHERE o.id = m.id;
  RETURN st;
END
$$;

-- Deletes channel's finished messages (sent, failed, kept) older than
-- keep_days, at most 1000 a call; returns how many. Each sender calls it
-- every 10 minutes.
CREATE FUNCTION auth.outbox_prune(channel pg_catalog.text, keep_days pg_catalog.int4 DEFAULT 30)
RETURNS pg_catalog.int8
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n bigint;
BEGIN
  DELETE FROM auth.outbox o
   WHERE o.id IN (SELECT x.id FROM auth.outbox x
                   WHERE x.channel = outbox_prune.channel AND x.status <> 'pending'
                     AND x.created_at < now() - make_interval(days => greatest(keep_days, 1))
                   LIMIT 1000);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;

-- The newest messages of channel for `kiln mail` / `kiln sms` (limit rows;
-- recipient filter when not NULL, an address in any case or E.164 digits),
-- newest first, with their template fields.
CREATE FUNCTION auth.outbox_list(channel pg_catalog.text, lim pg_catalog.int4 DEFAULT 20,
                                 recipient pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY m.id DESC), '[]')
    FROM (SELECT o.id, o.created_at, o.kind, o.recipient, o.status, o.attempts, o.sent_at, o.last_error, o.data
            FROM auth.outbox o
           WHERE o.channel = outbox_list.channel
             AND (outbox_list.recipient IS NULL OR lower(o.recipient) = lower(outbox_list.recipient))
           ORDER BY o.id DESC LIMIT greatest(lim, 1)) m
$$;

-- Wakes the senders (LISTEN kiln_outbox, the channel as payload) when a
-- flow queued a message; they also poll every second for retries that
-- come due. Notifications are folded per transaction: one wake per channel.
CREATE FUNCTION auth._outbox_notify()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM pg_notify('kiln_outbox', NEW.channel);
  RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON auth.outbox
  FOR EACH ROW EXECUTE FUNCTION auth._outbox_notify();

-- ---------------------------------------------------------------------------
-- Who may call them: the senders and the commands log in as the daemon's
-- role; the app roles never read the outbox (it holds codes and tokens
-- until they are sent).

REVOKE EXECUTE ON FUNCTION
  auth.outbox_claim(pg_catalog.text, pg_catalog.int4, pg_catalog.int4),
  auth.outbox_done(pg_catalog.text, pg_catalog.int8, pg_catalog.text, pg_catalog.text, pg_catalog.int4),
  auth.outbox_prune(pg_catalog.text, pg_catalog.int4),
  auth.outbox_list(pg_catalog.text, pg_catalog.int4, pg_catalog.text),
  auth._outbox_notify()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  auth.outbox_claim(pg_catalog.text, pg_catalog.int4, pg_catalog.int4),
  auth.outbox_done(pg_catalog.text, pg_catalog.int8, pg_catalog.text, pg_catalog.text, pg_catalog.int4),
  auth.outbox_prune(pg_catalog.text, pg_catalog.int4),
  auth.outbox_list(pg_catalog.text, pg_catalog.int4, pg_catalog.text)
  TO authenticator;
