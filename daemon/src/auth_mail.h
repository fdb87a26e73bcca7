/*
 * auth_mail.h: the mail sender of the daemon and the `kiln mail` command.
 *
 * The sender is one thread with its own database connection (not a pooled
 * one): it claims due rows of auth.mail_outbox (auth.mail_claim, FOR
 * UPDATE SKIP LOCKED with a lease, so several daemons on one database never
 * send a message twice), renders and delivers each (mail.c) and records the
 * outcome (auth.mail_done: sent, retried with backoff, failed, or kept when
 * no smtp_url is configured). It wakes on NOTIFY kiln_mail and polls every
 * second for retries. It never serves HTTP and never logs addresses, codes
 * or links.
 */
#ifndef KILN_AUTH_MAIL_H
#define KILN_AUTH_MAIL_H

typedef struct KilnMailer KilnMailer;

/* Starts the sender on conninfo (copied). It reads the configuration
 * snapshot (config_current) for every batch, so SIGHUP applies to the
 * next message. Returns NULL only when the thread cannot be created; a
 * database that is down is retried by the thread. Call from the main
 * thread before or after the listener starts. */
KilnMailer *mailer_start(const char *conninfo, int connect_timeout_s);

/* Stops the sender: it finishes the message it is delivering (bounded by
 * the SMTP timeout), releases its claim on the rest and exits; joined
 * here. NULL is a no-op. */
void mailer_stop(KilnMailer *m);

/* `kiln mail [--limit N] [--to ADDR] [--json] [--config FILE] [--KEY
 * VALUE ...]`: prints the newest messages of the outbox of db_url. Returns
 * the process exit code. */
int mail_main(int argc, char **argv);

#endif
