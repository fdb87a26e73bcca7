/*
 * dev.c: `kiln dev` and `kiln status`, the embedded development backend.
 *
 * dev_main owns the project directory (default ./.kiln): its lock, its
 * state.json, its secrets; it asks dev_cluster.c for the PostgreSQL side,
 * puts the database URL and the local CORS origins into a base config layer
 * under the user's file/env/flags, and hands over to serve_run; when that
 * returns it stops PostgreSQL. A first run that fails or is interrupted
 * removes everything it created. status_main only reads.
 *
 * User-facing output is plain text on stdout (banner, status) and one line
 * "kiln: <problem>; <fix>" on stderr per failure; never JSON logs, never a
 * secret in an error message. Single-threaded until serve_run.
 */
#include "dev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "config.h"
#include "dev_cluster.h"
#include "devkeys.h"
#include "serve.h"

#define DEV_DEFAULT_DIR   ".kiln"
#define DEV_CLUSTER_USER  "postgres" /* runs the cluster when kiln runs as root */
#define DEV_EXTERNAL_ROOT "/var/lib/kiln/dev"
#define DEV_STATE_VERSION 1
#define SECRET_MAX        512
#define SOCKET_NAME_MAX   15 /* "/.s.PGSQL.65535" */
/* Browser apps in development run on a local dev server (any port): they may
 * call the API cross-origin. A user's cors_allowed_origins replaces this. */
#define DEV_CORS_ORIGINS "http://localhost:*, http://127.0.0.1:*, http://[::1]:*"

/* ---- secrets ------------------------------------------------------------
 * One file each in DIR/secrets/ (dir 0700, files 0600, value + newline).
 * Columns: file name; minimum length of the value; required prefix (or
 * NULL); random characters generated after the prefix (0: derived, i.e. a
 * JWT signed with jwt_secret).
 */
enum { SEC_JWT, SEC_DB_PASSWORD, SEC_PUBLISHABLE, SEC_SECRET, SEC_ANON, SEC_SERVICE, SEC_COUNT };

typedef struct SecretSpec {
    const char *name;
    size_t min_len;
    const char *prefix;
    size_t random_chars;
} SecretSpec;

static const SecretSpec secret_specs[SEC_COUNT] = {
    [SEC_JWT] = {"jwt_secret", 32, NULL, 64},
    [SEC_DB_PASSWORD] = {"db_password", 16, NULL, 32},
    [SEC_PUBLISHABLE] = {"publishable_key", 15 + 16, "sb_publishable_", 32},
    [SEC_SECRET] = {"secret_key", 10 + 16, "sb_secret_", 32},
    [SEC_ANON] = {"anon_key", 32, "eyJ", 0},
    [SEC_SERVICE] = {"service_role_key", 32, "eyJ", 0},
};

/* ---- state.json ---------------------------------------------------------
 * {"kiln_dev":1, "initialized":bool, "cluster_home":"" (= DIR) or an
 *  absolute path, "cluster_user":name, "socket_dir":path, "pg_port":N,
 *  "api_port":N, "listen_address":ip}
 * initialized stays false until the first run completed: a directory left
 * by a first run killed with -9 is recognised and started over.
 */
typedef struct DevState {
    bool initialized;
    char cluster_home[PATH_MAX];
    char cluster_user[64];
    char socket_dir[PATH_MAX];
    int pg_port;
    int api_port;
    char listen_address[64];
} DevState;

typedef struct DevProject {
    char dir[PATH_MAX]; /* absolute */
    char hash[16];      /* 12 hex chars of SHA-256(dir) */
    int lock_fd;
    bool first_run;
    bool created_dir;        /* this run made DIR itself */
    bool created_home;       /* this run made an external cluster home */
    bool created_socket_dir; /* this run made a socket dir outside the home */
    bool cluster_known;      /* cluster.bindir/pgdata are set: stop is possible */
    DevState state;
    char secrets[SEC_COUNT][SECRET_MAX];
    KilnDevCluster cluster;
} DevProject;

/* ---- usage ---------------------------------------------------------------- */

static void dev_usage(FILE *out)
{
    fprintf(out, "Usage: kiln dev [--dir D] [--port P] [--reset] [serve flags...]\n"
                 "\n"
                 "Runs a complete Kiln backend for development: a private PostgreSQL cluster\n"
                 "with database kiln and the extension suite, generated secrets and keys, and\n"
                 "the API server. The first run sets everything up; later runs reuse it.\n"
                 "Ctrl-C or SIGTERM stops the server, then PostgreSQL.\n"
                 "\n"
                 "  --dir D      project directory (default ./.kiln); several directories\n"
                 "               can run side by side with different --port values\n"
                 "  --port P     HTTP port of the API (default 8000; same as serve's --port)\n"
                 "  --reset      delete the directory's data, secrets and cluster first, then\n"
                 "               set up anew\n"
                 "  --help       this text\n"
                 "\n"
                 "Any other flag is a serve setting (--KEY VALUE or --KEY=VALUE) and wins over\n"
                 "what kiln dev computes, as do KILN_* variables and --config FILE:\n");
    config_print_help(out, false);
    fprintf(out, "\nSee also: kiln status --help. Details: docs/dev.md.\n");
}

static void status_usage(FILE *out)
{
    fprintf(out, "Usage: kiln status [--dir D] [--json]\n"
                 "\n"
                 "Reports on a kiln dev directory: the API URL, the database URL, the\n"
                 "publishable and secret keys, the legacy JWT keys, and whether the API\n"
                 "and PostgreSQL are running.\n"
                 "\n"
                 "  --dir D   project directory (default ./.kiln)\n"
                 "  --json    print one JSON object: dir, api_url, db_url, publishable_key,\n"
                 "            secret_key, anon_key, service_role_key, running, db_running\n"
                 "  --help    this text\n"
                 "\n"
                 "Exit status: 0 when D is a kiln dev directory, 1 otherwise, 2 on bad flags.\n");
}

