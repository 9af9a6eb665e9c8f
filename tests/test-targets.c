/* test-targets.c — the model library's mathematics, table-driven:
 *  - every SDK log density against its textbook formula, with each partial
 *    derivative by central differences (digamma, lbeta, lchoose too);
 *  - every SDK transform: the inverse, the constraint itself, the
 *    log-Jacobian against log|det| of a finite-difference Jacobian, and the
 *    backward pass against finite differences, at random points and near
 *    the boundaries;
 *  - every built-in target's gradient (the foundation's and the model
 *    library's, each option variant) by central differences at random
 *    points and at points near its constraint boundaries, the minibatch
 *    subset against the full density, constrained names and values;
 *  - exact answers: linreg's log evidence and Gaussian posterior against
 *    direct N x N and D x D algebra, the funnel's log Z = 0 by
 *    quadrature, centered against noncentered densities (they differ by
 *    the Jacobian J log scale);
 *  - data errors: each target refuses malformed data naming the variable. */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include <vihost/sdk.h>

#include "fixture.h"
#include "rng.h"
#include "tap.h"

#define MAX_N 64

/* ------------------------------------------------------------------ */
/* Finite differences and small linear algebra                          */
/* ------------------------------------------------------------------ */

typedef double (*vec_fn)(void *ctx, const double *x);

/* Central difference of f along coordinate i with step h. */
static double central(vec_fn f, void *ctx, double *x, size_t i, double h)
{
    double keep = x[i];
    x[i] = keep + h;
    double up = f(ctx, x);
    x[i] = keep - h;
    double down = f(ctx, x);
    x[i] = keep;
    return (up - down) / (2.0 * h);
}

/* Worst |fd - g| over the tolerance 1e-6 (1 + |g|) + 1e-12 (1 + |f|) / h
 * (truncation, then round-off of f), where fd is the Richardson
 * extrapolation (4 D(h/2) - D(h)) / 3 of central differences, accurate to
 * O(h^4) even where the density has sharp features: < 1 passes.  *at
 * receives the worst coordinate. */
static double fd_ratio(vec_fn f, void *ctx, double *x, const double *g, size_t n,
                       size_t *at)
{
    double worst = 0.0, f0 = f(ctx, x);
    for (size_t i = 0; i < n; i++) {
        double h = 1e-5 * fmax(1.0, fabs(x[i]));
        double fd = (4.0 * central(f, ctx, x, i, h / 2) - central(f, ctx, x, i, h)) / 3.0;
        double tol = 1e-6 * (1.0 + fabs(g[i])) + 1e-12 * (1.0 + fabs(f0)) / h;
        double r = isfinite(fd) && isfinite(g[i]) ? fabs(fd - g[i]) / tol : INFINITY;
        if (r > worst) {
            worst = r;
            *at = i;
        }
    }
    return worst;
}

/* log|det a| of the n x n matrix a (destroyed), by LU with partial
 * pivoting. */
static double log_abs_det(double *a, size_t n)
{
    double total = 0.0;
    for (size_t c = 0; c < n; c++) {
        size_t p = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[p * n + c]))
                p = r;
        for (size_t j = 0; j < n && p != c; j++) {
            double tmp = a[c * n + j];
            a[c * n + j] = a[p * n + j];
            a[p * n + j] = tmp;
        }
        double pivot = a[c * n + c];
        total += log(fabs(pivot));
        for (size_t r = c + 1; r < n; r++) {
            double f = a[r * n + c] / pivot;
            for (size_t j = c; j < n; j++)
                a[r * n + j] -= f * a[c * n + j];
        }
    }
    return total;
}

/* ------------------------------------------------------------------ */
/* SDK densities against their formulas                                 */
/* ------------------------------------------------------------------ */

/* Each case evaluates the SDK function at args (grads written when
 * non-NULL) and the direct textbook formula. */
typedef struct density_case {
    const char *name;
    size_t n;                          /* arguments */
    double (*sdk)(const double *a, double *g);
    double (*direct)(const double *a);
    unsigned fixed;                    /* bit i: argument i is not differentiated */
    double points[3][6];
} density_case;

#define G(i) (g != NULL ? &g[i] : NULL)
static double s_normal(const double *a, double *g)
{ return vi_normal_lpdf(a[0], a[1], a[2], G(0), G(1), G(2)); }
static double d_normal(const double *a)
{ return log(exp(-0.5 * pow((a[0] - a[1]) / a[2], 2)) / (a[2] * sqrt(2 * M_PI))); }
static double s_student(const double *a, double *g)
{ return vi_student_t_lpdf(a[0], a[1], a[2], a[3], G(0), G(2), G(3)); }
static double d_student(const double *a)
{
    double nu = a[1], z = (a[0] - a[2]) / a[3];
    return log(tgamma((nu + 1) / 2) / (tgamma(nu / 2) * sqrt(nu * M_PI) * a[3]) *
               pow(1 + z * z / nu, -(nu + 1) / 2));
}
static double s_cauchy(const double *a, double *g)
{ return vi_cauchy_lpdf(a[0], a[1], a[2], G(0), G(1), G(2)); }
static double d_cauchy(const double *a)
{ return log(1 / (M_PI * a[2] * (1 + pow((a[0] - a[1]) / a[2], 2)))); }
static double s_half_normal(const double *a, double *g)
{ return vi_half_normal_lpdf(a[0], a[1], G(0), G(1)); }
static double d_half_normal(const double *a)
{ return log(2 * exp(-0.5 * pow(a[0] / a[1], 2)) / (a[1] * sqrt(2 * M_PI))); }
static double s_half_cauchy(const double *a, double *g)
{ return vi_half_cauchy_lpdf(a[0], a[1], G(0), G(1)); }
static double d_half_cauchy(const double *a)
{ return log(2 / (M_PI * a[1] * (1 + pow(a[0] / a[1], 2)))); }
static double s_exponential(const double *a, double *g)
{ return vi_exponential_lpdf(a[0], a[1], G(0), G(1)); }
static double d_exponential(const double *a) { return log(a[1] * exp(-a[1] * a[0])); }
static double s_gamma(const double *a, double *g)
{ return vi_gamma_lpdf(a[0], a[1], a[2], G(0), G(1), G(2)); }
static double d_gamma(const double *a)
{ return log(pow(a[2], a[1]) * pow(a[0], a[1] - 1) * exp(-a[2] * a[0]) / tgamma(a[1])); }
static double s_lognormal(const double *a, double *g)
{ return vi_lognormal_lpdf(a[0], a[1], a[2], G(0), G(1), G(2)); }
static double d_lognormal(const double *a)
{
    return log(exp(-0.5 * pow((log(a[0]) - a[1]) / a[2], 2)) /
               (a[0] * a[2] * sqrt(2 * M_PI)));
}
static double s_beta(const double *a, double *g)
{ return vi_beta_lpdf(a[0], a[1], a[2], G(0), G(1), G(2)); }
static double d_beta(const double *a)
{
    return log(pow(a[0], a[1] - 1) * pow(1 - a[0], a[2] - 1) * tgamma(a[1] + a[2]) /
               (tgamma(a[1]) * tgamma(a[2])));
}
static double s_bernoulli(const double *a, double *g)
{ return vi_bernoulli_logit_lpmf(a[0], a[1], G(1)); }
static double d_bernoulli(const double *a)
{
    double p = 1 / (1 + exp(-a[1]));
    return log(a[0] == 1 ? p : 1 - p);
}
static double s_poisson(const double *a, double *g)
{ return vi_poisson_log_lpmf(a[0], a[1], G(1)); }
static double d_poisson(const double *a)
{ return log(pow(exp(a[1]), a[0]) * exp(-exp(a[1])) / tgamma(a[0] + 1)); }
static double s_binomial(const double *a, double *g)
{ return vi_binomial_logit_lpmf(a[0], a[1], a[2], G(2)); }
static double d_binomial(const double *a)
{
    double p = 1 / (1 + exp(-a[2])), n = a[0], N = a[1];
    return log(tgamma(N + 1) / (tgamma(n + 1) * tgamma(N - n + 1)) * pow(p, n) *
               pow(1 - p, N - n));
}
static double s_log_mix(const double *a, double *g)
{ return vi_log_mix(a[0], a[1], a[2], G(0), G(1), G(2)); }
static double d_log_mix(const double *a)
{ return log(a[0] * exp(a[1]) + (1 - a[0]) * exp(a[2])); }
/* (log_w[3], lp[3]): both gradients are the responsibilities. */
static double s_log_mix_n(const double *a, double *g)
{
    double resp[3], r = vi_log_mix_n(3, a, a + 3, resp);
    for (int k = 0; g != NULL && k < 3; k++)
        g[k] = g[k + 3] = resp[k];
    return r;
}
static double d_log_mix_n(const double *a)
{ return log(exp(a[0] + a[3]) + exp(a[1] + a[4]) + exp(a[2] + a[5])); }
#undef G

