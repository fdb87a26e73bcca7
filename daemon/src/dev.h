/*
 * dev.h: the embedded development backend.
 *
 * `kiln dev` creates (first run) or reuses a project directory (default
 * ./.kiln): a private PostgreSQL cluster, the database with the extension
 * suite, generated secrets; starts the cluster, then serves the API in this
 * process; on SIGINT/SIGTERM stops the server, then the cluster.
 * `kiln status` reports on such a directory.
 */
#ifndef KILN_DEV_H
#define KILN_DEV_H

/* `kiln dev [--dir D] [--port P] [--reset] [other serve flags]`. Returns the
 * process exit code. */
int dev_main(int argc, char **argv);

/* `kiln status [--dir D] [--json]`. Returns the process exit code. */
int status_main(int argc, char **argv);

#endif
