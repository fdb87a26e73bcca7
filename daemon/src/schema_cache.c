/*
 * schema_cache.c: schema-cache snapshots (built from the catalog query's
 * JSON with jansson), lookups, and the holder with its NOTIFY watcher.
 *
 * Snapshots are immutable once built; the holder swaps them under a mutex
 * and hands out references. The watcher thread is the only code here that
 * does I/O, through pool.c (its own connection) and tx.c; it logs load
 * failures and never touches the request pool.
 */
#include "schema_cache.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "pool.h"
#include "sql.h"
#include "tx.h"

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        abort();
    return p;
}

static void function_free(KilnFunction *f)
{
    for (int k = 0; k < f->nargs; k++) {
        free(f->args[k].name);
        free(f->args[k].type);
    }
    for (int c = 0; c < f->result.ncols; c++) {
        free(f->result.cols[c].name);
        free(f->result.cols[c].type);
    }
    free(f->args);
    free(f->result.cols);
    free(f->schema);
    free(f->name);
    free(f->ret_type);
    free(f->description);
    memset(f, 0, sizeof *f);
}

static void cache_free(KilnSchemaCache *sc)
{
    if (!sc)
        return;
    for (int i = 0; i < sc->ntables; i++) {
        KilnTable *t = &sc->tables[i];
        for (int c = 0; c < t->ncols; c++) {
            free(t->cols[c].name);
            free(t->cols[c].type);
            free(t->cols[c].default_expr);
        }
        free(t->cols);
        free(t->schema);
        free(t->name);
    }
    for (int i = 0; i < sc->nfks; i++) {
        free(sc->fks[i].name);
        free(sc->fks[i].from_cols);
        free(sc->fks[i].to_cols);
    }
    free(sc->tables);
    free(sc->fks);
    for (int i = 0; i < sc->nfuncs; i++)
        function_free(&sc->funcs[i]);
    free(sc->funcs);
    free(sc->postgis_schema);
    free(sc);
}

/* ---- functions ------------------------------------------------------------ */

static void add_result_col(KilnFunction *f, const char *name, const char *type)
{
    KilnColumn *col = &f->result.cols[f->result.ncols];
    col->name = xstrdup(name);
    col->type = xstrdup(type);
    col->attnum = ++f->result.ncols;
}

/* One element of the "functions" array into f. Returns false (f then holds
 * what must be freed) for a function the data API cannot call: a bare
 * `record` result without OUT columns. Malformed input sets *bad. */
