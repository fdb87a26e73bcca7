/*
 * dev_cluster.h: the private PostgreSQL cluster of `kiln dev`, and the
 * small filesystem helpers dev needs (atomic writes, tree removal).
 *
 * Runs initdb and pg_ctl by fork/exec with argv arrays (never a shell with
 * user text). When kiln runs as root the tools run as an unprivileged user
 * (switch_user: initgroups/setgid/setuid in the child, like runuser), since
 * PostgreSQL refuses to run as root. Children get an empty signal mask, their
 * own process group, no inherited descriptors and an environment without
 * PG* variables.
 *
 * Single-threaded setup code: call only before any thread exists (signals
 * SIGINT/SIGTERM are expected to be blocked, see serve_block_signals); while
 * a tool runs, a pending SIGINT/SIGTERM is consumed, forwarded to the tool's
 * process group and recorded in cluster->interrupted. Errors come back as
 * one line "<problem>; <fix>" in KilnError (status 0); nothing is logged.
 */
#ifndef KILN_DEV_CLUSTER_H
#define KILN_DEV_CLUSTER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Longest unix socket path PostgreSQL accepts (sizeof(sun_path) - 1). */
#define KILN_DEV_SOCKET_PATH_MAX 107

typedef struct KilnDevCluster {
    char bindir[PATH_MAX];     /* holds initdb, pg_ctl */
    char home[PATH_MAX];       /* cluster home: pgdata/, postgres.log, usually run/ */
    char pgdata[PATH_MAX];     /* home/pgdata */
    char log_path[PATH_MAX];   /* home/postgres.log (pg_ctl -l) */
    char socket_dir[PATH_MAX]; /* unix socket directory, mode 0700 */
    char master_key[PATH_MAX]; /* home/master.key, see dev_cluster_master_key */
    bool switch_user;          /* we are root: tools run as uid/gid below */
    uid_t uid;                 /* owner of every file the cluster uses */
    gid_t gid;
    char user[64]; /* that user's name (for messages, HOME, initgroups) */
    char user_home[PATH_MAX];
    int port;         /* loopback TCP port, set by start/adopt */
    bool interrupted; /* SIGINT/SIGTERM arrived while a tool ran */
} KilnDevCluster;

/* Finds PostgreSQL's server programs: $KILN_PG_BINDIR, else
 * `$PG_CONFIG --bindir` (PG_CONFIG defaults to pg_config on PATH), else the
 * newest /usr/lib/postgresql/N/bin. The directory must hold initdb and
 * pg_ctl. Writes it to out (PATH_MAX bytes). */
bool dev_cluster_find_bindir(char *out, size_t len, KilnError *err);

/* Sets c's user fields: as root, the user `name` (must exist, must not be
 * root) with switch_user = true; otherwise the calling user. */
bool dev_cluster_set_user(KilnDevCluster *c, const char *name, KilnError *err);

/* Sets home, pgdata and log_path from home (socket_dir is left alone). */
void dev_cluster_set_home(KilnDevCluster *c, const char *home);

/* True when c's user can search (traverse) every component of path and
 * path itself, checked by a child that switches to that user. Always true
 * when not switching users. */
bool dev_cluster_user_can_reach(const KilnDevCluster *c, const char *path);

/* Creates directory path with mode 0700 owned by c's user, or checks an
 * existing one: a real directory (not a symlink) owned by that user, then
 * chmods it to 0700. *created (may be NULL) tells whether this call made it. */
bool dev_cluster_make_dir(const KilnDevCluster *c, const char *path, bool *created, KilnError *err);

/* initdb into home/pgdata.tmp (superuser postgres, local trust, host
 * scram-sha-256 with `password`, UTF8, no locale), adds the include of
 * kiln_dev.conf to postgresql.conf, then renames it to home/pgdata. On
 * failure nothing of pgdata.tmp is left. */
bool dev_cluster_initdb(KilnDevCluster *c, const char *password, KilnError *err);

/* Reads pgdata/postmaster.pid. True when it names a live postmaster of this
 * data directory; then *pid, *port and socket_dir (PATH_MAX bytes, may be
 * NULL) are filled from it. */
bool dev_cluster_running(const char *pgdata, long *pid, int *port, char *socket_dir);

/* Writes pgdata/kiln_dev.conf (port, listen_addresses = 127.0.0.1, socket
 * directory and permissions) and runs `pg_ctl start -w -t 60`. Uses
 * want_port when it is > 0 and free, else a free port chosen by the kernel;
 * retries with a new port when the chosen one was taken meanwhile. Sets
 * c->port. The caller stops the cluster (dev_cluster_stop) on any later
 * failure, also when this call failed after a timeout. */
bool dev_cluster_start(KilnDevCluster *c, int want_port, KilnError *err);

/* Waits (up to timeout_s, polling) until the server on c->socket_dir /
 * c->port accepts connections. */
bool dev_cluster_wait_ready(KilnDevCluster *c, int timeout_s, KilnError *err);

/* The master key of the extension suite (kiln.master_key_file): 32 random
 * bytes in HOME/master.key, owned by the cluster user, mode 0600; it never
 * enters the database. With `create`, writes it when missing; otherwise a
 * missing or wrongly sized file is an error (restore it or --reset). */
bool dev_cluster_master_key(KilnDevCluster *c, bool create, KilnError *err);

/* The keys a dev project hands out, registered in database kiln on every
 * start (idempotent): the legacy HS256 secret (issuers kiln, supabase,
 * supabase-demo), the opaque publishable and secret keys, and an ES256
 * signing key for user tokens when there is none. */
typedef struct KilnDevKeys {
    const char *jwt_secret;
    const char *publishable_key;
    const char *secret_key;
} KilnDevKeys;

/* Creates database kiln when missing, then CREATE EXTENSION IF NOT EXISTS
 * kiln_platform CASCADE in it (connecting over the unix socket as
 * postgres). A missing extension gives "extension kiln_platform is not
 * installed in <sharedir>/extension; run make install". */
bool dev_cluster_prepare_db(KilnDevCluster *c, const KilnDevKeys *keys, KilnError *err);

/* `pg_ctl stop -m fast -w` (then immediate if that fails) when a postmaster
 * is running in c->pgdata; true when none is running afterwards. Signals
 * arriving meanwhile stay pending and are not forwarded (the stop itself
 * must finish). */
bool dev_cluster_stop(KilnDevCluster *c, KilnError *err);

/* True when a TCP listener could bind addr:port right now (addr an IP
 * literal; SO_REUSEADDR, as servers set it). */
bool dev_port_free(const char *addr, int port);

/* The name of user uid, or "uid N" when it has none; written to buf (len
 * bytes), which is returned. */
const char *dev_user_name(uid_t uid, char *buf, size_t len);

/* A currently free loopback TCP port chosen by the kernel, or -1. */
int dev_port_pick(void);

/* Writes data to path atomically: path.tmp (O_EXCL, mode), write, fsync,
 * rename, fsync of the directory. When c is non-NULL and switches users,
 * the file is given to c's user. */
bool dev_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         const KilnDevCluster *c, KilnError *err);

/* Removes path and everything below it without following symlinks or
 * crossing mount points; a missing path is not an error. */
bool dev_fs_remove_tree(const char *path, KilnError *err);

#endif
