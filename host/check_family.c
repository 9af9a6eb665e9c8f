/* check_family.c — the checks of a variational family (see checkers.h).
 * Families are created for targets of dimension ctx->family_dim (the
 * --config run file's target's, else CHECK_FAMILY_DIM) and
 * checked at lambda = init + 0.3 N(0, I), so that no parameter sits at a
 * special value (zero off-diagonals, unit scales). */
#include "checkers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One created instance and its buffers. */
typedef struct family_run {
    const check_ctx *ctx;
    const vi_family_desc *d;
    void *self;
    size_t dim, n, base;
    double *work;
    double *lambda, *eps, *z, *dz, *dl, *dl2;
} family_run;

static int family_open(const check_ctx *ctx, family_run *f, vi_error *err)
{
    memset(f, 0, sizeof *f);
    f->ctx = ctx;
    f->d = (const vi_family_desc *)ctx->component->head;
    f->dim = ctx->family_dim;
    check_stage(ctx, "create (dim %zu)", f->dim);
    int status = f->d->create(ctx->host, ctx->config, f->dim, &f->self, err);
    if (status != 0)
        return status;
    check_stage(ctx, "n_params, base_dim, workspace_size");
    f->n = f->d->n_params(f->self);
    f->base = f->d->base_dim(f->self);
    f->work = check_doubles(f->d->workspace_size ? f->d->workspace_size(f->self) : 0);
    f->lambda = check_doubles(f->n);
    f->eps = check_doubles(f->base);
    f->z = check_doubles(f->dim);
    f->dz = check_doubles(f->dim);
    f->dl = check_doubles(f->n);
    f->dl2 = check_doubles(f->n);
    return 0;
}

static void family_close(family_run *f)
{
    check_stage(f->ctx, "destroy");
    f->d->destroy(f->self);
    free(f->work);
    free(f->lambda);
    free(f->eps);
    free(f->z);
    free(f->dz);
    free(f->dl);
    free(f->dl2);
}

static int family_finite(const family_run *f)
{
#ifdef VI_FAMILY_FINITE_ID
    return f->d->get_extension && f->d->get_extension(f->self, VI_FAMILY_FINITE_ID);
#else
    (void)f;
    return 0;
#endif
}

/* lambda of point p: init, moved by 0.3 N(0, I) (p = 0: init itself). */
static int set_lambda(family_run *f, size_t p, vi_error *err)
{
    check_stage(f->ctx, "init");
    check_error_init(err);
    int status = f->d->init(f->self, f->lambda, err);
    if (status != 0 || p == 0)
        return status;
    double *move = check_doubles(f->n);
    check_normals(f->ctx, 10, p, move, f->n);
    for (size_t j = 0; j < f->n; j++)
        f->lambda[j] += 0.3 * move[j];
    free(move);
    return 0;
}

/* eps of draw s: the family's sample_base, or standard normals. */
static int set_eps(family_run *f, uint64_t stream, size_t s, double *eps, vi_error *err)
{
    vi_rng rng;
    vh_rng_init(&rng, f->ctx->seed, VH_RNG_TEST, stream, s);
    if (f->d->sample_base == NULL) {
        vh_rng_normal_fill(&rng, eps, f->base);
        return 0;
    }
    check_error_init(err);
    return f->d->sample_base(f->self, &rng, f->ctx->host, eps, err);
}

static int forward(family_run *f, const double *lambda, const double *eps, double *z,
                   double *lq, vi_error *err)
{
    check_error_init(err);
    return f->d->forward(f->self, lambda, eps, z, lq, f->work, err);
}

static int log_q(family_run *f, const double *lambda, const double *z, double *lq)
{
    vi_error err;
    check_error_init(&err);
    return f->d->log_q(f->self, lambda, z, lq, f->work, &err);
}

/* ------------------------------------------------------------------ */
/* Scalar functions for finite differences                              */
/* ------------------------------------------------------------------ */

/* dz . T(lambda, eps), as a function of lambda. */
static int fd_forward_dot(void *data, const double *lambda, double *out)
{
    family_run *f = data;
    vi_error err;
    double *z = check_doubles(f->dim);
    int status = forward(f, lambda, f->eps, z, NULL, &err);
    *out = 0.0;
    for (size_t i = 0; i < f->dim; i++)
        *out += f->dz[i] * z[i];
    free(z);
    return status;
}

