/*
 * auth_mail.c: the mail sender thread and `kiln mail` (auth_mail.h).
 *
 * The flows write messages to auth.outbox (channel email) in their own
 * transactions (sql/kiln_auth/41-mail.sql); the sender thread (outbox.c: claim a batch
 * under a lease, deliver, record, retry with the database's backoff,
 * prune) delivers each row through deliver() here: render it with its
 * template and send it over SMTP. Without smtp_url every message is marked
 * `kept` and stays readable with `kiln mail`, which the log line says.
 *
 * It never writes SQL (sql_auth.c), never includes libpq (tx.c), and never
 * logs a recipient, code or link.
 */
#include "auth_mail.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "mail.h"
#include "outbox.h"

#define MAIL_SMTP_TIMEOUT_S 30

/* Renders and delivers one claimed row. Returns the outcome for
 * auth.outbox_done ("sent", "kept", "retry") with reason set on retry. */
static const char *deliver(const KilnConfig *cfg, json_t *row, char *reason, size_t rlen)
{
    const char *kind = json_string_value(json_object_get(row, "kind"));
    const char *to = json_string_value(json_object_get(row, "recipient"));
    json_t *data = json_object_get(row, "data");
    if (!cfg->smtp_url || !*cfg->smtp_url)
        return "kept";
    KilnBuf subject_t = KILN_BUF_INIT, body_t = KILN_BUF_INIT;
    KilnBuf subject = KILN_BUF_INIT, body = KILN_BUF_INIT, msg = KILN_BUF_INIT;
    const char *outcome = "retry";
    char from_addr[320];
    if (!mail_template_load(cfg->mail_templates_dir, kind, &subject_t, &body_t, reason, rlen))
        goto done;
    mail_render(buf_str(&subject_t), data, false, &subject);
    mail_render(buf_str(&body_t), data, true, &body);
    if (!mail_build_message(cfg->smtp_from, to, buf_str(&subject), buf_str(&body), &msg, reason,
                            rlen))
        goto done;
    if (!mail_address(cfg->smtp_from, from_addr, sizeof from_addr)) {
        snprintf(reason, rlen, "smtp_from is not an address");
        goto done;
    }
    KilnSmtp smtp = {.url = cfg->smtp_url,
                     .user = cfg->smtp_user,
                     .password = cfg->smtp_password,
                     .timeout_s = MAIL_SMTP_TIMEOUT_S};
    if (mail_smtp_send(&smtp, from_addr, to, msg.data, msg.len, reason, rlen))
        outcome = "sent";
done:
    buf_free(&subject_t);
    buf_free(&body_t);
    buf_free(&subject);
    buf_free(&body);
    buf_free(&msg);
    return outcome;
}

static int mail_max_attempts(const KilnConfig *cfg)
{
    return cfg->mail_max_attempts;
}

static const KilnOutbox mail_outbox = {
    .name = "mail",
    .kept_log = "mail kept in the outbox (smtp_url is not set): read it with `kiln mail`",
    .read_with = "kiln mail",
    .channel = "email",
    .max_attempts = mail_max_attempts,
    .deliver = deliver,
};

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

KilnOutboxSender *mailer_start(const char *conninfo, int connect_timeout_s)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    return outbox_sender_start(&mail_outbox, conninfo, connect_timeout_s);
}

/* ---- kiln mail ------------------------------------------------------------ */

static const char mail_help[] =
    "usage: kiln mail [--limit N] [--to ADDRESS] [--json] [--config FILE] [--KEY VALUE ...]\n"
    "\n"
    "Prints the newest mail of the auth outbox (auth.outbox, channel email) of the\n"
    "database db_url: kind, recipient, status, and, until a message is delivered,\n"
    "its code and link. Without smtp_url (the `kiln dev` default) nothing is sent\n"
    "and every message stays readable here. For a `kiln dev` directory:\n"
    "  kiln mail --db-url \"$(kiln status --json | jq -r .db_url)\"\n"
    "\n"
    "  --limit N      at most N messages, newest first (default 10)\n"
    "  --to ADDRESS   only messages to this address\n"
    "  --json         one JSON array as auth.outbox_list returns it\n";

/* One message in the text listing. */
static void print_message(json_t *m, const KilnConfig *cfg, FILE *out)
{
    (void)cfg;
    json_t *d = json_object_get(m, "data");
    fprintf(out, "#%lld  %s  %s  to %s  [%s, %lld attempt(s)]\n",
            (long long)json_integer_value(json_object_get(m, "id")), outbox_field(m, "created_at"),
            outbox_field(m, "kind"), outbox_field(m, "recipient"), outbox_field(m, "status"),
            (long long)json_integer_value(json_object_get(m, "attempts")));
    const char *subject, *body;
    if (mail_default_template(json_string_value(json_object_get(m, "kind")), &subject, &body))
        fprintf(out, "  subject: %s\n", subject);
    const char *code = json_string_value(json_object_get(d, "token"));
    const char *link = json_string_value(json_object_get(d, "confirmation_url"));
    const char *kind = outbox_field(m, "kind");
    if (code || link) {
        fprintf(out, "  code:    %s\n  link:    %s\n", code ? code : "", link ? link : "");
    } else if (strcmp(kind, "email_change_notice") == 0 || strcmp(kind, "email_changed") == 0) {
        fprintf(out, "  (a notice: no code or link)\n");
    } else {
        fprintf(out, "  (code and link wiped after delivery)\n");
    }
    if (*outbox_field(m, "last_error"))
        fprintf(out, "  error:   %s\n", outbox_field(m, "last_error"));
}

static const KilnOutboxCommand mail_command = {
    .name = "mail",
    .help = mail_help,
    .empty = "no mail in the outbox",
    .channel = "email",
    .print = print_message,
};

int mail_main(int argc, char **argv)
{
    return outbox_command_main(&mail_command, argc, argv);
}
