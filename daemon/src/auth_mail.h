/*
 * auth_mail.h: the mail sender of the daemon and the `kiln mail` command.
 *
 * The sender is one thread with its own database connection (not a pooled
 * one): it claims due rows of auth.outbox on channel email
 * (auth.outbox_claim, FOR UPDATE SKIP LOCKED with a lease, so several
 * daemons on one database never send a message twice), renders and
 * delivers each (mail.c) and records the outcome (auth.outbox_done: sent,
 * retried with backoff, failed, or kept when no smtp_url is configured).
 * It wakes on NOTIFY kiln_outbox and polls every second for retries. It never serves HTTP and never logs addresses, codes
 * or links.
 */
#ifndef KILN_AUTH_MAIL_H
#define KILN_AUTH_MAIL_H

#include "outbox.h"

/* Starts the mail sender (outbox.h) on conninfo (copied), after
 * curl_global_init once per process. Stop it with outbox_sender_stop.
 * Returns NULL only when the thread cannot be created. Call from the main
 * thread before or after the listener starts. */
KilnOutboxSender *mailer_start(const char *conninfo, int connect_timeout_s);

/* `kiln mail [--limit N] [--to ADDR] [--json] [--config FILE] [--KEY
 * VALUE ...]`: prints the newest messages of the outbox of db_url. Returns
 * the process exit code. */
int mail_main(int argc, char **argv);

#endif