/* ---- small helpers -------------------------------------------------------- */

static void wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}

static bool join(char *out, size_t len, const char *a, const char *b)
{
    int n = snprintf(out, len, "%s/%s", a, b);
    return n > 0 && (size_t)n < len;
}

/* Takes a --NAME VALUE or --NAME=VALUE flag at argv[*i]; false when argv[*i]
 * is not that flag. *value is NULL when the value is missing. */
static bool take_flag(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return false;
    if (a[n] == '=') {
        *value = a + n + 1;
        return true;
    }
    if (a[n] != '\0')
        return false;
    *value = (*i + 1 < argc) ? argv[++*i] : NULL;
    return true;
}

/* Makes dir absolute. An existing dir is resolved with realpath; a missing
 * one must have an existing parent (kiln dev creates only the last part). */
static bool resolve_dir(const char *dir, char *out, KilnError *err)
{
    if (!dir[0])
        return kiln_error_set(err, 0, "usage", "--dir is empty; pass a directory");
    if (realpath(dir, out))
        return true;
    if (errno != ENOENT)
        return kiln_error_set(err, 0, "dev", "cannot resolve %s: %s; choose another --dir", dir,
                              strerror(errno));
    char copy[PATH_MAX], copy2[PATH_MAX], parent[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", dir);
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    snprintf(copy2, sizeof copy2, "%s", copy);
    const char *base = basename(copy2);
    if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(base, "/"))
        return kiln_error_set(err, 0, "dev", "cannot use %s as a directory; choose another --dir",
                              dir);
    if (!realpath(dirname(copy), parent))
        return kiln_error_set(err, 0, "dev",
                              "cannot create %s: its parent directory does not exist; create it "
                              "first or choose another --dir",
                              dir);
    int w = strcmp(parent, "/") == 0 ? snprintf(out, PATH_MAX, "/%s", base)
                                     : snprintf(out, PATH_MAX, "%s/%s", parent, base);
    if (w < 0 || w >= PATH_MAX)
        return kiln_error_set(err, 0, "dev", "path %s is too long; choose a shorter --dir", dir);
    return true;
}

/* pg_ctl passes the data directory and log path through /bin/sh inside
 * double quotes; refuse characters that would be interpreted there. */
static bool check_path_chars(const char *path, KilnError *err)
{
    for (const char *c = path; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f || strchr("\"$`\\", *c))
            return kiln_error_set(err, 0, "dev",
                                  "the path %s contains a character PostgreSQL's tools cannot "
                                  "handle (\", $, `, \\ or a control character); choose another "
                                  "--dir",
                                  path);
    }
    if (strlen(path) > PATH_MAX - 64)
        return kiln_error_set(err, 0, "dev", "the path %s is too long; choose a shorter --dir",
                              path);
    return true;
}

static void hash_dir(const char *dir, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(dir, strlen(dir), md, &mdlen, EVP_sha256(), NULL) || mdlen < 6) {
        snprintf(out, 13, "000000000000");
        return;
    }
    for (int i = 0; i < 6; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* True when dir has no entries besides dev.lock. */
static bool dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    struct dirent *de;
    bool empty = true;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "dev.lock")) {
            empty = false;
            break;
        }
    }
    closedir(d);
    return empty;
}

/* Removes every entry of dir except dev.lock (which we hold); state.json
 * goes last, so a failure half-way still leaves a recognisable kiln dir. */
static bool empty_dir(const char *dir, KilnError *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return kiln_error_set(err, 0, "dev", "cannot list %s: %s; check its permissions", dir,
                              strerror(errno));
    struct dirent *de;
    bool ok = true;
    while (ok && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            !strcmp(de->d_name, "dev.lock") || !strcmp(de->d_name, "state.json"))
            continue;
        char p[PATH_MAX];
        if (join(p, sizeof p, dir, de->d_name))
            ok = dev_fs_remove_tree(p, err);
    }
    closedir(d);
    char state[PATH_MAX];
    if (ok && join(state, sizeof state, dir, "state.json"))
        ok = dev_fs_remove_tree(state, err);
    return ok;
}

/* ---- state.json ----------------------------------------------------------- */

static void state_path(const DevProject *p, char *out)
{
    if (!join(out, PATH_MAX, p->dir, "state.json"))
        out[0] = '\0';
}

/* Reads DIR/state.json. *missing tells a missing file apart from a bad one. */
static bool state_read(const char *dir, DevState *st, bool *missing, KilnError *err)
{
    char path[PATH_MAX];
    memset(st, 0, sizeof *st);
    *missing = false;
    if (!join(path, sizeof path, dir, "state.json"))
        return kiln_error_set(err, 0, "dev", "path %s is too long; choose a shorter --dir", dir);
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        *missing = true;
        return kiln_error_set(err, 0, "dev",
                              "%s is not a kiln dev directory (no state.json); run kiln dev "
                              "there first or pass --dir",
                              dir);
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        if (access(path, R_OK) != 0)
            return kiln_error_set(err, 0, "dev",
                                  "cannot read %s: %s; run kiln as the user that owns %s", path,
                                  strerror(errno), dir);
        return kiln_error_set(err, 0, "dev", "%s is damaged (%s); start over with kiln dev --reset",
                              path, jerr.text);
    }
    json_t *ver = json_object_get(root, "kiln_dev");
    if (!json_is_integer(ver) || json_integer_value(ver) != DEV_STATE_VERSION) {
        json_decref(root);
        return kiln_error_set(err, 0, "dev",
                              "%s was written by another version of kiln dev; start over with "
                              "kiln dev --reset",
                              path);
    }
    st->initialized = json_is_true(json_object_get(root, "initialized"));
    const char *s;
    if ((s = json_string_value(json_object_get(root, "cluster_home"))))
        snprintf(st->cluster_home, sizeof st->cluster_home, "%s", s);
    if ((s = json_string_value(json_object_get(root, "cluster_user"))))
        snprintf(st->cluster_user, sizeof st->cluster_user, "%s", s);
    if ((s = json_string_value(json_object_get(root, "socket_dir"))))
        snprintf(st->socket_dir, sizeof st->socket_dir, "%s", s);
    if ((s = json_string_value(json_object_get(root, "listen_address"))))
        snprintf(st->listen_address, sizeof st->listen_address, "%s", s);
    st->pg_port = (int)json_integer_value(json_object_get(root, "pg_port"));
    st->api_port = (int)json_integer_value(json_object_get(root, "api_port"));
    json_decref(root);
    if (st->cluster_home[0] && st->cluster_home[0] != '/')
        return kiln_error_set(err, 0, "dev",
                              "%s names a relative cluster_home; start over with kiln dev --reset",
                              path);
    return true;
}

