/*
 * dev_cluster.c: initdb, start, stop and prepare the private cluster of
 * `kiln dev`; atomic file writes and tree removal for dev.c.
 *
 * Child processes are started with fork/execve and argv arrays only; no
 * shell ever sees a path or a value. This file never logs and never exits;
 * it is CLI setup code and the one place besides pool.c/tx.c that includes
 * libpq-fe.h (for CREATE DATABASE / CREATE EXTENSION before serving).
 */
#include "dev_cluster.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

extern char **environ;

#define TOOL_OUTPUT_MAX 4096 /* tail of a tool's output kept for messages */
#define MAX_GROUPS      64

/* ---- small helpers ---------------------------------------------------- */

/* Joins a and b with '/' into out; false when it does not fit. */
static bool path_join(char *out, size_t len, const char *a, const char *b)
{
    int n = snprintf(out, len, "%s/%s", a, b);
    return n > 0 && (size_t)n < len;
}

/* The last non-empty line of text, trimmed, into out (at most 300 chars). */
static void last_line(const char *text, char *out, size_t len)
{
    const char *end = text + strlen(text);
    while (end > text && isspace((unsigned char)end[-1]))
        end--;
    const char *start = end;
    while (start > text && start[-1] != '\n')
        start--;
    while (start < end && isspace((unsigned char)*start))
        start++;
    size_t n = (size_t)(end - start);
    if (n > 300)
        n = 300;
    if (n >= len)
        n = len - 1;
    memcpy(out, start, n);
    out[n] = '\0';
}

/* Consumes a pending SIGINT/SIGTERM without waiting (timeout_ms 0) or for
 * up to timeout_ms. Returns the signal number or 0. */
