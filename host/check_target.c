/* check_target.c — the checks of a target (see checkers.h). */
#include "checkers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One created instance and its buffers. */
typedef struct target_run {
    const vi_target_desc *d;
    void *self;
    size_t dim;
    double *work;
    double *theta, *grad, *grad2;   /* dim each */
} target_run;

static int target_open(const check_ctx *ctx, target_run *t, vi_error *err)
{
    memset(t, 0, sizeof *t);
    t->d = (const vi_target_desc *)ctx->component->head;
    check_stage(ctx, "create");
    int status = t->d->create(ctx->host, ctx->config, &t->self, err);
    if (status != 0)
        return status;
    check_stage(ctx, "dim");
    t->dim = t->d->dim(t->self);
    check_stage(ctx, "workspace_size");
    t->work = check_doubles(t->d->workspace_size ? t->d->workspace_size(t->self) : 0);
    t->theta = check_doubles(t->dim);
    t->grad = check_doubles(t->dim);
    t->grad2 = check_doubles(t->dim);
    return 0;
}

static void target_close(const check_ctx *ctx, target_run *t)
{
    check_stage(ctx, "destroy");
    t->d->destroy(t->self);
    free(t->work);
    free(t->theta);
    free(t->grad);
    free(t->grad2);
}

static int target_no_gradient(const target_run *t)
{
    if (t->d->flags & VI_FLAG_NO_GRADIENT)
        return 1;
#ifdef VI_TARGET_FINITE_ID
    /* A target on a finite set has no gradient to check. */
    if (t->d->get_extension && t->d->get_extension(t->self, VI_TARGET_FINITE_ID))
        return 1;
#endif
    return 0;
}

static int log_density(target_run *t, const double *theta, double *lp, double *grad,
                       vi_error *err)
{
    check_error_init(err);
    return t->d->log_density(t->self, theta, lp, grad, t->work, err);
}

/* check_scalar over theta: the log density alone. */
static int lp_of(void *data, const double *x, double *out)
{
    vi_error err;
    return log_density(data, x, out, NULL, &err);
}

/* Finds the point with index k: the first of the candidates k, k + 1000,
 * ... (standard normal coordinates) where the log density is finite.
 * Returns 0, or -1 when none of 8 candidates is. */
static int find_point(const check_ctx *ctx, target_run *t, size_t k, double *lp)
{
    vi_error err;
    for (uint64_t c = 0; c < 8; c++) {
        check_normals(ctx, 1, k + 1000 * c, t->theta, t->dim);
        check_stage(ctx, "log_density at point %zu", k + 1);
        if (log_density(t, t->theta, lp, NULL, &err) == 0 && isfinite(*lp))
            return 0;
    }
    return -1;
}

/* ------------------------------------------------------------------ */

static check_result check_create(const check_ctx *ctx, char *detail, size_t size)
{
    target_run t;
    vi_error err;
    check_error_init(&err);
    int status = target_open(ctx, &t, &err);
    if (status != 0)
        return check_fail(detail, size, "create failed (status %d): %s%s", status,
                          check_error_text(&err), ctx->defaults_only ? " (with the option "
                          "defaults; give options and data with --config RUNFILE)" : "");
    if (t.dim == 0) {
        target_close(ctx, &t);
        return check_fail(detail, size, "dim is 0: a target needs at least one parameter");
    }
    for (size_t i = 0; i < t.dim; i++) {
        check_stage(ctx, "param_name(%zu)", i);
        const char *name = t.d->param_name(t.self, i);
        if (name == NULL || name[0] == '\0') {
            target_close(ctx, &t);
            return check_fail(detail, size, "param_name(%zu) is %s", i,
                              name ? "empty" : "NULL");
        }
    }
    size_t cdim = t.d->constrained_dim ? t.d->constrained_dim(t.self) : t.dim;
    for (size_t i = 0; t.d->constrained_name && i < cdim; i++) {
        check_stage(ctx, "constrained_name(%zu)", i);
        if (t.d->constrained_name(t.self, i) == NULL) {
            target_close(ctx, &t);
            return check_fail(detail, size, "constrained_name(%zu) is NULL", i);
        }
    }
    check_stage(ctx, "get_extension with an unknown id");
    if (t.d->get_extension && t.d->get_extension(t.self, "vi.check.no-such-extension/0")) {
        target_close(ctx, &t);
        return check_fail(detail, size, "get_extension answers an unknown id (must be NULL)");
    }
    const char *first = t.d->param_name(t.self, 0);
    check_pass(detail, size, "dim %zu (%s%s), %zu constrained value%s", t.dim, first,
               t.dim > 1 ? ", ..." : "", cdim, cdim == 1 ? "" : "s");
    target_close(ctx, &t);
    check_stage(ctx, "destroy(NULL)");
    t.d->destroy(NULL);
    return CHECK_PASS;
}

