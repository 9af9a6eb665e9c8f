/* threads.c — the worker pool (see threads.h). */
#include "threads.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long a thread spins before it sleeps: workers between two loops,
 * the caller while the last indices of a loop finish. */
#define VH_POOL_SPIN_NS 100000

struct vh_pool {
    size_t n;                    /* threads in all, the caller included */
    pthread_t *threads;          /* n - 1 workers */
    size_t started;
    pthread_mutex_t lock;
    pthread_cond_t wake;         /* workers sleep here between loops */
    pthread_cond_t done;         /* the caller sleeps here until a loop ends */
    size_t sleepers;             /* workers in wake (under lock) */
    /* The current loop: written before `generation` is bumped. */
    vh_pool_fn fn;
    void *arg;
    size_t count;
    atomic_size_t next;          /* the next index to hand out */
    atomic_size_t busy;          /* workers still in this loop */
    atomic_uint_fast64_t generation;
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

/* One turn of a spin: a pause hint, and a yield now and then so that an
 * oversubscribed machine runs the threads that have work. */
static void pool_relax(unsigned turn)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (turn % 64 == 63)
        sched_yield();
}

/* Hands out indices until none are left. */
static void pool_work(vh_pool *pool, size_t worker)
{
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed);
        if (i >= pool->count)
            return;
        pool->fn(pool->arg, worker, i);
    }
}

/* Waits until the generation differs from `seen` (or the pool stops);
 * returns the new one. */
static uint64_t pool_wait_loop(vh_pool *pool, uint64_t seen)
{
    uint64_t start = pool_clock_ns(), g;
    for (unsigned turn = 0;; turn++) {
        g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != seen || atomic_load(&pool->stop))
            return g;
        if (turn % 64 == 63 && pool_clock_ns() - start > VH_POOL_SPIN_NS)
            break;
        pool_relax(turn);
    }
    pthread_mutex_lock(&pool->lock);
    pool->sleepers++;
    while ((g = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
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
        if (atomic_fetch_sub_explicit(&pool->busy, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_broadcast(&pool->done);
            pthread_mutex_unlock(&pool->lock);
        }
    }
}

size_t vh_cpu_count(void)
{
#ifdef CPU_COUNT
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
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->next, 0);
    atomic_init(&pool->busy, 0);
    atomic_init(&pool->generation, 0);
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
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->started; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool);
}

void vh_pool_run(vh_pool *pool, size_t count, vh_pool_fn fn, void *arg)
{
    if (pool == NULL || pool->n <= 1 || count <= 1) {
        for (size_t i = 0; i < count; i++)
            fn(arg, 0, i);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    pool->count = count;
    atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->busy, pool->n - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_mutex_lock(&pool->lock);
    if (pool->sleepers > 0)
        pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    pool_work(pool, 0);
    uint64_t start = pool_clock_ns();
    for (unsigned turn = 0; atomic_load_explicit(&pool->busy, memory_order_acquire) != 0;
         turn++) {
        if (turn % 64 == 63 && pool_clock_ns() - start > VH_POOL_SPIN_NS)
            break;
        pool_relax(turn);
    }
    pthread_mutex_lock(&pool->lock);
    while (atomic_load_explicit(&pool->busy, memory_order_acquire) != 0)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}