static int take_stop_signal(int timeout_ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    int sig = sigtimedwait(&set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

/* ---- running tools ---------------------------------------------------- */

/* Environment for a child: ours without PG* variables (they would steer
 * initdb, pg_ctl and postgres), with HOME/USER/LOGNAME of the cluster user
 * when switching users. The array and the three added strings are malloc'd;
 * free with env_free. */
typedef struct ChildEnv {
    char **envp;
    char *extra[3];
} ChildEnv;

static bool env_build(const KilnDevCluster *c, ChildEnv *env)
{
    memset(env, 0, sizeof *env);
    size_t n = 0;
    while (environ[n])
        n++;
    env->envp = calloc(n + 4, sizeof *env->envp);
    if (!env->envp)
        return false;
    bool sw = c && c->switch_user;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        if (strncmp(e, "PG", 2) == 0)
            continue;
        if (sw && (strncmp(e, "HOME=", 5) == 0 || strncmp(e, "USER=", 5) == 0 ||
                   strncmp(e, "LOGNAME=", 8) == 0))
            continue;
        env->envp[j++] = environ[i];
    }
    if (sw) {
        if (asprintf(&env->extra[0], "HOME=%s", c->user_home) < 0 ||
            asprintf(&env->extra[1], "USER=%s", c->user) < 0 ||
            asprintf(&env->extra[2], "LOGNAME=%s", c->user) < 0)
            return false;
        for (int k = 0; k < 3; k++)
            env->envp[j++] = env->extra[k];
    }
    env->envp[j] = NULL;
    return true;
}

static void env_free(ChildEnv *env)
{
    for (int k = 0; k < 3; k++)
        free(env->extra[k]);
    free(env->envp);
}

/* In a forked child: become c's user (when switching). Async-signal-safe
 * calls only. Returns false when it could not. */
static bool child_switch_user(const KilnDevCluster *c, const gid_t *groups, int ngroups)
{
    if (!c || !c->switch_user)
        return true;
    if (setgroups((size_t)ngroups, groups) != 0 || setgid(c->gid) != 0 || setuid(c->uid) != 0)
        return false;
    return getuid() == c->uid && geteuid() == c->uid;
}

/* Supplementary groups of c's user, looked up before fork. */
static int user_groups(const KilnDevCluster *c, gid_t *groups)
{
    int ng = MAX_GROUPS;
    if (!c || !c->switch_user)
        return 0;
    if (getgrouplist(c->user, c->gid, groups, &ng) < 0) {
        groups[0] = c->gid;
        ng = 1;
    }
    return ng;
}

/*
 * Runs argv (argv[0] absolute, or a name looked up on PATH) as c's user
 * (c may be NULL: as ourselves), in its own process group, stdin from
 * /dev/null, stdout and stderr captured: the tail is left in out. While it
 * runs with forward_signals (and c non-NULL), SIGINT/SIGTERM are consumed,
 * passed on to the child's group as SIGTERM and recorded in c->interrupted;
 * without, they stay pending.
 * *exit_code: the exit status, 128 + signal when killed, 126 when the child
 * could not switch users, 127 when exec failed. Returns false with err only
 * when the child could not be started at all.
 */
static bool run_tool(KilnDevCluster *c, char *const argv[], bool forward_signals, char *out,
                     size_t outlen, int *exit_code, KilnError *err)
{
    out[0] = '\0';
    *exit_code = -1;
    ChildEnv env;
    if (!env_build(c, &env)) {
        env_free(&env);
        return kiln_error_set(err, 0, "dev", "out of memory starting %s; free some memory",
                              argv[0]);
    }
    gid_t groups[MAX_GROUPS];
    int ngroups = user_groups(c, groups);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        env_free(&env);
        return kiln_error_set(err, 0, "dev", "cannot create a pipe for %s: %s; check ulimit -n",
                              argv[0], strerror(errno));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        env_free(&env);
        return kiln_error_set(err, 0, "dev", "cannot start %s: %s; check the process limits",
                              argv[0], strerror(e));
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0)
            _exit(127);
        close_range(3, ~0U, 0);
        if (!child_switch_user(c, groups, ngroups))
            _exit(126);
        /* A tool must not outlive a kiln that was killed (an orphaned
         * initdb would race the next run's cleanup). Set after the user
         * switch, which clears it; the postmaster is pg_ctl's child and is
         * not affected. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(125);
        if (!c || chdir(c->home) != 0)
            (void)!chdir("/");
        execvpe(argv[0], argv, env.envp);
        _exit(127);
    }
    setpgid(pid, pid); /* also done by the child; whichever runs first wins */
    close(fds[1]);
    env_free(&env);

    char buf[TOOL_OUTPUT_MAX];
    size_t used = 0;
    int rfd = fds[0];
    int status = 0;
    for (;;) {
        if (rfd >= 0) {
            struct pollfd p = {.fd = rfd, .events = POLLIN};
            if (poll(&p, 1, 100) > 0) {
                char tmp[1024];
                ssize_t r = read(rfd, tmp, sizeof tmp);
                if (r > 0) {
                    size_t rn = (size_t)r;
                    if (used + rn > sizeof buf - 1) { /* keep the tail */
                        size_t drop = used + rn - (sizeof buf - 1);
                        if (drop > used)
                            drop = used;
                        memmove(buf, buf + drop, used - drop);
                        used -= drop;
                        if (rn > sizeof buf - 1 - used)
                            rn = sizeof buf - 1 - used;
                    }
                    memcpy(buf + used, tmp, rn);
                    used += rn;
                } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                    close(rfd);
                    rfd = -1;
                }
            }
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            status = 0;
            break;
        }
        if (forward_signals && c) {
            if (take_stop_signal(rfd >= 0 ? 0 : 100)) {
                c->interrupted = true;
                kill(-pid, SIGTERM);
            }
        } else if (rfd < 0) {
            poll(NULL, 0, 100); /* signals stay pending for the caller */
        }
    }
    if (rfd >= 0) { /* drain what is left without blocking */
        int fl = fcntl(rfd, F_GETFL);
        fcntl(rfd, F_SETFL, fl | O_NONBLOCK);
        ssize_t r;
        while (used < sizeof buf - 1 && (r = read(rfd, buf + used, sizeof buf - 1 - used)) > 0)
            used += (size_t)r;
        close(rfd);
    }
    buf[used] = '\0';
    snprintf(out, outlen, "%s", buf);
    if (WIFEXITED(status))
        *exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        *exit_code = 128 + WTERMSIG(status);
    return true;
}

/* Turns a failed tool run into one error line. */
static bool tool_failed(const KilnDevCluster *c, const char *what, int code, const char *output,
                        const char *fix, KilnError *err)
{
    if (c && c->interrupted)
        return kiln_error_set(err, 0, "interrupted", "interrupted during %s; run kiln dev again",
                              what);
    if (code == 126)
        return kiln_error_set(err, 0, "dev",
                              "cannot switch to user %s to run %s; check that the user exists "
                              "and run kiln dev as root or as a normal user",
                              c ? c->user : "?", what);
    char line[320];
    last_line(output, line, sizeof line);
    if (code == 127 && !line[0])
        return kiln_error_set(err, 0, "dev", "cannot run %s; check the PostgreSQL installation",
                              what);
    return kiln_error_set(err, 0, "dev", "%s failed (exit %d)%s%s; %s", what, code,
                          line[0] ? ": " : "", line, fix);
}

/* ---- locating PostgreSQL ---------------------------------------------- */

static bool has_tools(const char *dir)
{
    char p[PATH_MAX];
    return path_join(p, sizeof p, dir, "initdb") && access(p, X_OK) == 0 &&
           path_join(p, sizeof p, dir, "pg_ctl") && access(p, X_OK) == 0;
}

