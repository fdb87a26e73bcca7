/*
 * outbox.c: the sender thread of one channel of the auth outbox (outbox.h).
 *
 * One loop for every channel: connect (LISTEN for the outbox's NOTIFY),
 * prune now and then, claim a batch of the channel's rows and deliver it
 * row by row through the channel's deliver function, record each outcome,
 * then wait for a NOTIFY or a second. A broken connection is closed and
 * reopened after a pause. It never writes SQL (the statements come from
 * sql_auth.c, with the channel as their first parameter),
 * never includes libpq (tx.c), and logs only ids, kinds and statuses.
 */
#include "outbox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "pool.h"
#include "request.h"
#include "sql_auth.h"
#include "tx.h"

#define OUTBOX_BATCH          "10"
#define OUTBOX_LEASE_S        "120"
#define OUTBOX_RECONNECT_MS   2000
#define OUTBOX_PRUNE_EVERY_S  600
#define OUTBOX_IDLE_MS        1000

struct KilnOutboxSender {
    const KilnOutbox *box;
    pthread_t thread;
    char *conninfo;
    int connect_timeout_s;
    atomic_bool stop;
};

/* Sleeps ms, in steps of at most 100 ms, until s is asked to stop. */
static void pause_ms(KilnOutboxSender *s, int ms)
{
    while (ms > 0 && !atomic_load(&s->stop)) {
        int step = ms < 100 ? ms : 100;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* A warning "<name>: what" with err's message as its reason. */
static void warn(const KilnOutbox *box, const char *what, const KilnError *err)
{
    char msg[128];
    snprintf(msg, sizeof msg, "%s: %s", box->name, what);
    log_kv(KILN_LOG_WARN, msg, "reason", err->message);
}

/* The log line of one delivered (or kept, or retried) row. */
static void log_outcome(const KilnOutbox *box, const char *id, const char *kind,
                        const char *status, const char *outcome, const char *reason)
{
    char msg[128];
    KilnBuf f = KILN_BUF_INIT;
    buf_printf(&f, "\"id\":%s,\"kind\":", id);
    buf_put_json_string(&f, kind ? kind : "");
    buf_puts(&f, ",\"status\":");
    buf_put_json_string(&f, status);
    if (outcome && strcmp(outcome, "kept") == 0) {
        buf_puts(&f, ",\"read_with\":");
        buf_put_json_string(&f, box->read_with);
        log_write(KILN_LOG_INFO, box->kept_log, buf_str(&f));
    } else if (outcome && strcmp(outcome, "sent") == 0) {
        snprintf(msg, sizeof msg, "%s sent", box->name);
        log_write(KILN_LOG_INFO, msg, buf_str(&f));
    } else if (outcome) {
        buf_puts(&f, ",\"reason\":");
        buf_put_json_string(&f, reason);
        snprintf(msg, sizeof msg, "%s delivery failed, will retry", box->name);
        log_write(KILN_LOG_WARN, msg, buf_str(&f));
    }
    buf_free(&f);
}

/* Claims one batch and handles it. Returns the number of rows claimed, or
 * -1 when the connection failed (*broken set when it must be reopened). */
static int run_batch(KilnOutboxSender *s, KilnConn *conn, bool *broken)
{
    const KilnOutbox *box = s->box;
    KilnConfig *cfg = config_current();
    KilnBuf out = KILN_BUF_INIT;
    KilnError err = {0};
    const char *claim[] = {box->channel, OUTBOX_BATCH, OUTBOX_LEASE_S};
    int n = -1;
    if (!tx_exec_scalar(conn, sql_auth_outbox_claim(), 3, claim, &out, broken, &err)) {
        warn(box, "cannot claim outbox rows", &err);
        goto done;
    }
    json_t *rows = json_loads(buf_str(&out), 0, NULL);
    n = json_is_array(rows) ? (int)json_array_size(rows) : 0;
    char max_attempts[16];
    snprintf(max_attempts, sizeof max_attempts, "%d", box->max_attempts(cfg));
    for (int i = 0; i < n && !*broken; i++) {
        json_t *row = json_array_get(rows, (size_t)i);
        char id[32], reason[512] = "";
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(row, "id")));
        /* After a stop request the rest of the batch goes back at once. */
        const char *outcome =
            atomic_load(&s->stop) ? NULL : box->deliver(cfg, row, reason, sizeof reason);
        const char *params[] = {box->channel, id, outcome ? outcome : "retry",
                                outcome ? reason : "the daemon stopped before sending",
                                max_attempts};
        KilnBuf status = KILN_BUF_INIT;
        if (!tx_exec_scalar(conn, sql_auth_outbox_done(), 5, params, &status, broken, &err))
            warn(box, "cannot record the outcome", &err);
        log_outcome(box, id, json_string_value(json_object_get(row, "kind")), buf_str(&status),
                    outcome, reason);
        buf_free(&status);
    }
    json_decref(rows);
done:
    buf_free(&out);
    config_release(cfg);
    return n;
}