static const density_case density_cases[] = {
    {"normal", 3, s_normal, d_normal, 0, {{0.3, -1, 2}, {-4, 1, 0.5}, {2, 2, 1}}},
    {"student_t", 4, s_student, d_student, 2,
     {{0.3, 3, -1, 2}, {-4, 1.5, 1, 0.5}, {8, 30, 2, 1}}},
    {"cauchy", 3, s_cauchy, d_cauchy, 0, {{0.3, -1, 2}, {-4, 1, 0.5}, {20, 2, 1}}},
    {"half_normal", 2, s_half_normal, d_half_normal, 0, {{0.3, 2}, {4, 0.5}, {1e-3, 1}}},
    {"half_cauchy", 2, s_half_cauchy, d_half_cauchy, 0, {{0.3, 2}, {40, 0.5}, {1e-3, 5}}},
    {"exponential", 2, s_exponential, d_exponential, 0, {{0.3, 2}, {4, 0.5}, {1e-3, 10}}},
    {"gamma", 3, s_gamma, d_gamma, 0, {{0.3, 2, 1}, {4, 0.5, 3}, {12, 7.5, 0.25}}},
    {"lognormal", 3, s_lognormal, d_lognormal, 0, {{0.3, 0, 1}, {4, 1, 0.5}, {1e-3, -2, 3}}},
    {"beta", 3, s_beta, d_beta, 0, {{0.3, 2, 1}, {0.99, 0.5, 3}, {1e-3, 5, 5}}},
    {"bernoulli_logit", 2, s_bernoulli, d_bernoulli, 1, {{1, 0.3}, {0, 2.5}, {1, -7}}},
    {"poisson_log", 2, s_poisson, d_poisson, 1, {{0, 0.3}, {3, 1.2}, {17, 2.9}}},
    {"binomial_logit", 3, s_binomial, d_binomial, 3, {{0, 10, 0.3}, {3, 7, -1.2}, {20, 20, 2}}},
    {"log_mix", 3, s_log_mix, d_log_mix, 0, {{0.3, -1, -2}, {0.9, -10, -1}, {0.01, 0, 3}}},
    {"log_mix_n", 6, s_log_mix_n, d_log_mix_n, 0,
     {{-1, -0.5, -2, -3, -1, -4}, {0, 0, 0, -20, 1, -2}, {-3, -1, -0.1, 2, -5, 1}}},
};

typedef struct density_ctx {
    const density_case *dc;
} density_ctx;

static double density_value(void *ctx, const double *a)
{
    return ((density_ctx *)ctx)->dc->sdk(a, NULL);
}

static void check_density(const density_case *dc)
{
    double worst_value = 0.0, worst_fd = 0.0;
    density_ctx ctx = {dc};
    for (int p = 0; p < 3; p++) {
        double a[6], g[6];
        memcpy(a, dc->points[p], sizeof a);
        double v = dc->sdk(a, g), want = dc->direct(a);
        worst_value = fmax(worst_value, fabs(v - want) / (1.0 + fabs(want)));
        for (size_t i = 0; i < dc->n; i++) { /* the free arguments only */
            if (dc->fixed & (1u << i))
                continue;
            double keep = a[i], h = 1e-5 * fmax(fabs(keep), 1e-2);
            a[i] = keep + h;
            double up = density_value(&ctx, a);
            a[i] = keep - h;
            double down = density_value(&ctx, a);
            a[i] = keep;
            double tol = 1e-6 * (1.0 + fabs(g[i])) + 1e-13 * (1.0 + fabs(v)) / h;
            worst_fd = fmax(worst_fd, fabs((up - down) / (2.0 * h) - g[i]) / tol);
        }
    }
    ok(worst_value < 1e-12, "%s equals its formula at 3 points (worst relative %.1e)",
       dc->name, worst_value);
    ok(worst_fd < 1.0, "%s: partial derivatives match central differences "
                       "(worst %.2g of tolerance)", dc->name, worst_fd);
}