bool dev_cluster_find_bindir(char *out, size_t len, KilnError *err)
{
    const char *env = getenv("KILN_PG_BINDIR");
    if (env && env[0]) {
        if (!has_tools(env))
            return kiln_error_set(err, 0, "dev",
                                  "KILN_PG_BINDIR=%s does not hold initdb and pg_ctl; "
                                  "point it at PostgreSQL's bin directory or unset it",
                                  env);
        snprintf(out, len, "%s", env);
        return true;
    }

    const char *pgc = getenv("PG_CONFIG");
    char *argv[] = {(char *)(pgc && pgc[0] ? pgc : "pg_config"), (char *)"--bindir", NULL};
    char output[TOOL_OUTPUT_MAX];
    int code;
    KilnError ignored;
    if (run_tool(NULL, argv, false, output, sizeof output, &code, &ignored) && code == 0) {
        char line[PATH_MAX];
        last_line(output, line, sizeof line);
        if (line[0] == '/' && has_tools(line)) {
            snprintf(out, len, "%s", line);
            return true;
        }
    }

    /* Debian's layout: /usr/lib/postgresql/N/bin, newest N first. */
    DIR *d = opendir("/usr/lib/postgresql");
    int best = -1;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            char *end;
            long v = strtol(de->d_name, &end, 10);
            char cand[PATH_MAX];
            if (end == de->d_name || *end || v <= best || v > 1000)
                continue;
            snprintf(cand, sizeof cand, "/usr/lib/postgresql/%ld/bin", v);
            if (has_tools(cand))
                best = (int)v;
        }
        closedir(d);
    }
    if (best >= 0) {
        snprintf(out, len, "/usr/lib/postgresql/%d/bin", best);
        return true;
    }
    return kiln_error_set(err, 0, "dev",
                          "PostgreSQL's server programs (initdb, pg_ctl) were not found; "
                          "install the postgresql-15 package or set KILN_PG_BINDIR");
}

/* ---- users and directories -------------------------------------------- */

bool dev_cluster_set_user(KilnDevCluster *c, const char *name, KilnError *err)
{
    if (geteuid() != 0) {
        struct passwd *pw = getpwuid(geteuid());
        c->switch_user = false;
        c->uid = geteuid();
        c->gid = getegid();
        snprintf(c->user, sizeof c->user, "%s", pw ? pw->pw_name : "?");
        snprintf(c->user_home, sizeof c->user_home, "%s", pw ? pw->pw_dir : "/");
        return true;
    }
    struct passwd *pw = getpwnam(name);
    if (!pw)
        return kiln_error_set(err, 0, "dev",
                              "user %s does not exist, and PostgreSQL cannot run as root; "
                              "install the postgresql-15 package (it creates the user) or run "
                              "kiln dev as a normal user",
                              name);
    if (pw->pw_uid == 0)
        return kiln_error_set(err, 0, "dev",
                              "user %s is root, and PostgreSQL cannot run as root; "
                              "give it its own uid or run kiln dev as a normal user",
                              name);
    c->switch_user = true;
    c->uid = pw->pw_uid;
    c->gid = pw->pw_gid;
    snprintf(c->user, sizeof c->user, "%s", pw->pw_name);
    snprintf(c->user_home, sizeof c->user_home, "%s", pw->pw_dir ? pw->pw_dir : "/");
    return true;
}

void dev_cluster_set_home(KilnDevCluster *c, const char *home)
{
    snprintf(c->home, sizeof c->home, "%s", home);
    if (!path_join(c->pgdata, sizeof c->pgdata, home, "pgdata"))
        c->pgdata[0] = '\0';
    if (!path_join(c->log_path, sizeof c->log_path, home, "postgres.log"))
        c->log_path[0] = '\0';
}

