/*
 * auth_sms.h: the SMS sender of the daemon and the `kiln sms` command.
 *
 * The sender is one thread with its own database connection (not a pooled
 * one), beside the mail sender: it claims due rows of auth.outbox on
 * channel sms (auth.outbox_claim, FOR UPDATE SKIP LOCKED with a lease, so
 * several daemons on one database never send a message twice), renders
 * each with sms_template and posts it to the provider (sms.c), and records
 * the outcome (auth.outbox_done: sent, retried with backoff, failed, or
 * kept when sms_provider is outbox or empty). It wakes on NOTIFY
 * kiln_outbox and polls every second for retries. It never serves HTTP and never logs numbers
 * or codes.
 */
#ifndef KILN_AUTH_SMS_H
#define KILN_AUTH_SMS_H

#include "outbox.h"

/* Starts the SMS sender (outbox.h) on conninfo (copied). Stop it with
 * outbox_sender_stop. Returns NULL only when the thread cannot be created.
 * Call from the main thread, after curl_global_init (mailer_start does
 * it). */
KilnOutboxSender *sms_sender_start(const char *conninfo, int connect_timeout_s);

/* `kiln sms [--limit N] [--to NUMBER] [--json] [--config FILE] [--KEY
 * VALUE ...]`: prints the newest text messages of the outbox of db_url.
 * Returns the process exit code. */
int sms_main(int argc, char **argv);

#endif
