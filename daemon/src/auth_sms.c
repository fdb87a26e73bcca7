/*
 * auth_sms.c: the SMS sender thread and `kiln sms` (auth_sms.h).
 *
 * The phone flows write texts to auth.sms_outbox in their own transactions
 * (sql/kiln_auth/46-phone.sql). Here one thread per daemon turns rows into
 * provider requests: claim a batch (a lease hides the rows from other
 * daemons), render each with sms_template, post it (sms.c), record the
 * outcome. A failure is retried by the database's backoff (auth.sms_done);
 * a daemon that dies mid-batch leaves its rows to be claimed again when
 * the lease ends. With sms_provider outbox (the `kiln dev` default) or
 * empty every message is marked `kept` and stays readable with `kiln sms`,
 * which the log line says. Every 10 minutes it deletes finished messages
 * older than 30 days (auth.sms_prune).
 *
 * It never writes SQL (sql_auth.c), never includes libpq (tx.c), and never
 * logs a number or a code.
 */
#include "auth_sms.h"

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
#include "pool.h"
#include "sms.h"
#include "sql_auth.h"
#include "tx.h"

#define SMS_BATCH          "10"
#define SMS_LEASE_S        "120"
#define SMS_HTTP_TIMEOUT_S 30
#define SMS_RECONNECT_MS   2000
#define SMS_PRUNE_EVERY_S  600