bool dev_cluster_user_can_reach(const KilnDevCluster *c, const char *path)
{
    if (!c->switch_user)
        return true;
    gid_t groups[MAX_GROUPS];
    int ngroups = user_groups(c, groups);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        if (!child_switch_user(c, groups, ngroups))
            _exit(2);
        _exit(access(path, X_OK) == 0 ? 0 : 1);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return false;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

const char *dev_user_name(uid_t uid, char *buf, size_t len)
{
    struct passwd *pw = getpwuid(uid);
    if (pw)
        snprintf(buf, len, "%s", pw->pw_name);
    else
        snprintf(buf, len, "uid %ld", (long)uid);
    return buf;
}

bool dev_cluster_make_dir(const KilnDevCluster *c, const char *path, bool *created, KilnError *err)
{
    if (created)
        *created = false;
    if (mkdir(path, 0700) == 0) {
        if (created)
            *created = true;
        if ((c->switch_user && chown(path, c->uid, c->gid) != 0) || chmod(path, 0700) != 0)
            return kiln_error_set(err, 0, "dev", "cannot give %s to user %s: %s; check %s", path,
                                  c->user, strerror(errno), path);
        return true;
    }
    if (errno != EEXIST)
        return kiln_error_set(err, 0, "dev",
                              "cannot create directory %s: %s; check the permissions of its "
                              "parent or choose another --dir",
                              path, strerror(errno));
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return kiln_error_set(err, 0, "dev", "%s exists and is not a directory; remove it", path);
    if (st.st_uid != c->uid) {
        char who[64];
        return kiln_error_set(err, 0, "dev", "%s belongs to user %s, not %s; remove it", path,
                              dev_user_name(st.st_uid, who, sizeof who), c->user);
    }
    if ((st.st_mode & 07777) != 0700 && chmod(path, 0700) != 0)
        return kiln_error_set(err, 0, "dev", "cannot chmod 700 %s: %s; fix its permissions", path,
                              strerror(errno));
    return true;
}

/* ---- files ------------------------------------------------------------ */

static bool fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

bool dev_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         const KilnDevCluster *c, KilnError *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return kiln_error_set(err, 0, "dev", "path %s is too long; choose a shorter --dir", path);
    unlink(tmp); /* a leftover of an interrupted earlier write */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return kiln_error_set(err, 0, "dev", "cannot create %s: %s; check the permissions of %s",
                              tmp, strerror(errno), tmp);
    bool ok = fchmod(fd, mode) == 0;
    if (ok && c && c->switch_user)
        ok = fchown(fd, c->uid, c->gid) == 0;
    const char *p = data;
    size_t left = len;
    while (ok && left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ok = false;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (ok)
        ok = fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        return kiln_error_set(err, 0, "dev", "cannot write %s: %s; check the disk and permissions",
                              path, strerror(e));
    }
    fsync_dir_of(path);
    return true;
}

static int remove_errno;
static char remove_failed[PATH_MAX];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    if (r != 0 && errno != ENOENT && !remove_errno) {
        remove_errno = errno;
        snprintf(remove_failed, sizeof remove_failed, "%s", path);
    }
    return 0;
}

bool dev_fs_remove_tree(const char *path, KilnError *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT
                   ? true
                   : kiln_error_set(err, 0, "dev", "cannot inspect %s: %s; remove it by hand", path,
                                    strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT)
            return kiln_error_set(err, 0, "dev", "cannot remove %s: %s; remove it by hand", path,
                                  strerror(errno));
        return true;
    }
    remove_errno = 0;
    remove_failed[0] = '\0';
    if (nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0 && !remove_errno) {
        remove_errno = errno;
        snprintf(remove_failed, sizeof remove_failed, "%s", path);
    }
    if (remove_errno)
        return kiln_error_set(err, 0, "dev", "cannot remove %s: %s; remove it by hand",
                              remove_failed, strerror(remove_errno));
    return true;
}

/* ---- initdb ----------------------------------------------------------- */