/* Support, invalid parameters, and the special functions. */
static void check_density_edges(void)
{
    double d1 = 7, d2 = 7;
    ok(vi_half_normal_lpdf(-1, 1, &d1, &d2) == -HUGE_VAL && d1 == 0 && d2 == 0,
       "half_normal: -inf with zero derivatives below 0");
    ok(vi_gamma_lpdf(0, 2, 1, NULL, NULL, NULL) == -HUGE_VAL &&
           vi_beta_lpdf(1, 2, 2, NULL, NULL, NULL) == -HUGE_VAL &&
           vi_lognormal_lpdf(-2, 0, 1, NULL, NULL, NULL) == -HUGE_VAL &&
           vi_exponential_lpdf(-1e-9, 1, NULL, NULL) == -HUGE_VAL,
       "gamma, beta, lognormal, exponential: -inf outside the support");
    ok(isnan(vi_half_cauchy_lpdf(1, 0, &d1, NULL)) && isnan(d1) &&
           isnan(vi_poisson_log_lpmf(2.5, 0, NULL)) &&
           isnan(vi_bernoulli_logit_lpmf(2, 0, NULL)) &&
           isnan(vi_binomial_logit_lpmf(5, 4, 0, NULL)) && isnan(vi_log_mix(1.5, 0, 0, NULL, NULL, NULL)),
       "invalid scales, counts and weights give NaN");
    ok(fabs(vi_bernoulli_logit_lpmf(1, 800, NULL)) < 1e-300 &&
           fabs(vi_bernoulli_logit_lpmf(0, -800, &d1) - 0) < 1e-300 &&
           fabs(vi_bernoulli_logit_lpmf(1, -800, NULL) + 800) < 1e-9,
       "bernoulli_logit is exact at |eta| = 800");
    const double euler = 0.57721566490153286061;
    ok(fabs(vi_digamma(1) + euler) < 1e-14 &&
           fabs(vi_digamma(0.5) + euler + 2 * log(2)) < 1e-14 &&
           fabs(vi_digamma(1e-3) - vi_digamma(1 + 1e-3) + 1e3) < 1e-10 &&
           fabs(vi_digamma(150) - (log(150) - 1 / 300.0 - 1 / (12 * pow(150, 2)) +
                                   1 / (120 * pow(150, 4)))) < 1e-14,
       "digamma: psi(1), psi(1/2), the recurrence, the asymptote");
    double worst = 0.0;
    for (double x = 0.05; x < 40; x *= 1.7)
        worst = fmax(worst, fabs((vi_lgamma(x + 1e-6) - vi_lgamma(x - 1e-6)) / 2e-6 -
                                 vi_digamma(x)) / (1 + fabs(vi_digamma(x))));
    ok(worst < 1e-7, "digamma is the derivative of lgamma (worst %.1e)", worst);
    ok(fabs(vi_lbeta(2.5, 4) - log(tgamma(2.5) * tgamma(4) / tgamma(6.5))) < 1e-13 &&
           fabs(vi_lchoose(20, 7) - log(77520)) < 1e-12 && isnan(vi_lchoose(3, 4)),
       "lbeta and lchoose");
}

/* ------------------------------------------------------------------ */
/* SDK transforms                                                       */
/* ------------------------------------------------------------------ */

/* One transform, wrapped to a common vector form.  `square` picks the
 * n_u constrained values whose Jacobian in u is square (the free part). */
typedef struct transform_case {
    const char *name;
    size_t n_u, n_x;
    void (*constrain)(const double *u, double *x, double *lj);
    void (*unconstrain)(const double *x, double *u);
    void (*backward)(const double *u, const double *g_x, double *g_u);
    void (*square)(const double *x, double *free_x);
    int (*valid)(const double *x);      /* the constraint holds */
    double spread;                      /* random points N(0, spread^2) */
    double edge;                        /* a coordinate set to +-edge: near a boundary */
} transform_case;

static void first_n(const double *x, double *out, size_t n) { memcpy(out, x, n * sizeof *x); }

static void lb_c(const double *u, double *x, double *lj) { x[0] = vi_lower_bound_constrain(u[0], 1.5, lj); }
static void lb_u(const double *x, double *u) { u[0] = vi_lower_bound_unconstrain(x[0], 1.5); }
static void lb_b(const double *u, const double *g, double *gu) { gu[0] = vi_lower_bound_backward(u[0], 1.5, g[0]); }
static int lb_v(const double *x) { return x[0] > 1.5; }
static void ub_c(const double *u, double *x, double *lj) { x[0] = vi_upper_bound_constrain(u[0], -2, lj); }
static void ub_u(const double *x, double *u) { u[0] = vi_upper_bound_unconstrain(x[0], -2); }
static void ub_b(const double *u, const double *g, double *gu) { gu[0] = vi_upper_bound_backward(u[0], -2, g[0]); }
static int ub_v(const double *x) { return x[0] < -2; }
static void iv_c(const double *u, double *x, double *lj) { x[0] = vi_interval_constrain(u[0], -1, 3, lj); }
static void iv_u(const double *x, double *u) { u[0] = vi_interval_unconstrain(x[0], -1, 3); }
static void iv_b(const double *u, const double *g, double *gu) { gu[0] = vi_interval_backward(u[0], -1, 3, g[0]); }
static int iv_v(const double *x) { return x[0] > -1 && x[0] < 3; }
static void sq1(const double *x, double *o) { first_n(x, o, 1); }
static void or_c(const double *u, double *x, double *lj) { vi_ordered_constrain(u, 4, x, lj); }
static void or_u(const double *x, double *u) { vi_ordered_unconstrain(x, 4, u); }
static void or_b(const double *u, const double *g, double *gu) { vi_ordered_backward(u, 4, g, gu); }
static void sq4(const double *x, double *o) { first_n(x, o, 4); }
static int or_v(const double *x) { return x[0] < x[1] && x[1] < x[2] && x[2] < x[3]; }
static void s4_c(const double *u, double *x, double *lj) { vi_simplex_constrain(u, 4, x, NULL, lj); }
static void s4_u(const double *x, double *u) { vi_simplex_unconstrain(x, 4, u); }
static void s4_b(const double *u, const double *g, double *gu) { vi_simplex_backward(u, 4, g, gu); }
static void sq3(const double *x, double *o) { first_n(x, o, 3); }
static int simplex_ok(const double *x, size_t K)
{
    double sum = 0.0;
    for (size_t k = 0; k < K; k++) {
        if (!(x[k] > 0.0))
            return 0;
        sum += x[k];
    }
    return fabs(sum - 1.0) < 1e-14;
}
static int s4_v(const double *x) { return simplex_ok(x, 4); }
static void s2_c(const double *u, double *x, double *lj) { vi_simplex_constrain(u, 2, x, NULL, lj); }
static void s2_u(const double *x, double *u) { vi_simplex_unconstrain(x, 2, u); }
static void s2_b(const double *u, const double *g, double *gu) { vi_simplex_backward(u, 2, g, gu); }
static int s2_v(const double *x) { return simplex_ok(x, 2); }
/* The strict lower triangle of a 4 x 4 factor, row by row. */
static void c4_c(const double *u, double *x, double *lj) { vi_corr_cholesky_constrain(u, 4, x, lj); }
static void c4_u(const double *x, double *u) { vi_corr_cholesky_unconstrain(x, 4, u); }
static void c4_b(const double *u, const double *g, double *gu) { vi_corr_cholesky_backward(u, 4, g, gu); }
static void c4_sq(const double *x, double *o)
{
    size_t at = 0;
    for (size_t i = 1; i < 4; i++)
        for (size_t j = 0; j < i; j++)
            o[at++] = x[i * 4 + j];
}
static int c4_v(const double *x)
{
    for (size_t i = 0; i < 4; i++) {
        double norm = 0.0;
        for (size_t j = 0; j < 4; j++) {
            if (j > i && x[i * 4 + j] != 0.0)
                return 0;
            norm += x[i * 4 + j] * x[i * 4 + j];
        }
        if (fabs(norm - 1.0) > 1e-13 || !(x[i * 4 + i] > 0.0))
            return 0;
    }
    return 1;
}

