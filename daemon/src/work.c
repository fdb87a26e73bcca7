/*
 * work.c: a FIFO job queue served by a fixed set of worker threads, plus an
 * expiry thread that completes jobs whose deadline passed while queued.
 *
 * The expiry thread sleeps until the earliest deadline it saw and is woken
 * only when a new job's deadline is earlier than that (or it sleeps with no
 * deadline): jobs come with the same timeout in FIFO order, so under load
 * it wakes about once per timeout, not once per job. A job taken by a
 * worker never wakes it; at worst it wakes early, rescans and sleeps again.
 */
#include "work.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "request.h"

struct KilnWork {
    pthread_mutex_t lock;
    pthread_cond_t has_job;  /* workers wait here */
    pthread_cond_t changed;  /* the expiry thread waits here */
    KilnJob *head, *tail;
    int queued, running;
    bool stopping;
    bool expiry_sleeping; /* the expiry thread waits on changed ... */
    int64_t expiry_until; /* ... until this deadline (0: no deadline) */
    int nthreads;
    pthread_t *threads;
    pthread_t expiry;
};

static void *worker_main(void *arg)
{
    KilnWork *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->has_job, &w->lock);
        if (!w->head && w->stopping)
            break;
        KilnJob *job = w->head;
        w->head = job->next;
        if (!w->head)
            w->tail = NULL;
        w->queued--;
        w->running++;
        pthread_mutex_unlock(&w->lock);
        job->fn(job, false);
        pthread_mutex_lock(&w->lock);
        w->running--;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static struct timespec abs_from_monotonic_us(int64_t deadline_us)
{
    /* Condition variables here use CLOCK_MONOTONIC (see work_create). */
    struct timespec ts = {.tv_sec = deadline_us / 1000000,
                          .tv_nsec = (long)(deadline_us % 1000000) * 1000};
    return ts;
}

static void *expiry_main(void *arg)
{
    KilnWork *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        int64_t now = kiln_now_us();
        int64_t next = 0;
        KilnJob *expired = NULL, **link = &w->head, *prev = NULL;
        while (*link) {
            KilnJob *j = *link;
            if (j->deadline_us && j->deadline_us <= now) {
                *link = j->next;
                if (w->tail == j)
                    w->tail = prev;
                w->queued--;
                j->next = expired;
                expired = j;
                continue;
            }
            if (j->deadline_us && (!next || j->deadline_us < next))
                next = j->deadline_us;
            prev = j;
            link = &j->next;
        }
        if (expired) {
            pthread_mutex_unlock(&w->lock);
            while (expired) {
                KilnJob *j = expired;
                expired = j->next;
                j->fn(j, true);
            }
            pthread_mutex_lock(&w->lock);
            continue;
        }
        w->expiry_sleeping = true;
        w->expiry_until = next;
        if (next) {
            struct timespec ts = abs_from_monotonic_us(next);
            pthread_cond_timedwait(&w->changed, &w->lock, &ts);
        } else {
            pthread_cond_wait(&w->changed, &w->lock);
        }
        w->expiry_sleeping = false;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

KilnWork *work_create(int nthreads)
{
    KilnWork *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->has_job, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->changed, &ca);
    pthread_condattr_destroy(&ca);
    w->nthreads = nthreads;
    w->threads = calloc((size_t)nthreads, sizeof *w->threads);
    if (!w->threads)
        abort();
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
            abort();
    if (pthread_create(&w->expiry, NULL, expiry_main, w) != 0)
        abort();
    return w;
}

void work_submit(KilnWork *w, KilnJob *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    w->queued++;
    pthread_cond_signal(&w->has_job);
    if (job->deadline_us && w->expiry_sleeping &&
        (!w->expiry_until || job->deadline_us < w->expiry_until))
        pthread_cond_signal(&w->changed);
    pthread_mutex_unlock(&w->lock);
}

int work_pending(KilnWork *w)
{
    pthread_mutex_lock(&w->lock);
    int n = w->queued + w->running;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void work_free(KilnWork *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->has_job);
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    pthread_join(w->expiry, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->has_job);
    pthread_cond_destroy(&w->changed);
    free(w->threads);
    free(w);
}