static bool state_write(const DevProject *p, KilnError *err)
{
    const DevState *st = &p->state;
    json_t *root =
        json_pack("{s:i, s:b, s:s, s:s, s:s, s:i, s:i, s:s}", "kiln_dev", DEV_STATE_VERSION,
                  "initialized", st->initialized, "cluster_home", st->cluster_home, "cluster_user",
                  st->cluster_user, "socket_dir", st->socket_dir, "pg_port", st->pg_port,
                  "api_port", st->api_port, "listen_address", st->listen_address);
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (!text)
        return kiln_error_set(err, 0, "dev", "out of memory writing state.json; free some memory");
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return kiln_error_set(err, 0, "dev", "out of memory writing state.json; free some memory");
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    char path[PATH_MAX];
    state_path(p, path);
    bool ok = dev_fs_write_atomic(path, line, n + 1, 0600, NULL, err);
    free(line);
    return ok;
}

/* ---- secrets -------------------------------------------------------------- */

static bool secrets_generate(DevProject *p, KilnError *err)
{
    for (int i = 0; i < SEC_COUNT; i++) {
        const SecretSpec *sp = &secret_specs[i];
        if (!sp->random_chars)
            continue;
        size_t plen = sp->prefix ? strlen(sp->prefix) : 0;
        memcpy(p->secrets[i], sp->prefix ? sp->prefix : "", plen);
        if (!devkeys_random_token(p->secrets[i] + plen, sp->random_chars, err))
            return false;
    }
    time_t now = time(NULL);
    char *anon = NULL, *service = NULL;
    if (!devkeys_legacy_key("anon", p->secrets[SEC_JWT], now, &anon, err) ||
        !devkeys_legacy_key("service_role", p->secrets[SEC_JWT], now, &service, err)) {
        free(anon);
        return false;
    }
    snprintf(p->secrets[SEC_ANON], SECRET_MAX, "%s", anon);
    snprintf(p->secrets[SEC_SERVICE], SECRET_MAX, "%s", service);
    free(anon);
    free(service);

    char dir[PATH_MAX];
    if (!join(dir, sizeof dir, p->dir, "secrets"))
        return kiln_error_set(err, 0, "dev", "path %s is too long; choose a shorter --dir", p->dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return kiln_error_set(err, 0, "dev", "cannot create %s: %s; check the permissions of %s",
                              dir, strerror(errno), p->dir);
    if (chmod(dir, 0700) != 0)
        return kiln_error_set(err, 0, "dev", "cannot chmod 700 %s: %s; check it", dir,
                              strerror(errno));
    for (int i = 0; i < SEC_COUNT; i++) {
        char path[PATH_MAX], line[SECRET_MAX + 1];
        if (!join(path, sizeof path, dir, secret_specs[i].name))
            return kiln_error_set(err, 0, "dev", "path %s is too long; choose a shorter --dir",
                                  dir);
        int n = snprintf(line, sizeof line, "%s\n", p->secrets[i]);
        bool ok = dev_fs_write_atomic(path, line, (size_t)n, 0600, NULL, err);
        wipe(line, sizeof line);
        if (!ok)
            return false;
    }
    return true;
}

/* Reads one secret file. strict: it must be a regular file of ours, not
 * readable by group/others, long enough and well-formed (kiln dev refuses
 * to start otherwise); lenient (status): *value is "" when unreadable. */
static bool secret_read(const char *dir, const SecretSpec *sp, bool strict, char *value,
                        KilnError *err)
{
    char path[PATH_MAX];
    value[0] = '\0';
    if (!join(path, sizeof path, dir, sp->name))
        return kiln_error_set(err, 0, "dev", "path %s is too long; choose a shorter --dir", dir);
    const char *fix = "restore it or start over with kiln dev --reset";
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return kiln_error_set(err, 0, "dev", "secret file %s is missing; %s", path, fix);
        if (errno == ELOOP)
            return kiln_error_set(err, 0, "dev", "secret file %s is a symbolic link; %s", path,
                                  fix);
        return kiln_error_set(err, 0, "dev", "cannot read secret file %s: %s; %s", path,
                              strerror(errno), fix);
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return kiln_error_set(err, 0, "dev", "secret file %s is not a regular file; %s", path, fix);
    }
    if (strict && st.st_uid != geteuid()) {
        char who[64];
        close(fd);
        return kiln_error_set(err, 0, "dev",
                              "secret file %s belongs to user %s; chown it to yourself or start "
                              "over with kiln dev --reset",
                              path, dev_user_name(st.st_uid, who, sizeof who));
    }
    if (strict && (st.st_mode & 077)) {
        close(fd);
        return kiln_error_set(err, 0, "dev",
                              "secret file %s is readable by other users (mode %03o); run chmod "
                              "600 %s",
                              path, (unsigned)(st.st_mode & 0777), path);
    }
    char buf[SECRET_MAX + 2];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return kiln_error_set(err, 0, "dev", "cannot read secret file %s: %s; %s", path,
                              strerror(errno), fix);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    bool ok = true;
    if ((size_t)n >= SECRET_MAX)
        ok = kiln_error_set(err, 0, "dev", "secret file %s is too long (over %d characters); %s",
                            path, SECRET_MAX - 1, fix);
    else if ((size_t)n < sp->min_len)
        ok = kiln_error_set(err, 0, "dev",
                            "secret file %s is too short (%zd characters, at least %zu needed); "
                            "%s",
                            path, n, sp->min_len, fix);
    else if (sp->prefix && strncmp(buf, sp->prefix, strlen(sp->prefix)) != 0)
        ok = kiln_error_set(err, 0, "dev", "secret file %s does not start with %s; %s", path,
                            sp->prefix, fix);
    for (ssize_t i = 0; ok && i < n; i++)
        if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f)
            ok = kiln_error_set(err, 0, "dev",
                                "secret file %s holds a space or a non-printable character; %s",
                                path, fix);
    if (ok)
        memcpy(value, buf, (size_t)n + 1);
    wipe(buf, sizeof buf);
    return ok;
}