static const transform_case transform_cases[] = {
    {"lower_bound", 1, 1, lb_c, lb_u, lb_b, sq1, lb_v, 2.0, 9.0},
    {"upper_bound", 1, 1, ub_c, ub_u, ub_b, sq1, ub_v, 2.0, 9.0},
    {"interval", 1, 1, iv_c, iv_u, iv_b, sq1, iv_v, 2.0, 8.0},
    {"ordered", 4, 4, or_c, or_u, or_b, sq4, or_v, 1.5, 7.0},
    {"simplex K=2", 1, 2, s2_c, s2_u, s2_b, sq1, s2_v, 1.5, 8.0},
    {"simplex K=4", 3, 4, s4_c, s4_u, s4_b, sq3, s4_v, 1.5, 8.0},
    {"corr_cholesky K=4", 6, 16, c4_c, c4_u, c4_b, c4_sq, c4_v, 0.8, 4.0},
};

typedef struct transform_ctx {
    const transform_case *tc;
    const double *g_x;
    size_t pick;     /* which free value, for the Jacobian column */
} transform_ctx;

/* f(u) = g_x . x(u) + log-Jacobian(u): its gradient is backward(u, g_x). */
static double transform_objective(void *p, const double *u)
{
    transform_ctx *c = p;
    double x[16], lj = 0.0, f = 0.0;
    c->tc->constrain(u, x, &lj);
    for (size_t i = 0; i < c->tc->n_x; i++)
        f += c->g_x[i] * x[i];
    return f + lj;
}

/* log|det dx_free/du| by central differences. */
static double fd_log_det(const transform_case *tc, double *u)
{
    double jac[36], xu[16], xd[16], fu[6], fd[6];
    size_t n = tc->n_u;
    for (size_t j = 0; j < n; j++) {
        double keep = u[j], h = 1e-6;
        u[j] = keep + h;
        tc->constrain(u, xu, NULL);
        u[j] = keep - h;
        tc->constrain(u, xd, NULL);
        u[j] = keep;
        tc->square(xu, fu);
        tc->square(xd, fd);
        for (size_t i = 0; i < n; i++)
            jac[i * n + j] = (fu[i] - fd[i]) / (2 * h);
    }
    return log_abs_det(jac, n);
}

/* One point: constraint, inverse, log-Jacobian, backward; returns the
 * worst of each through the pointers. */
static void transform_point(const transform_case *tc, double *u, double *e_inv, double *e_lj,
                            double *e_bw, int *valid, vi_rng *rng)
{
    double x[16], u2[6], g_x[16], g_u[6], lj = 0.0;
    size_t at = 0;
    tc->constrain(u, x, &lj);
    *valid &= tc->valid(x);
    tc->unconstrain(x, u2);
    for (size_t i = 0; i < tc->n_u; i++)
        *e_inv = fmax(*e_inv, fabs(u2[i] - u[i]) / (1.0 + fabs(u[i])));
    *e_lj = fmax(*e_lj, fabs(fd_log_det(tc, u) - lj) / (1.0 + fabs(lj)));
    for (size_t i = 0; i < tc->n_x; i++)
        g_x[i] = vh_rng_normal(rng);
    tc->backward(u, g_x, g_u);
    transform_ctx ctx = {tc, g_x, 0};
    *e_bw = fmax(*e_bw, fd_ratio(transform_objective, &ctx, u, g_u, tc->n_u, &at));
}

static void check_transform(const transform_case *tc)
{
    vi_rng rng;
    double e_inv = 0.0, e_lj = 0.0, e_bw = 0.0;
    int valid = 1;
    vh_rng_init(&rng, 41, VH_RNG_TEST, 6, 0);
    for (int p = 0; p < 8; p++) {
        double u[6];
        for (size_t i = 0; i < tc->n_u; i++)
            u[i] = tc->spread * vh_rng_normal(&rng);
        if (p >= 4) /* near a boundary: one coordinate far out, either side */
            u[(size_t)p % tc->n_u] = (p % 2 ? -1.0 : 1.0) * tc->edge;
        transform_point(tc, u, &e_inv, &e_lj, &e_bw, &valid, &rng);
    }
    ok(valid, "%s: constrained values satisfy the constraint at 8 points", tc->name);
    ok(e_inv < 1e-9, "%s: unconstrain inverts constrain (worst %.1e)", tc->name, e_inv);
    ok(e_lj < 1e-6, "%s: log-Jacobian equals log|det| of the finite-difference Jacobian, "
                    "4 points near the boundary (worst %.1e)", tc->name, e_lj);
    ok(e_bw < 1.0, "%s: backward is the gradient of g.x + log-Jacobian (worst %.2g of "
                   "tolerance)", tc->name, e_bw);
}

typedef struct log_backward_ctx {
    const double *g_lx;
} log_backward_ctx;

static double simplex_log_objective(void *p, const double *u)
{
    const log_backward_ctx *c = p;
    double x[5], lx[5], lj = 0.0, f = 0.0;
    vi_simplex_constrain(u, 5, x, lx, &lj);
    for (int k = 0; k < 5; k++)
        f += c->g_lx[k] * lx[k];
    return f + lj;
}

/* vi_simplex_log_backward, the exact log weights, and extreme values. */
static void check_transform_extras(void)
{
    double u[4] = {0.3, -12.0, 2.0, 30.0}, g_lx[5] = {1.5, -0.2, 4, 0.7, -3}, g_u[4];
    double x[5], lx[5], lj = 0.0;
    size_t at = 0;
    vi_simplex_log_backward(u, 5, g_lx, g_u);
    log_backward_ctx c = {g_lx};
    ok(fd_ratio(simplex_log_objective, &c, u, g_u, 4, &at) < 1.0,
       "simplex_log_backward is the gradient of g.log x + log-Jacobian, with a weight "
       "near 1e-6");
    double far[4] = {-800, -800, -800, -800};
    vi_simplex_constrain(far, 5, x, lx, &lj);
    ok(x[0] == 0.0 && isfinite(lx[0]) && fabs(lx[0] - (-800 - log(4.0))) < 1e-9 &&
           isfinite(lj), "simplex: log x stays exact where x underflows");
    lj = 0.0;
    double big = vi_interval_constrain(40.0, -1, 3, &lj);
    ok(big <= 3.0 && isfinite(lj) && fabs(lj - (log(4.0) - 40.0)) < 1e-9,
       "interval: finite log-Jacobian at u = 40 (%.3f)", lj);
    double L[9], uc[3] = {20.0, -20.0, 20.0};
    lj = 0.0;
    vi_corr_cholesky_constrain(uc, 3, L, &lj);
    ok(isfinite(lj) && L[0] == 1.0, "corr_cholesky: finite log-Jacobian at |u| = 20");
}

/* ------------------------------------------------------------------ */
/* Targets: gradients by finite differences                             */
/* ------------------------------------------------------------------ */

typedef struct target_case {
    const char *label;
    const char *name;
    const char *options;
    const char *data;         /* under share/data */
    double spread;            /* random points N(0, spread^2) */
    int bounded[8];           /* unconstrained coordinates of bounded parameters (-1 ends; negative from the end: -2 = last) */
} target_case;

