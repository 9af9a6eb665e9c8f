/* threads.c — the worker pool (see threads.h).
 *
 * A loop is published as a ticket, one 64-bit word: the loop's number in
 * the high half and the next index to hand out in the low half.  A thread
 * takes an index with one compare-and-swap on the ticket, which succeeds
 * only while the loop it read is still the current one; the loop's
 * function, argument and count sit in one of two slots (by the loop's
 * parity), written before the ticket is.  The caller waits only for the
 * indices to be done, never for a worker to turn up: a worker that the
 * system has not scheduled yet (another process has its core) costs
 * nothing, as the caller and the others take its share. */
#include "threads.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sched.h>
#endif

/* How long a thread spins before it sleeps: workers between two loops,
 * the caller while the last indices of a loop finish. */
#define VH_POOL_SPIN_NS 100000
/* Indices per loop the 32-bit half of the ticket holds. */
#define VH_POOL_MAX_COUNT ((size_t)UINT32_MAX)

typedef struct vh_pool_job {
    vh_pool_fn fn;
    void *arg;
    atomic_size_t count;
} vh_pool_job;

struct vh_pool {
    size_t n;                    /* threads in all, the caller included */
    pthread_t *threads;          /* n - 1 workers */
    size_t started;
    pthread_mutex_t lock;
    pthread_cond_t wake;         /* workers sleep here between loops */
    pthread_cond_t finished;     /* the caller sleeps here until a loop is done */
    size_t sleepers;             /* workers in `wake` (under lock) */
    int caller_waits;            /* the caller is in `finished` (under lock) */
    vh_pool_job jobs[2];         /* loop g's in jobs[g % 2] */
    atomic_uint_fast64_t ticket; /* loop << 32 | next index */
    atomic_size_t done;          /* indices of the current loop finished */
    atomic_uint_fast64_t loops;  /* loops published; workers wake on a change */
    atomic_int stop;
};

typedef struct vh_worker {
    vh_pool *pool;
    size_t id;
} vh_worker;

static uint64_t pool_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One turn of a spin: a pause hint.  No sched_yield: on a machine with
 * other work it hands this core to another process for a whole time
 * slice, far longer than the wait. */
static void pool_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Takes and runs indices of whatever loop is current until it has none
 * left; the one that finishes a loop's last index tells the caller. */