/* Opens the sender's connection and listens; NULL (err set) when it cannot. */
static KilnConn *connect_listening(KilnOutboxSender *s, KilnError *err)
{
    char app[64];
    bool broken = false;
    snprintf(app, sizeof app, "kiln %s", s->box->name);
    KilnConn *conn = pool_conn_open(s->conninfo, app, s->connect_timeout_s, err);
    if (conn && !tx_exec_scalar(conn, sql_auth_outbox_listen(), 0, NULL, NULL, &broken, err)) {
        pool_conn_close(conn);
        conn = NULL;
    }
    return conn;
}

static void prune(const KilnOutbox *box, KilnConn *conn, bool *broken)
{
    KilnError err = {0};
    KilnBuf pruned = KILN_BUF_INIT;
    const char *params[] = {box->channel};
    if (!tx_exec_scalar(conn, sql_auth_outbox_prune(), 1, params, &pruned, broken, &err)) {
        warn(box, "cannot prune the outbox", &err);
    } else if (strcmp(buf_str(&pruned), "0") != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s: pruned finished messages older than 30 days", box->name);
        log_kv(KILN_LOG_INFO, msg, "count", buf_str(&pruned));
    }
    buf_free(&pruned);
}

static void *sender_thread(void *arg)
{
    KilnOutboxSender *s = arg;
    KilnConn *conn = NULL;
    bool warned = false;
    time_t next_prune = 0;
    while (!atomic_load(&s->stop)) {
        bool broken = false;
        if (!conn) {
            KilnError err = {0};
            conn = connect_listening(s, &err);
            if (!conn) {
                if (!warned)
                    warn(s->box, "database unavailable, retrying", &err);
                warned = true;
                pause_ms(s, OUTBOX_RECONNECT_MS);
                continue;
            }
            warned = false;
        }
        time_t now = time(NULL);
        if (now >= next_prune) {
            prune(s->box, conn, &broken);
            next_prune = now + OUTBOX_PRUNE_EVERY_S;
        }
        int n = broken ? -1 : run_batch(s, conn, &broken);
        if (broken || n < 0) {
            pool_conn_close(conn);
            conn = NULL;
            pause_ms(s, OUTBOX_RECONNECT_MS);
            continue;
        }
        if (n > 0)
            continue; /* more may be due */
        /*
         * Idle: wait up to OUTBOX_IDLE_MS for a notification of this
         * channel (then look again anyway). The other channel's are read
         * and passed over: they wake the other sender, not this one.
         */
        char payload[64];
        bool mine = false;
        int64_t until = kiln_now_us() + (int64_t)OUTBOX_IDLE_MS * 1000;
        int r;
        do {
            int64_t left_ms = mine ? 0 : (until - kiln_now_us()) / 1000;
            r = tx_wait_notify(conn, left_ms > 0 ? (int)left_ms : 0, payload, sizeof payload);
            if (r > 0 && strcmp(payload, s->box->channel) == 0)
                mine = true;
        } while (r > 0);
        if (r < 0) {
            pool_conn_close(conn);
            conn = NULL;
        }
    }
    pool_conn_close(conn);
    return NULL;
}

KilnOutboxSender *outbox_sender_start(const KilnOutbox *box, const char *conninfo,
                                      int connect_timeout_s)
{
    KilnOutboxSender *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->box = box;
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

void outbox_sender_request_stop(KilnOutboxSender *s)
{
    if (s)
        atomic_store(&s->stop, true);
}

void outbox_sender_stop(KilnOutboxSender *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    free(s->conninfo);
    free(s);
}

/* ---- kiln mail / kiln sms ------------------------------------------------- */

const char *outbox_field(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

int outbox_command_main(const KilnOutboxCommand *c, int argc, char **argv)
{
    const char *limit = "10", *to = NULL;
    bool as_json = false;
    int nargs = 0;
    char *args[argc > 0 ? argc : 1];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(c->help, stdout);
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
    char recipient[320] = "";
    if (to && c->recipient && !c->recipient(to, recipient, sizeof recipient))
        return 2;
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
    char app[64];
    snprintf(app, sizeof app, "kiln %s", c->name);
    KilnConn *conn = pool_conn_open(cfg->db_url, app, cfg->db_connect_timeout_s, &err);
    KilnBuf out = KILN_BUF_INIT;
    bool broken = false;
    char lims[16];
    snprintf(lims, sizeof lims, "%ld", lim);
    const char *params[] = {c->channel, lims, to ? (c->recipient ? recipient : to) : NULL};
    if (!conn) {
        fprintf(stderr, "kiln: %s; check db_url\n", err.message);
    } else if (!tx_exec_scalar(conn, sql_auth_outbox_list(), 3, params, &out, &broken, &err)) {
        fprintf(stderr,
                "kiln: cannot read the outbox: %s (the kiln_auth extension and a role "
                "that may run auth.outbox_list are needed)\n",
                err.message);
    } else if (as_json) {
        printf("%s\n", buf_str(&out));
        rc = 0;
    } else {
        json_t *list = json_loads(buf_str(&out), 0, NULL);
        size_t n = json_is_array(list) ? json_array_size(list) : 0;
        if (n == 0)
            printf("%s\n", c->empty);
        for (size_t i = 0; i < n; i++)
            c->print(json_array_get(list, i), cfg, stdout);
        json_decref(list);
        rc = 0;
    }
    buf_free(&out);
    pool_conn_close(conn);
    config_release(cfg);
    return rc;
}