#define LAST (-2)
#define LAST2 (-3)
#define END (-1)

static const target_case target_cases[] = {
    {"normal", "normal", "{mu0: 1, s0: 3}", "normal.json", 2.0, {END}},
    {"mvnormal", "mvnormal", NULL, "mvnormal.json", 1.5, {END}},
    {"logistic", "logistic", "{prior_scale: 2.5}", "logistic.json", 1.0, {END}},
    {"linreg known sigma", "linreg", "{known_sigma: 1}", "linreg.json", 1.0, {END}},
    {"linreg blr", "linreg", "{prior_sd: 10, sigma_prior: half_normal, sigma_prior_scale: 10}",
     "posteriordb/sblri-blr/data.json", 0.5, {LAST, END}},
    {"linreg kidiq", "linreg",
     "{response: kid_score, predictors: 'mom_hs, mom_iq, mom_hs:mom_iq', intercept: true, "
     "beta_prior: flat, sigma_prior: half_cauchy, sigma_prior_scale: 2.5}",
     "posteriordb/kidiq-kidscore_interaction/data.json", 0.5, {LAST, END}},
    {"linreg kilpisjarvi", "linreg",
     "{predictors: x, intercept: true, coef_names: 'alpha, beta', prior_mean: [9.3, 0], "
     "prior_sd: [100, 0.0333], sigma_prior: flat}",
     "posteriordb/kilpisjarvi_mod-kilpisjarvi/data.json", 0.01, {LAST, END}},
    {"linreg kidiq qr", "linreg",
     "{response: kid_score, predictors: 'mom_hs, mom_iq, mom_hs:mom_iq', intercept: true, "
     "beta_prior: flat, sigma_prior: half_cauchy, sigma_prior_scale: 2.5, qr: true}",
     "posteriordb/kidiq-kidscore_interaction/data.json", 1.0, {LAST, END}},
    {"linreg blr qr", "linreg", "{prior_sd: 10, sigma_prior: half_normal, qr: true}",
     "posteriordb/sblri-blr/data.json", 1.0, {LAST, END}},
    {"linreg known sigma qr", "linreg", "{known_sigma: 1, qr: true}", "linreg.json", 1.0,
     {END}},
    {"linreg exponential", "linreg", "{sigma_prior: exponential, sigma_prior_scale: 2}",
     "linreg.json", 1.0, {LAST, END}},
    {"poisson", "poisson", NULL, "poisson.json", 0.5, {END}},
    {"eight_schools noncentered", "eight_schools", NULL,
     "posteriordb/eight_schools-eight_schools_noncentered/data.json", 2.0, {LAST, END}},
    {"eight_schools centered", "eight_schools", "{parameterization: centered}",
     "posteriordb/eight_schools-eight_schools_noncentered/data.json", 2.0, {LAST, END}},
    {"ark", "ark", NULL, "posteriordb/arK-arK/data.json", 0.3, {LAST, END}},
    {"radon noncentered", "radon", NULL, "radon.json", 1.0, {LAST, LAST2, END}},
    {"radon centered", "radon", "{parameterization: centered}", "radon.json", 1.0,
     {LAST, LAST2, END}},
    {"funnel", "funnel", "{dim: 6}", NULL, 1.5, {0, END}},
    {"gauss_mix K=2", "gauss_mix", NULL,
     "posteriordb/low_dim_gauss_mix-low_dim_gauss_mix/data.json", 1.0, {1, 2, 3, 4, END}},
    {"gauss_mix K=3", "gauss_mix", "{components: 3}", "gauss_mix.json", 1.0,
     {1, 2, 3, 4, 5, 6, 7, END}},
};

typedef struct target_ctx {
    fixture *fx;
    double *work;
    const size_t *idx;   /* subset, or NULL for the full density */
    size_t n_idx;
    double scale;
} target_ctx;

static double target_value(void *p, const double *x)
{
    target_ctx *c = p;
    const vh_model *m = &c->fx->model;
    double lp = NAN;
    if (c->idx == NULL)
        m->target->log_density(m->target_self, x, &lp, NULL, c->work, NULL);
    else
        m->target->log_density_subset(m->target_self, x, c->idx, c->n_idx, c->scale, &lp,
                                      NULL, c->work, NULL);
    return lp;
}

/* A random point; from `p` >= 3 on, the bounded coordinates are pushed
 * toward their boundary (-6: scales near 0.0025, weights near 0, gaps near
 * 0) or far out (+4). */
static void target_point(const target_case *tc, size_t d, int p, vi_rng *rng, double *x)
{
    for (size_t i = 0; i < d; i++)
        x[i] = tc->spread * vh_rng_normal(rng);
    for (int k = 0; p >= 3 && tc->bounded[k] != END; k++) {
        int b = tc->bounded[k];
        size_t i = b >= 0 ? (size_t)b : d - (size_t)(-b - 1);
        x[i] = (p + k) % 2 ? -6.0 : 4.0;
    }
}

static void check_target_subset(const target_case *tc, fixture *fx, target_ctx *c,
                                double *x)
{
    const vi_target_desc *t = fx->model.target;
    size_t d = fx->model.dim, n = t->n_items(fx->model.target_self), at = 0;
    size_t *idx = malloc(n * sizeof *idx), pick[3] = {0, n / 2, n - 1};
    double lp_all, lp, g_all[MAX_N], g[MAX_N];
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    t->log_density_subset(fx->model.target_self, x, idx, n, 1.0, &lp_all, g_all, c->work, NULL);
    t->log_density(fx->model.target_self, x, &lp, g, c->work, NULL);
    double worst = fabs(lp_all - lp) / (1.0 + fabs(lp));
    for (size_t i = 0; i < d; i++)
        worst = fmax(worst, fabs(g_all[i] - g[i]) / (1.0 + fabs(g[i])));
    ok(worst < 1e-12, "%s: the subset of all %zu items at scale 1 is the full density",
       tc->label, n);
    t->log_density_subset(fx->model.target_self, x, pick, 3, (double)n / 3.0, &lp, g, c->work,
                          NULL);
    target_ctx sub = {fx, c->work, pick, 3, (double)n / 3.0};
    double r = fd_ratio(target_value, &sub, x, g, d, &at);
    size_t bad = n;
    vi_error e = {sizeof e, 0, ""};
    int status = t->log_density_subset(fx->model.target_self, x, &bad, 1, 1.0, &lp, g, c->work,
                                       &e);
    ok(r < 1.0 && status == VI_EINVAL && strstr(e.message, "out of range") != NULL,
       "%s: a 3-item minibatch's gradient by central differences (%.2g of tolerance); an "
       "index past N is refused", tc->label, r);
    free(idx);
}