static bool secrets_load(DevProject *p, bool strict, KilnError *err)
{
    char dir[PATH_MAX];
    if (!join(dir, sizeof dir, p->dir, "secrets"))
        return kiln_error_set(err, 0, "dev", "path %s is too long; choose a shorter --dir", p->dir);
    if (strict) {
        struct stat st;
        if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return kiln_error_set(err, 0, "dev",
                                  "secret directory %s is missing; restore it or start over with "
                                  "kiln dev --reset",
                                  dir);
        if (st.st_mode & 077)
            return kiln_error_set(err, 0, "dev",
                                  "secret directory %s is open to other users (mode %03o); run "
                                  "chmod 700 %s",
                                  dir, (unsigned)(st.st_mode & 0777), dir);
    }
    for (int i = 0; i < SEC_COUNT; i++) {
        KilnError ignored;
        if (!secret_read(dir, &secret_specs[i], strict, p->secrets[i], strict ? err : &ignored) &&
            strict)
            return false;
    }
    return true;
}

static void secrets_wipe(DevProject *p)
{
    for (int i = 0; i < SEC_COUNT; i++)
        wipe(p->secrets[i], sizeof p->secrets[i]);
}

/* ---- URLs ----------------------------------------------------------------- */

/* postgresql://postgres:PW@127.0.0.1:PORT/kiln, PW percent-encoded. */
static void db_url_tcp(const char *password, int port, char *out, size_t len)
{
    char pw[3 * SECRET_MAX];
    size_t o = 0;
    for (const char *c = password; *c && o + 4 < sizeof pw; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~", *c))
            pw[o++] = *c;
        else
            o += (size_t)snprintf(pw + o, 4, "%%%02X", (unsigned char)*c);
    }
    pw[o] = '\0';
    snprintf(out, len, "postgresql://postgres:%s@127.0.0.1:%d/kiln", pw, port);
    wipe(pw, sizeof pw);
}

/* host=SOCKDIR port=PORT dbname=kiln user=postgres; the host value quoted
 * when it needs to be (libpq conninfo rules). */
static void db_url_socket(const char *sockdir, int port, char *out, size_t len)
{
    bool plain = sockdir[0] && strcspn(sockdir, " '\\\t") == strlen(sockdir);
    if (plain) {
        snprintf(out, len, "host=%s port=%d dbname=kiln user=postgres", sockdir, port);
        return;
    }
    char q[2 * PATH_MAX];
    size_t o = 0;
    for (const char *c = sockdir; *c && o + 3 < sizeof q; c++) {
        if (*c == '\'' || *c == '\\')
            q[o++] = '\\';
        q[o++] = *c;
    }
    q[o] = '\0';
    snprintf(out, len, "host='%s' port=%d dbname=kiln user=postgres", q, port);
}

/* ---- the cluster's place ------------------------------------------------ */

/* The socket directory for this start: HOME/run when the socket path fits
 * in sun_path, else /tmp/kiln-HASH. */
static void choose_socket_dir(DevProject *p)
{
    KilnDevCluster *c = &p->cluster;
    char run[PATH_MAX];
    if (join(run, sizeof run, c->home, "run") &&
        strlen(run) + SOCKET_NAME_MAX <= KILN_DEV_SOCKET_PATH_MAX)
        snprintf(c->socket_dir, sizeof c->socket_dir, "%s", run);
    else
        snprintf(c->socket_dir, sizeof c->socket_dir, "/tmp/kiln-%s", p->hash);
}

static bool socket_dir_is_home_run(const DevProject *p)
{
    char run[PATH_MAX];
    return join(run, sizeof run, p->cluster.home, "run") && !strcmp(run, p->cluster.socket_dir);
}

static bool mkdir_root(const char *path, KilnError *err)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return true;
    return kiln_error_set(err, 0, "dev", "cannot create %s: %s; check its parent", path,
                          strerror(errno));
}

/* First run: decides where the cluster lives (DIR, or as root when the
 * cluster user cannot reach DIR, /var/lib/kiln/dev/HASH) and creates it. */
