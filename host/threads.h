/* threads.h — the run's worker pool: `threads: N` threads in all (the
 * caller and N - 1 workers), started once per run and reused by every
 * parallel loop, so a loop allocates nothing and starts no thread.
 *
 * A loop hands out indices 0..count-1; fn(arg, worker, index) runs once
 * for each, on any thread.  `worker` (< vh_pool_size) names the thread, so
 * fn can use that thread's own buffers.  Results must depend only on the
 * index (the host's random streams are named by it), never on the worker
 * or the order: then a run's output is the same bytes for every N.
 *
 * Workers wait for the next loop by spinning briefly (a loop per iteration
 * of the fit comes every few hundred microseconds), then sleeping. */
#ifndef VH_THREADS_H
#define VH_THREADS_H

#include <stddef.h>
#include "errors.h"

typedef struct vh_pool vh_pool;

/* The body of a parallel loop. */
typedef void (*vh_pool_fn)(void *arg, size_t worker, size_t index);

/* Starts a pool of n threads in all (n >= 1; n == 1 starts none).  Fails
 * (exit 1) when a thread cannot be started, naming how many were asked. */
int vh_pool_create(size_t n, vh_pool **out, vh_err *err);
/* Stops and joins the workers.  NULL is a no-op. */
void vh_pool_free(vh_pool *pool);
/* Threads in the pool, the caller included; 1 for NULL. */
size_t vh_pool_size(const vh_pool *pool);

/* Runs fn for every index in [0, count) and returns when all are done.
 * The caller works too (as worker 0).  With a NULL pool, one thread or
 * count <= 1 it runs them in order on the caller.  Not reentrant: fn must
 * not call vh_pool_run. */
void vh_pool_run(vh_pool *pool, size_t count, vh_pool_fn fn, void *arg);

/* The CPUs this process may run on (sched_getaffinity), at least 1. */
size_t vh_cpu_count(void);

#endif