struct KilnSmsSender {
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

/* Does this daemon post texts (twilio or webhook), or keep them? */
static bool sends(const KilnConfig *cfg)
{
    return cfg->sms_provider &&
           (strcmp(cfg->sms_provider, "twilio") == 0 || strcmp(cfg->sms_provider, "webhook") == 0);
}

/* Renders and posts one claimed row. Returns the outcome for auth.sms_done
 * ("sent", "kept", "retry") with reason set on retry. */
static const char *deliver(const KilnConfig *cfg, json_t *row, char *reason, size_t rlen)
{
    if (!sends(cfg))
        return "kept";
    json_t *data = json_object_get(row, "data");
    KilnSmsProvider prov = {.provider = cfg->sms_provider,
                            .url = cfg->sms_url,
                            .account_sid = cfg->sms_twilio_account_sid,
                            .auth_token = cfg->sms_twilio_auth_token,
                            .from = cfg->sms_from,
                            .secret = cfg->sms_webhook_secret};
    KilnBuf text = KILN_BUF_INIT;
    sms_render(cfg->sms_template, json_string_value(json_object_get(data, "code")), &text);
    KilnSmsRequest rq;
    const char *outcome = "retry";
    if (sms_build_request(&prov, json_string_value(json_object_get(row, "recipient")),
                          json_string_value(json_object_get(data, "channel")),
                          json_string_value(json_object_get(row, "kind")), buf_str(&text), &rq,
                          reason, rlen)) {
        if (sms_http_post(&rq, SMS_HTTP_TIMEOUT_S, reason, rlen))
            outcome = "sent";
        sms_request_free(&rq);
    }
    if (text.data)
        memset(text.data, 0, text.len);
    buf_free(&text);
    return outcome;
}

/* Claims one batch and handles it. Returns the number of rows claimed, or
 * -1 when the connection failed (*broken set when it must be reopened). */
static int run_batch(KilnSmsSender *s, KilnConn *conn, bool *broken)
{
    KilnConfig *cfg = config_current();
    KilnBuf out = KILN_BUF_INIT;
    KilnError err = {0};
    const char *claim[] = {SMS_BATCH, SMS_LEASE_S};
    int n = -1;
    if (!tx_exec_scalar(conn, sql_auth_sms_claim(), 2, claim, &out, broken, &err)) {
        log_kv(KILN_LOG_WARN, "sms: cannot claim outbox rows", "reason", err.message);
        goto done;
    }
    json_t *rows = json_loads(buf_str(&out), 0, NULL);
    n = json_is_array(rows) ? (int)json_array_size(rows) : 0;
    char max_attempts[16];
    snprintf(max_attempts, sizeof max_attempts, "%d", cfg->sms_max_attempts);
    for (int i = 0; i < n && !*broken; i++) {
        json_t *row = json_array_get(rows, (size_t)i);
        char id[32], reason[512] = "";
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(row, "id")));
        const char *kind = json_string_value(json_object_get(row, "kind"));
        /* After a stop request the rest of the batch goes back at once. */
        const char *outcome =
            atomic_load(&s->stop) ? NULL : deliver(cfg, row, reason, sizeof reason);
        const char *params[] = {id, outcome ? outcome : "retry",
                                outcome ? reason : "the daemon stopped before sending",
                                max_attempts};
        KilnBuf status = KILN_BUF_INIT;
        if (!tx_exec_scalar(conn, sql_auth_sms_done(), 4, params, &status, broken, &err))
            log_kv(KILN_LOG_WARN, "sms: cannot record the outcome", "reason", err.message);
        KilnBuf f = KILN_BUF_INIT;
        buf_printf(&f, "\"id\":%s,\"kind\":", id);
        buf_put_json_string(&f, kind ? kind : "");
        buf_puts(&f, ",\"status\":");
        buf_put_json_string(&f, buf_str(&status));
        if (outcome && strcmp(outcome, "kept") == 0) {
            buf_puts(&f, ",\"read_with\":\"kiln sms\"");
            log_write(KILN_LOG_INFO,
                      "sms kept in the outbox (sms_provider is outbox or not set): read it with "
                      "`kiln sms`",
                      buf_str(&f));
        } else if (outcome && strcmp(outcome, "sent") == 0) {
            log_write(KILN_LOG_INFO, "sms sent", buf_str(&f));
        } else if (outcome) {
            buf_puts(&f, ",\"reason\":");
            buf_put_json_string(&f, reason);
            log_write(KILN_LOG_WARN, "sms delivery failed, will retry", buf_str(&f));
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

static void *sender_thread(void *arg)
{
    KilnSmsSender *s = arg;
    KilnConn *conn = NULL;
    bool warned = false;
    time_t next_prune = 0;
    while (!atomic_load(&s->stop)) {
        KilnError err = {0};
        bool broken = false;
        if (!conn) {
            conn = pool_conn_open(s->conninfo, "kiln sms", s->connect_timeout_s, &err);
            if (conn &&
                !tx_exec_scalar(conn, sql_auth_sms_listen(), 0, NULL, NULL, &broken, &err)) {
                pool_conn_close(conn);
                conn = NULL;
            }
            if (!conn) {
                if (!warned)
                    log_kv(KILN_LOG_WARN, "sms: database unavailable, retrying", "reason",
                           err.message);
                warned = true;
                sleep_ms(SMS_RECONNECT_MS);
                continue;
            }
            warned = false;
        }
        time_t now = time(NULL);
        if (now >= next_prune) {
            KilnBuf pruned = KILN_BUF_INIT;
            if (!tx_exec_scalar(conn, sql_auth_sms_prune(), 0, NULL, &pruned, &broken, &err))
                log_kv(KILN_LOG_WARN, "sms: cannot prune the outbox", "reason", err.message);
            else if (strcmp(buf_str(&pruned), "0") != 0)
                log_kv(KILN_LOG_INFO, "sms: pruned finished messages older than 30 days", "count",
                       buf_str(&pruned));
            buf_free(&pruned);
            next_prune = now + SMS_PRUNE_EVERY_S;
        }
        int n = broken ? -1 : run_batch(s, conn, &broken);
        if (broken || n < 0) {
            pool_conn_close(conn);
            conn = NULL;
            sleep_ms(SMS_RECONNECT_MS);
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

KilnSmsSender *sms_sender_start(const char *conninfo, int connect_timeout_s)
{
    KilnSmsSender *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->conninfo = strdup(conninfo ? conninfo : "");
    s->connect_timeout_s = connect_timeout_s;
    atomic_init(&s->stop, false);
    if (!s->conninfo || pthread_create(&s->thread, NULL, sender_thread, s) != 0) {
        free(s->conninfo);
        free(s);
        return NULL;
    }
    return s;
}

void sms_sender_stop(KilnSmsSender *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    free(s->conninfo);
    free(s);
}

/* ---- kiln sms ------------------------------------------------------------- */

static const char sms_help[] =
    "usage: kiln sms [--limit N] [--to NUMBER] [--json] [--config FILE] [--KEY VALUE ...]\n"
    "\n"
    "Prints the newest messages of the auth SMS outbox (auth.sms_outbox) of the\n"
    "database db_url: kind, number, status, and, until a message is delivered,\n"
    "its 6-digit code. With sms_provider outbox (the `kiln dev` default) or empty,\n"
    "nothing is sent and every message stays readable here. For a `kiln dev`\n"
    "directory:\n"
    "  kiln sms --db-url \"$(kiln status --json | jq -r .db_url)\"\n"
    "\n"
    "  --limit N      at most N messages, newest first (default 10)\n"
    "  --to NUMBER    only messages to this number (E.164, e.g. +15551234567)\n"
    "  --json         one JSON array as auth.sms_list returns it\n";

static const char *str_field(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* One message in the text listing. */
static void print_message(json_t *m, const char *tmpl, FILE *out)
{
    json_t *d = json_object_get(m, "data");
    fprintf(out, "#%lld  %s  %s  to +%s  [%s, %lld attempt(s)]\n",
            (long long)json_integer_value(json_object_get(m, "id")), str_field(m, "created_at"),
            str_field(m, "kind"), str_field(m, "recipient"), str_field(m, "status"),
            (long long)json_integer_value(json_object_get(m, "attempts")));
    const char *code = json_string_value(json_object_get(d, "code"));
    if (code) {
        KilnBuf text = KILN_BUF_INIT;
        sms_render(tmpl, code, &text);
        fprintf(out, "  code:    %s\n  text:    %s\n", code, buf_str(&text));
        buf_free(&text);
    } else {
        fprintf(out, "  (code wiped after delivery)\n");
    }
    if (*str_field(m, "last_error"))
        fprintf(out, "  error:   %s\n", str_field(m, "last_error"));
}

int sms_main(int argc, char **argv)
{
    const char *limit = "10", *to = NULL;
    bool as_json = false;
    int nargs = 0;
    char *args[argc > 0 ? argc : 1];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(sms_help, stdout);
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
    char tel[SMS_E164_MAX] = "";
    if (to && !sms_e164_normalize(to, tel, sizeof tel)) {
        fprintf(stderr, "kiln: --to must be a phone number in E.164 form, e.g. +15551234567\n");
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
    KilnConn *conn = pool_conn_open(cfg->db_url, "kiln sms", cfg->db_connect_timeout_s, &err);
    KilnBuf out = KILN_BUF_INIT;
    bool broken = false;
    char lims[16];
    snprintf(lims, sizeof lims, "%ld", lim);
    const char *params[] = {lims, to ? tel : NULL};
    if (!conn) {
        fprintf(stderr, "kiln: %s; check db_url\n", err.message);
    } else if (!tx_exec_scalar(conn, sql_auth_sms_list(), 2, params, &out, &broken, &err)) {
        fprintf(stderr,
                "kiln: cannot read the outbox: %s (the kiln_auth extension and a role "
                "that may run auth.sms_list are needed)\n",
                err.message);
    } else if (as_json) {
        printf("%s\n", buf_str(&out));
        rc = 0;
    } else {
        json_t *list = json_loads(buf_str(&out), 0, NULL);
        size_t n = json_is_array(list) ? json_array_size(list) : 0;
        if (n == 0)
            printf("no text messages in the outbox\n");
        for (size_t i = 0; i < n; i++)
            print_message(json_array_get(list, i), cfg->sms_template, stdout);
        json_decref(list);
        rc = 0;
    }
    buf_free(&out);
    pool_conn_close(conn);
    config_release(cfg);
    return rc;
}
