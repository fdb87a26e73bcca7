/*
 * outbox.h: the sender thread of one channel of the auth outbox
 * (auth.outbox, sql/kiln_auth/39-outbox.sql: email, sms).
 *
 * The flows write messages to the outbox in their own transactions; one
 * thread per channel and daemon, with its own database connection (not a
 * pooled one), works through the channel's rows: claim a batch of due rows
 * (a lease hides them from the other daemons: FOR UPDATE SKIP LOCKED),
 * deliver each, record the outcome (sent, retried with the database's
 * backoff, failed, or kept when this daemon delivers nothing and the
 * message stays readable with a command). It wakes on the outbox's NOTIFY
 * (any channel's: a wake for another channel costs one empty claim) and
 * polls every second for retries; a daemon that dies mid-batch leaves its
 * rows to be claimed again when the lease ends. Every 10 minutes it
 * deletes its channel's finished messages older than 30 days. What differs
 * between channels (the name, how to deliver one row) is a KilnOutbox; the
 * loop and the SQL (sql_auth.c) are here once.
 */
#ifndef KILN_OUTBOX_H
#define KILN_OUTBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

typedef struct KilnOutbox {
    const char *name;      /* "mail", "sms": the log lines' prefix and the
                            * connection's application name ("kiln <name>") */
    const char *kept_log;  /* the log line of a message kept in the outbox */
    const char *read_with; /* the command that reads kept messages */
    const char *channel;   /* the outbox channel: "email", "sms" */
    int (*max_attempts)(const KilnConfig *cfg);
    /* Delivers one claimed row: "sent", "kept", or "retry" with reason
     * (never a recipient or a code) written to reason. */
    const char *(*deliver)(const KilnConfig *cfg, json_t *row, char *reason, size_t rlen);
} KilnOutbox;

typedef struct KilnOutboxSender KilnOutboxSender;

/* Starts box's sender on conninfo (copied); box must outlive it. It reads
 * the configuration snapshot (config_current) for every batch, so SIGHUP
 * applies to the next message. Returns NULL only when the thread cannot be
 * created; a database that is down is retried by the thread. */
KilnOutboxSender *outbox_sender_start(const KilnOutbox *box, const char *conninfo,
                                      int connect_timeout_s);

/* Asks the sender to stop without waiting for it, so that several senders
 * (and the daemon's drain) wind down at once; it is idle within a second.
 * NULL is a no-op. */
void outbox_sender_request_stop(KilnOutboxSender *s);

/* Stops the sender: it finishes the message it is delivering (bounded by
 * the delivery's own timeout), releases its claim on the rest of the batch
 * and exits; joined here. NULL is a no-op. */
void outbox_sender_stop(KilnOutboxSender *s);

/* `kiln mail` / `kiln sms`: the newest messages of a channel, read from
 * db_url ([--limit N] [--to RECIPIENT] [--json] [--config FILE] [--KEY
 * VALUE ...]) with auth.outbox_list. What differs between channels: */
typedef struct KilnOutboxCommand {
    const char *name;     /* "mail", "sms": application name "kiln <name>" */
    const char *help;     /* the --help text */
    const char *empty;    /* printed when there is nothing to list */
    const char *channel;  /* the outbox channel: "email", "sms" */
    /* --to's value as auth.outbox_list wants it into out; false (after
     * printing why) when it is not one. NULL: as given. */
    bool (*recipient)(const char *to, char *out, size_t len);
    /* One message of the text listing. */
    void (*print)(json_t *message, const KilnConfig *cfg, FILE *out);
} KilnOutboxCommand;

/* Runs the command; returns the process exit code. */
int outbox_command_main(const KilnOutboxCommand *c, int argc, char **argv);

/* A string member of o, "" when absent (for print functions). */
const char *outbox_field(json_t *o, const char *key);

#endif
