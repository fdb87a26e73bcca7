/*
 * serve.h: `kiln serve`, the HTTP daemon's lifecycle.
 *
 * serve_run starts the listener and the database pool, then waits for
 * signals on the calling thread: SIGHUP rebuilds the configuration from the
 * same layers (a bad reload keeps the old snapshot and logs why),
 * SIGTERM/SIGINT stop accepting connections, let in-flight requests finish
 * (up to shutdown_timeout_s) and return.
 */
#ifndef KILN_SERVE_H
#define KILN_SERVE_H

#include "config.h"

/* Blocks SIGHUP, SIGTERM, SIGINT and SIGPIPE in the calling thread; call it
 * before any thread is created so every thread inherits the mask. */
void serve_block_signals(void);

/* Runs the server until SIGTERM/SIGINT. Takes ownership of cfg; base and
 * flags (either may be NULL) must outlive the call and are re-read on
 * SIGHUP. On a start-up failure (port in use, database unreachable) prints
 * one line "kiln: <problem>; <fix>" to stderr and returns 1; after a clean
 * stop returns 0. Call serve_block_signals() first. */
int serve_run(KilnConfig *cfg, const KilnConfigLayer *base, const KilnConfigLayer *flags);

/* `kiln serve [flags]`: parses flags, loads the config, runs. */
int serve_main(int argc, char **argv);

#endif