static bool place_cluster(DevProject *p, KilnError *err)
{
    KilnDevCluster *c = &p->cluster;
    p->state.cluster_home[0] = '\0';
    dev_cluster_set_home(c, p->dir);
    if (!c->switch_user) {
        return chmod(p->dir, 0700) == 0 ||
               kiln_error_set(err, 0, "dev", "cannot chmod 700 %s: %s; check it", p->dir,
                              strerror(errno));
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", p->dir);
    char *slash = strrchr(parent, '/');
    if (slash == parent)
        parent[1] = '\0';
    else if (slash)
        *slash = '\0';
    if (dev_cluster_user_can_reach(c, parent)) {
        /* DIR 0711: the cluster user may pass through it to its own
         * directories; secrets/ and state.json stay private. */
        if (chmod(p->dir, 0711) != 0)
            return kiln_error_set(err, 0, "dev", "cannot chmod 711 %s: %s; check it", p->dir,
                                  strerror(errno));
        return true;
    }

    if (chmod(p->dir, 0700) != 0)
        return kiln_error_set(err, 0, "dev", "cannot chmod 700 %s: %s; check it", p->dir,
                              strerror(errno));
    if (!mkdir_root("/var/lib/kiln", err) || !mkdir_root(DEV_EXTERNAL_ROOT, err))
        return false;
    char home[PATH_MAX];
    snprintf(home, sizeof home, "%s/%s", DEV_EXTERNAL_ROOT, p->hash);
    char pgdata[PATH_MAX];
    long pid;
    if (join(pgdata, sizeof pgdata, home, "pgdata") &&
        dev_cluster_running(pgdata, &pid, NULL, NULL))
        return kiln_error_set(err, 0, "dev",
                              "an earlier cluster for %s is still running in %s (pid %ld); stop "
                              "it with runuser -u %s -- %s/pg_ctl stop -D %s, then run kiln dev "
                              "again",
                              p->dir, home, pid, c->user, c->bindir, pgdata);
    if (access(home, F_OK) == 0) {
        fprintf(stderr, "kiln: note: removing %s, left over from an earlier %s\n", home, p->dir);
        if (!dev_fs_remove_tree(home, err))
            return false;
    }
    if (!dev_cluster_make_dir(c, home, &p->created_home, err))
        return false;
    snprintf(p->state.cluster_home, sizeof p->state.cluster_home, "%s", home);
    dev_cluster_set_home(c, home);
    return true;
}

/* Sets the cluster's home from state (later runs and --reset). */
static void cluster_home_from_state(DevProject *p)
{
    dev_cluster_set_home(&p->cluster, p->state.cluster_home[0] ? p->state.cluster_home : p->dir);
}

/* ---- lifecycle ------------------------------------------------------------ */

static bool lock_project(DevProject *p, KilnError *err)
{
    char path[PATH_MAX];
    if (!join(path, sizeof path, p->dir, "dev.lock"))
        return kiln_error_set(err, 0, "dev", "path %s is too long; choose a shorter --dir", p->dir);
    p->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (p->lock_fd < 0)
        return kiln_error_set(err, 0, "dev", "cannot open %s: %s; check the permissions of %s",
                              path, strerror(errno), p->dir);
    if (flock(p->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(p->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        return kiln_error_set(err, 0, "dev",
                              "%s is in use by another kiln dev%s%s%s; stop that one first or "
                              "choose another --dir",
                              p->dir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(p->lock_fd, 0) != 0 || pwrite(p->lock_fd, pid, (size_t)n, 0) != n)
        return kiln_error_set(err, 0, "dev", "cannot write %s: %s; check the disk", path,
                              strerror(errno));
    return true;
}

/* A SIGINT/SIGTERM is waiting (or was forwarded to a tool): setup stops. */
static bool check_interrupt(DevProject *p, KilnError *err)
{
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    if (p->cluster.interrupted || sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM)) {
        p->cluster.interrupted = true;
        return kiln_error_set(err, 0, "interrupted",
                              "interrupted before the server started; run kiln dev again");
    }
    return true;
}

/* --reset, or an unfinished first run: stop the old cluster, remove its
 * external home and socket directory, empty DIR (keeping our lock). */
static bool reset_project(DevProject *p, KilnError *err)
{
    KilnDevCluster *c = &p->cluster;
    /* As root the cluster may live in DEV_EXTERNAL_ROOT/HASH even when
     * state.json is damaged: stop and remove that one too. */
    char ext[PATH_MAX];
    snprintf(ext, sizeof ext, "%s/%s", DEV_EXTERNAL_ROOT, p->hash);
    if (c->switch_user && strcmp(ext, p->state.cluster_home) != 0 && access(ext, F_OK) == 0) {
        dev_cluster_set_home(c, ext);
        if (!dev_cluster_stop(c, err) || !dev_fs_remove_tree(ext, err))
            return false;
    }
    cluster_home_from_state(p);
    p->cluster_known = true;
    if (!dev_cluster_stop(c, err))
        return false;
    if (p->state.cluster_home[0]) {
        if (strncmp(p->state.cluster_home, DEV_EXTERNAL_ROOT "/", strlen(DEV_EXTERNAL_ROOT) + 1))
            return kiln_error_set(err, 0, "dev",
                                  "state.json names an unexpected cluster home %s; remove it by "
                                  "hand, then remove %s",
                                  p->state.cluster_home, p->dir);
        if (!dev_fs_remove_tree(p->state.cluster_home, err))
            return false;
    }
    char tmp_sock[PATH_MAX];
    snprintf(tmp_sock, sizeof tmp_sock, "/tmp/kiln-%s", p->hash);
    struct stat st;
    if (lstat(tmp_sock, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == c->uid &&
        !dev_fs_remove_tree(tmp_sock, err))
        return false;
    if (!empty_dir(p->dir, err))
        return false;
    memset(&p->state, 0, sizeof p->state);
    return true;
}

/* After a failed or interrupted first run: remove what this run created. */
static void undo_first_run(DevProject *p)
{
    KilnError ignored;
    if (p->cluster_known && !dev_cluster_stop(&p->cluster, &ignored))
        fprintf(stderr, "kiln: %s\n", ignored.message);
    if (p->created_socket_dir)
        dev_fs_remove_tree(p->cluster.socket_dir, NULL);
    if (p->created_home)
        dev_fs_remove_tree(p->cluster.home, NULL);
    if (p->created_dir)
        dev_fs_remove_tree(p->dir, NULL);
    else
        empty_dir(p->dir, &ignored);
    if (p->lock_fd >= 0) {
        char lock[PATH_MAX];
        if (join(lock, sizeof lock, p->dir, "dev.lock") && !p->created_dir)
            unlink(lock);
    }
}

static bool first_run(DevProject *p, KilnError *err)
{
    p->state.initialized = false;
    snprintf(p->state.cluster_user, sizeof p->state.cluster_user, "%s", p->cluster.user);
    if (!state_write(p, err)) /* marks DIR as ours before anything else */
        return false;
    if (!place_cluster(p, err) || !state_write(p, err) || !secrets_generate(p, err) ||
        !check_interrupt(p, err))
        return false;
    p->cluster_known = true;
    printf("Setting up %s (first run): PostgreSQL cluster in %s\n", p->dir, p->cluster.home);
    fflush(stdout);
    if (!dev_cluster_initdb(&p->cluster, p->secrets[SEC_DB_PASSWORD], err) ||
        !dev_cluster_master_key(&p->cluster, true, err))
        return false;
    return check_interrupt(p, err);
}

static bool later_run(DevProject *p, KilnError *err)
{
    KilnDevCluster *c = &p->cluster;
    if (c->switch_user && strcmp(p->state.cluster_user, c->user) != 0)
        return kiln_error_set(err, 0, "dev",
                              "%s was set up for cluster user %s, not %s; start over with kiln "
                              "dev --reset",
                              p->dir, p->state.cluster_user[0] ? p->state.cluster_user : "?",
                              c->user);
    if (!secrets_load(p, true, err))
        return false;
    cluster_home_from_state(p);
    p->cluster_known = true;
    if (!dev_cluster_master_key(c, false, err))
        return false;
    char version[PATH_MAX];
    if (!join(version, sizeof version, c->pgdata, "PG_VERSION") || access(version, F_OK) != 0)
        return kiln_error_set(err, 0, "dev",
                              "the database cluster %s is missing; restore it or start over with "
                              "kiln dev --reset",
                              c->pgdata);
    if (c->switch_user && !dev_cluster_user_can_reach(c, c->pgdata))
        return kiln_error_set(err, 0, "dev",
                              "user %s cannot reach %s; allow it to pass through (chmod o+x) %s "
                              "and its parents, or start over with kiln dev --reset",
                              c->user, c->pgdata, p->dir);
    return true;
}

/* Starts (or adopts an already running) cluster and prepares database kiln. */
static bool bring_up(DevProject *p, KilnError *err)
{
    KilnDevCluster *c = &p->cluster;
    long pid;
    int port;
    char sock[PATH_MAX];
    if (dev_cluster_running(c->pgdata, &pid, &port, sock)) {
        /* Left by a kiln dev that was killed: take it over. */
        if (sock[0])
            snprintf(c->socket_dir, sizeof c->socket_dir, "%.*s", (int)strcspn(sock, ","), sock);
        else
            choose_socket_dir(p);
        c->port = port;
        fprintf(stderr,
                "kiln: note: reusing the PostgreSQL server already running in %s (pid %ld)\n",
                c->pgdata, pid);
        if (!dev_cluster_wait_ready(c, 60, err))
            return false;
    } else {
        choose_socket_dir(p);
        bool created = false;
        if (!dev_cluster_make_dir(c, c->socket_dir, &created, err))
            return false;
        if (created && !socket_dir_is_home_run(p))
            p->created_socket_dir = true;
        if (!dev_cluster_start(c, p->state.pg_port, err))
            return false;
    }
    KilnDevKeys keys = {p->secrets[SEC_JWT], p->secrets[SEC_PUBLISHABLE], p->secrets[SEC_SECRET]};
    if (!check_interrupt(p, err) || !dev_cluster_prepare_db(c, &keys, err) ||
        !check_interrupt(p, err))
        return false;
    p->state.pg_port = c->port;
    snprintf(p->state.socket_dir, sizeof p->state.socket_dir, "%s", c->socket_dir);
    return true;
}

/* Everything before serving: validate or create DIR, lock it, set up or
 * check it, start PostgreSQL, prepare the database. On failure the cluster
 * is stopped and a first run leaves nothing behind. */
static bool project_up(DevProject *p, const char *dir, bool reset, KilnError *err)
{
    if (!resolve_dir(dir, p->dir, err) || !check_path_chars(p->dir, err))
        return false;
    hash_dir(p->dir, p->hash);
    if (!dev_cluster_find_bindir(p->cluster.bindir, sizeof p->cluster.bindir, err) ||
        !dev_cluster_set_user(&p->cluster, DEV_CLUSTER_USER, err))
        return false;

    struct stat st;
    bool exists = lstat(p->dir, &st) == 0;
    bool kiln_dir = false;
    if (exists) {
        if (!S_ISDIR(st.st_mode))
            return kiln_error_set(err, 0, "dev",
                                  "%s exists and is not a directory; choose another "
                                  "--dir",
                                  p->dir);
        if (st.st_uid != geteuid()) {
            char who[64];
            dev_user_name(st.st_uid, who, sizeof who);
            return kiln_error_set(err, 0, "dev",
                                  "%s belongs to user %s; run kiln dev as %s or choose another "
                                  "--dir",
                                  p->dir, who, who);
        }
        char sp[PATH_MAX];
        state_path(p, sp);
        kiln_dir = access(sp, F_OK) == 0;
        if (!kiln_dir && !dir_is_empty(p->dir))
            return kiln_error_set(err, 0, "dev",
                                  "%s is not empty and is not a kiln dev directory (no "
                                  "state.json); choose another --dir",
                                  p->dir);
    } else {
        if (mkdir(p->dir, 0700) != 0)
            return kiln_error_set(err, 0, "dev", "cannot create %s: %s; choose another --dir",
                                  p->dir, strerror(errno));
        p->created_dir = true;
    }
    if (!lock_project(p, err)) {
        if (p->created_dir)
            dev_fs_remove_tree(p->dir, NULL);
        return false;
    }

    p->first_run = !kiln_dir;
    if (kiln_dir) {
        bool missing;
        KilnError serr;
        bool readable = state_read(p->dir, &p->state, &missing, &serr);
        if (!readable && !reset)
            return kiln_error_set(err, 0, "dev", "%s", serr.message);
        if (reset || !p->state.initialized) {
            if (!reset)
                fprintf(stderr, "kiln: note: the first setup of %s did not finish; starting over\n",
                        p->dir);
            if (!readable)
                memset(&p->state, 0, sizeof p->state);
            if (!reset_project(p, err))
                return false;
            p->first_run = true;
            p->cluster_known = false;
        }
    }

    bool ok = p->first_run ? first_run(p, err) : later_run(p, err);
    if (ok)
        ok = bring_up(p, err);
    if (ok) {
        p->state.initialized = true;
        ok = state_write(p, err);
    }
    if (ok)
        return true;
    if (p->first_run) {
        undo_first_run(p);
    } else if (p->cluster_known) {
        KilnError serr;
        if (!dev_cluster_stop(&p->cluster, &serr))
            fprintf(stderr, "kiln: %s\n", serr.message);
    }
    return false;
}

static void print_banner(const DevProject *p, const KilnConfig *cfg)
{
    char url[PATH_MAX];
    db_url_tcp(p->secrets[SEC_DB_PASSWORD], p->cluster.port, url, sizeof url);
    printf("Kiln is running.\n"
           "  API URL:          http://localhost:%d\n"
           "  Database URL:     %s\n"
           "  Publishable key:  %s\n"
           "  Secret key:       %s\n"
           "  anon key (JWT):   %s\n"
           "  service_role key: %s\n"
           "  Directory:        %s\n"
           "Press Ctrl-C to stop.\n",
           cfg->port, url, p->secrets[SEC_PUBLISHABLE], p->secrets[SEC_SECRET],
           p->secrets[SEC_ANON], p->secrets[SEC_SERVICE], p->dir);
    fflush(stdout);
    wipe(url, sizeof url);
}

/* Stops the cluster at the end; returns rc, or 1 when rc was 0 and the
 * stop failed. */
static int stop_and_exit(DevProject *p, int rc)
{
    KilnError err;
    if (p->cluster_known && !dev_cluster_stop(&p->cluster, &err)) {
        fprintf(stderr, "kiln: %s\n", err.message);
        if (rc == 0)
            rc = 1;
    }
    return rc;
}

int dev_main(int argc, char **argv)
{
    /* Before anything: signals stay pending until serve_run waits for them,
     * or until a setup step notices them. */
    serve_block_signals();

    const char *dir = DEV_DEFAULT_DIR;
    bool reset = false;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) {
        fprintf(stderr, "kiln: out of memory; free some memory\n");
        return 1;
    }
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            dev_usage(stdout);
            free(rest);
            return 0;
        }
        if (take_flag(argc, argv, &i, "--dir", &v)) {
            if (!v || !v[0]) {
                fprintf(stderr, "kiln: --dir needs a directory; e.g. kiln dev --dir .kiln\n");
                free(rest);
                return 2;
            }
            dir = v;
        } else if (!strcmp(argv[i], "--reset")) {
            reset = true;
        } else {
            /* A serve flag, with its value when that is a separate word. */
            rest[nrest++] = argv[i];
            if (!strncmp(argv[i], "--", 2) && !strchr(argv[i], '=') && i + 1 < argc &&
                strncmp(argv[i + 1], "--", 2) != 0)
                rest[nrest++] = argv[++i];
        }
    }

    KilnError err = {0};
    KilnConfigLayer flags = {0}, base = {0};
    KilnConfig *probe = NULL, *cfg = NULL;
    if (!config_layer_parse_args(&flags, nrest, rest, &err) ||
        !config_load(NULL, &flags, false, &probe, &err)) {
        free(rest);
        fprintf(stderr, "kiln: %s\n", err.message);
        config_layer_free(&flags);
        return 2;
    }
    free(rest);
    if (!dev_port_free(probe->listen_address, probe->port)) {
        fprintf(stderr,
                "kiln: port %d on %s is already in use; stop what uses it or choose another "
                "port with kiln dev --port P\n",
                probe->port, probe->listen_address);
        config_release(probe);
        config_layer_free(&flags);
        return 1;
    }
    config_release(probe);

    DevProject *p = calloc(1, sizeof *p);
    if (!p) {
        fprintf(stderr, "kiln: out of memory; free some memory\n");
        config_layer_free(&flags);
        return 1;
    }
    p->lock_fd = -1;
    int rc = 1;
    if (!project_up(p, dir, reset, &err)) {
        fprintf(stderr, "kiln: %s\n", err.message);
        goto out;
    }

    char dburl[2 * PATH_MAX + 64];
    db_url_socket(p->cluster.socket_dir, p->cluster.port, dburl, sizeof dburl);
    if (!config_layer_set(&base, "db_url", dburl, &err) ||
        !config_layer_set(&base, "cors_allowed_origins", DEV_CORS_ORIGINS, &err) ||
        /* Local development as local Supabase has it: new addresses count
         * as confirmed, anonymous sign-in on, the rate limits on at their
         * defaults but a mail per address every second rather than every
         * minute (its max_frequency = "1s"); flags and the file still win. */
        !config_layer_set(&base, "auth_autoconfirm", "true", &err) ||
        !config_layer_set(&base, "auth_anonymous_enabled", "true", &err) ||
        /* Phone sign-in with codes kept in the outbox (`kiln sms`), numbers
         * confirmed at sign-up, as local Supabase. */
        !config_layer_set(&base, "sms_provider", "outbox", &err) ||
        !config_layer_set(&base, "auth_phone_autoconfirm", "true", &err) ||
        !config_layer_set(&base, "auth_email_min_interval_s", "1", &err) ||
        !config_layer_set(&base, "auth_sms_min_interval_s", "1", &err) ||
        !config_load(&base, &flags, true, &cfg, &err)) {
        fprintf(stderr, "kiln: %s\n", err.message);
        rc = stop_and_exit(p, 2);
        goto out;
    }
    p->state.api_port = cfg->port;
    snprintf(p->state.listen_address, sizeof p->state.listen_address, "%s", cfg->listen_address);
    if (!state_write(p, &err) || !check_interrupt(p, &err)) {
        fprintf(stderr, "kiln: %s\n", err.message);
        config_release(cfg);
        rc = stop_and_exit(p, 1);
        goto out;
    }
    print_banner(p, cfg);
    rc = serve_run(cfg, &base, &flags); /* takes cfg */
    rc = stop_and_exit(p, rc);

out:
    if (p->lock_fd >= 0)
        close(p->lock_fd);
    secrets_wipe(p);
    free(p);
    config_layer_free(&base);
    config_layer_free(&flags);
    return rc;
}

/* ---- status --------------------------------------------------------------- */

/* True when something accepts TCP connections on addr:port (1 s timeout).
 * Wildcard listen addresses are probed on loopback. */
static bool tcp_answers(const char *addr, int port)
{
    if (!addr[0] || !strcmp(addr, "0.0.0.0"))
        addr = "127.0.0.1";
    else if (!strcmp(addr, "::"))
        addr = "::1";
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (port <= 0 || getaddrinfo(addr, service, &hints, &ai) != 0 || !ai)
        return false;
    bool ok = false;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0) {
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            ok = true;
        } else if (errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            ok = poll(&pfd, 1, 1000) == 1 &&
                 getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0;
        }
        close(fd);
    }
    freeaddrinfo(ai);
    return ok;
}