bool dev_cluster_initdb(KilnDevCluster *c, const char *password, KilnError *err)
{
    char tmpdir[PATH_MAX], pwfile[PATH_MAX], initdb[PATH_MAX], pwopt[PATH_MAX + 16];
    if (!path_join(tmpdir, sizeof tmpdir, c->home, "pgdata.tmp") ||
        !path_join(pwfile, sizeof pwfile, c->home, ".initdb-password") ||
        !path_join(initdb, sizeof initdb, c->bindir, "initdb"))
        return kiln_error_set(err, 0, "dev", "path %s is too long; choose a shorter --dir",
                              c->home);
    if (!dev_fs_remove_tree(tmpdir, err))
        return false;
    if (!dev_cluster_make_dir(c, tmpdir, NULL, err))
        return false;

    /* The password reaches initdb through a file only the cluster user can
     * read, removed right after. */
    char pwline[256];
    int pwlen = snprintf(pwline, sizeof pwline, "%s\n", password);
    bool ok = dev_fs_write_atomic(pwfile, pwline, (size_t)pwlen, 0600, c, err);
    explicit_bzero(pwline, sizeof pwline);
    if (!ok) {
        dev_fs_remove_tree(tmpdir, NULL);
        return false;
    }
    snprintf(pwopt, sizeof pwopt, "--pwfile=%s", pwfile);
    char *argv[] = {initdb,
                    (char *)"-D",
                    tmpdir,
                    (char *)"-U",
                    (char *)"postgres",
                    (char *)"--auth-local=trust",
                    (char *)"--auth-host=scram-sha-256",
                    pwopt,
                    (char *)"-E",
                    (char *)"UTF8",
                    (char *)"--no-locale",
                    NULL};
    char output[TOOL_OUTPUT_MAX];
    int code;
    ok = run_tool(c, argv, true, output, sizeof output, &code, err);
    unlink(pwfile);
    if (ok && (code != 0 || c->interrupted))
        ok = tool_failed(c, "initdb", code, output,
                         "check the disk space and the PostgreSQL installation", err);
    if (ok) {
        /* Settings that change per start live in kiln_dev.conf. */
        static const char include[] =
            "\n# Added by kiln dev: port, listen address and socket directory.\n"
            "include_if_exists = 'kiln_dev.conf'\n";
        char conf[PATH_MAX];
        int fd = -1;
        if (path_join(conf, sizeof conf, tmpdir, "postgresql.conf"))
            fd = open(conf, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
        ok = fd >= 0 && write(fd, include, sizeof include - 1) == (ssize_t)(sizeof include - 1) &&
             fsync(fd) == 0;
        if (fd >= 0)
            close(fd);
        if (!ok)
            kiln_error_set(err, 0, "dev", "cannot add to %s: %s; check the disk", conf,
                           strerror(errno));
    }
    if (ok && rename(tmpdir, c->pgdata) != 0)
        ok = kiln_error_set(err, 0, "dev", "cannot rename %s to %s: %s; remove %s", tmpdir,
                            c->pgdata, strerror(errno), c->pgdata);
    if (!ok) {
        dev_fs_remove_tree(tmpdir, NULL);
        return false;
    }
    fsync_dir_of(c->pgdata);
    return true;
}

/* ---- running state ---------------------------------------------------- */

bool dev_cluster_running(const char *pgdata, long *pid_out, int *port_out, char *socket_dir)
{
    char path[PATH_MAX];
    if (!path_join(path, sizeof path, pgdata, "postmaster.pid"))
        return false;
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char lines[5][PATH_MAX];
    int n = 0;
    while (n < 5 && fgets(lines[n], sizeof lines[n], f)) {
        lines[n][strcspn(lines[n], "\n")] = '\0';
        n++;
    }
    fclose(f);
    if (n < 1)
        return false;
    long pid = strtol(lines[0], NULL, 10);
    if (pid <= 0)
        return false;
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
        return false;

    /* The pid may belong to another process now (after a reboot): the
     * postmaster's working directory is its data directory. */
    char proc[64], cwd[PATH_MAX], real[PATH_MAX];
    snprintf(proc, sizeof proc, "/proc/%ld/cwd", pid);
    ssize_t len = readlink(proc, cwd, sizeof cwd - 1);
    if (len > 0) {
        cwd[len] = '\0';
        if (!realpath(pgdata, real) || strcmp(real, cwd) != 0)
            return false;
    } else if (errno == ENOENT) {
        return false;
    } else {
        snprintf(proc, sizeof proc, "/proc/%ld/comm", pid);
        FILE *cf = fopen(proc, "re");
        if (cf) {
            char comm[64] = "";
            bool got = fgets(comm, sizeof comm, cf) != NULL;
            fclose(cf);
            if (got && strncmp(comm, "postgres", 8) != 0)
                return false;
        }
    }
    if (pid_out)
        *pid_out = pid;
    if (port_out)
        *port_out = n >= 4 ? atoi(lines[3]) : 0;
    if (socket_dir)
        snprintf(socket_dir, PATH_MAX, "%s", n >= 5 ? lines[4] : "");
    return true;
}

/* ---- ports ------------------------------------------------------------ */

bool dev_port_free(const char *addr, int port)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(addr, service, &hints, &ai) != 0 || !ai)
        return false;
    bool ok = false;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        ok = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
        close(fd);
    }
    freeaddrinfo(ai);
    return ok;
}

