/*
 * work.h: worker threads for requests that block on the database.
 *
 * The HTTP event loops never block: a request that needs the database is
 * suspended and its job queued here; a worker runs it and resumes it.
 * A job that waits in the queue past its deadline is expired instead of
 * run (the pool's checkout timeout, seen from the client). Jobs are
 * intrusive: the caller owns the KilnJob memory until its fn has run.
 */
#ifndef KILN_WORK_H
#define KILN_WORK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct KilnJob {
    void (*fn)(struct KilnJob *job, bool expired); /* runs exactly once */
    int64_t deadline_us; /* kiln_now_us() clock; 0 = none */
    struct KilnJob *next; /* owned by work.c while queued */
} KilnJob;

typedef struct KilnWork KilnWork;

/* Starts nthreads workers and one expiry thread. */
KilnWork *work_create(int nthreads);

/* Queues job; fn(job, false) runs on a worker, or fn(job, true) on the
 * expiry thread once its deadline passes while still queued. */
void work_submit(KilnWork *w, KilnJob *job);

/* Jobs queued or running right now. */
int work_pending(KilnWork *w);

/* Runs what is queued to completion, stops and joins the threads. NULL is a
 * no-op. */
void work_free(KilnWork *w);

#endif