static void check_target_constrain(const target_case *tc, fixture *fx, const double *x)
{
    const vi_target_desc *t = fx->model.target;
    if (t->constrain == NULL)
        return;
    size_t cd = t->constrained_dim(fx->model.target_self);
    double out[MAX_N];
    int named = 1, finite = 1;
    t->constrain(fx->model.target_self, x, out, NULL);
    for (size_t i = 0; i < cd; i++) {
        named &= t->constrained_name(fx->model.target_self, i) != NULL;
        finite &= isfinite(out[i]);
    }
    named &= t->constrained_name(fx->model.target_self, cd) == NULL;
    ok(named && finite, "%s: %zu constrained values, each named and finite", tc->label, cd);
}

static void check_target(const target_case *tc)
{
    fixture fx;
    if (!ok(fixture_open(&fx, tc->name, tc->options, tc->data, NULL, NULL, NULL, NULL) == 0,
            "%s opens (%s)", tc->label, fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    size_t d = fx.model.dim, at = 0, worst_at = 0;
    double x[MAX_N], grad[MAX_N], lp, worst = 0.0, worst_edge = 0.0;
    double *work = calloc(fx.model.target_work + 1, sizeof *work);
    target_ctx c = {&fx, work, NULL, 0, 1.0};
    vi_rng rng;
    vh_rng_init(&rng, 17, VH_RNG_TEST, 1, 0);
    for (int p = 0; p < 6; p++) {
        target_point(tc, d, p, &rng, x);
        fx.model.target->log_density(fx.model.target_self, x, &lp, grad, work, NULL);
        double r = fd_ratio(target_value, &c, x, grad, d, &at);
        if (p < 3 && r > worst)
            worst = r, worst_at = at;
        if (p >= 3 && r > worst_edge)
            worst_edge = r, worst_at = at;
    }
    ok(worst < 1.0, "%s: gradient matches central differences at 3 random points (worst "
                    "%.2g of tolerance)", tc->label, worst);
    if (tc->bounded[0] != END)
        ok(worst_edge < 1.0, "%s: ... and at 3 points near the constraint boundaries "
                             "(worst %.2g of tolerance at coordinate %zu)", tc->label,
           worst_edge, worst_at + 1);
    if (fx.model.target->n_items != NULL)
        check_target_subset(tc, &fx, &c, x);
    check_target_constrain(tc, &fx, x);
    free(work);
    fixture_free(&fx);
}

/* ------------------------------------------------------------------ */
/* Exact answers                                                        */
/* ------------------------------------------------------------------ */

/* In-place lower Cholesky factor of the n x n SPD a; returns log det. */
static double cholesky(double *a, size_t n)
{
    double log_det = 0.0;
    for (size_t j = 0; j < n; j++) {
        for (size_t k = 0; k < j; k++)
            a[j * n + j] -= a[j * n + k] * a[j * n + k];
        a[j * n + j] = sqrt(a[j * n + j]);
        log_det += 2.0 * log(a[j * n + j]);
        for (size_t i = j + 1; i < n; i++) {
            for (size_t k = 0; k < j; k++)
                a[i * n + j] -= a[i * n + k] * a[j * n + k];
            a[i * n + j] /= a[j * n + j];
        }
        for (size_t i = 0; i < j; i++)
            a[i * n + j] = 0.0;
    }
    return log_det;
}

/* Solves L L^T x = b in place (L from cholesky). */
static void cholesky_solve(const double *l, double *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < i; k++)
            b[i] -= l[i * n + k] * b[k];
        b[i] /= l[i * n + i];
    }
    for (size_t i = n; i-- > 0;) {
        for (size_t k = i + 1; k < n; k++)
            b[i] -= l[k * n + i] * b[k];
        b[i] /= l[i * n + i];
    }
}

/* linreg with known sigma on share/data/linreg.json: log p(y) =
 * log N(y | X m, sigma^2 I + X S X^T) with N x N algebra, and the posterior
 * (Lambda^-1, Lambda^-1 (X^T y / sigma^2 + S^-1 m)) with D x D algebra. */