static bool load_function(json_t *jf, const long long *oids, int ntables, KilnFunction *f,
                          bool *bad)
{
    const char *schema = json_string_value(json_object_get(jf, "schema"));
    const char *name = json_string_value(json_object_get(jf, "name"));
    const char *rettype = json_string_value(json_object_get(jf, "rettype"));
    const char *typtype = json_string_value(json_object_get(jf, "typtype"));
    const char *vol = json_string_value(json_object_get(jf, "volatility"));
    json_t *args = json_object_get(jf, "args"), *cols = json_object_get(jf, "columns");
    if (!schema || !name || !rettype || !typtype || !vol || !json_is_array(args)) {
        *bad = true;
        return false;
    }
    f->schema = xstrdup(schema);
    f->name = xstrdup(name);
    f->ret_type = xstrdup(rettype);
    f->description = xstrdup(json_string_value(json_object_get(jf, "description")));
    f->oid = json_integer_value(json_object_get(jf, "oid"));
    f->ret_set = json_is_true(json_object_get(jf, "set"));
    f->volatility = vol[0];
    f->ret_table = -1;
    size_t na = json_array_size(args), nc = json_array_size(cols);
    f->args = calloc(na ? na : 1, sizeof *f->args);
    f->result.cols = calloc(na + nc + 1, sizeof *f->result.cols);
    if (!f->args || !f->result.cols)
        abort();
    f->result.schema = f->schema;
    f->result.name = f->name;
    int nin = 0;
    for (size_t i = 0; i < na; i++) {
        json_t *ja = json_array_get(args, i);
        const char *an = json_string_value(json_object_get(ja, "name"));
        const char *at = json_string_value(json_object_get(ja, "type"));
        const char *mode = json_string_value(json_object_get(ja, "mode"));
        if (!an || !at || !mode) {
            *bad = true;
            return false;
        }
        if (mode[0] == 'i' || mode[0] == 'b' || mode[0] == 'v') {
            KilnFuncArg *arg = &f->args[f->nargs++];
            arg->name = xstrdup(an);
            arg->type = xstrdup(at);
            arg->variadic = mode[0] == 'v';
            arg->rel_table = -1;
            long long rel = json_integer_value(json_object_get(ja, "rel"));
            for (int k = 0; rel && k < ntables; k++)
                if (oids[k] == rel)
                    arg->rel_table = k;
            nin++;
        }
        if (mode[0] == 'o' || mode[0] == 'b' || mode[0] == 't')
            add_result_col(f, an, at);
    }
    long long ndef = json_integer_value(json_object_get(jf, "ndefaults"));
    for (int i = nin - 1; i >= 0 && ndef > 0; i--, ndef--)
        f->args[i].has_default = true;
    if (strcmp(rettype, "void") == 0) {
        f->ret_kind = KILN_RET_VOID;
        f->result.ncols = 0;
        return true;
    }
    if (strcmp(rettype, "record") == 0) {
        f->ret_kind = KILN_RET_COMPOSITE;
        return f->result.ncols > 0;
    }
    f->result.ncols = 0; /* a single OUT column is the scalar itself */
    if (typtype[0] == 'c') {
        f->ret_kind = KILN_RET_COMPOSITE;
        long long rel = json_integer_value(json_object_get(jf, "retrel"));
        for (int k = 0; k < ntables; k++)
            if (oids[k] == rel)
                f->ret_table = k;
        for (size_t c = 0; c < nc; c++) {
            json_t *jc = json_array_get(cols, c);
            const char *cn = json_string_value(json_object_get(jc, "name"));
            const char *ct = json_string_value(json_object_get(jc, "type"));
            if (!cn || !ct) {
                *bad = true;
                return false;
            }
            add_result_col(f, cn, ct);
        }
        return true;
    }
    f->ret_kind = KILN_RET_SCALAR;
    add_result_col(f, name, rettype);
    return true;
}

static int cmp_function(const void *x, const void *y)
{
    const KilnFunction *a = x, *b = y;
    int c = strcmp(a->schema, b->schema);
    if (!c)
        c = strcmp(a->name, b->name);
    if (!c)
        c = a->oid < b->oid ? -1 : a->oid > b->oid;
    return c;
}

/* The optional "functions" array (absent: no functions), kept sorted by
 * schema, name and oid for schema_cache_functions' binary search. */
static bool load_functions(KilnSchemaCache *sc, json_t *funcs, const long long *oids)
{
    size_t n = json_array_size(funcs);
    sc->funcs = calloc(n ? n : 1, sizeof *sc->funcs);
    if (!sc->funcs)
        abort();
    bool bad = false;
    for (size_t i = 0; i < n && !bad; i++) {
        KilnFunction *f = &sc->funcs[sc->nfuncs++];
        if (!load_function(json_array_get(funcs, i), oids, sc->ntables, f, &bad)) {
            /* not callable (or malformed): drop it */
            function_free(f);
            sc->nfuncs--;
        }
    }
    if (sc->nfuncs > 1)
        qsort(sc->funcs, (size_t)sc->nfuncs, sizeof *sc->funcs, cmp_function);
    return !bad && (!funcs || json_is_array(funcs));
}

int schema_cache_functions(const KilnSchemaCache *sc, const char *schema, const char *name,
                           const KilnFunction **out, int max)
{
    /* the first function not ordered before (schema, name) */
    int lo = 0, hi = sc->nfuncs;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const KilnFunction *f = &sc->funcs[mid];
        int c = strcmp(f->schema, schema);
        if (!c)
            c = strcmp(f->name, name);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int n = 0;
    for (int i = lo; i < sc->nfuncs; i++) {
        const KilnFunction *f = &sc->funcs[i];
        if (strcmp(f->name, name) != 0 || strcmp(f->schema, schema) != 0)
            break;
        if (n < max)
            out[n] = f;
        n++;
    }
    return n;
}

const KilnTable *schema_cache_function_result(const KilnSchemaCache *sc, const KilnFunction *f)
{
    if (f->ret_kind == KILN_RET_VOID)
        return NULL;
    if (f->ret_table >= 0 && f->ret_table < sc->ntables)
        return &sc->tables[f->ret_table];
    return &f->result;
}