static int fd_entropy(void *data, const double *lambda, double *out)
{
    family_run *f = data;
    vi_error err;
    check_error_init(&err);
    return f->d->entropy(f->self, lambda, out, NULL, f->work, &err);
}

/* log q_lambda(z) at the fixed z, as a function of lambda. */
static int fd_log_q_lambda(void *data, const double *lambda, double *out)
{
    family_run *f = data;
    return log_q(f, lambda, f->z, out);
}

/* log q_lambda(z) at the fixed lambda, as a function of z. */
static int fd_log_q_z(void *data, const double *z, double *out)
{
    family_run *f = data;
    return log_q(f, f->lambda, z, out);
}

/* The worst coordinate of `analytic` against finite differences of fn. */
typedef struct fd_worst {
    double err, analytic, numeric;
    size_t point, coord;
    size_t compared;
} fd_worst;

static void compare_fd(family_run *f, check_scalar fn, double *x, size_t n,
                       const double *analytic, size_t p, fd_worst *w)
{
    for (size_t c = 0; c < check_coordinates(n); c++) {
        size_t j = check_coordinate(n, p, c);
        double fd;
        check_stage(f->ctx, "finite differences at point %zu, coordinate %zu", p + 1, j + 1);
        if (check_diff(fn, f, x, j, &fd) != 0)
            continue;
        double e = check_rel_error(analytic[j], fd);
        w->compared++;
        if (!(e <= w->err))
            *w = (fd_worst){e, analytic[j], fd, p, j, w->compared};
    }
}

static check_result report_fd(family_run *f, const fd_worst *w, const char *what,
                              int over_lambda, size_t points, char *detail, size_t size)
{
    const char *name = over_lambda ? f->d->param_name(f->self, w->coord) : NULL;
    char where[200];
    if (over_lambda)
        snprintf(where, sizeof where, "lambda coordinate %zu (%s) of point %zu", w->coord + 1,
                 name ? name : "?", w->point + 1);
    else
        snprintf(where, sizeof where, "z coordinate %zu of point %zu", w->coord + 1,
                 w->point + 1);
    if (w->compared == 0)
        return check_fail(detail, size, "finite differences of %s failed everywhere", what);
    if (!(w->err <= CHECK_GRAD_TOL))
        return check_fail(detail, size, "%s: worst relative error %.3g at %s: %.10g, finite "
                          "differences %.10g (tolerance %g)", what, w->err, where, w->analytic,
                          w->numeric, CHECK_GRAD_TOL);
    return check_pass(detail, size, "worst relative error %.2g at %s; %zu points", w->err,
                      where, points);
}

/* ------------------------------------------------------------------ */

static check_result check_create(const check_ctx *ctx, char *detail, size_t size)
{
    family_run f;
    vi_error err;
    check_error_init(&err);
    int status = family_open(ctx, &f, &err);
    if (status != 0)
        return check_fail(detail, size, "create for dim %zu failed (status %d): %s%s",
                          ctx->family_dim, status, check_error_text(&err),
                          ctx->defaults_only ? " (with the option defaults; give options "
                          "with --config RUNFILE)" : "");
    check_result r = CHECK_PASS;
    for (size_t j = 0; j < f.n && r == CHECK_PASS; j++) {
        check_stage(ctx, "param_name(%zu)", j);
        const char *name = f.d->param_name ? f.d->param_name(f.self, j) : "";
        if (name == NULL)
            r = check_fail(detail, size, "param_name(%zu) is NULL", j);
    }
    if (r == CHECK_PASS && (status = set_lambda(&f, 0, &err)) != 0)
        r = check_fail(detail, size, "init failed (status %d): %s", status,
                       check_error_text(&err));
    for (size_t j = 0; j < f.n && r == CHECK_PASS; j++)
        if (!isfinite(f.lambda[j]))
            r = check_fail(detail, size, "init leaves lambda[%zu] = %g", j, f.lambda[j]);
    check_stage(ctx, "get_extension with an unknown id");
    if (r == CHECK_PASS && f.d->get_extension &&
        f.d->get_extension(f.self, "vi.check.no-such-extension/0"))
        r = check_fail(detail, size, "get_extension answers an unknown id (must be NULL)");
    if (r == CHECK_PASS)
        check_pass(detail, size, "dim %zu: %zu parameters, base dimension %zu, init finite",
                   f.dim, f.n, f.base);
    family_close(&f);
    check_stage(ctx, "destroy(NULL)");
    f.d->destroy(NULL);
    return r;
}

