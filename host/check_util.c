/* check_util.c — helpers shared by the checks of `vihost check` (see
 * checkers.h). */
#define _GNU_SOURCE /* mallinfo2 */
#include "checkers.h"

#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "loader.h"

void check_stage(const check_ctx *ctx, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    if (ctx->fd < 0)
        return;
    line[0] = '@';
    va_start(ap, fmt);
    vsnprintf(line + 1, sizeof line - 2, fmt, ap);
    va_end(ap);
    line[strcspn(line, "\n")] = '\0';
    size_t len = strlen(line);
    line[len++] = '\n';
    /* One write per note, under PIPE_BUF, so notes never interleave. */
    if (write(ctx->fd, line, len) < 0)
        return;
}

static check_result put_detail(check_result result, char *detail, size_t size,
                               const char *fmt, va_list ap)
{
    vsnprintf(detail, size, fmt, ap);
    detail[strcspn(detail, "\n")] = '\0';
    return result;
}

check_result check_pass(char *detail, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_detail(CHECK_PASS, detail, size, fmt, ap);
    va_end(ap);
    return CHECK_PASS;
}

check_result check_fail(char *detail, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_detail(CHECK_FAIL, detail, size, fmt, ap);
    va_end(ap);
    return CHECK_FAIL;
}

check_result check_skip(char *detail, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_detail(CHECK_SKIP, detail, size, fmt, ap);
    va_end(ap);
    return CHECK_SKIP;
}

size_t check_by_level(const check_ctx *ctx, size_t l1, size_t l2, size_t l3)
{
    return ctx->level <= 1 ? l1 : ctx->level == 2 ? l2 : l3;
}

void check_error_init(vi_error *err)
{
    memset(err, 0, sizeof *err);
    err->struct_size = sizeof *err;
}

const char *check_error_text(const vi_error *err)
{
    return err->message[0] ? err->message : "no message";
}

double check_rel_error(double a, double b)
{
    if (!isfinite(a) || !isfinite(b))
        return INFINITY;
    double scale = fmax(1.0, fmax(fabs(a), fabs(b)));
    return fabs(a - b) / scale;
}

/* f at x with x[i] = x0 + t; a representable offset. */
static int eval_at(check_scalar f, void *data, double *x, size_t i, double x0, double t,
                   double *out)
{
    x[i] = x0 + t;
    int status = f(data, x, out);
    if (status == 0 && !isfinite(*out))
        status = VI_ENUMERIC;
    return status;
}

int check_diff(check_scalar f, void *data, double *x, size_t i, double *out)
{
    const double x0 = x[i];
    /* eps^(1/5): balances the stencil's h^4 error against rounding. */
    volatile double up = x0 + 7e-4 * fmax(1.0, fabs(x0));
    const double h = up - x0;
    double f2p, f1p, f1m, f2m;
    int status = eval_at(f, data, x, i, x0, 2.0 * h, &f2p);
    if (status == 0)
        status = eval_at(f, data, x, i, x0, h, &f1p);
    if (status == 0)
        status = eval_at(f, data, x, i, x0, -h, &f1m);
    if (status == 0)
        status = eval_at(f, data, x, i, x0, -2.0 * h, &f2m);
    x[i] = x0;
    if (status == 0)
        *out = (-f2p + 8.0 * f1p - 8.0 * f1m + f2m) / (12.0 * h);
    return status;
}

size_t check_coordinates(size_t n)
{
    return n < CHECK_MAX_COORDS ? n : CHECK_MAX_COORDS;
}

size_t check_coordinate(size_t n, size_t point, size_t j)
{
    if (n <= CHECK_MAX_COORDS)
        return j;
    return (j * (n / CHECK_MAX_COORDS) + point) % n;
}

typedef struct thread_job {
    void (*fn)(void *arg, size_t t);
    void *arg;
    size_t t;
} thread_job;

static void *thread_main(void *p)
{
    thread_job *job = p;
    job->fn(job->arg, job->t);
    return NULL;
}

int check_threads(size_t n, void (*fn)(void *arg, size_t t), void *arg)
{
    pthread_t *ids = calloc(n, sizeof *ids);
    thread_job *jobs = calloc(n, sizeof *jobs);
    size_t started = 0;
    if (ids == NULL || jobs == NULL) {
        free(ids);
        free(jobs);
        return -1;
    }
    for (; started < n; started++) {
        jobs[started] = (thread_job){fn, arg, started};
        if (pthread_create(&ids[started], NULL, thread_main, &jobs[started]) != 0)
            break;
    }
    for (size_t t = 0; t < started; t++)
        pthread_join(ids[t], NULL);
    free(ids);
    free(jobs);
    return started == n ? 0 : -1;
}

size_t check_heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#else
    return 0;
#endif
}

/* True when the heap statistics move with an allocation (not so under
 * AddressSanitizer, or off glibc). */
static int heap_measurable(void)
{
    size_t before = check_heap_in_use();
    char *volatile probe = malloc(4096);
    size_t during = check_heap_in_use();
    free(probe);
    return probe != NULL && during >= before + 4096;
}

#define WARM_UP 10

check_result check_repeat(const check_ctx *ctx, check_cycle cycle, char *detail,
                          size_t size)
{
    vi_error err;
    size_t n = check_by_level(ctx, 20, 100, 400);
    int measurable = heap_measurable();
    /* Warm-up cycles (after the probe, which moves the heap too): first-use
     * caches of the plugin and of libc settle, and glibc's per-thread cache
     * fills (it keeps up to 7 freed blocks per size, counted as in use, and
     * calloc never takes from it). */
    for (int i = 0; i < WARM_UP; i++) {
        check_error_init(&err);
        check_stage(ctx, "create/destroy, warm-up cycle %d", i + 1);
        if (cycle(ctx, &err) != 0)
            return check_fail(detail, size, "create failed on cycle %d: %s", i + 1,
                              check_error_text(&err));
    }
    if (!measurable)
        return check_skip(detail, size,
                          "the allocator gives no heap statistics here (sanitizer build?)");
    size_t before = check_heap_in_use();
    for (size_t i = 0; i < n; i++) {
        check_error_init(&err);
        check_stage(ctx, "create/destroy, cycle %zu", i + 1 + WARM_UP);
        if (cycle(ctx, &err) != 0)
            return check_fail(detail, size, "create failed on cycle %zu: %s", i + 1 + WARM_UP,
                              check_error_text(&err));
    }
    size_t after = check_heap_in_use();
    /* A leak of even one small block per cycle shows as n blocks. */
    if (after > before && after - before >= 8 * n)
        return check_fail(detail, size,
                          "%zu cycles kept %zu heap bytes (%.0f per create/destroy): destroy "
                          "does not free everything create allocates",
                          n, after - before, (double)(after - before) / (double)n);
    if (after > before)
        return check_pass(detail, size, "%zu cycles kept %zu heap bytes: less than a block "
                          "per cycle", n, after - before);
    return check_pass(detail, size, "%zu cycles, no heap growth", n);
}

void check_normals(const check_ctx *ctx, uint64_t a, uint64_t b, double *x, size_t n)
{
    vi_rng rng;
    vh_rng_init(&rng, ctx->seed, VH_RNG_TEST, a, b);
    vh_rng_normal_fill(&rng, x, n);
}

double *check_doubles(size_t n)
{
    double *p = calloc(n + 1, sizeof *p);
    if (p == NULL)
        _exit(VH_EXIT_FAILURE);
    return p;
}