static int col_by_attnum(const KilnTable *t, int attnum)
{
    for (int i = 0; i < t->ncols; i++)
        if (t->cols[i].attnum == attnum)
            return i;
    return -1;
}

KilnSchemaCache *schema_cache_from_json(const char *text, KilnError *err)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    json_t *tables = root ? json_object_get(root, "tables") : NULL;
    json_t *fks = root ? json_object_get(root, "fks") : NULL;
    if (!json_is_array(tables) || !json_is_array(fks)) {
        json_decref(root);
        kiln_error_set(err, 503, "PGRST002", "the schema cache query returned malformed data");
        return NULL;
    }
    KilnSchemaCache *sc = calloc(1, sizeof *sc);
    if (!sc)
        abort();
    sc->refcount = 1;
    size_t nt = json_array_size(tables);
    sc->tables = calloc(nt ? nt : 1, sizeof *sc->tables);
    long long *oids = calloc(nt ? nt : 1, sizeof *oids);
    if (!sc->tables || !oids)
        abort();
    bool ok = true;
    for (size_t i = 0; i < nt && ok; i++) {
        json_t *jt = json_array_get(tables, i);
        json_t *cols = json_object_get(jt, "columns");
        const char *schema = json_string_value(json_object_get(jt, "schema"));
        const char *name = json_string_value(json_object_get(jt, "name"));
        const char *kind = json_string_value(json_object_get(jt, "kind"));
        if (!schema || !name || !kind || !json_is_array(cols)) {
            ok = false;
            break;
        }
        KilnTable *t = &sc->tables[sc->ntables++];
        oids[i] = json_integer_value(json_object_get(jt, "oid"));
        t->schema = xstrdup(schema);
        t->name = xstrdup(name);
        t->is_view = kind[0] == 'v' || kind[0] == 'm';
        size_t nc = json_array_size(cols);
        t->cols = calloc(nc ? nc : 1, sizeof *t->cols);
        if (!t->cols)
            abort();
        for (size_t c = 0; c < nc; c++) {
            json_t *jc = json_array_get(cols, c);
            const char *cn = json_string_value(json_object_get(jc, "name"));
            const char *ty = json_string_value(json_object_get(jc, "type"));
            if (!cn || !ty) {
                ok = false;
                break;
            }
            KilnColumn *col = &t->cols[t->ncols++];
            col->name = xstrdup(cn);
            col->type = xstrdup(ty);
            col->attnum = (int)json_integer_value(json_object_get(jc, "num"));
            col->pk = json_is_true(json_object_get(jc, "pk"));
            const char *def = json_string_value(json_object_get(jc, "default"));
            col->default_expr = def ? xstrdup(def) : NULL;
            col->generated = json_is_true(json_object_get(jc, "generated"));
        }
    }
    size_t nf = json_array_size(fks);
    sc->fks = calloc(nf ? nf : 1, sizeof *sc->fks);
    if (!sc->fks)
        abort();
    for (size_t i = 0; i < nf && ok; i++) {
        json_t *jf = json_array_get(fks, i);
        long long from = json_integer_value(json_object_get(jf, "from"));
        long long to = json_integer_value(json_object_get(jf, "to"));
        json_t *cols = json_object_get(jf, "cols"), *refs = json_object_get(jf, "refs");
        const char *name = json_string_value(json_object_get(jf, "name"));
        int ft = -1, tt = -1;
        for (int k = 0; k < sc->ntables; k++) {
            if (oids[k] == from)
                ft = k;
            if (oids[k] == to)
                tt = k;
        }
        size_t n = json_array_size(cols);
        if (ft < 0 || tt < 0 || !name || n == 0 || n != json_array_size(refs))
            continue; /* a key to a table outside the exposed schemas */
        KilnFk *fk = &sc->fks[sc->nfks];
        fk->from_cols = calloc(n, sizeof *fk->from_cols);
        fk->to_cols = calloc(n, sizeof *fk->to_cols);
        if (!fk->from_cols || !fk->to_cols)
            abort();
        bool good = true;
        for (size_t c = 0; c < n; c++) {
            fk->from_cols[c] = col_by_attnum(&sc->tables[ft],
                                             (int)json_integer_value(json_array_get(cols, c)));
            fk->to_cols[c] = col_by_attnum(&sc->tables[tt],
                                           (int)json_integer_value(json_array_get(refs, c)));
            good = good && fk->from_cols[c] >= 0 && fk->to_cols[c] >= 0;
        }
        if (!good) {
            free(fk->from_cols);
            free(fk->to_cols);
            continue;
        }
        fk->name = xstrdup(name);
        fk->from_table = ft;
        fk->to_table = tt;
        fk->ncols = (int)n;
        sc->nfks++;
    }
    json_t *funcs = json_object_get(root, "functions");
    if (ok && funcs)
        ok = load_functions(sc, funcs, oids);
    const char *postgis = json_string_value(json_object_get(root, "postgis"));
    if (ok && postgis)
        sc->postgis_schema = xstrdup(postgis);
    free(oids);
    json_decref(root);
    if (!ok) {
        cache_free(sc);
        kiln_error_set(err, 503, "PGRST002", "the schema cache query returned malformed data");
        return NULL;
    }
    return sc;
}

