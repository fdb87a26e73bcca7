/*
 * auth_mail.c: the mail sender thread and `kiln mail` (auth_mail.h).
 *
 * The flows write messages to auth.mail_outbox in their own transactions
 * (sql/kiln_auth/41-mail.sql). Here one thread per daemon turns rows into
 * mail: claim a batch (a lease hides the rows from other daemons), render
 * each with its template, deliver it over SMTP, record the outcome. A
 * failure is retried by the database's backoff (auth.mail_done); a daemon
 * that dies mid-batch leaves its rows to be claimed again when the lease
 * ends. Without smtp_url every message is marked `kept` and stays readable
 * with `kiln mail`, which the log line says. Every 10 minutes it deletes
 * finished messages older than 30 days (auth.mail_prune).
 *
 * It never writes SQL (sql_auth.c), never includes libpq (tx.c), and never
 * logs a recipient, code or link.
 */
#include "auth_mail.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "mail.h"
#include "pool.h"
#include "sql_auth.h"
#include "tx.h"

#define MAIL_BATCH          "10"
#define MAIL_LEASE_S        "120"
#define MAIL_SMTP_TIMEOUT_S 30
#define MAIL_RECONNECT_MS   2000
#define MAIL_PRUNE_EVERY_S  600

struct KilnMailer {
    pthread_t thread;
    char *conninfo;
    int connect_timeout_s;
    atomic_bool stop;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

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

/* Claims one batch and handles it. Returns the number of rows claimed, or
 * -1 when the connection failed (*broken set when it must be reopened). */
static int run_batch(KilnMailer *m, KilnConn *conn, bool *broken)
{
    KilnConfig *cfg = config_current();
    KilnBuf out = KILN_BUF_INIT;
    KilnError err = {0};
    const char *claim[] = {MAIL_BATCH, MAIL_LEASE_S};
    int n = -1;
    if (!tx_exec_scalar(conn, sql_auth_mail_claim(), 2, claim, &out, broken, &err)) {
        log_kv(KILN_LOG_WARN, "mail: cannot claim outbox rows", "reason", err.message);
        goto done;
    }
    json_t *rows = json_loads(buf_str(&out), 0, NULL);
    n = json_is_array(rows) ? (int)json_array_size(rows) : 0;
    char max_attempts[16];
    snprintf(max_attempts, sizeof max_attempts, "%d", cfg->mail_max_attempts);
    for (int i = 0; i < n && !*broken; i++) {
        json_t *row = json_array_get(rows, (size_t)i);
        char id[32], reason[512] = "";
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(row, "id")));
        const char *kind = json_string_value(json_object_get(row, "kind"));
        /* After a stop request the rest of the batch goes back at once. */
        const char *outcome =
            atomic_load(&m->stop) ? NULL : deliver(cfg, row, reason, sizeof reason);
        const char *params[] = {id, outcome ? outcome : "retry",
                                outcome ? reason : "the daemon stopped before sending",
                                max_attempts};
        KilnBuf status = KILN_BUF_INIT;
        if (!tx_exec_scalar(conn, sql_auth_mail_done(), 4, params, &status, broken, &err))
            log_kv(KILN_LOG_WARN, "mail: cannot record the outcome", "reason", err.message);
        KilnBuf f = KILN_BUF_INIT;
        buf_printf(&f, "\"id\":%s,\"kind\":", id);
        buf_put_json_string(&f, kind ? kind : "");
        buf_puts(&f, ",\"status\":");
        buf_put_json_string(&f, buf_str(&status));
        if (outcome && strcmp(outcome, "kept") == 0) {
            buf_puts(&f, ",\"read_with\":\"kiln mail\"");
            log_write(KILN_LOG_INFO,
                      "mail kept in the outbox (smtp_url is not set): read it with `kiln mail`",
                      buf_str(&f));
        } else if (outcome && strcmp(outcome, "sent") == 0) {
            log_write(KILN_LOG_INFO, "mail sent", buf_str(&f));
        } else if (outcome) {
            buf_puts(&f, ",\"reason\":");
            buf_put_json_string(&f, reason);
            log_write(KILN_LOG_WARN, "mail delivery failed, will retry", buf_str(&f));
        }
        buf_free(&f);
        buf_free(&status);
    }
    json_decref(rows);
done:
    buf_free(&out);
    config_release(cfg);
    return n;
}

static void *mailer_thread(void *arg)
{
    KilnMailer *m = arg;
    KilnConn *conn = NULL;
    bool warned = false;
    time_t next_prune = 0;
    while (!atomic_load(&m->stop)) {
        KilnError err = {0};
        bool broken = false;
        if (!conn) {
            conn = pool_conn_open(m->conninfo, "kiln mail", m->connect_timeout_s, &err);
            if (conn &&
                !tx_exec_scalar(conn, sql_auth_mail_listen(), 0, NULL, NULL, &broken, &err)) {
                pool_conn_close(conn);
                conn = NULL;
            }
            if (!conn) {
                if (!warned)
                    log_kv(KILN_LOG_WARN, "mail: database unavailable, retrying", "reason",
                           err.message);
                warned = true;
                sleep_ms(MAIL_RECONNECT_MS);
                continue;
            }
            warned = false;
        }
        time_t now = time(NULL);
        if (now >= next_prune) {
            KilnBuf pruned = KILN_BUF_INIT;
            if (!tx_exec_scalar(conn, sql_auth_mail_prune(), 0, NULL, &pruned, &broken, &err))
                log_kv(KILN_LOG_WARN, "mail: cannot prune the outbox", "reason", err.message);
            else if (strcmp(buf_str(&pruned), "0") != 0)
                log_kv(KILN_LOG_INFO, "mail: pruned finished messages older than 30 days", "count",
                       buf_str(&pruned));
            buf_free(&pruned);
            next_prune = now + MAIL_PRUNE_EVERY_S;
        }
        int n = broken ? -1 : run_batch(m, conn, &broken);
        if (broken || n < 0) {
            pool_conn_close(conn);
            conn = NULL;
            sleep_ms(MAIL_RECONNECT_MS);
            continue;
        }
        if (n > 0)
            continue; /* more may be due */
        char payload[64];
        int r = tx_wait_notify(conn, 1000, payload, sizeof payload);
        while (r > 0)
            r = tx_wait_notify(conn, 0, payload, sizeof payload);
        if (r < 0) {
            pool_conn_close(conn);
            conn = NULL;
        }
    }
    pool_conn_close(conn);
    return NULL;
}

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

KilnMailer *mailer_start(const char *conninfo, int connect_timeout_s)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    KilnMailer *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->conninfo = strdup(conninfo ? conninfo : "");
    m->connect_timeout_s = connect_timeout_s;
    atomic_init(&m->stop, false);
    if (!m->conninfo || pthread_create(&m->thread, NULL, mailer_thread, m) != 0) {
        free(m->conninfo);
        free(m);
        return NULL;
    }
    return m;
}

void mailer_stop(KilnMailer *m)
{
    if (!m)
        return;
    atomic_store(&m->stop, true);
    pthread_join(m->thread, NULL);
    free(m->conninfo);
    free(m);
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