static int family_cycle(const check_ctx *ctx, vi_error *err)
{
    const vi_family_desc *d = (const vi_family_desc *)ctx->component->head;
    void *self = NULL;
    int status = d->create(ctx->host, ctx->config, ctx->family_dim, &self, err);
    if (status == 0) {
        double *lambda = check_doubles(d->n_params(self));
        d->init(self, lambda, err);
        free(lambda);
        d->destroy(self);
    }
    return status;
}

static check_result check_leaks(const check_ctx *ctx, char *detail, size_t size)
{
    return check_repeat(ctx, family_cycle, detail, size);
}

/* forward's log q is log_q(z), and z does not depend on asking for it. */
static check_result check_forward(const check_ctx *ctx, char *detail, size_t size)
{
    family_run f;
    vi_error err;
    check_error_init(&err);
    if (family_open(ctx, &f, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    size_t points = check_by_level(ctx, 3, 10, 30);
    double worst = 0.0, *z2 = check_doubles(f.dim);
    check_result r = CHECK_PASS;
    for (size_t p = 0; p < points && r == CHECK_PASS; p++) {
        double lq_fwd = NAN, lq = NAN;
        int status = set_lambda(&f, p, &err);
        if (status == 0)
            status = set_eps(&f, 11, p, f.eps, &err);
        check_stage(ctx, "forward at point %zu", p + 1);
        if (status == 0)
            status = forward(&f, f.lambda, f.eps, f.z, &lq_fwd, &err);
        if (status == 0)
            status = forward(&f, f.lambda, f.eps, z2, NULL, &err);
        if (status != 0) {
            r = check_fail(detail, size, "init, sample_base or forward failed at point %zu "
                           "(status %d): %s", p + 1, status, check_error_text(&err));
            break;
        }
        check_stage(ctx, "log_q at point %zu", p + 1);
        status = log_q(&f, f.lambda, f.z, &lq);
        if (memcmp(f.z, z2, f.dim * sizeof *z2) != 0)
            r = check_fail(detail, size, "forward gives another z when log_q is NULL");
        else if (status != 0 || !isfinite(lq))
            r = check_fail(detail, size, "log_q at a draw of forward is %g (status %d)", lq,
                           status);
        else if (!(check_rel_error(lq_fwd, lq) <= 1e-8))
            r = check_fail(detail, size, "forward's log q %.12g differs from log_q(z) %.12g "
                           "at point %zu", lq_fwd, lq, p + 1);
        worst = fmax(worst, check_rel_error(lq_fwd, lq));
    }
    if (r == CHECK_PASS)
        check_pass(detail, size, "forward's log q equals log_q(z) (worst difference %.2g); "
                   "%zu points", worst, points);
    free(z2);
    family_close(&f);
    return r;
}

/* backward adds J^T dz: against finite differences of dz . T(lambda). */
static check_result check_backward(const check_ctx *ctx, char *detail, size_t size)
{
    family_run f;
    vi_error err;
    check_error_init(&err);
    if (family_open(ctx, &f, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    size_t points = check_by_level(ctx, 3, 10, 30);
    fd_worst w = {0.0, 0.0, 0.0, 0, 0, 0};
    check_result r = CHECK_PASS;
    for (size_t p = 0; p < points && r == CHECK_PASS; p++) {
        int status = set_lambda(&f, p, &err);
        if (status == 0)
            status = set_eps(&f, 11, p, f.eps, &err);
        check_normals(ctx, 12, p, f.dz, f.dim);
        memset(f.dl, 0, f.n * sizeof *f.dl);
        for (size_t j = 0; j < f.n; j++)
            f.dl2[j] = 1.0;
        check_stage(ctx, "backward at point %zu", p + 1);
        if (status == 0)
            status = f.d->backward(f.self, f.lambda, f.eps, f.dz, f.dl, f.work, &err);
        if (status == 0)
            status = f.d->backward(f.self, f.lambda, f.eps, f.dz, f.dl2, f.work, &err);
        if (status != 0) {
            r = check_fail(detail, size, "backward failed at point %zu (status %d): %s", p + 1,
                           status, check_error_text(&err));
            break;
        }
        for (size_t j = 0; j < f.n && r == CHECK_PASS; j++)
            if (!(check_rel_error(f.dl2[j] - 1.0, f.dl[j]) <= 1e-9))
                r = check_fail(detail, size, "backward overwrites dlambda[%zu] instead of "
                               "adding to it", j);
        if (r == CHECK_PASS)
            compare_fd(&f, fd_forward_dot, f.lambda, f.n, f.dl, p, &w);
    }
    if (r == CHECK_PASS)
        r = report_fd(&f, &w, "backward (J^T dz)", 1, points, detail, size);
    family_close(&f);
    return r;
}

static check_result check_entropy_gradient(const check_ctx *ctx, char *detail, size_t size)
{
    family_run f;
    vi_error err;
    if (((const vi_family_desc *)ctx->component->head)->entropy == NULL)
        return check_skip(detail, size, "no closed-form entropy");
    check_error_init(&err);
    if (family_open(ctx, &f, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    size_t points = check_by_level(ctx, 3, 10, 30);
    fd_worst w = {0.0, 0.0, 0.0, 0, 0, 0};
    check_result r = CHECK_PASS;
    for (size_t p = 0; p < points && r == CHECK_PASS; p++) {
        double h = NAN, h2 = NAN;
        int status = set_lambda(&f, p, &err);
        memset(f.dl, 0, f.n * sizeof *f.dl);
        check_stage(ctx, "entropy at point %zu", p + 1);
        if (status == 0)
            status = f.d->entropy(f.self, f.lambda, &h, f.dl, f.work, &err);
        if (status == 0)
            status = f.d->entropy(f.self, f.lambda, &h2, NULL, f.work, &err);
        if (status != 0 || !isfinite(h) || h != h2)
            r = check_fail(detail, size, "entropy at point %zu is %g with dlambda, %g without "
                           "(status %d): %s", p + 1, h, h2, status, check_error_text(&err));
        else
            compare_fd(&f, fd_entropy, f.lambda, f.n, f.dl, p, &w);
    }
    if (r == CHECK_PASS)
        r = report_fd(&f, &w, "entropy gradient", 1, points, detail, size);
    family_close(&f);
    return r;
}

/* log_q_grad_z (gradient in z) or log_q_grad_lambda (in lambda). */
static check_result log_q_gradient(const check_ctx *ctx, int in_z, char *detail, size_t size)
{
    family_run f;
    vi_error err;
    const vi_family_desc *d = (const vi_family_desc *)ctx->component->head;
    if (in_z ? d->log_q_grad_z == NULL : d->log_q_grad_lambda == NULL)
        return check_skip(detail, size, "not provided");
    check_error_init(&err);
    if (family_open(ctx, &f, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    if (in_z && family_finite(&f)) {
        family_close(&f);
        return check_skip(detail, size, "a family on a finite set: no gradient in z");
    }
    size_t points = check_by_level(ctx, 3, 10, 30);
    fd_worst w = {0.0, 0.0, 0.0, 0, 0, 0};
    double *g = check_doubles(in_z ? f.dim : f.n);
    check_result r = CHECK_PASS;
    for (size_t p = 0; p < points && r == CHECK_PASS; p++) {
        double lq = NAN, lq_plain = NAN;
        int status = set_lambda(&f, p, &err);
        if (status == 0)
            status = set_eps(&f, 11, p, f.eps, &err);
        if (status == 0)
            status = forward(&f, f.lambda, f.eps, f.z, NULL, &err);
        check_stage(ctx, "log_q_grad_%s at point %zu", in_z ? "z" : "lambda", p + 1);
        if (status == 0)
            status = in_z ? d->log_q_grad_z(f.self, f.lambda, f.z, &lq, g, f.work, &err)
                          : d->log_q_grad_lambda(f.self, f.lambda, f.z, &lq, g, f.work, &err);
        log_q(&f, f.lambda, f.z, &lq_plain);
        if (status != 0)
            r = check_fail(detail, size, "failed at point %zu (status %d): %s", p + 1, status,
                           check_error_text(&err));
        else if (!(check_rel_error(lq, lq_plain) <= 1e-8))
            r = check_fail(detail, size, "its log q %.12g differs from log_q's %.12g", lq,
                           lq_plain);
        else if (in_z)
            compare_fd(&f, fd_log_q_z, f.z, f.dim, g, p, &w);
        else
            compare_fd(&f, fd_log_q_lambda, f.lambda, f.n, g, p, &w);
    }
    if (r == CHECK_PASS)
        r = report_fd(&f, &w, in_z ? "log_q_grad_z" : "log_q_grad_lambda", !in_z, points,
                      detail, size);
    free(g);
    family_close(&f);
    return r;
}

static check_result check_grad_z(const check_ctx *ctx, char *detail, size_t size)
{
    return log_q_gradient(ctx, 1, detail, size);
}

static check_result check_grad_lambda(const check_ctx *ctx, char *detail, size_t size)
{
    return log_q_gradient(ctx, 0, detail, size);
}

/* ------------------------------------------------------------------ */
/* Monte Carlo: entropy and moments                                     */
/* ------------------------------------------------------------------ */

/* Running sums over draws: of -log q, z, and the products z_i z_j. */
typedef struct mc_sums {
    size_t n;
    double h, hh;
    double *z, *zz;          /* dim, dim x dim (about the first draw, for accuracy) */
    double *z0;              /* the first draw: the shift */
} mc_sums;

static int mc_draw(family_run *f, size_t S, mc_sums *m, vi_error *err)
{
    size_t dim = f->dim;
    m->z = check_doubles(dim);
    m->zz = check_doubles(dim * dim);
    m->z0 = check_doubles(dim);
    m->n = 0;
    m->h = m->hh = 0.0;
    check_stage(f->ctx, "%zu draws of forward and log_q", S);
    for (size_t s = 0; s < S; s++) {
        double lq;
        int status = set_eps(f, 13, s, f->eps, err);
        if (status == 0)
            status = forward(f, f->lambda, f->eps, f->z, &lq, err);
        if (status != 0)
            return status;
        if (s == 0)
            memcpy(m->z0, f->z, dim * sizeof *f->z);
        m->h -= lq;
        m->hh += lq * lq;
        for (size_t i = 0; i < dim; i++) {
            m->z[i] += f->z[i] - m->z0[i];
            for (size_t j = 0; j < dim; j++)
                m->zz[i * dim + j] += (f->z[i] - m->z0[i]) * (f->z[j] - m->z0[j]);
        }
        m->n++;
    }
    return 0;
}

static void mc_free(mc_sums *m)
{
    free(m->z);
    free(m->zz);
    free(m->z0);
}

static check_result check_entropy_mc(const check_ctx *ctx, char *detail, size_t size)
{
    family_run f;
    vi_error err;
    mc_sums m = {0};
    if (((const vi_family_desc *)ctx->component->head)->entropy == NULL)
        return check_skip(detail, size, "no closed-form entropy");
    check_error_init(&err);
    if (family_open(ctx, &f, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    size_t S = check_by_level(ctx, 2000, 20000, 200000);
    double h = NAN;
    int status = set_lambda(&f, 1, &err);
    if (status == 0)
        status = f.d->entropy(f.self, f.lambda, &h, NULL, f.work, &err);
    if (status == 0)
        status = mc_draw(&f, S, &m, &err);
    check_result r;
    if (status != 0)
        r = check_fail(detail, size, "a call failed (status %d): %s", status,
                       check_error_text(&err));
    else {
        double mean = m.h / (double)S;
        double var = fmax(0.0, m.hh / (double)S - mean * mean);
        double se = sqrt(var / (double)S), gap = fabs(h - mean);
        if (!(gap <= 5.0 * se + 1e-9 * fmax(1.0, fabs(h))))
            r = check_fail(detail, size, "entropy %.8g, but -mean log q over %zu draws is "
                           "%.8g +- %.2g (%.1f standard errors away)", h, S, mean, se,
                           se > 0 ? gap / se : INFINITY);
        else
            r = check_pass(detail, size, "entropy %.6g, Monte Carlo %.6g +- %.2g (%zu draws)",
                           h, mean, se, S);
    }
    mc_free(&m);
    family_close(&f);
    return r;
}

/* The sample mean and covariance of the draws against `moments`, each
 * within 5 of its own empirical standard errors. */
static check_result compare_moments(family_run *f, const mc_sums *m, const double *mean,
                                    const double *cov, char *detail, size_t size)
{
    size_t dim = f->dim;
    double S = (double)m->n, worst = 0.0;
    size_t wi = 0, wj = 0;
    int w_mean = 0;
    for (size_t i = 0; i < dim; i++)
        for (size_t j = 0; j <= i; j++) {
            double mi = m->z[i] / S, mj = m->z[j] / S;
            double c = m->zz[i * dim + j] / S - mi * mj;
            /* The standard error of a sample covariance of a Gaussian:
             * sqrt((c_ii c_jj + c_ij^2) / S); of a mean: sqrt(c_ii / S). */
            double cii = cov[i * dim + i], cjj = cov[j * dim + j], cij = cov[i * dim + j];
            double z_cov = fabs(c - cij) / (sqrt((cii * cjj + cij * cij) / S) + 1e-12);
            double z_mean = i == j ? fabs(mi + m->z0[i] - mean[i]) / (sqrt(cii / S) + 1e-12)
                                   : 0.0;
            double z = fmax(z_cov, z_mean);
            if (z > worst || isnan(z)) {
                worst = z;
                wi = i;
                wj = j;
                w_mean = z_mean > z_cov;
            }
        }
    char where[64];
    if (w_mean)
        snprintf(where, sizeof where, "mean[%zu]", wi + 1);
    else
        snprintf(where, sizeof where, "cov[%zu,%zu]", wi + 1, wj + 1);
    if (!(worst <= 6.0))
        return check_fail(detail, size, "the draws disagree with moments at %s by %.1f "
                          "standard errors (%zu draws)", where, worst, m->n);
    return check_pass(detail, size, "mean and covariance of %zu draws within %.1f standard "
                      "errors of moments", m->n, worst);
}

static check_result check_moments(const check_ctx *ctx, char *detail, size_t size)
{
    family_run f;
    vi_error err;
    mc_sums m = {0};
    if (((const vi_family_desc *)ctx->component->head)->moments == NULL)
        return check_skip(detail, size, "no moments");
    check_error_init(&err);
    if (family_open(ctx, &f, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    size_t S = check_by_level(ctx, 2000, 20000, 200000);
    double *mean = check_doubles(f.dim), *cov = check_doubles(f.dim * f.dim);
    int status = set_lambda(&f, 2, &err);
    check_stage(ctx, "moments");
    if (status == 0)
        status = f.d->moments(f.self, f.lambda, mean, cov, f.work, &err);
    if (status == 0)
        status = mc_draw(&f, S, &m, &err);
    check_result r = status != 0
                         ? check_fail(detail, size, "a call failed (status %d): %s", status,
                                      check_error_text(&err))
                         : compare_moments(&f, &m, mean, cov, detail, size);
    free(mean);
    free(cov);
    mc_free(&m);
    family_close(&f);
    return r;
}

/* ------------------------------------------------------------------ */
/* Threads                                                              */
/* ------------------------------------------------------------------ */

/* Everything one point's calls produce, in one array: eps, z, log q from
 * forward, log_q, backward's dlambda, entropy and its gradient. */
static size_t signature_size(const family_run *f)
{
    return f->base + f->dim + 2 + 2 * f->n + 1;
}

/* Fills sig for point p using its own buffers (any thread). */
static void signature(family_run *f, size_t p, double *sig, double *work)
{
    vi_error err;
    double *lambda = check_doubles(f->n), *eps = sig, *z = sig + f->base;
    double *rest = z + f->dim, *dz = check_doubles(f->dim), *move = check_doubles(f->n);
    memset(sig, 0, signature_size(f) * sizeof *sig);
    check_error_init(&err);
    f->d->init(f->self, lambda, &err);
    check_normals(f->ctx, 10, p + 1, move, f->n);
    check_normals(f->ctx, 12, p + 1, dz, f->dim);
    for (size_t j = 0; j < f->n; j++)
        lambda[j] += 0.3 * move[j];
    free(move);
    set_eps(f, 14, p, eps, &err);
    f->d->forward(f->self, lambda, eps, z, &rest[0], work, &err);
    f->d->log_q(f->self, lambda, z, &rest[1], work, &err);
    f->d->backward(f->self, lambda, eps, dz, rest + 2, work, &err);
    if (f->d->entropy)
        f->d->entropy(f->self, lambda, rest + 2 + f->n, rest + 3 + f->n, work, &err);
    free(lambda);
    free(dz);
}

typedef struct family_threads {
    family_run *f;
    size_t n_points, rounds;
    const double *want;
    int *mismatch;
} family_threads;

static void family_thread(void *arg, size_t th)
{
    family_threads *s = arg;
    size_t len = signature_size(s->f);
    double *got = check_doubles(len);
    double *work = check_doubles(s->f->d->workspace_size
                                     ? s->f->d->workspace_size(s->f->self) : 0);
    for (size_t r = 0; r < s->rounds && !s->mismatch[th]; r++)
        for (size_t j = 0; j < s->n_points; j++) {
            size_t p = (j + th) % s->n_points; /* threads out of step */
            signature(s->f, p, got, work);
            if (memcmp(got, s->want + p * len, len * sizeof *got) != 0)
                s->mismatch[th] = 1 + (int)p;
        }
    free(got);
    free(work);
}

static check_result check_threads_family(const check_ctx *ctx, char *detail, size_t size)
{
    family_run f;
    vi_error err;
    if (ctx->component->head->flags & VI_FLAG_SERIAL)
        return check_skip(detail, size, "VI_FLAG_SERIAL: the host never calls it concurrently");
    check_error_init(&err);
    if (family_open(ctx, &f, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    size_t n_threads = check_by_level(ctx, 2, 4, 8), n_points = 6, len = signature_size(&f);
    double *want = check_doubles(n_points * len);
    int *mismatch = calloc(n_threads, sizeof *mismatch);
    for (size_t p = 0; p < n_points; p++)
        signature(&f, p, want + p * len, f.work);
    family_threads s = {&f, n_points, check_by_level(ctx, 5, 20, 100), want, mismatch};
    check_stage(ctx, "sample_base, forward, log_q, backward, entropy from %zu threads",
                n_threads);
    check_result r = check_pass(detail, size, "%zu threads x %zu points: the same bits as one "
                                "thread", n_threads, s.rounds * n_points);
    if (mismatch == NULL || check_threads(n_threads, family_thread, &s) != 0)
        r = check_fail(detail, size, "could not start %zu threads", n_threads);
    for (size_t th = 0; r == CHECK_PASS && th < n_threads; th++)
        if (mismatch[th])
            r = check_fail(detail, size, "results at point %d differ when %zu threads call "
                           "it at once: not [any-thread] safe (shared state?); fix it or set "
                           "VI_FLAG_SERIAL", mismatch[th], n_threads);
    free(want);
    free(mismatch);
    family_close(&f);
    return r;
}

/* ------------------------------------------------------------------ */

static check_result check_nan(const check_ctx *ctx, char *detail, size_t size)
{
    family_run f;
    vi_error err;
    check_error_init(&err);
    if (family_open(ctx, &f, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    check_result r = CHECK_PASS;
    double lq = 0.0;
    set_lambda(&f, 1, &err);
    set_eps(&f, 15, 0, f.eps, &err);
    forward(&f, f.lambda, f.eps, f.z, NULL, &err);
    f.z[f.dim - 1] = NAN;
    check_stage(ctx, "log_q at a NaN z");
    check_error_init(&err);
    int status = f.d->log_q(f.self, f.lambda, f.z, &lq, f.work, &err);
    if (status == 0 && isfinite(lq))
        r = check_fail(detail, size, "log_q at a NaN z returned the finite value %g", lq);
    else if (status != 0 && err.message[0] == '\0')
        r = check_fail(detail, size, "log_q failed with status %d but no message", status);
    for (size_t i = 0; i < f.dim; i++)
        f.z[i] = 1e30 * (i % 2 ? -1.0 : 1.0);
    check_stage(ctx, "log_q at |z| = 1e30");
    check_error_init(&err);
    status = f.d->log_q(f.self, f.lambda, f.z, &lq, f.work, &err);
    if (r == CHECK_PASS && status == 0 && (lq == INFINITY || isnan(lq)))
        r = check_fail(detail, size, "log_q at |z| = 1e30 returned %g with status 0", lq);
    f.eps[0] = NAN;
    check_stage(ctx, "forward with a NaN in eps");
    forward(&f, f.lambda, f.eps, f.z, &lq, &err);
    if (r == CHECK_PASS)
        check_pass(detail, size, "log_q refuses a NaN z; far points and a NaN eps handled");
    family_close(&f);
    return r;
}

const check_item vh_family_checks[] = {
    {"create", check_create},
    {"create/destroy repeated", check_leaks},
    {"forward and log_q", check_forward},
    {"backward", check_backward},
    {"entropy gradient", check_entropy_gradient},
    {"log_q_grad_z", check_grad_z},
    {"log_q_grad_lambda", check_grad_lambda},
    {"entropy vs Monte Carlo", check_entropy_mc},
    {"moments vs draws", check_moments},
    {"threads", check_threads_family},
    {"NaN and infinity", check_nan},
    {NULL, NULL},
};