const KilnTable *schema_cache_table(const KilnSchemaCache *sc, const char *schema,
                                    const char *name, int *index)
{
    for (int i = 0; i < sc->ntables; i++) {
        if (strcmp(sc->tables[i].name, name) == 0 && strcmp(sc->tables[i].schema, schema) == 0) {
            if (index)
                *index = i;
            return &sc->tables[i];
        }
    }
    return NULL;
}

int schema_cache_column(const KilnTable *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return i;
    return -1;
}

void schema_cache_retain(KilnSchemaCache *sc)
{
    __atomic_add_fetch(&sc->refcount, 1, __ATOMIC_RELAXED);
}

void schema_cache_release(KilnSchemaCache *sc)
{
    if (sc && __atomic_sub_fetch(&sc->refcount, 1, __ATOMIC_ACQ_REL) == 0)
        cache_free(sc);
}

/* ---- holder and watcher ------------------------------------------------ */

struct KilnSchemaHolder {
    pthread_mutex_t lock;      /* guards cur */
    pthread_mutex_t conn_lock; /* guards conn (the watcher's connection) */
    KilnSchemaCache *cur;
    KilnConn *conn;
    char *conninfo;
    char *schemas_array; /* text[] literal of the exposed schemas */
    int connect_timeout_s;
    atomic_bool stopping;
    pthread_t thread;
};

/* Connects (if needed) and LISTENs; caller holds conn_lock. */
static bool ensure_conn(KilnSchemaHolder *h, KilnError *err)
{
    if (h->conn)
        return true;
    h->conn = pool_conn_open(h->conninfo, "kiln schema cache", h->connect_timeout_s, err);
    if (!h->conn)
        return false;
    bool broken = false;
    if (!tx_exec_scalar(h->conn, sql_listen_schema(), 0, NULL, NULL, &broken, err)) {
        pool_conn_close(h->conn);
        h->conn = NULL;
        return false;
    }
    return true;
}

bool schema_holder_reload(KilnSchemaHolder *h, KilnError *err)
{
    pthread_mutex_lock(&h->conn_lock);
    bool ok = ensure_conn(h, err);
    KilnBuf out = KILN_BUF_INIT;
    if (ok) {
        bool broken = false;
        const char *params[] = {h->schemas_array};
        ok = tx_exec_scalar(h->conn, sql_schema_query(), 1, params, &out, &broken, err);
        if (!ok && broken) {
            pool_conn_close(h->conn);
            h->conn = NULL;
        }
    }
    pthread_mutex_unlock(&h->conn_lock);
    KilnSchemaCache *sc = ok ? schema_cache_from_json(buf_str(&out), err) : NULL;
    buf_free(&out);
    if (!sc)
        return false;
    pthread_mutex_lock(&h->lock);
    KilnSchemaCache *old = h->cur;
    sc->generation = old ? old->generation + 1 : 1;
    h->cur = sc;
    pthread_mutex_unlock(&h->lock);
    schema_cache_release(old);
    char f[128];
    snprintf(f, sizeof f, "\"tables\":%d,\"foreign_keys\":%d,\"functions\":%d", sc->ntables,
             sc->nfks, sc->nfuncs);
    /* The load at start stays quiet (startup prints one line, `listening`,
     * or one error); reloads are worth an info line. */
    log_write(old ? KILN_LOG_INFO : KILN_LOG_DEBUG, old ? "schema cache reloaded" : "schema cache loaded", f);
    return true;
}

