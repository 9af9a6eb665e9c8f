/* checkers.h — the pieces `vihost check` is made of (check.h): what one
 * check is, the helpers every check uses (finite differences, error
 * measures, threads, heap statistics), and the lists of checks per kind
 * (check_target.c, check_family.c, check_optimizer.c).  A check runs in a
 * child process; it may crash, and must leave nothing behind otherwise. */
#ifndef VH_CHECKERS_H
#define VH_CHECKERS_H

#include <stddef.h>
#include <stdint.h>
#include <vihost/plugin.h>

#include "loader.h"
#include "rng.h"

typedef enum check_result {
    CHECK_PASS = 0,
    CHECK_FAIL = 1,
    CHECK_SKIP = 2
} check_result;

/* What a check is given: the component, its validated configuration and
 * host view, and the settings of the run. */
typedef struct check_ctx {
    const vh_component *component;
    const vi_config *config;
    const vi_host *host;
    uint64_t seed;
    int level;               /* 1..3 */
    int fd;                  /* where stage notes go (the child's pipe); -1: nowhere */
    const char *plugin_path; /* the plugin file, absolute */
    int defaults_only;       /* the config is the option defaults (no --config section) */
    size_t family_dim;       /* the dimension families are created for */
    const struct vh_runfile *run;  /* --config, or NULL */
    int allow_insecure;      /* --allow-insecure-plugins */
} check_ctx;

/* A check writes one line into detail (the table's last column) and
 * returns its result. */
typedef check_result (*check_fn)(const check_ctx *ctx, char *detail, size_t size);

typedef struct check_item {
    const char *name;        /* the table's CHECK column */
    check_fn run;
} check_item;

/* The checks of each kind, in order, ended by {NULL, NULL}.  The first is
 * always "create": when it fails, the rest are skipped. */
extern const check_item vh_target_checks[];
extern const check_item vh_family_checks[];
extern const check_item vh_optimizer_checks[];

/* The dimension families are created with when --config names no target
 * to take it from, and the parameter count optimizers are created with. */
#define CHECK_FAMILY_DIM 3
#define CHECK_OPTIMIZER_N 6
/* Largest relative error a gradient may have against finite differences. */
#define CHECK_GRAD_TOL 1e-5

/* Notes what the child is about to do ("create", "log_density at point
 * 3"), so that a crash is reported with where it happened. */
void check_stage(const check_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Write detail; return the result. */
check_result check_pass(char *detail, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
check_result check_fail(char *detail, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
check_result check_skip(char *detail, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* l1, l2 or l3 by the level. */
size_t check_by_level(const check_ctx *ctx, size_t l1, size_t l2, size_t l3);

/* A fresh vi_error, and its message or "no message". */
void check_error_init(vi_error *err);
const char *check_error_text(const vi_error *err);

/* |a - b| / max(1, |a|, |b|): relative for large values, absolute for
 * small ones; +inf when either is not finite. */
double check_rel_error(double a, double b);

/* A scalar function of x for finite differences; returns 0 or a status. */
typedef int (*check_scalar)(void *data, const double *x, double *out);

/* d f / d x[i] by the fourth-order central difference
 *     (-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / (12 h),
 * h = 7e-4 max(1, |x[i]|).  x is changed and put back exactly.  Returns 0
 * or the first nonzero status of f; a non-finite f value gives
 * VI_ENUMERIC. */
int check_diff(check_scalar f, void *data, double *x, size_t i, double *out);

/* Finite differences cost 4 calls a coordinate, so at most this many
 * coordinates are compared at each point; check_coordinate spreads them
 * over all n, shifted from point to point. */
#define CHECK_MAX_COORDS 64
size_t check_coordinates(size_t n);
size_t check_coordinate(size_t n, size_t point, size_t j);

/* Runs fn(arg, t) for t = 0..n-1 on n threads at once, returns 0 when all
 * ran, -1 when a thread could not be started. */
int check_threads(size_t n, void (*fn)(void *arg, size_t t), void *arg);

/* Bytes the heap has handed out and not taken back (mallinfo2), or 0
 * when the allocator does not say (then leak checks are skipped). */
size_t check_heap_in_use(void);

/* The result of create/destroy repeated: heap bytes kept per cycle. */
typedef int (*check_cycle)(const check_ctx *ctx, vi_error *err);
check_result check_repeat(const check_ctx *ctx, check_cycle cycle, char *detail,
                          size_t size);

/* Standard normals into x[0..n) from stream (seed, VH_RNG_TEST, a, b). */
void check_normals(const check_ctx *ctx, uint64_t a, uint64_t b, double *x, size_t n);

/* Allocates n doubles (at least one), zeroed; never NULL (a child that
 * runs out of memory exits and the check is reported failed). */
double *check_doubles(size_t n);

#endif