int dev_port_pick(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    socklen_t sl = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* ---- start / stop ----------------------------------------------------- */

/* Appends s to out as a postgresql.conf string body (' doubled, \ escaped). */
static void conf_quote(char *out, size_t len, const char *s)
{
    size_t o = 0;
    for (; *s && o + 3 < len; s++) {
        if (*s == '\'' || *s == '\\')
            out[o++] = *s;
        out[o++] = *s;
    }
    out[o] = '\0';
}

static bool write_dev_conf(KilnDevCluster *c, int port, KilnError *err)
{
    char path[PATH_MAX], sock[2 * PATH_MAX], text[3 * PATH_MAX];
    if (!path_join(path, sizeof path, c->pgdata, "kiln_dev.conf"))
        return kiln_error_set(err, 0, "dev", "path %s is too long; choose a shorter --dir",
                              c->pgdata);
    char key[2 * PATH_MAX];
    conf_quote(sock, sizeof sock, c->socket_dir);
    conf_quote(key, sizeof key, c->master_key);
    int n = snprintf(text, sizeof text,
                     "# Written by kiln dev at every start; put your own settings in "
                     "postgresql.conf.\n"
                     "port = %d\n"
                     "listen_addresses = '127.0.0.1'\n"
                     "unix_socket_directories = '%s'\n"
                     "unix_socket_permissions = 0700\n"
                     "kiln.master_key_file = '%s'\n",
                     port, sock, key);
    return dev_fs_write_atomic(path, text, (size_t)n, 0600, c, err);
}

/* Size of the log now, to read what a start adds. */
static off_t log_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* The most telling line the server wrote to its log since offset `from`:
 * the last FATAL/PANIC/ERROR line, else the last line. */
static void log_reason(const char *path, off_t from, char *out, size_t len)
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[16384];
    off_t size = lseek(fd, 0, SEEK_END);
    if (size - from > (off_t)sizeof buf - 1)
        from = size - (off_t)sizeof buf + 1;
    ssize_t r = pread(fd, buf, sizeof buf - 1, from < 0 ? 0 : from);
    close(fd);
    if (r <= 0)
        return;
    buf[r] = '\0';
    const char *best = NULL;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        const char *tag = NULL;
        if ((tag = strstr(line, "FATAL:")) || (tag = strstr(line, "PANIC:")) ||
            (tag = strstr(line, "ERROR:")))
            best = tag;
        line = nl ? nl + 1 : NULL;
    }
    if (best) {
        snprintf(out, len, "%.300s", best);
        /* collapse the double space after the tag */
        char *dbl;
        while ((dbl = strstr(out, "  ")))
            memmove(dbl, dbl + 1, strlen(dbl));
        return;
    }
    /* No tagged line: restore newlines and take the last one. */
    for (ssize_t i = 0; i < r; i++)
        if (buf[i] == '\0')
            buf[i] = '\n';
    last_line(buf, out, len);
}

/* Creates the log file for pg_ctl -l, owned by the cluster user, when the
 * user cannot create it itself (home owned by root). */
static bool ensure_log(const KilnDevCluster *c, KilnError *err)
{
    int fd = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return kiln_error_set(err, 0, "dev", "cannot create %s: %s; check its directory",
                              c->log_path, strerror(errno));
    bool ok = !c->switch_user || fchown(fd, c->uid, c->gid) == 0;
    int e = errno;
    close(fd);
    if (!ok)
        return kiln_error_set(err, 0, "dev", "cannot give %s to user %s: %s; check it", c->log_path,
                              c->user, strerror(e));
    return true;
}

bool dev_cluster_start(KilnDevCluster *c, int want_port, KilnError *err)
{
    char pg_ctl[PATH_MAX];
    if (!path_join(pg_ctl, sizeof pg_ctl, c->bindir, "pg_ctl"))
        return kiln_error_set(err, 0, "dev", "path %s is too long; set KILN_PG_BINDIR", c->bindir);
    if (!ensure_log(c, err))
        return false;
    for (int attempt = 0; attempt < 3; attempt++) {
        int port = (attempt == 0 && want_port > 0 && dev_port_free("127.0.0.1", want_port))
                       ? want_port
                       : dev_port_pick();
        if (port <= 0)
            return kiln_error_set(err, 0, "dev",
                                  "no free TCP port on 127.0.0.1 for PostgreSQL; free one up");
        if (!write_dev_conf(c, port, err))
            return false;
        off_t from = log_size(c->log_path);
        char *argv[] = {pg_ctl,       (char *)"start", (char *)"-D", c->pgdata,
                        (char *)"-l", c->log_path,     (char *)"-w", (char *)"-t",
                        (char *)"60", (char *)"-s",    NULL};
        char output[TOOL_OUTPUT_MAX];
        int code;
        if (!run_tool(c, argv, true, output, sizeof output, &code, err))
            return false;
        if (code == 0 && !c->interrupted) {
            c->port = port;
            return true;
        }
        if (c->interrupted)
            return tool_failed(c, "the start of PostgreSQL", code, output, "", err);
        char reason[400];
        log_reason(c->log_path, from, reason, sizeof reason);
        if (strstr(reason, "could not bind") || strstr(reason, "already in use") ||
            strstr(reason, "could not create any TCP/IP sockets"))
            continue; /* someone took the port between our check and the bind */
        if (!reason[0])
            last_line(output, reason, sizeof reason);
        return kiln_error_set(err, 0, "dev", "PostgreSQL did not start%s%s; see %s",
                              reason[0] ? ": " : "", reason, c->log_path);
    }
    return kiln_error_set(err, 0, "dev",
                          "PostgreSQL could not bind a TCP port three times; see %s and free "
                          "some loopback ports",
                          c->log_path);
}