static void check_linreg_exact(void)
{
    fixture fx;
    const double sigma = 1.3, prior_sd = 2.0;
    if (!ok(fixture_open(&fx, "linreg", "{known_sigma: 1.3, prior_sd: 2, prior_mean: 0.5}",
                         "linreg.json", NULL, NULL, NULL, NULL) == 0,
            "linreg with known sigma opens (%s)", fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    const double *X, *y;
    size_t shape[VI_MAX_RANK], ndim;
    vh_config_get_array(fx.target.config, "X", &X, shape, &ndim);
    size_t n = shape[0], d = shape[1];
    vh_config_get_array(fx.target.config, "y", &y, shape, &ndim);
    double *c = calloc(n * n, sizeof *c), *r = calloc(n, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        double xm = 0.0;
        for (size_t k = 0; k < d; k++)
            xm += X[i * d + k] * 0.5;
        r[i] = y[i] - xm;
        for (size_t j = 0; j < n; j++) {
            for (size_t k = 0; k < d; k++)
                c[i * n + j] += X[i * d + k] * X[j * d + k] * prior_sd * prior_sd;
            c[i * n + j] += i == j ? sigma * sigma : 0.0;
        }
    }
    double log_det = cholesky(c, n), quad = 0.0, rr[64];
    memcpy(rr, r, n * sizeof *r);
    cholesky_solve(c, rr, n);
    for (size_t i = 0; i < n; i++)
        quad += r[i] * rr[i];
    double want = -0.5 * ((double)n * log(2 * M_PI) + log_det + quad), got = NAN;
    fx.model.target->log_evidence(fx.model.target_self, &got, NULL);
    is_close(got, want, 1e-9, 1e-12, "linreg: exact log evidence against N x N algebra");
    double lam[9] = {0}, b[3], mean[3], cov[9];
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d; k++)
            for (size_t j = 0; j < d; j++)
                lam[k * d + j] += X[i * d + k] * X[i * d + j] / (sigma * sigma);
    for (size_t k = 0; k < d; k++) {
        lam[k * d + k] += 1.0 / (prior_sd * prior_sd);
        b[k] = 0.5 / (prior_sd * prior_sd);
        for (size_t i = 0; i < n; i++)
            b[k] += X[i * d + k] * y[i] / (sigma * sigma);
    }
    const vi_target_moments *ext =
        fx.model.target->get_extension(fx.model.target_self, VI_TARGET_MOMENTS_ID);
    int have = ext != NULL && ext->moments(fx.model.target_self, mean, cov, NULL) == 0;
    double worst = have ? 0.0 : INFINITY, e[3];
    for (size_t j = 0; have && j < d; j++) { /* Lambda cov = I, Lambda mean = b */
        double lm = 0.0;
        for (size_t k = 0; k < d; k++) {
            lm += lam[j * d + k] * mean[k];
            double lc = 0.0;
            for (size_t i = 0; i < d; i++)
                lc += lam[j * d + i] * cov[i * d + k];
            worst = fmax(worst, fabs(lc - (j == k)));
        }
        worst = fmax(worst, fabs(lm - b[j]) / fabs(b[j]));
    }
    ok(worst < 1e-10, "linreg: the vi.target.moments/1 extension gives Lambda^-1 and "
                      "Lambda^-1 b (worst %.1e)", worst);
    double *work = calloc(fx.model.target_work + 1, sizeof *work);
    fx.model.target->log_density(fx.model.target_self, mean, &got, e, work, NULL);
    free(work);
    ok(have && fabs(e[0]) + fabs(e[1]) + fabs(e[2]) < 1e-8,
       "linreg: the gradient vanishes at the posterior mean");
    free(c);
    free(r);
    fixture_free(&fx);
}

/* With sigma a parameter there is no exact answer, and the target says so. */
static void check_linreg_unsupported(void)
{
    fixture fx;
    if (fixture_open(&fx, "linreg", NULL, "linreg.json", NULL, NULL, NULL, NULL) != 0) {
        ok(0, "linreg opens (%s)", fx.err.message);
        fixture_free(&fx);
        return;
    }
    double z, mean[4];
    vi_error e = {sizeof e, 0, ""}, e2 = {sizeof e2, 0, ""};
    const vi_target_moments *ext =
        fx.model.target->get_extension(fx.model.target_self, VI_TARGET_MOMENTS_ID);
    ok(fx.model.target->log_evidence(fx.model.target_self, &z, &e) == VI_EUNSUPPORTED &&
           ext != NULL && ext->moments(fx.model.target_self, mean, NULL, &e2) == VI_EUNSUPPORTED &&
           strstr(e.message, "known_sigma") != NULL,
       "linreg with sigma a parameter: log evidence and moments unsupported (%s)", e.message);
    fixture_free(&fx);
}

/* The 2-D funnel integrates to 1: quadrature over v, and over x on a grid
 * scaled by its sd exp(v/2). */
static void check_funnel_evidence(void)
{
    fixture fx;
    if (fixture_open(&fx, "funnel", "{dim: 2, scale: 1.5}", NULL, NULL, NULL, NULL, NULL) != 0) {
        ok(0, "funnel opens (%s)", fx.err.message);
        fixture_free(&fx);
        return;
    }
    double total = 0.0, hv = 0.02, ht = 0.02, lp, z, x[2];
    for (double v = -12.0; v <= 12.0; v += hv)
        for (double t = -10.0; t <= 10.0; t += ht) {
            x[0] = v;
            x[1] = exp(v / 2) * t;
            fx.model.target->log_density(fx.model.target_self, x, &lp, NULL, NULL, NULL);
            total += exp(lp) * exp(v / 2) * hv * ht;
        }
    fx.model.target->log_evidence(fx.model.target_self, &z, NULL);
    ok(fabs(total - 1.0) < 1e-6 && z == 0.0,
       "funnel: the density integrates to %.9f by quadrature; log_evidence is 0", total);
    fixture_free(&fx);
}

/* Centered and noncentered densities at corresponding points differ by
 * exactly J log(scale), the Jacobian of a = mu + scale a_raw. */
static void check_parameterizations(const char *target, const char *data, size_t J,
                                    size_t scale_at, size_t mu_at)
{
    fixture nc, c;
    int opened = fixture_open(&nc, target, "{parameterization: noncentered}", data, NULL,
                              NULL, NULL, NULL) == 0 &&
                 fixture_open(&c, target, "{parameterization: centered}", data, NULL, NULL,
                              NULL, NULL) == 0;
    double worst = opened ? 0.0 : INFINITY, u[MAX_N], w[MAX_N], lp_nc, lp_c;
    vi_rng rng;
    vh_rng_init(&rng, 43, VH_RNG_TEST, 7, 0);
    for (int p = 0; opened && p < 3; p++) {
        size_t d = nc.model.dim;
        for (size_t i = 0; i < d; i++)
            u[i] = w[i] = vh_rng_normal(&rng);
        double scale = exp(u[scale_at]);
        for (size_t j = 0; j < J; j++)
            w[j] = u[mu_at] + scale * u[j];
        nc.model.target->log_density(nc.model.target_self, u, &lp_nc, NULL, NULL, NULL);
        c.model.target->log_density(c.model.target_self, w, &lp_c, NULL, NULL, NULL);
        worst = fmax(worst, fabs(lp_c - (lp_nc - (double)J * u[scale_at])) /
                                (1.0 + fabs(lp_c)));
    }
    ok(worst < 1e-12, "%s: centered = noncentered - J log(scale) at 3 points (worst %.1e)",
       target, worst);
    fixture_free(&nc);
    fixture_free(&c);
}

/* linreg with qr: true is the same posterior in other coordinates: at
 * corresponding points (theta, and beta = R*^-1 theta from constrain) the
 * densities differ by one constant, the log-Jacobian of the linear map;
 * with a known sigma the log evidence is the same and the exact means
 * correspond. */
static void check_linreg_qr(const char *label, const char *options, const char *data)
{
    fixture nat, qr;
    char with_qr[512];
    snprintf(with_qr, sizeof with_qr, "{%s%sqr: true}", options, options[0] ? ", " : "");
    char plain[512];
    snprintf(plain, sizeof plain, "{%s}", options);
    int opened = fixture_open(&nat, "linreg", plain, data, NULL, NULL, NULL, NULL) == 0 &&
                 fixture_open(&qr, "linreg", with_qr, data, NULL, NULL, NULL, NULL) == 0;
    double u[MAX_N], v[MAX_N], c[MAX_N], lq, ln, first = 0.0, worst = opened ? 0.0 : INFINITY;
    /* Each target's workspace, as the host hands it. */
    double *work = calloc((opened ? qr.model.target_work + nat.model.target_work : 0) + 1,
                          sizeof *work);
    vi_rng rng;
    vh_rng_init(&rng, 53, VH_RNG_TEST, 9, 0);
    for (int p = 0; opened && p < 3; p++) {
        size_t d = qr.model.dim;
        for (size_t i = 0; i < d; i++)
            u[i] = vh_rng_normal(&rng);
        qr.model.target->constrain(qr.model.target_self, u, c, NULL);
        for (size_t i = 0; i < d; i++)
            v[i] = strcmp(nat.model.target->param_name(nat.model.target_self, i),
                          "log_sigma") == 0 ? u[i] : c[i];
        qr.model.target->log_density(qr.model.target_self, u, &lq, NULL, work, NULL);
        nat.model.target->log_density(nat.model.target_self, v, &ln, NULL, work, NULL);
        if (p == 0)
            first = lq - ln;
        worst = fmax(worst, fabs(lq - ln - first) / (1.0 + fabs(ln)));
    }
    free(work);
    ok(worst < 1e-10, "linreg %s: qr: true equals the native density up to the constant "
                      "%.6g at 3 corresponding points (worst %.1e)", label, first, worst);
    double zq, zn, mq[MAX_N], mn[MAX_N];
    if (opened && qr.model.target->log_evidence(qr.model.target_self, &zq, NULL) == 0) {
        const vi_target_moments *eq =
            qr.model.target->get_extension(qr.model.target_self, VI_TARGET_MOMENTS_ID);
        const vi_target_moments *en =
            nat.model.target->get_extension(nat.model.target_self, VI_TARGET_MOMENTS_ID);
        nat.model.target->log_evidence(nat.model.target_self, &zn, NULL);
        eq->moments(qr.model.target_self, mq, NULL, NULL);
        en->moments(nat.model.target_self, mn, NULL, NULL);
        qr.model.target->constrain(qr.model.target_self, mq, c, NULL);
        double e = fabs(zq - zn);
        for (size_t i = 0; i < nat.model.dim; i++)
            e = fmax(e, fabs(c[i] - mn[i]) / (1.0 + fabs(mn[i])));
        ok(e < 1e-9, "linreg %s: qr: true keeps the log evidence (%.6f) and the exact mean "
                     "(worst %.1e)", label, zq, e);
    }
    fixture_free(&nat);
    fixture_free(&qr);
}

/* ------------------------------------------------------------------ */
/* Data errors                                                          */
/* ------------------------------------------------------------------ */

typedef struct refusal_case {
    const char *target, *options, *json, *needle;
} refusal_case;

static const refusal_case refusal_cases[] = {
    {"eight_schools", NULL, "{\"J\": 3, \"y\": [1, 2, 3], \"sigma\": [1, 2]}",
     "'sigma' must have 3 values"},
    {"eight_schools", NULL, "{\"y\": [1, 2], \"sigma\": [1, -2]}", "got sigma[2] = -2"},
    {"eight_schools", NULL, "{\"J\": 4, \"y\": [1, 2], \"sigma\": [1, 2]}",
     "'J' = 4 does not match"},
    {"eight_schools", "{parameterization: central}", "{\"y\": [1], \"sigma\": [1]}",
     "'parameterization' must be one of 'noncentered', 'centered'"},
    {"ark", NULL, "{\"y\": [1, 2, 3]}", "'K' is missing"},
    {"ark", NULL, "{\"K\": 3, \"y\": [1, 2, 3]}", "leaves no observations"},
    {"linreg", "{predictors: 'a, a:b'}", "{\"y\": [1, 2], \"a\": [3, 4]}", "'b' is missing"},
    {"linreg", "{predictors: 'a, a:'}", "{\"y\": [1, 2], \"a\": [3, 4]}", "term 'a:'"},
    {"linreg", NULL, "{\"y\": [1, 2], \"X\": [[1], [2], [3]]}", "'X' must have 2 rows"},
    {"linreg", "{coef_names: 'alpha, beta'}", "{\"y\": [1, 2], \"X\": [[1], [2]]}",
     "'coef_names' names 2 coefficients but the design has 1"},
    {"linreg", "{sigma_prior: cauchy}", "{\"y\": [1, 2], \"X\": [[1], [2]]}",
     "'sigma_prior' must be one of"},
    {"linreg", "{prior_sd: [1, 2, 3]}", "{\"y\": [1, 2], \"X\": [[1], [2]]}",
     "'prior_sd' must be one value or a vector of 1"},
    {"linreg", "{qr: true}", "{\"y\": [1, 2, 3], \"X\": [[1, 2], [2, 4], [3, 6]]}",
     "column 2 of the design is numerically a combination"},
    {"linreg", "{qr: true}", "{\"y\": [1], \"X\": [[1, 2]]}",
     "'qr' needs at least as many rows (N = 1) as coefficients (2)"},
    {"poisson", NULL, "{\"y\": [1, 2.5], \"X\": [[1], [2]]}", "'y' must hold whole numbers"},
    {"radon", NULL, "{\"J\": 3, \"county\": [1, 0], \"x\": [0, 1], \"y\": [1, 2]}",
     "'county' must hold whole numbers in [1, 3]"},
    {"radon", NULL, "{\"J\": 3, \"county\": [1, 2], \"x\": [0, 1, 1], \"y\": [1, 2]}",
     "'x' must have 2 values"},
    {"gauss_mix", NULL, "{\"y\": [[1, 2], [3, 4]]}", "'y' must be a vector"},
    {"gauss_mix", NULL, "{\"N\": 3, \"y\": [1, 2]}", "'N' = 3 does not match"},
};

/* Creating `target` over the data `json` must fail with a message
 * containing `needle`. */
static void check_refusal(const refusal_case *rc)
{
    fixture fx;
    char path[] = "/tmp/vihost-test-targets-XXXXXX", message[2048] = "";
    vi_error perr = {sizeof perr, 0, ""};
    void *self = NULL;
    int fd = mkstemp(path), refused = 0;
    memset(&fx, 0, sizeof fx);
    vh_registry_init(&fx.registry);
    if (fd >= 0 && write(fd, rc->json, strlen(rc->json)) == (ssize_t)strlen(rc->json) &&
        close(fd) == 0 && vh_data_load(path, &fx.data, &fx.err) == 0 &&
        fixture_part_load(&fx, &fx.target, "targets", VI_KIND_TARGET, rc->target, rc->options,
                          fx.data) == 0) {
        const vi_target_desc *t = (const vi_target_desc *)fx.target.component->head;
        refused = t->create(&fx.target.context.host, fx.target.config, &self, &perr) != 0 &&
                  self == NULL;
        snprintf(message, sizeof message, "%s", perr.message);
        if (self != NULL)
            t->destroy(self);
    } else
        snprintf(message, sizeof message, "setup: %s", fx.err.message);
    ok(refused && strstr(message, rc->needle) != NULL, "%s refuses %s: %s", rc->target,
       rc->json, message);
    unlink(path);
    fixture_free(&fx);
}

int main(void)
{
    for (size_t i = 0; i < sizeof density_cases / sizeof density_cases[0]; i++)
        check_density(&density_cases[i]);
    check_density_edges();
    for (size_t i = 0; i < sizeof transform_cases / sizeof transform_cases[0]; i++)
        check_transform(&transform_cases[i]);
    check_transform_extras();
    for (size_t i = 0; i < sizeof target_cases / sizeof target_cases[0]; i++)
        check_target(&target_cases[i]);
    check_linreg_exact();
    check_linreg_unsupported();
    check_funnel_evidence();
    check_linreg_qr("known sigma", "known_sigma: 1.3, prior_sd: 2", "linreg.json");
    check_linreg_qr("kilpisjarvi",
                    "predictors: x, intercept: true, prior_mean: [9.3, 0], "
                    "prior_sd: [100, 0.0333], sigma_prior: flat",
                    "posteriordb/kilpisjarvi_mod-kilpisjarvi/data.json");
    check_linreg_qr("kidiq",
                    "response: kid_score, predictors: 'mom_hs, mom_iq, mom_hs:mom_iq', "
                    "intercept: true, beta_prior: flat, sigma_prior: half_cauchy",
                    "posteriordb/kidiq-kidscore_interaction/data.json");
    check_parameterizations("eight_schools",
                            "posteriordb/eight_schools-eight_schools_noncentered/data.json", 8,
                            9, 8);
    check_parameterizations("radon", "radon.json", 12, 14, 13);
    for (size_t i = 0; i < sizeof refusal_cases / sizeof refusal_cases[0]; i++)
        check_refusal(&refusal_cases[i]);
    return tap_done();
}