int status_main(int argc, char **argv)
{
    const char *dir = DEV_DEFAULT_DIR;
    bool as_json = false;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            status_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else if (take_flag(argc, argv, &i, "--dir", &v)) {
            if (!v || !v[0]) {
                fprintf(stderr, "kiln: --dir needs a directory; e.g. kiln status --dir .kiln\n");
                return 2;
            }
            dir = v;
        } else {
            fprintf(stderr, "kiln: unknown flag '%s' for kiln status; see kiln status --help\n",
                    argv[i]);
            return 2;
        }
    }

    DevProject *p = calloc(1, sizeof *p);
    if (!p) {
        fprintf(stderr, "kiln: out of memory; free some memory\n");
        return 1;
    }
    KilnError err = {0};
    bool missing = false;
    if (!realpath(dir, p->dir)) {
        fprintf(stderr, "kiln: %s does not exist; run kiln dev there first or pass --dir\n", dir);
        free(p);
        return 1;
    }
    if (!state_read(p->dir, &p->state, &missing, &err)) {
        fprintf(stderr, "kiln: %s\n", err.message);
        free(p);
        return 1;
    }
    secrets_load(p, false, &err);
    cluster_home_from_state(p);

    long pid = 0;
    int pg_port = p->state.pg_port;
    bool db_running = dev_cluster_running(p->cluster.pgdata, &pid, &pg_port, NULL);
    if (!db_running)
        pg_port = p->state.pg_port;
    int api_port = p->state.api_port > 0 ? p->state.api_port : 8000;
    bool running = tcp_answers(p->state.listen_address, api_port);

    char api_url[64], db_url[PATH_MAX];
    snprintf(api_url, sizeof api_url, "http://localhost:%d", api_port);
    db_url_tcp(p->secrets[SEC_DB_PASSWORD], pg_port, db_url, sizeof db_url);

    int rc = 0;
    if (as_json) {
#define SECRET_OR_NULL(i) (p->secrets[i][0] ? json_string(p->secrets[i]) : json_null())
        json_t *o = json_object();
        json_object_set_new(o, "dir", json_string(p->dir));
        json_object_set_new(o, "api_url", json_string(api_url));
        json_object_set_new(o, "db_url",
                            p->secrets[SEC_DB_PASSWORD][0] ? json_string(db_url) : json_null());
        json_object_set_new(o, "publishable_key", SECRET_OR_NULL(SEC_PUBLISHABLE));
        json_object_set_new(o, "secret_key", SECRET_OR_NULL(SEC_SECRET));
        json_object_set_new(o, "anon_key", SECRET_OR_NULL(SEC_ANON));
        json_object_set_new(o, "service_role_key", SECRET_OR_NULL(SEC_SERVICE));
        json_object_set_new(o, "running", json_boolean(running));
        json_object_set_new(o, "db_running", json_boolean(db_running));
#undef SECRET_OR_NULL
        char *text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
        json_decref(o);
        if (text) {
            printf("%s\n", text);
            wipe(text, strlen(text));
            free(text);
        } else {
            fprintf(stderr, "kiln: out of memory; free some memory\n");
            rc = 1;
        }
    } else {
#define SECRET_OR_MISSING(i) (p->secrets[i][0] ? p->secrets[i] : "(missing or unreadable)")
        printf("Kiln dev directory %s%s\n", p->dir,
               p->state.initialized ? "" : " (first setup did not finish)");
        printf("  API:              %s\n", running ? "running" : "not running");
        if (db_running)
            printf("  PostgreSQL:       running (pid %ld, port %d)\n", pid, pg_port);
        else
            printf("  PostgreSQL:       not running\n");
        printf("  API URL:          %s\n", api_url);
        printf("  Database URL:     %s\n",
               p->secrets[SEC_DB_PASSWORD][0] ? db_url : "(missing or unreadable)");
        printf("  Publishable key:  %s\n", SECRET_OR_MISSING(SEC_PUBLISHABLE));
        printf("  Secret key:       %s\n", SECRET_OR_MISSING(SEC_SECRET));
        printf("  anon key (JWT):   %s\n", SECRET_OR_MISSING(SEC_ANON));
        printf("  service_role key: %s\n", SECRET_OR_MISSING(SEC_SERVICE));
#undef SECRET_OR_MISSING
    }
    wipe(db_url, sizeof db_url);
    secrets_wipe(p);
    free(p);
    return rc;
}
