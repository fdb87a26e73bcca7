/*
 * auth_mail.c: the mail sender thread and `kiln mail` (auth_mail.h).
 *
 * The flows write messages to auth.mail_outbox in their own transactions
 * (sql/kiln_auth/41-mail.sql); the sender thread (outbox.c: claim a batch
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
#include "log.h"
#include "mail.h"
#include "outbox.h"
#include "pool.h"
#include "sql_auth.h"
#include "tx.h"

#define MAIL_SMTP_TIMEOUT_S 30

/* Renders and delivers one claimed row. Returns the outcome for
 * auth.mail_done ("sent", "kept", "retry") with reason set on retry. */
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
    .listen_sql = sql_auth_mail_listen,
    .claim_sql = sql_auth_mail_claim,
    .done_sql = sql_auth_mail_done,
    .prune_sql = sql_auth_mail_prune,
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
    "Prints the newest messages of the auth mail outbox (auth.mail_outbox) of the\n"
    "database db_url: kind, recipient, status, and, until a message is delivered,\n"
    "its code and link. Without smtp_url (the `kiln dev` default) nothing is sent\n"
    "and every message stays readable here. For a `kiln dev` directory:\n"
    "  kiln mail --db-url \"$(kiln status --json | jq -r .db_url)\"\n"
    "\n"
    "  --limit N      at most N messages, newest first (default 10)\n"
    "  --to ADDRESS   only messages to this address\n"
    "  --json         one JSON array as auth.mail_list returns it\n";

static const char *str_field(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* One message in the text listing. */
static void print_message(json_t *m, FILE *out)
{
    json_t *d = json_object_get(m, "data");
    fprintf(out, "#%lld  %s  %s  to %s  [%s, %lld attempt(s)]\n",
            (long long)json_integer_value(json_object_get(m, "id")), str_field(m, "created_at"),
            str_field(m, "kind"), str_field(m, "recipient"), str_field(m, "status"),
            (long long)json_integer_value(json_object_get(m, "attempts")));
    const char *subject, *body;
    if (mail_default_template(json_string_value(json_object_get(m, "kind")), &subject, &body))
        fprintf(out, "  subject: %s\n", subject);
    const char *code = json_string_value(json_object_get(d, "token"));
    const char *link = json_string_value(json_object_get(d, "confirmation_url"));
    const char *kind = str_field(m, "kind");
    if (code || link) {
        fprintf(out, "  code:    %s\n  link:    %s\n", code ? code : "", link ? link : "");
    } else if (strcmp(kind, "email_change_notice") == 0 || strcmp(kind, "email_changed") == 0) {
        fprintf(out, "  (a notice: no code or link)\n");
    } else {
        fprintf(out, "  (code and link wiped after delivery)\n");
    }
    if (*str_field(m, "last_error"))
        fprintf(out, "  error:   %s\n", str_field(m, "last_error"));
}

int mail_main(int argc, char **argv)
{
    const char *limit = "10", *to = NULL;
    bool as_json = false;
    int nargs = 0;
    char *args[argc > 0 ? argc : 1];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(mail_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if ((strcmp(argv[i], "--limit") == 0 || strcmp(argv[i], "--to") == 0) &&
                   i + 1 < argc) {
            if (argv[i][2] == 'l')
                limit = argv[++i];
            else
                to = argv[++i];
        } else {
            args[nargs++] = argv[i];
        }
    }
    char *end;
    long lim = strtol(limit, &end, 10);
    if (*end || lim < 1 || lim > 1000) {
        fprintf(stderr, "kiln: --limit must be a whole number from 1 to 1000\n");
        return 2;
    }
    KilnConfigLayer flags = {0};
    KilnError err = {0};
    KilnConfig *cfg = NULL;
    if (!config_layer_parse_args(&flags, nargs, args, &err) ||
        !config_load(NULL, &flags, false, &cfg, &err)) {
        fprintf(stderr, "kiln: %s\n", err.message);
        config_layer_free(&flags);
        return 2;
    }
    config_layer_free(&flags);
    if (!cfg->db_url || !*cfg->db_url) {
        fprintf(stderr, "kiln: db_url is not set; pass --db-url, KILN_DB_URL or --config FILE\n");
        config_release(cfg);
        return 2;
    }
    int rc = 1;
    KilnConn *conn = pool_conn_open(cfg->db_url, "kiln mail", cfg->db_connect_timeout_s, &err);
    KilnBuf out = KILN_BUF_INIT;
    bool broken = false;
    char lims[16];
    snprintf(lims, sizeof lims, "%ld", lim);
    const char *params[] = {lims, to};
    if (!conn) {
        fprintf(stderr, "kiln: %s; check db_url\n", err.message);
    } else if (!tx_exec_scalar(conn, sql_auth_mail_list(), 2, params, &out, &broken, &err)) {
        fprintf(stderr,
                "kiln: cannot read the outbox: %s (the kiln_auth extension and a role "
                "that may run auth.mail_list are needed)\n",
                err.message);
    } else if (as_json) {
        printf("%s\n", buf_str(&out));
        rc = 0;
    } else {
        json_t *list = json_loads(buf_str(&out), 0, NULL);
        size_t n = json_is_array(list) ? json_array_size(list) : 0;
        if (n == 0)
            printf("no mail in the outbox\n");
        for (size_t i = 0; i < n; i++)
            print_message(json_array_get(list, i), stdout);
        json_decref(list);
        rc = 0;
    }
    buf_free(&out);
    pool_conn_close(conn);
    config_release(cfg);
    return rc;
}