static int target_cycle(const check_ctx *ctx, vi_error *err)
{
    const vi_target_desc *d = (const vi_target_desc *)ctx->component->head;
    void *self = NULL;
    int status = d->create(ctx->host, ctx->config, &self, err);
    if (status == 0) {
        double lp;
        size_t dim = d->dim(self);
        size_t nw = d->workspace_size ? d->workspace_size(self) : 0;
        double *buf = check_doubles(2 * dim + nw);
        d->log_density(self, buf, &lp, (d->flags & VI_FLAG_NO_GRADIENT) ? NULL : buf + dim,
                       nw ? buf + 2 * dim : NULL, err);
        free(buf);
        d->destroy(self);
    }
    return status;
}

static check_result check_leaks(const check_ctx *ctx, char *detail, size_t size)
{
    return check_repeat(ctx, target_cycle, detail, size);
}

/* ------------------------------------------------------------------ */

/* The worst disagreement found so far. */
typedef struct worst {
    double err;
    size_t point, coord;
    double analytic, numeric;
} worst;

/* Checks the gradient at the current point t->theta: overwrite semantics,
 * lp with and without grad, and every coordinate against finite
 * differences.  Returns -1 with detail on a failure that is not a
 * disagreement. */
static int gradient_at(const check_ctx *ctx, target_run *t, size_t k, double lp0,
                       worst *w, size_t *compared, char *detail, size_t size)
{
    vi_error err;
    double lp;
    memset(t->grad, 0, t->dim * sizeof *t->grad);
    check_stage(ctx, "log_density with gradient at point %zu", k + 1);
    int status = log_density(t, t->theta, &lp, t->grad, &err);
    if (status != 0)
        return check_fail(detail, size, "log_density with a gradient failed at point %zu "
                          "(status %d): %s", k + 1, status, check_error_text(&err)), -1;
    if (check_rel_error(lp, lp0) > 1e-12)
        return check_fail(detail, size, "log density at point %zu is %.17g with a gradient "
                          "but %.17g without", k + 1, lp, lp0), -1;
    for (size_t i = 0; i < t->dim; i++)
        t->grad2[i] = 7.0;
    log_density(t, t->theta, &lp, t->grad2, &err);
    if (memcmp(t->grad, t->grad2, t->dim * sizeof *t->grad) != 0)
        return check_fail(detail, size, "the gradient depends on what grad held before the "
                          "call: log_density must overwrite grad, not add to it"), -1;
    for (size_t j = 0; j < check_coordinates(t->dim); j++) {
        size_t i = check_coordinate(t->dim, k, j);
        double fd;
        check_stage(ctx, "finite differences at point %zu, coordinate %zu", k + 1, i + 1);
        if (check_diff(lp_of, t, t->theta, i, &fd) != 0)
            continue; /* too near an edge of the support */
        double e = check_rel_error(t->grad[i], fd);
        (*compared)++;
        if (e > w->err || (isnan(e) && !isnan(w->err)))
            *w = (worst){e, k, i, t->grad[i], fd};
    }
    return 0;
}