KilnSchemaCache *schema_holder_current(KilnSchemaHolder *h)
{
    pthread_mutex_lock(&h->lock);
    KilnSchemaCache *sc = h->cur;
    if (sc)
        schema_cache_retain(sc);
    pthread_mutex_unlock(&h->lock);
    return sc;
}

/* Notifications within this long of the last reload wait and share the
 * next one. */
#define RELOAD_INTERVAL_MS 100

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *watch_main(void *arg)
{
    KilnSchemaHolder *h = arg;
    int64_t last_reload_ms = 0;
    KilnSchemaCache *first = schema_holder_current(h);
    bool loaded = first != NULL;
    schema_cache_release(first);
    while (!atomic_load(&h->stopping)) {
        KilnError err = {0};
        if (!loaded) {
            loaded = schema_holder_reload(h, &err);
            if (!loaded) {
                log_kv(KILN_LOG_WARN, "schema cache load failed; retrying", "reason",
                       err.message);
                struct timespec ts = {1, 0};
                nanosleep(&ts, NULL);
                continue;
            }
        }
        /* The connection is only used by this thread and reload(), which
         * takes conn_lock; waiting happens without holding it so reload()
         * called from elsewhere is not blocked for long. */
        pthread_mutex_lock(&h->conn_lock);
        bool have = ensure_conn(h, &err);
        KilnConn *c = h->conn;
        pthread_mutex_unlock(&h->conn_lock);
        if (!have) {
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
            loaded = false; /* reconnected later: reload, DDL may have been missed */
            continue;
        }
        char payload[64];
        pthread_mutex_lock(&h->conn_lock);
        int r = tx_wait_notify(c, 500, payload, sizeof payload);
        bool reload = r > 0 && strcmp(payload, "reload schema") == 0;
        /* Bursts (DDL committed statement by statement) are folded: take
         * every notification already here, and reload at most once per
         * RELOAD_INTERVAL_MS, collecting what arrives until then. A lone
         * DDL reloads at once; one arriving during a reload is seen on the
         * next pass, so none is lost. */
        while (r > 0 && (r = tx_wait_notify(c, 0, payload, sizeof payload)) > 0)
            reload = reload || strcmp(payload, "reload schema") == 0;
        int64_t left;
        while (reload && r >= 0 && (left = last_reload_ms + RELOAD_INTERVAL_MS - now_ms()) > 0)
            r = tx_wait_notify(c, (int)left, payload, sizeof payload);
        if (r < 0) {
            pool_conn_close(h->conn);
            h->conn = NULL;
            loaded = false;
        }
        pthread_mutex_unlock(&h->conn_lock);
        if (reload && r >= 0) {
            last_reload_ms = now_ms();
            if (!schema_holder_reload(h, &err))
                log_kv(KILN_LOG_WARN, "schema cache reload failed; keeping the previous one",
                       "reason", err.message);
        }
    }
    return NULL;
}

KilnSchemaHolder *schema_holder_start(const char *conninfo, const char *schemas,
                                      int connect_timeout_s)
{
    KilnSchemaHolder *h = calloc(1, sizeof *h);
    if (!h)
        abort();
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->conn_lock, NULL);
    h->conninfo = xstrdup(conninfo);
    h->connect_timeout_s = connect_timeout_s;
    KilnBuf a = KILN_BUF_INIT;
    buf_putc(&a, '{');
    const char *s = schemas;
    bool first = true;
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        if (!*s)
            break;
        if (!first)
            buf_putc(&a, ',');
        first = false;
        buf_putc(&a, '"');
        while (*s && *s != ',') {
            if (*s == '"' || *s == '\\')
                buf_putc(&a, '\\');
            if (*s != ' ')
                buf_putc(&a, *s);
            s++;
        }
        buf_putc(&a, '"');
    }
    buf_putc(&a, '}');
    h->schemas_array = buf_take(&a);
    KilnError err = {0};
    if (!schema_holder_reload(h, &err))
        log_kv(KILN_LOG_WARN, "schema cache load failed; retrying", "reason", err.message);
    if (pthread_create(&h->thread, NULL, watch_main, h) != 0)
        abort();
    return h;
}

void schema_holder_free(KilnSchemaHolder *h)
{
    if (!h)
        return;
    atomic_store(&h->stopping, true);
    pthread_join(h->thread, NULL);
    pool_conn_close(h->conn);
    schema_cache_release(h->cur);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->conn_lock);
    free(h->conninfo);
    free(h->schemas_array);
    free(h);
}