static void pool_work(vh_pool *pool, size_t worker)
{
    for (;;) {
        uint_fast64_t t = atomic_load_explicit(&pool->ticket, memory_order_acquire);
        vh_pool_job *job = &pool->jobs[(t >> 32) & 1];
        size_t count = atomic_load_explicit(&job->count, memory_order_relaxed);
        size_t i = (size_t)(t & 0xFFFFFFFFu);
        if (i >= count)
            return;
        if (!atomic_compare_exchange_weak_explicit(&pool->ticket, &t, t + 1,
                                                   memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        /* The index is ours, so this loop is not over: its slot stays. */
        job->fn(job->arg, worker, i);
        if (atomic_fetch_add_explicit(&pool->done, 1, memory_order_acq_rel) + 1 == count &&
            worker != 0) {
            pthread_mutex_lock(&pool->lock);
            if (pool->caller_waits)
                pthread_cond_signal(&pool->finished);
            pthread_mutex_unlock(&pool->lock);
        }
    }
}

/* Waits until loops differs from `seen` (or the pool stops); returns it. */
static uint64_t pool_wait_loop(vh_pool *pool, uint64_t seen)
{
    uint64_t start = pool_clock_ns(), g;
    for (unsigned turn = 0;; turn++) {
        g = atomic_load_explicit(&pool->loops, memory_order_acquire);
        if (g != seen || atomic_load(&pool->stop))
            return g;
        if (turn % 64 == 63 && pool_clock_ns() - start > VH_POOL_SPIN_NS)
            break;
        pool_relax();
    }
    pthread_mutex_lock(&pool->lock);
    pool->sleepers++;
    while ((g = atomic_load_explicit(&pool->loops, memory_order_acquire)) == seen &&
           !atomic_load(&pool->stop))
        pthread_cond_wait(&pool->wake, &pool->lock);
    pool->sleepers--;
    pthread_mutex_unlock(&pool->lock);
    return g;
}

static void *pool_worker_main(void *p)
{
    vh_worker *self = p;
    vh_pool *pool = self->pool;
    uint64_t seen = 0;
    for (;;) {
        seen = pool_wait_loop(pool, seen);
        if (atomic_load(&pool->stop))
            return NULL;
        pool_work(pool, self->id);
    }
}

size_t vh_cpu_count(void)
{
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (size_t)CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

size_t vh_pool_size(const vh_pool *pool)
{
    return pool != NULL ? pool->n : 1;
}

/* Starts the workers with every signal blocked, so that signals reach the
 * main thread. */
static int pool_start(vh_pool *pool, vh_worker *workers)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (size_t i = 1; i < pool->n && rc == 0; i++) {
        workers[i - 1] = (vh_worker){pool, i};
        rc = pthread_create(&pool->threads[i - 1], NULL, pool_worker_main, &workers[i - 1]);
        if (rc == 0)
            pool->started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int vh_pool_create(size_t n, vh_pool **out, vh_err *err)
{
    *out = NULL;
    if (n <= 1)
        return 0;
    /* The workers' descriptors live right after the pool, freed with it. */
    vh_pool *pool = calloc(1, sizeof *pool + (n - 1) * sizeof(vh_worker));
    pthread_t *threads = calloc(n - 1, sizeof *threads);
    if (pool == NULL || threads == NULL) {
        free(pool);
        free(threads);
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory for %zu threads", n);
    }
    pool->n = n;
    pool->threads = threads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->finished, NULL);
    atomic_init(&pool->jobs[0].count, 0);
    atomic_init(&pool->jobs[1].count, 0);
    atomic_init(&pool->ticket, 0);
    atomic_init(&pool->done, 0);
    atomic_init(&pool->loops, 0);
    atomic_init(&pool->stop, 0);
    int rc = pool_start(pool, (vh_worker *)(pool + 1));
    if (rc != 0) {
        vh_pool_free(pool);
        return vh_err_set(err, VH_EXIT_FAILURE, "cannot start %zu worker threads (threads: %zu): %s",
                          n - 1, n, strerror(rc));
    }
    *out = pool;
    return 0;
}

void vh_pool_free(vh_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stop, 1);
    atomic_fetch_add_explicit(&pool->loops, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->started; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->finished);
    free(pool->threads);
    free(pool);
}

/* One loop of at most VH_POOL_MAX_COUNT indices. */
static void pool_run_loop(vh_pool *pool, size_t count, vh_pool_fn fn, void *arg)
{
    uint64_t loop = atomic_load_explicit(&pool->loops, memory_order_relaxed) + 1;
    vh_pool_job *job = &pool->jobs[loop & 1];
    job->fn = fn;
    job->arg = arg;
    atomic_store_explicit(&job->count, count, memory_order_relaxed);
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->ticket, (uint_fast64_t)(loop & 0xFFFFFFFFu) << 32,
                          memory_order_release);
    atomic_store_explicit(&pool->loops, loop, memory_order_release);
    pthread_mutex_lock(&pool->lock);
    if (pool->sleepers > 0)
        pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    pool_work(pool, 0);
    uint64_t start = pool_clock_ns();
    for (unsigned turn = 0; atomic_load_explicit(&pool->done, memory_order_acquire) != count;
         turn++) {
        if (turn % 64 == 63 && pool_clock_ns() - start > VH_POOL_SPIN_NS)
            break;
        pool_relax();
    }
    pthread_mutex_lock(&pool->lock);
    pool->caller_waits = 1;
    while (atomic_load_explicit(&pool->done, memory_order_acquire) != count)
        pthread_cond_wait(&pool->finished, &pool->lock);
    pool->caller_waits = 0;
    pthread_mutex_unlock(&pool->lock);
}

void vh_pool_run(vh_pool *pool, size_t count, vh_pool_fn fn, void *arg)
{
    if (pool == NULL || pool->n <= 1 || count <= 1) {
        for (size_t i = 0; i < count; i++)
            fn(arg, 0, i);
        return;
    }
    /* Runs of more indices than the ticket holds go in pieces. */
    for (size_t first = 0; first < count; first += VH_POOL_MAX_COUNT) {
        size_t n = count - first < VH_POOL_MAX_COUNT ? count - first : VH_POOL_MAX_COUNT;
        if (first == 0) {
            pool_run_loop(pool, n, fn, arg);
            continue;
        }
        /* Not reached for any count vihost uses (draws per estimate). */
        for (size_t i = 0; i < n; i++)
            fn(arg, 0, first + i);
    }
}