static check_result check_gradient(const check_ctx *ctx, char *detail, size_t size)
{
    target_run t;
    vi_error err;
    check_error_init(&err);
    if (target_open(ctx, &t, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    if (target_no_gradient(&t)) {
        target_close(ctx, &t);
        return check_skip(detail, size, "no gradient (VI_FLAG_NO_GRADIENT or a finite set): "
                          "the host uses finite differences");
    }
    size_t n_points = check_by_level(ctx, 3, 10, 40), used = 0, compared = 0;
    worst w = {0.0, 0, 0, 0.0, 0.0};
    for (size_t k = 0; k < n_points; k++) {
        double lp0;
        if (find_point(ctx, &t, k, &lp0) != 0)
            continue;
        used++;
        if (gradient_at(ctx, &t, k, lp0, &w, &compared, detail, size) != 0) {
            target_close(ctx, &t);
            return CHECK_FAIL;
        }
    }
    const char *name = compared ? t.d->param_name(t.self, w.coord) : "";
    char where[200];
    snprintf(where, sizeof where, "coordinate %zu (%s) of point %zu", w.coord + 1,
             name ? name : "?", w.point + 1);
    check_result r;
    if (used == 0)
        r = check_fail(detail, size, "the log density is not finite at any of %zu random "
                       "points (standard normal coordinates)", n_points);
    else if (compared == 0)
        r = check_skip(detail, size, "finite differences failed at every coordinate of %zu "
                       "points (each too near an edge of the support)", used);
    else if (!(w.err <= CHECK_GRAD_TOL))
        r = check_fail(detail, size, "worst relative error %.3g at %s: gradient %.10g, finite "
                       "differences %.10g (tolerance %g)", w.err, where, w.analytic, w.numeric,
                       CHECK_GRAD_TOL);
    else
        r = check_pass(detail, size, "worst relative error %.2g at %s; %zu points", w.err,
                       where, used);
    target_close(ctx, &t);
    return r;
}

/* ------------------------------------------------------------------ */

static check_result check_constrain(const check_ctx *ctx, char *detail, size_t size)
{
    target_run t;
    vi_error err;
    const vi_target_desc *d = (const vi_target_desc *)ctx->component->head;
    if (d->constrain == NULL)
        return check_skip(detail, size, "no constrain: theta is reported as is");
    check_error_init(&err);
    if (target_open(ctx, &t, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    size_t cdim = d->constrained_dim(t.self), n_points = check_by_level(ctx, 3, 10, 40);
    double *a = check_doubles(cdim), *b = check_doubles(cdim);
    check_result r = CHECK_PASS;
    for (size_t k = 0; k < n_points && r == CHECK_PASS; k++) {
        double lp;
        if (find_point(ctx, &t, k, &lp) != 0)
            continue;
        check_stage(ctx, "constrain at point %zu", k + 1);
        check_error_init(&err);
        int status = d->constrain(t.self, t.theta, a, &err);
        if (status != 0)
            r = check_fail(detail, size, "constrain failed at point %zu (status %d): %s",
                           k + 1, status, check_error_text(&err));
        for (size_t j = 0; r == CHECK_PASS && j < cdim; j++)
            if (!isfinite(a[j]))
                r = check_fail(detail, size, "constrain gives a non-finite %s at point %zu "
                               "where the log density is finite",
                               d->constrained_name(t.self, j), k + 1);
        d->constrain(t.self, t.theta, b, &err);
        if (r == CHECK_PASS && memcmp(a, b, cdim * sizeof *a) != 0)
            r = check_fail(detail, size, "constrain gives different values for one point");
    }
    if (r == CHECK_PASS)
        check_pass(detail, size, "%zu finite value%s at each of %zu points", cdim,
                   cdim == 1 ? "" : "s", n_points);
    free(a);
    free(b);
    target_close(ctx, &t);
    return r;
}

/* log_density_subset over every item with scale 1 is log_density. */
static check_result check_subset(const check_ctx *ctx, char *detail, size_t size)
{
    target_run t;
    vi_error err;
    const vi_target_desc *d = (const vi_target_desc *)ctx->component->head;
    if (d->log_density_subset == NULL)
        return check_skip(detail, size, "no log_density_subset");
    check_error_init(&err);
    if (target_open(ctx, &t, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    size_t n = d->n_items(t.self);
    size_t *idx = calloc(n + 1, sizeof *idx);
    for (size_t i = 0; idx && i < n; i++)
        idx[i] = i;
    int with_grad = !target_no_gradient(&t);
    double lp = NAN, lp_all = NAN, e = 0.0;
    check_result r = check_pass(detail, size, "no point with a finite log density");
    if (idx != NULL && find_point(ctx, &t, 0, &lp) == 0) {
        log_density(&t, t.theta, &lp, with_grad ? t.grad : NULL, &err);
        check_stage(ctx, "log_density_subset over all %zu items", n);
        check_error_init(&err);
        int status = d->log_density_subset(t.self, t.theta, idx, n, 1.0, &lp_all,
                                           with_grad ? t.grad2 : NULL, t.work, &err);
        e = check_rel_error(lp, lp_all);
        for (size_t i = 0; with_grad && i < t.dim; i++)
            e = fmax(e, check_rel_error(t.grad[i], t.grad2[i]));
        if (status != 0)
            r = check_fail(detail, size, "log_density_subset failed (status %d): %s", status,
                           check_error_text(&err));
        else if (!(e <= 1e-10))
            r = check_fail(detail, size, "over all %zu items with scale 1 it differs from "
                           "log_density by %.3g (relative)", n, e);
        else
            r = check_pass(detail, size, "all %zu items, scale 1: equals log_density "
                           "(relative difference %.2g)", n, e);
    }
    free(idx);
    target_close(ctx, &t);
    return r;
}

/* ------------------------------------------------------------------ */

/* Shared by the threads of the concurrency check. */
typedef struct target_threads {
    target_run *t;
    size_t n_points, rounds;
    const double *points;    /* n_points x dim */
    const double *want;      /* n_points x (1 + dim): serial lp and grad */
    int with_grad;
    int *mismatch;           /* per thread */
} target_threads;

static void target_thread(void *arg, size_t th)
{
    target_threads *s = arg;
    size_t dim = s->t->dim, stride = 1 + dim;
    size_t nw = s->t->d->workspace_size ? s->t->d->workspace_size(s->t->self) : 0;
    double *work = check_doubles(nw), *got = check_doubles(stride);
    vi_error err;
    for (size_t r = 0; r < s->rounds && !s->mismatch[th]; r++)
        for (size_t j = 0; j < s->n_points; j++) {
            /* Each thread starts at another point, so no two go in step. */
            size_t k = (j + th) % s->n_points;
            check_error_init(&err);
            s->t->d->log_density(s->t->self, s->points + k * dim, got,
                                 s->with_grad ? got + 1 : NULL, nw ? work : NULL, &err);
            if (memcmp(got, s->want + k * stride,
                       (s->with_grad ? stride : 1) * sizeof *got) != 0)
                s->mismatch[th] = 1 + (int)k;
        }
    free(work);
    free(got);
}

static check_result check_threads_target(const check_ctx *ctx, char *detail, size_t size)
{
    target_run t;
    vi_error err;
    if (ctx->component->head->flags & VI_FLAG_SERIAL)
        return check_skip(detail, size, "VI_FLAG_SERIAL: the host never calls it concurrently");
    check_error_init(&err);
    if (target_open(ctx, &t, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    size_t n_threads = check_by_level(ctx, 2, 4, 8), n_points = 8, stride = 1 + t.dim;
    target_threads s = {&t, n_points, check_by_level(ctx, 5, 20, 100), NULL, NULL,
                        !target_no_gradient(&t), NULL};
    double *points = check_doubles(n_points * t.dim), *want = check_doubles(n_points * stride);
    int *mismatch = calloc(n_threads, sizeof *mismatch);
    for (size_t k = 0; k < n_points; k++) {
        check_normals(ctx, 2, k, points + k * t.dim, t.dim);
        log_density(&t, points + k * t.dim, want + k * stride,
                    s.with_grad ? want + k * stride + 1 : NULL, &err);
    }
    s.points = points;
    s.want = want;
    s.mismatch = mismatch;
    check_stage(ctx, "log_density from %zu threads at once", n_threads);
    check_result r = check_pass(detail, size, "%zu threads x %zu calls: the same bits as one "
                                "thread", n_threads, s.rounds * n_points);
    if (mismatch == NULL || check_threads(n_threads, target_thread, &s) != 0)
        r = check_fail(detail, size, "could not start %zu threads", n_threads);
    for (size_t th = 0; r == CHECK_PASS && th < n_threads; th++)
        if (mismatch[th])
            r = check_fail(detail, size, "log_density at point %d differs when %zu threads "
                           "call it at once: it is not [any-thread] safe (shared state?); "
                           "fix it or set VI_FLAG_SERIAL", mismatch[th], n_threads);
    free(points);
    free(want);
    free(mismatch);
    target_close(ctx, &t);
    return r;
}

/* ------------------------------------------------------------------ */

/* One call at an unusual point: what it returned and whether that is
 * acceptable.  Returns 0 when it is. */
static int judge(int status, const vi_error *err, double lp, const double *grad, size_t dim,
                 int nan_input, char *why, size_t size)
{
    if (status != 0) {
        if (err->message[0] == '\0')
            return snprintf(why, size, "failed with status %d but no message in vi_error",
                            status), -1;
        return 0;
    }
    if (nan_input && isfinite(lp))
        return snprintf(why, size, "returned the finite log density %g", lp), -1;
    if (isnan(lp) && !nan_input)
        return snprintf(why, size, "returned NaN with status 0 (return VI_ENUMERIC or "
                        "VI_EDOMAIN with a message, or -INFINITY for zero density)"), -1;
    if (lp == INFINITY)
        return snprintf(why, size, "returned +inf"), -1;
    for (size_t i = 0; grad && isfinite(lp) && i < dim; i++)
        if (isnan(grad[i]))
            return snprintf(why, size, "returned a finite log density with a NaN gradient "
                            "(coordinate %zu)", i + 1), -1;
    return 0;
}

static check_result check_nan(const check_ctx *ctx, char *detail, size_t size)
{
    target_run t;
    vi_error err;
    check_error_init(&err);
    if (target_open(ctx, &t, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    static const double scales[] = {0.0 /* NaN */, 1e3, 1e8, 1e30};
    static const char *const names[] = {"a NaN coordinate", "|theta| ~ 1e3",
                                        "|theta| ~ 1e8", "|theta| ~ 1e30"};
    int with_grad = !target_no_gradient(&t);
    check_result r = CHECK_PASS;
    for (size_t c = 0; c < 4 && r == CHECK_PASS; c++) {
        char why[300];
        double lp = 0.0;
        check_normals(ctx, 3, c, t.theta, t.dim);
        for (size_t i = 0; i < t.dim; i++)
            t.theta[i] = c == 0 ? t.theta[i] : t.theta[i] * scales[c];
        if (c == 0)
            t.theta[t.dim - 1] = NAN;
        check_stage(ctx, "log_density at %s", names[c]);
        int status = log_density(&t, t.theta, &lp, with_grad ? t.grad : NULL, &err);
        if (judge(status, &err, lp, with_grad ? t.grad : NULL, t.dim, c == 0, why,
                  sizeof why) != 0)
            r = check_fail(detail, size, "log_density at %s %s", names[c], why);
    }
    if (r == CHECK_PASS)
        check_pass(detail, size, "a NaN input is refused; extreme points give a status, "
                   "-inf or a finite value");
    target_close(ctx, &t);
    return r;
}

const check_item vh_target_checks[] = {
    {"create", check_create},
    {"create/destroy repeated", check_leaks},
    {"gradient", check_gradient},
    {"constrain", check_constrain},
    {"log_density_subset", check_subset},
    {"threads", check_threads_target},
    {"NaN and infinity", check_nan},
    {NULL, NULL},
};