bool dev_cluster_stop(KilnDevCluster *c, KilnError *err)
{
    if (!dev_cluster_running(c->pgdata, NULL, NULL, NULL))
        return true;
    char pg_ctl[PATH_MAX];
    if (!path_join(pg_ctl, sizeof pg_ctl, c->bindir, "pg_ctl"))
        return kiln_error_set(err, 0, "dev", "path %s is too long; set KILN_PG_BINDIR", c->bindir);
    static const char *modes[] = {"fast", "immediate"};
    char output[TOOL_OUTPUT_MAX] = "";
    int code = 0;
    for (size_t i = 0; i < 2; i++) {
        char *argv[] = {pg_ctl,       (char *)"stop",   (char *)"-D", c->pgdata,
                        (char *)"-m", (char *)modes[i], (char *)"-w", (char *)"-t",
                        (char *)"60", (char *)"-s",     NULL};
        if (!run_tool(c, argv, false, output, sizeof output, &code, err))
            return false;
        if (!dev_cluster_running(c->pgdata, NULL, NULL, NULL))
            return true;
    }
    char line[320];
    last_line(output, line, sizeof line);
    return kiln_error_set(err, 0, "dev",
                          "could not stop PostgreSQL in %s (pg_ctl exit %d%s%s); stop it with "
                          "pg_ctl stop -D %s",
                          c->pgdata, code, line[0] ? ": " : "", line, c->pgdata);
}

/* ---- database --------------------------------------------------------- */

/* CREATE EXTENSION ... CASCADE says NOTICE per dependency: not for users. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *connect_db(const KilnDevCluster *c, const char *dbname)
{
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    const char *keys[] = {"host", "port", "user", "dbname", "connect_timeout", "application_name",
                          NULL};
    const char *vals[] = {c->socket_dir, port, "postgres", dbname, "10", "kiln dev", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 0);
    if (conn)
        PQsetNoticeProcessor(conn, ignore_notice, NULL);
    return conn;
}

bool dev_cluster_wait_ready(KilnDevCluster *c, int timeout_s, KilnError *err)
{
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    const char *keys[] = {"host", "port", "user", "dbname", "connect_timeout", NULL};
    const char *vals[] = {c->socket_dir, port, "postgres", "postgres", "5", NULL};
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        PGPing p = PQpingParams(keys, vals, 0);
        if (p == PQPING_OK)
            return true;
        if (p == PQPING_NO_ATTEMPT)
            return kiln_error_set(err, 0, "dev",
                                  "cannot build a connection to PostgreSQL at %s; check the path",
                                  c->socket_dir);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= timeout_s)
            return kiln_error_set(err, 0, "dev",
                                  "PostgreSQL at %s port %d does not accept connections after "
                                  "%d s; see %s",
                                  c->socket_dir, c->port, timeout_s, c->log_path);
        if (take_stop_signal(200)) {
            c->interrupted = true;
            return kiln_error_set(err, 0, "interrupted",
                                  "interrupted while waiting for PostgreSQL; run kiln dev again");
        }
    }
}

/* First line of libpq's message, without "ERROR:  " noise. */
static void pq_reason(const char *msg, char *out, size_t len)
{
    if (!msg)
        msg = "";
    if (strncmp(msg, "ERROR:  ", 8) == 0)
        msg += 8;
    size_t n = strcspn(msg, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(out, msg, n);
    out[n] = '\0';
}

/* Runs one statement; true when it returned tuples or a command status.
 * *rows (may be NULL) gets the number of rows. On failure err names what. */
static bool exec_sql(PGconn *conn, const char *sql, const char *what, const KilnDevCluster *c,
                     int *rows, KilnError *err)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        char reason[400];
        pq_reason(PQerrorMessage(conn), reason, sizeof reason);
        PQclear(res);
        return kiln_error_set(err, 0, "dev", "%s failed: %s; see %s", what, reason, c->log_path);
    }
    if (rows)
        *rows = PQntuples(res);
    PQclear(res);
    return true;
}

