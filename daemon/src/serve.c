/*
 * serve.c: `kiln serve` and the daemon's lifecycle: start the pool, the
 * workers and the listener; then the main thread only waits for signals.
 * SIGHUP swaps in a new configuration snapshot if it validates; SIGTERM and
 * SIGINT drain in-flight requests and stop.
 */
#include "serve.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth_mail.h"
#include "auth_sms.h"
#include "buf.h"
#include "log.h"
#include "server.h"

void serve_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void apply_log_level(const KilnConfig *cfg)
{
    KilnLogLevel lvl;
    if (log_level_parse(cfg->log_level, &lvl))
        log_set_level(lvl);
}

/* One warn line per retired key the snapshot ignores (config.c lists them). */
static void log_config_warnings(const KilnConfig *cfg)
{
    for (const char *w = cfg->warnings; w && *w;) {
        size_t n = strcspn(w, "\n");
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)n, w);
        log_kv(KILN_LOG_WARN, "ignored configuration key", "detail", line);
        w += n + (w[n] == '\n');
    }
}

static void reload(const KilnConfigLayer *base, const KilnConfigLayer *flags)
{
    KilnConfig *next = NULL;
    KilnError err = {0};
    if (!config_load(base, flags, true, &next, &err)) {
        log_kv(KILN_LOG_ERROR, "reload failed, keeping the previous configuration", "reason",
               err.message);
        return;
    }
    KilnConfig *cur = config_current();
    char keys[512];
    if (config_restart_keys(cur, next, keys, sizeof keys))
        log_kv(KILN_LOG_WARN, "some changes take effect only after a restart", "keys", keys);
    config_release(cur);
    apply_log_level(next);
    log_config_warnings(next);
    config_install(next);
    log_write(KILN_LOG_INFO, "configuration reloaded", NULL);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until no request is in flight or timeout_ms passes. */
static bool drain(KilnServer *srv, int timeout_ms)
{
    for (int waited = 0; atomic_load(&srv->inflight) > 0; waited += 10) {
        if (waited >= timeout_ms)
            return false;
        sleep_ms(10);
    }
    return true;
}

int serve_run(KilnConfig *cfg, const KilnConfigLayer *base, const KilnConfigLayer *flags)
{
    apply_log_level(cfg);
    log_config_warnings(cfg);
    KilnError err = {0};
    KilnServer srv;
    memset(&srv, 0, sizeof srv);

    srv.pool = pool_create(cfg->db_url, cfg->db_pool_size, cfg->db_connect_timeout_s, &err);
    if (!srv.pool) {
        fprintf(stderr, "kiln: %s; check db_url and that PostgreSQL is running\n", err.message);
        config_release(cfg);
        return 1;
    }
    srv.work = work_create(cfg->db_pool_size);
    srv.schema = schema_holder_start(cfg->db_url, cfg->db_schemas, cfg->db_connect_timeout_s);
    config_install(cfg); /* takes our reference */
    KilnConfig *live = config_current();
    if (!http_start(&srv, live, &err)) {
        fprintf(stderr, "kiln: %s\n", err.message);
        config_release(live);
        work_free(srv.work);
        schema_holder_free(srv.schema);
        pool_free(srv.pool);
        config_install(NULL);
        return 1;
    }
    {
        KilnBuf f = KILN_BUF_INIT;
        bool v6 = strchr(live->listen_address, ':') != NULL;
        buf_printf(&f, "\"url\":\"http://%s%s%s:%d\",\"pid\":%d,\"pool_size\":%d,\"version\":\"%s\"",
                   v6 ? "[" : "", live->listen_address, v6 ? "]" : "", live->port, (int)getpid(),
                   live->db_pool_size, KILN_VERSION);
        log_write(KILN_LOG_INFO, "listening", buf_str(&f));
        buf_free(&f);
    }
    /* The auth mail sender: its own thread and connection (auth_mail.h). */
    KilnOutboxSender *mailer = mailer_start(live->db_url, live->db_connect_timeout_s);
    if (!mailer)
        log_write(KILN_LOG_WARN, "mail: the sender thread could not start; mail stays in the outbox",
                  NULL);
    /* The SMS sender, beside it (auth_sms.h). */
    KilnOutboxSender *texter = sms_sender_start(live->db_url, live->db_connect_timeout_s);
    if (!texter)
        log_write(KILN_LOG_WARN, "sms: the sender thread could not start; texts stay in the outbox",
                  NULL);
    config_release(live);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(base, flags);
            continue;
        }
        break;
    }

    atomic_store(&srv.stopping, true);
    /* The senders wind down while the requests drain (joined below). */
    outbox_sender_request_stop(mailer);
    outbox_sender_request_stop(texter);
    http_quiesce(&srv);
    KilnConfig *now = config_current();
    int timeout_ms = now->shutdown_timeout_s * 1000;
    config_release(now);
    {
        char f[96];
        snprintf(f, sizeof f, "\"in_flight\":%d,\"timeout_s\":%d", atomic_load(&srv.inflight),
                 timeout_ms / 1000);
        log_write(KILN_LOG_INFO, "shutting down", f);
    }
    if (!drain(&srv, timeout_ms)) {
        log_write(KILN_LOG_WARN, "shutdown timeout: canceling running statements", NULL);
        pool_cancel_all(srv.pool);
        drain(&srv, 5000);
    }
    http_stop(&srv);
    outbox_sender_stop(mailer);
    outbox_sender_stop(texter);
    work_free(srv.work);
    schema_holder_free(srv.schema);
    pool_free(srv.pool);
    config_install(NULL);
    log_write(KILN_LOG_INFO, "stopped", NULL);
    return 0;
}

static const char serve_help[] =
    "usage: kiln serve [--config FILE] [--KEY VALUE ...]\n"
    "\n"
    "Runs the HTTP daemon against an existing PostgreSQL database (db_url) that\n"
    "has the Kiln extensions. Logs are JSON lines on stderr.\n"
    "Signals: SIGHUP reloads the configuration (a bad one is refused and the\n"
    "running one kept); SIGTERM or SIGINT stop accepting connections, let\n"
    "in-flight requests finish (shutdown_timeout_s) and exit 0.\n"
    "\n"
    "Every key below can be set in the config file (`key = value`), as an\n"
    "environment variable, or as a flag (--key value, dashes or underscores).\n"
    "Precedence: flags > environment > file > defaults.\n"
    "\n"
    "Keys:\n";

int serve_main(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(serve_help, stdout);
            config_print_help(stdout, false);
            return 0;
        }
    }
    KilnConfigLayer flags = {0};
    KilnError err = {0};
    KilnConfig *cfg = NULL;
    if (!config_layer_parse_args(&flags, argc, argv, &err) ||
        !config_load(NULL, &flags, true, &cfg, &err)) {
        fprintf(stderr, "kiln: %s\n", err.message);
        config_layer_free(&flags);
        return 2;
    }
    serve_block_signals();
    int rc = serve_run(cfg, NULL, &flags);
    config_layer_free(&flags);
    return rc;
}