bool dev_cluster_master_key(KilnDevCluster *c, bool create, KilnError *err)
{
    if (!path_join(c->master_key, sizeof c->master_key, c->home, "master.key"))
        return kiln_error_set(err, 0, "dev", "path %s is too long; choose a shorter --dir",
                              c->home);
    struct stat st;
    if (stat(c->master_key, &st) == 0) {
        if (!S_ISREG(st.st_mode) || st.st_size != 32 || (st.st_mode & 077) != 0)
            return kiln_error_set(err, 0, "dev",
                                  "master key %s must be a 32-byte file of mode 0600; restore it "
                                  "or start over with kiln dev --reset",
                                  c->master_key);
        return true;
    }
    if (!create)
        return kiln_error_set(err, 0, "dev",
                              "master key %s is missing (it encrypts the keys in the database); "
                              "restore it or start over with kiln dev --reset",
                              c->master_key);
    unsigned char key[32];
    if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key)
        return kiln_error_set(err, 0, "dev", "no random bytes for the master key: %s",
                              strerror(errno));
    bool ok = dev_fs_write_atomic(c->master_key, key, sizeof key, 0600, c, err);
    explicit_bzero(key, sizeof key);
    return ok;
}

/* Runs sql with text parameters; the error names `what`, never a value. */
static bool exec_params(PGconn *conn, const char *sql, int n, const char *const *values,
                        const char *what, const KilnDevCluster *c, KilnError *err)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (!ok) {
        char reason[400];
        pq_reason(PQerrorMessage(conn), reason, sizeof reason);
        kiln_error_set(err, 0, "dev", "%s failed: %s; see %s", what, reason, c->log_path);
    }
    PQclear(res);
    return ok;
}

/* Registers the project's keys (see KilnDevKeys); idempotent. */
static bool register_keys(PGconn *conn, const KilnDevCluster *c, const KilnDevKeys *keys,
                          KilnError *err)
{
    const char *legacy[] = {keys->jwt_secret};
    const char *pub[] = {keys->publishable_key};
    const char *sec[] = {keys->secret_key};
    return exec_params(conn,
                       "SELECT kiln.set_legacy_jwt_secret($1, "
                       "ARRAY['kiln', 'supabase', 'supabase-demo'])",
                       1, legacy, "registering the legacy JWT secret", c, err) &&
           exec_params(conn, "SELECT kiln.import_api_key($1)", 1, pub,
                       "registering the publishable key", c, err) &&
           exec_params(conn, "SELECT kiln.import_api_key($1)", 1, sec,
                       "registering the secret key", c, err) &&
           exec_params(conn,
                       "SELECT kiln.rotate_signing_key('ES256') WHERE NOT EXISTS "
                       "(SELECT 1 FROM kiln.jwt_keys WHERE signing AND retired_at IS NULL)",
                       0, NULL, "creating the signing key", c, err);
}

bool dev_cluster_prepare_db(KilnDevCluster *c, const KilnDevKeys *keys, KilnError *err)
{
    PGconn *conn = connect_db(c, "postgres");
    if (PQstatus(conn) != CONNECTION_OK) {
        char reason[400];
        pq_reason(PQerrorMessage(conn), reason, sizeof reason);
        PQfinish(conn);
        return kiln_error_set(err, 0, "dev", "cannot connect to PostgreSQL at %s: %s; see %s",
                              c->socket_dir, reason, c->log_path);
    }
    int rows = 0;
    bool ok = exec_sql(conn, "SELECT 1 FROM pg_catalog.pg_database WHERE datname = 'kiln'",
                       "looking up database kiln", c, &rows, err);
    if (ok && rows == 0)
        ok = exec_sql(conn, "CREATE DATABASE kiln", "CREATE DATABASE kiln", c, NULL, err);
    PQfinish(conn);
    if (!ok)
        return false;

    conn = connect_db(c, "kiln");
    if (PQstatus(conn) != CONNECTION_OK) {
        char reason[400];
        pq_reason(PQerrorMessage(conn), reason, sizeof reason);
        PQfinish(conn);
        return kiln_error_set(err, 0, "dev", "cannot connect to database kiln at %s: %s; see %s",
                              c->socket_dir, reason, c->log_path);
    }
    ok = exec_sql(conn,
                  "SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'kiln_platform'",
                  "looking up extension kiln_platform", c, &rows, err);
    if (ok && rows == 0) {
        char sharedir[PATH_MAX] = "PostgreSQL's share directory";
        PGresult *res =
            PQexec(conn, "SELECT setting FROM pg_catalog.pg_config WHERE name = 'SHAREDIR'");
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
            snprintf(sharedir, sizeof sharedir, "%s/extension", PQgetvalue(res, 0, 0));
        PQclear(res);
        ok = kiln_error_set(err, 0, "dev",
                            "extension kiln_platform is not installed in %s; run make install "
                            "(as root) in the kiln source tree",
                            sharedir);
    }
    if (ok)
        ok = exec_sql(conn, "CREATE EXTENSION IF NOT EXISTS kiln_platform CASCADE",
                      "CREATE EXTENSION kiln_platform", c, NULL, err);
    if (ok)
        ok = register_keys(conn, c, keys, err);
    PQfinish(conn);
    return ok;
}
