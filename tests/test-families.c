/* test-families.c — every variational family, table-driven (GSL style),
 * through the same loader and config code the host runs:
 *  - backward, the entropy gradient, log_q_grad_z and log_q_grad_lambda
 *    against central finite differences, and forward's log q against
 *    log_q; the mixture's strata likewise;
 *  - the closed-form entropy against Monte Carlo, exact moments against
 *    sample moments, and the score identities E_q[grad_lambda log q] = 0
 *    and E_q[grad_z log q] = 0 (which hold only if log_q is the normalized
 *    density of what forward draws);
 *  - the host's gradient estimators (reparam, stl, score, and the
 *    stratified form for the mixture) against the exact ELBO gradient of a
 *    one-dimensional target, the ELBO computed by quadrature;
 *  - the test targets (gmm, banana, categorical_target): gradients, exact
 *    log evidence and moments against quadrature;
 *  - the KL helper and the exact KL of a family over a finite set, and the
 *    refusals of estimator/family/target combinations that cannot work. */
#include <math.h>

#include "estimators.h"
#include "finite.h"
#include "fixture.h"
#include "rng.h"
#include "tap.h"

#define MVN "mvnormal", NULL, "mvnormal.json"
#define DIE "categorical_target", "{probs: [1, 1, 1, 1, 1, 1]}", NULL
#define DIE_START "{init_probs: [0.1, 0.1, 0.1, 0.1, 0.1, 0.5]}"
/* The 1-D bimodal target of the acceptance tests. */
#define BIMODAL "gmm", "{weights: [0.3, 0.7], means: [-3, 3], sds: [1, 1]}", NULL

typedef struct family_case {
    const char *label;
    const char *family;
    const char *options;
    const char *target;
    const char *target_options;
    const char *data;
} family_case;

static const family_case family_cases[] = {
    {"meanfield", "meanfield", NULL, MVN},
    {"fullrank", "fullrank", NULL, MVN},
    {"lowrank (rank 3)", "lowrank", "{rank: 3}", MVN},
    {"lowrank (rank 10)", "lowrank", "{rank: 10}", MVN},
    {"chain (bandwidth 1)", "chain", "{bandwidth: 1}", MVN},
    {"chain (bandwidth 3)", "chain", "{bandwidth: 3}", MVN},
    {"chain (bandwidth 20 > D: full)", "chain", "{bandwidth: 20}", MVN},
    {"studentt (diagonal)", "studentt", "{dof: 10}", MVN},
    {"studentt (full, learned dof)", "studentt", "{dof: 10, structure: full, learn_dof: true}",
     MVN},
    {"mixture (K 3, diagonal)", "mixture", "{components: 3}", MVN},
    {"mixture (K 2, full)", "mixture", "{components: 2, structure: full}", MVN},
    {"flow (depth 3, width 5)", "flow", "{depth: 3, width: 5}", MVN},
    {"categorical", "categorical", DIE_START, DIE},
};

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

typedef int (*scalar_fn)(void *ctx, const double *x, double *value);

/* Worst |fd - analytic| / (1 + |analytic|) of f's gradient at x. */
static double worst_fd_error(scalar_fn f, void *ctx, double *x, const double *grad, size_t n,
                             size_t *worst_at)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double keep = x[i], h = 1e-5 * fmax(1.0, fabs(keep)), up, down;
        x[i] = keep + h;
        f(ctx, x, &up);
        x[i] = keep - h;
        f(ctx, x, &down);
        x[i] = keep;
        double err = fabs((up - down) / (2.0 * h) - grad[i]) / (1.0 + fabs(grad[i]));
        if (err > worst) {
            worst = err;
            *worst_at = i;
        }
    }
    return worst;
}

/* A base draw for stream (seed, iteration, index): the family's own
 * sample_base, or standard normals. */
static void base_draw(const vh_model *m, uint64_t seed, uint64_t iteration, uint64_t index,
                      double *eps)
{
    vi_rng rng;
    vh_rng_init(&rng, seed, VH_RNG_TEST, iteration, index);
    if (m->family->sample_base != NULL)
        m->family->sample_base(m->family_self, &rng, m->family_host, eps, NULL);
    else
        vh_rng_normal_fill(&rng, eps, m->base_dim);
}

typedef struct family_ctx {
    const vh_model *m;
    const double *lambda;
    const double *eps;
    const double *dz;
    const double *z;
    const double *dw;
    const vi_family_strata *strata;
    size_t stratum;
    double *work;
    double *zbuf;
} family_ctx;

static int forward_dot_dz(void *p, const double *lambda, double *value)
{
    family_ctx *c = p;
    c->m->family->forward(c->m->family_self, lambda, c->eps, c->zbuf, NULL, c->work, NULL);
    *value = 0.0;
    for (size_t i = 0; i < c->m->dim; i++)
        *value += c->dz[i] * c->zbuf[i];
    return 0;
}

static int stratum_dot_dz(void *p, const double *lambda, double *value)
{
    family_ctx *c = p;
    c->strata->forward_stratum(c->m->family_self, lambda, c->stratum, c->eps, c->zbuf, NULL,
                               c->work, NULL);
    *value = 0.0;
    for (size_t i = 0; i < c->m->dim; i++)
        *value += c->dz[i] * c->zbuf[i];
    return 0;
}

static int weights_dot_dw(void *p, const double *lambda, double *value)
{
    family_ctx *c = p;
    size_t k = c->strata->n_strata(c->m->family_self);
    double w[16];
    c->strata->weights(c->m->family_self, lambda, w, c->work, NULL);
    *value = 0.0;
    for (size_t i = 0; i < k; i++)
        *value += c->dw[i] * w[i];
    return 0;
}

static int entropy_of(void *p, const double *lambda, double *value)
{
    family_ctx *c = p;
    return c->m->family->entropy(c->m->family_self, lambda, value, NULL, c->work, NULL);
}

static int log_q_of_z(void *p, const double *z, double *value)
{
    family_ctx *c = p;
    return c->m->family->log_q(c->m->family_self, c->lambda, z, value, c->work, NULL);
}

static int log_q_of_lambda(void *p, const double *lambda, double *value)
{
    family_ctx *c = p;
    return c->m->family->log_q(c->m->family_self, lambda, c->z, value, c->work, NULL);
}

/* ------------------------------------------------------------------ */
/* Finite differences                                                   */
/* ------------------------------------------------------------------ */

static void check_strata(const char *name, family_ctx *c, double *lambda, double *g)
{
    const vh_model *m = c->m;
    size_t n = m->n_params, at = 0, k_all = c->strata->n_strata(m->family_self);
    double worst = 0.0, dw[16], lq, lq_direct, worst_lq = 0.0;
    vi_rng rng;
    vh_rng_init(&rng, 31, VH_RNG_TEST, 9, 0);
    for (size_t k = 0; k < k_all; k++) {
        c->stratum = k;
        memset(g, 0, n * sizeof *g);
        c->strata->backward_stratum(m->family_self, lambda, k, c->eps, c->dz, g, c->work, NULL);
        worst = fmax(worst, worst_fd_error(stratum_dot_dz, c, lambda, g, n, &at));
        c->strata->forward_stratum(m->family_self, lambda, k, c->eps, c->zbuf, &lq, c->work,
                                   NULL);
        m->family->log_q(m->family_self, lambda, c->zbuf, &lq_direct, c->work, NULL);
        worst_lq = fmax(worst_lq, fabs(lq - lq_direct));
    }
    ok(worst < 1e-6, "%s: backward_stratum is J_k^T dz for every stratum (worst %.2e)", name,
       worst);
    ok(worst_lq < 1e-10, "%s: forward_stratum's log q equals log_q(z)", name);
    for (size_t k = 0; k < k_all; k++)
        dw[k] = vh_rng_normal(&rng);
    c->dw = dw;
    memset(g, 0, n * sizeof *g);
    c->strata->weights_backward(m->family_self, lambda, dw, g, c->work, NULL);
    worst = worst_fd_error(weights_dot_dw, c, lambda, g, n, &at);
    ok(worst < 1e-6, "%s: weights_backward by central differences (worst %.2e)", name, worst);
}

static void check_gradients(const family_case *fc, family_ctx *c, double *lambda, double *eps)
{
    const vh_model *m = c->m;
    const vi_family_desc *fam = m->family;
    size_t n = m->n_params, d = m->dim, at = 0;
    double *g = calloc(n, sizeof *g), *dz = calloc(d, sizeof *dz), *z = calloc(d, sizeof *z);
    double h, lq, lq_fwd, lq_direct, e;
    vi_rng rng;
    vh_rng_init(&rng, 23, VH_RNG_TEST, 2, 0);
    for (size_t i = 0; i < d; i++)
        dz[i] = vh_rng_normal(&rng);
    c->dz = dz;
    fam->backward(m->family_self, lambda, eps, dz, g, c->work, NULL);
    e = worst_fd_error(forward_dot_dz, c, lambda, g, n, &at);
    ok(e < 1e-6, "%s: backward is J^T dz by central differences (worst %.2e at %s)", fc->label,
       e, fam->param_name(m->family_self, at));
    if (fam->entropy != NULL) {
        memset(g, 0, n * sizeof *g);
        fam->entropy(m->family_self, lambda, &h, g, c->work, NULL);
        e = worst_fd_error(entropy_of, c, lambda, g, n, &at);
        ok(e < 1e-6, "%s: entropy gradient by central differences (worst %.2e at %s)",
           fc->label, e, fam->param_name(m->family_self, at));
    }
    fam->forward(m->family_self, lambda, eps, z, &lq_fwd, c->work, NULL);
    fam->log_q(m->family_self, lambda, z, &lq_direct, c->work, NULL);
    ok(isfinite(lq_fwd) && fabs(lq_fwd - lq_direct) <= 1e-10 * (1.0 + fabs(lq_direct)),
       "%s: forward's log q %.12g equals log_q(z) %.12g", fc->label, lq_fwd, lq_direct);
    c->z = z;
    if (fam->log_q_grad_z != NULL) {
        fam->log_q_grad_z(m->family_self, lambda, z, &lq, g, c->work, NULL);
        e = worst_fd_error(log_q_of_z, c, z, g, d, &at);
        ok(e < 1e-6 && fabs(lq - lq_direct) <= 1e-10 * (1.0 + fabs(lq)),
           "%s: log_q_grad_z by central differences (worst %.2e)", fc->label, e);
    }
    if (fam->log_q_grad_lambda != NULL) {
        fam->log_q_grad_lambda(m->family_self, lambda, z, &lq, g, c->work, NULL);
        e = worst_fd_error(log_q_of_lambda, c, lambda, g, n, &at);
        ok(e < 1e-6 && fabs(lq - lq_direct) <= 1e-10 * (1.0 + fabs(lq)),
           "%s: log_q_grad_lambda by central differences (worst %.2e at %s)", fc->label, e,
           fam->param_name(m->family_self, at));
    }
    c->strata = fam->get_extension ? fam->get_extension(m->family_self, VI_FAMILY_STRATA_ID)
                                   : NULL;
    if (c->strata != NULL)
        check_strata(fc->label, c, lambda, g);
    free(g);
    free(dz);
    free(z);
}

/* ------------------------------------------------------------------ */
/* Monte Carlo                                                          */
/* ------------------------------------------------------------------ */

/* Running sums over draws: of -log q, of z and z z^T, and of both score
 * functions, for means and standard errors. */
typedef struct mc_sums {
    size_t S;
    double h, h2;
    double *z1, *z2;         /* d, d x d */
    double *gl, *gl2;        /* n */
    double *gz, *gz2;        /* d */
} mc_sums;

static void mc_accumulate(const vh_model *m, family_ctx *c, const double *lambda, mc_sums *mc,
                          double *eps, double *z, double *g)
{
    const vi_family_desc *fam = m->family;
    size_t d = m->dim, n = m->n_params;
    double lq;
    for (size_t s = 0; s < mc->S; s++) {
        base_draw(m, 29, 3, s, eps);
        fam->forward(m->family_self, lambda, eps, z, &lq, c->work, NULL);
        mc->h -= lq;
        mc->h2 += lq * lq;
        for (size_t i = 0; i < d; i++) {
            mc->z1[i] += z[i];
            for (size_t j = 0; j < d; j++)
                mc->z2[i * d + j] += z[i] * z[j];
        }
        if (fam->log_q_grad_lambda != NULL) {
            fam->log_q_grad_lambda(m->family_self, lambda, z, &lq, g, c->work, NULL);
            for (size_t i = 0; i < n; i++) {
                mc->gl[i] += g[i];
                mc->gl2[i] += g[i] * g[i];
            }
        }
        if (fam->log_q_grad_z != NULL) {
            fam->log_q_grad_z(m->family_self, lambda, z, &lq, g, c->work, NULL);
            for (size_t i = 0; i < d; i++) {
                mc->gz[i] += g[i];
                mc->gz2[i] += g[i] * g[i];
            }
        }
    }
}

/* Largest |mean| / standard error over n running sums. */
static double worst_z_score(const double *sum, const double *sum2, size_t n, size_t S)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double mean = sum[i] / (double)S, var = sum2[i] / (double)S - mean * mean;
        if (var > 0.0)
            worst = fmax(worst, fabs(mean) / sqrt(var / (double)S));
        else if (mean != 0.0)
            worst = INFINITY;
    }
    return worst;
}

static void check_moments(const family_case *fc, const vh_model *m, family_ctx *c,
                          const double *lambda, const mc_sums *mc)
{
    size_t d = m->dim, S = mc->S;
    double *mean = calloc(d, sizeof *mean), *cov = calloc(d * d, sizeof *cov), worst = 0.0;
    m->family->moments(m->family_self, lambda, mean, cov, c->work, NULL);
    for (size_t i = 0; i < d; i++) {
        double sm = mc->z1[i] / (double)S;
        worst = fmax(worst, fabs(sm - mean[i]) / sqrt(cov[i * d + i]));
        for (size_t j = 0; j < d; j++) {
            double sc = mc->z2[i * d + j] / (double)S - sm * mc->z1[j] / (double)S;
            worst = fmax(worst, fabs(sc - cov[i * d + j]) / sqrt(cov[i * d + i] * cov[j * d + j]));
        }
    }
    ok(worst < 0.03, "%s: moments match sample moments (worst %.4f in sd units)", fc->label,
       worst);
    free(mean);
    free(cov);
}

static void check_monte_carlo(const family_case *fc, family_ctx *c, const double *lambda)
{
    const vh_model *m = c->m;
    const vi_family_desc *fam = m->family;
    size_t d = m->dim, n = m->n_params;
    mc_sums mc = {40000, 0.0, 0.0, calloc(d, sizeof(double)), calloc(d * d, sizeof(double)),
                  calloc(n, sizeof(double)), calloc(n, sizeof(double)),
                  calloc(d, sizeof(double)), calloc(d, sizeof(double))};
    double *eps = calloc(m->base_dim, sizeof *eps), *z = calloc(d, sizeof *z);
    double *g = calloc(n > d ? n : d, sizeof *g);
    mc_accumulate(m, c, lambda, &mc, eps, z, g);
    if (fam->entropy != NULL) {
        double h, mean = mc.h / (double)mc.S;
        double se = sqrt((mc.h2 / (double)mc.S - mean * mean) / (double)mc.S);
        fam->entropy(m->family_self, lambda, &h, NULL, c->work, NULL);
        ok(fabs(h - mean) < 4.0 * se + 1e-12, "%s: entropy %.5f equals Monte Carlo %.5f +- %.5f",
           fc->label, h, mean, se);
    }
    if (fam->moments != NULL)
        check_moments(fc, m, c, lambda, &mc);
    if (fam->log_q_grad_lambda != NULL) {
        double w = worst_z_score(mc.gl, mc.gl2, n, mc.S);
        ok(w < 4.5, "%s: E_q[grad_lambda log q] = 0 (worst of %zu coordinates at %.2f standard "
                    "errors)", fc->label, n, w);
    }
    if (fam->log_q_grad_z != NULL) {
        double w = worst_z_score(mc.gz, mc.gz2, d, mc.S);
        ok(w < 4.5, "%s: E_q[grad_z log q] = 0 (worst at %.2f standard errors)", fc->label, w);
    }
    free(mc.z1);
    free(mc.z2);
    free(mc.gl);
    free(mc.gl2);
    free(mc.gz);
    free(mc.gz2);
    free(eps);
    free(z);
    free(g);
}

static void check_family(const family_case *fc)
{
    fixture fx;
    if (!ok(fixture_open(&fx, fc->target, fc->target_options, fc->data, fc->family,
                         fc->options, NULL, NULL) == 0,
            "%s opens (%s)", fc->label, fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    const vh_model *m = &fx.model;
    double *lambda = calloc(m->n_params, sizeof *lambda);
    double *eps = calloc(m->base_dim, sizeof *eps), *zbuf = calloc(m->dim, sizeof *zbuf);
    double *work = calloc(m->family_work + 1, sizeof *work);
    family_ctx c = {m, lambda, eps, NULL, NULL, NULL, NULL, 0, work, zbuf};
    vi_rng rng;
    vh_rng_init(&rng, 19, VH_RNG_TEST, 4, 0);
    ok(m->family->init(m->family_self, lambda, NULL) == 0, "%s: init", fc->label);
    for (size_t i = 0; i < m->n_params; i++)
        lambda[i] += 0.3 * vh_rng_normal(&rng);
    base_draw(m, 19, 5, 0, eps);
    check_gradients(fc, &c, lambda, eps);
    check_monte_carlo(fc, &c, lambda);
    free(lambda);
    free(eps);
    free(zbuf);
    free(work);
    fixture_free(&fx);
}

/* ------------------------------------------------------------------ */
/* The host's estimators against the exact ELBO gradient                */
/* ------------------------------------------------------------------ */

/* ELBO(lambda) = int q (log p~ - log q) for a 1-D target by the
 * trapezoid rule on [-40, 40] (the integrand is smooth and negligible
 * beyond), or the exact sum for a target over a finite set. */
static int exact_elbo(void *p, const double *lambda, double *value)
{
    family_ctx *c = p;
    const vh_model *m = c->m;
    const vi_target_finite *fin = vh_target_finite(m);
    double sum = 0.0, step = 0.002, twork[64];
    size_t n = fin != NULL ? fin->n_states : (size_t)(80.0 / step) + 1;
    for (size_t i = 0; i < n; i++) {
        double z = fin != NULL ? fin->states[i] : -40.0 + step * (double)i, lq, lp;
        m->family->log_q(m->family_self, lambda, &z, &lq, c->work, NULL);
        m->target->log_density(m->target_self, &z, &lp, NULL, twork, NULL);
        if (isfinite(lq) && exp(lq) > 0.0)
            sum += exp(lq) * (lp - lq) * (fin != NULL ? 1.0 : step);
    }
    *value = sum;
    return 0;
}

typedef struct estimator_case {
    const char *family;
    const char *options;
    vh_gradient gradient;
    const char *target;
    const char *target_options;
    const char *data;
} estimator_case;

static const estimator_case estimator_cases[] = {
    {"meanfield", NULL, VH_GRADIENT_REPARAM, BIMODAL},
    {"meanfield", NULL, VH_GRADIENT_STL, BIMODAL},
    {"meanfield", NULL, VH_GRADIENT_SCORE, BIMODAL},
    {"studentt", "{dof: 8, learn_dof: true}", VH_GRADIENT_REPARAM, BIMODAL},
    {"studentt", "{dof: 8, learn_dof: true}", VH_GRADIENT_STL, BIMODAL},
    {"studentt", "{dof: 8, learn_dof: true}", VH_GRADIENT_SCORE, BIMODAL},
    {"mixture", "{components: 2, init_spread: 2}", VH_GRADIENT_REPARAM, BIMODAL},
    {"mixture", "{components: 2, init_spread: 2}", VH_GRADIENT_STL, BIMODAL},
    {"mixture", "{components: 3, init_spread: 2}", VH_GRADIENT_SCORE, BIMODAL},
    {"categorical", DIE_START, VH_GRADIENT_SCORE, DIE},
};

static const char *const gradient_names[] = {"reparam", "stl", "score"};

/* The mean of R gradient estimates of S draws each, with its standard
 * error per coordinate, against central differences of the exact ELBO. */
static void check_estimator(const estimator_case *ec)
{
    fixture fx;
    char label[128];
    snprintf(label, sizeof label, "%s%s%s / %s", ec->family, ec->options ? " " : "",
             ec->options ? ec->options : "", gradient_names[ec->gradient]);
    if (!ok(fixture_open(&fx, ec->target, ec->target_options, ec->data, ec->family,
                         ec->options, "sgd", NULL) == 0, "%s opens (%s)", label,
            fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    vh_model *m = &fx.model;
    m->gradient = ec->gradient;
    size_t n = m->n_params, R = 400, S = 25, at = 0;
    double *lambda = calloc(n, sizeof *lambda), *grad = calloc(n, sizeof *grad);
    double *sum = calloc(n, sizeof *sum), *sum2 = calloc(n, sizeof *sum2);
    double *exact = calloc(n, sizeof *exact), *per_draw = calloc(S * n, sizeof *per_draw);
    double *work = calloc(m->family_work + 1, sizeof *work), elbo, worst = 0.0;
    family_ctx c = {m, lambda, NULL, NULL, NULL, NULL, NULL, 0, work, NULL};
    vh_draw_buffers buf;
    vi_rng rng;
    vh_rng_init(&rng, 37, VH_RNG_TEST, 6, 0);
    m->family->init(m->family_self, lambda, NULL);
    for (size_t i = 0; i < n; i++)
        lambda[i] += 0.3 * vh_rng_normal(&rng);
    int failed = vh_estimator_check(m, &fx.err) != 0 || vh_draw_buffers_alloc(m, &buf) != 0;
    for (size_t r = 0; r < R && !failed; r++) {
        failed = vh_gradient_estimate(m, lambda, 41, r + 1, S, &buf, per_draw, grad, &elbo,
                                      &fx.err) != 0;
        for (size_t i = 0; i < n; i++) {
            sum[i] += grad[i];
            sum2[i] += grad[i] * grad[i];
        }
    }
    if (ok(!failed, "%s: %zu gradient estimates (%s)", label, R, fx.err.message)) {
        double e0;
        exact_elbo(&c, lambda, &e0);
        for (size_t i = 0; i < n; i++) { /* exact gradient by central differences */
            double keep = lambda[i], up, down;
            lambda[i] = keep + 1e-4;
            exact_elbo(&c, lambda, &up);
            lambda[i] = keep - 1e-4;
            exact_elbo(&c, lambda, &down);
            lambda[i] = keep;
            exact[i] = (up - down) / 2e-4;
            double mean = sum[i] / (double)R, var = sum2[i] / (double)R - mean * mean;
            double z = fabs(mean - exact[i]) / (sqrt(fmax(var, 0.0) / (double)R) + 1e-6);
            if (z > worst) {
                worst = z;
                at = i;
            }
        }
        ok(worst < 4.5, "%s: mean estimate equals the exact ELBO gradient (ELBO %.4f; worst "
                        "%.2f standard errors, at %s: %.5f vs %.5f)", label, e0, worst,
           m->family->param_name(m->family_self, at), sum[at] / (double)R, exact[at]);
        vh_draw_buffers_free(&buf);
    }
    free(lambda);
    free(grad);
    free(sum);
    free(sum2);
    free(exact);
    free(per_draw);
    free(work);
    fixture_free(&fx);
}

/* ------------------------------------------------------------------ */
/* The test targets                                                     */
/* ------------------------------------------------------------------ */

typedef struct target_case {
    const char *label;
    const char *target;
    const char *options;
    double half_width;   /* the quadrature box: [-w, w] per coordinate */
} target_case;

static const target_case target_cases[] = {
    {"gmm (defaults: 1-D bimodal)", "gmm", NULL, 12.0},
    {"gmm (2-D, unnormalized)", "gmm", "{weights: [1, 2, 0.5], means: [[-2, 0], [1, 1], [0, -3]], "
     "sds: [[1, 0.5], [0.7, 1.2], [2, 1]]}", 14.0},
    {"banana (curvature 1)", "banana", "{curvature: 1}", 40.0},
    {"banana (scale 2, curvature -0.3)", "banana", "{scale: 2, curvature: -0.3}", 50.0},
};

static int target_value(void *p, const double *x, double *value)
{
    const vh_model *m = p;
    double work[64];
    return m->target->log_density(m->target_self, x, value, NULL, work, NULL);
}

/* Gradient by central differences at random points; the exact log
 * evidence and moments (vi.target.moments/1) against a 2-D or 1-D grid. */
static void check_target(const target_case *tc)
{
    fixture fx;
    if (!ok(fixture_open(&fx, tc->target, tc->options, NULL, NULL, NULL, NULL, NULL) == 0,
            "%s opens (%s)", tc->label, fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    const vh_model *m = &fx.model;
    size_t d = m->dim, at = 0, n = 1200;
    double x[2], grad[2], lp, worst = 0.0, work[64], log_z, step = 2.0 * tc->half_width / n;
    double mass = 0.0, mean[2] = {0, 0}, second[4] = {0, 0, 0, 0}, tmean[2], tcov[4];
    vi_rng rng;
    vh_rng_init(&rng, 43, VH_RNG_TEST, 7, 0);
    for (int point = 0; point < 10; point++) {
        for (size_t i = 0; i < d; i++)
            x[i] = 2.0 * vh_rng_normal(&rng);
        m->target->log_density(m->target_self, x, &lp, grad, work, NULL);
        worst = fmax(worst, worst_fd_error(target_value, (void *)m, x, grad, d, &at));
    }
    ok(worst < 1e-6, "%s: gradient by central differences (worst %.2e)", tc->label, worst);
    for (size_t i = 0; i < (d == 1 ? 1 : n); i++)
        for (size_t j = 0; j < n; j++) {
            double pt[2] = {-tc->half_width + (j + 0.5) * step, -tc->half_width + (i + 0.5) * step};
            double w = d == 1 ? step : step * step;
            m->target->log_density(m->target_self, pt, &lp, NULL, work, NULL);
            w *= exp(lp);
            mass += w;
            for (size_t a = 0; a < d; a++) {
                mean[a] += w * pt[a];
                for (size_t b = 0; b < d; b++)
                    second[a * d + b] += w * pt[a] * pt[b];
            }
        }
    m->target->log_evidence(m->target_self, &log_z, NULL);
    ok(fabs(log(mass) - log_z) < 1e-6, "%s: log evidence %.10f equals the quadrature's %.10f",
       tc->label, log_z, log(mass));
    const vi_target_moments *mo = m->target->get_extension(m->target_self, VI_TARGET_MOMENTS_ID);
    if (ok(mo != NULL, "%s offers %s", tc->label, VI_TARGET_MOMENTS_ID)) {
        mo->moments(m->target_self, tmean, tcov, NULL);
        worst = 0.0;
        for (size_t a = 0; a < d; a++) {
            worst = fmax(worst, fabs(mean[a] / mass - tmean[a]));
            for (size_t b = 0; b < d; b++)
                worst = fmax(worst, fabs(second[a * d + b] / mass - mean[a] * mean[b] / (mass * mass) -
                                         tcov[a * d + b]));
        }
        ok(worst < 1e-5, "%s: exact moments equal the quadrature's (worst %.2e)", tc->label,
           worst);
    }
    fixture_free(&fx);
}

static void test_categorical_target(void)
{
    fixture fx;
    double lp, grad, value, z;
    int opened = fixture_open(&fx, "categorical_target", "{log_probs: [0, 1, 2], "
                              "values: [10, 20, 30]}", NULL, NULL, NULL, NULL, NULL) == 0;
    if (!ok(opened, "categorical_target opens (%s)", fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    const vh_model *m = &fx.model;
    const vi_target_finite *fin = vh_target_finite(m);
    ok(fin != NULL && fin->n_states == 3 && fin->states[2] == 2.0,
       "it offers %s with the states 0, 1, 2", VI_TARGET_FINITE_ID);
    z = 2.0;
    m->target->log_density(m->target_self, &z, &lp, NULL, NULL, NULL);
    ok(lp == 2.0, "log p~ at state 2 is log_probs[3] (%g)", lp);
    z = 1.5;
    m->target->log_density(m->target_self, &z, &lp, NULL, NULL, NULL);
    ok(lp == -INFINITY, "log p~ between states is -inf");
    vi_error perr = {sizeof perr, 0, ""};
    ok(m->target->log_density(m->target_self, &z, &lp, &grad, NULL, &perr) == VI_EUNSUPPORTED &&
           strstr(perr.message, "score") != NULL,
       "a gradient is refused: %s", perr.message);
    z = 1.0;
    m->target->constrain(m->target_self, &z, &value, NULL);
    ok(value == 20.0, "constrain reports state 1 as its value 20");
    double log_z;
    m->target->log_evidence(m->target_self, &log_z, NULL);
    is_close(log_z, log(1.0 + exp(1.0) + exp(2.0)), 1e-14, 0.0, "log evidence of log_probs");
    fixture_free(&fx);
}

/* ------------------------------------------------------------------ */
/* Finite sets and refusals                                             */
/* ------------------------------------------------------------------ */

static void test_kl_helper(void)
{
    double q[6] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.5}, lq[6], lp[6];
    for (int i = 0; i < 6; i++) {
        lq[i] = log(q[i]);
        lp[i] = -log(6.0);
    }
    is_close(vh_kl_divergence(lq, lp, 6), 0.293893, 5e-7, 0.0,
             "KL(q||p) of q = (0.1, ..., 0.5) from the fair die");
    is_close(vh_kl_divergence(lp, lq, 6), 0.242586, 5e-7, 0.0,
             "KL(p||q), the other direction");
    ok(vh_kl_divergence(lp, lp, 6) == 0.0, "KL of a distribution from itself is 0");
    lq[2] = -INFINITY;
    ok(vh_kl_divergence(lq, lp, 6) < INFINITY && vh_kl_divergence(lp, lq, 6) == INFINITY,
       "a zero of a contributes nothing; a zero of b under mass of a is infinite");

    fixture fx;
    double kl_qp, kl_pq, log_z, log_z_target, lambda[6];
    int opened = fixture_open(&fx, DIE, "categorical", DIE_START, NULL, NULL) == 0;
    if (ok(opened, "the die opens with the categorical family (%s)", fx.err.message)) {
        fx.model.family->init(fx.model.family_self, lambda, NULL);
        ok(vh_finite_kl(&fx.model, lambda, &kl_qp, &kl_pq, &fx.err) == 0,
           "vh_finite_kl works (%s)", fx.err.message);
        is_close(kl_qp, 0.293893, 5e-7, 0.0, "the host's exact KL(q||p) at the start");
        is_close(kl_pq, 0.242586, 5e-7, 0.0, "the host's exact KL(p||q) at the start");
        vh_finite_log_evidence(&fx.model, &log_z, &fx.err);
        fx.model.target->log_evidence(fx.model.target_self, &log_z_target, NULL);
        is_close(log_z, log(6.0), 1e-14, 0.0, "log evidence of six states of weight 1 is log 6");
        is_close(log_z, log_z_target, 1e-14, 0.0, "the host's sum equals the target's own");
    }
    fixture_free(&fx);
}

typedef struct refusal_case {
    const char *what;
    const char *target, *target_options, *data;
    const char *family, *options;
    vh_gradient gradient;
    int exit_code;           /* 0: accepted */
    const char *says;        /* in the message */
} refusal_case;

static const refusal_case refusal_cases[] = {
    {"categorical with reparam", DIE, "categorical", DIE_START, VH_GRADIENT_REPARAM, 2,
     "objective.gradient: score"},
    {"categorical with stl", DIE, "categorical", DIE_START, VH_GRADIENT_STL, 2, "score"},
    {"categorical with score", DIE, "categorical", DIE_START, VH_GRADIENT_SCORE, 0, NULL},
    {"meanfield on a finite target", DIE, "meanfield", NULL, VH_GRADIENT_SCORE, 2,
     "categorical"},
    {"categorical on a continuous target", BIMODAL, "categorical", "{n_states: 3}",
     VH_GRADIENT_SCORE, 2, "continuous family"},
    {"categorical with more states than the target", DIE, "categorical", "{n_states: 7}",
     VH_GRADIENT_SCORE, 2, "state 7 (6) is not one of"},
    {"categorical with fewer states than the target", DIE, "categorical", "{n_states: 5}",
     VH_GRADIENT_SCORE, 0, NULL},
    {"mixture with stl", MVN, "mixture", NULL, VH_GRADIENT_STL, 0, NULL},
    {"flow with score", MVN, "flow", NULL, VH_GRADIENT_SCORE, 0, NULL},
};

static void test_refusals(void)
{
    for (size_t i = 0; i < sizeof refusal_cases / sizeof refusal_cases[0]; i++) {
        const refusal_case *rc = &refusal_cases[i];
        fixture fx;
        if (!ok(fixture_open(&fx, rc->target, rc->target_options, rc->data, rc->family,
                             rc->options, NULL, NULL) == 0, "%s opens (%s)", rc->what,
                fx.err.message)) {
            fixture_free(&fx);
            continue;
        }
        fx.model.gradient = rc->gradient;
        vh_err err;
        vh_err_clear(&err);
        int status = vh_estimator_check(&fx.model, &err);
        if (rc->exit_code == 0)
            ok(status == 0, "%s is accepted (%s)", rc->what, err.message);
        else
            ok(status != 0 && err.exit_code == rc->exit_code && strstr(err.message, rc->says),
               "%s is refused with exit %d: %s", rc->what, err.exit_code, err.message);
        fixture_free(&fx);
    }
}

int main(void)
{
    for (size_t i = 0; i < sizeof family_cases / sizeof family_cases[0]; i++)
        check_family(&family_cases[i]);
    for (size_t i = 0; i < sizeof estimator_cases / sizeof estimator_cases[0]; i++)
        check_estimator(&estimator_cases[i]);
    for (size_t i = 0; i < sizeof target_cases / sizeof target_cases[0]; i++)
        check_target(&target_cases[i]);
    test_categorical_target();
    test_kl_helper();
    test_refusals();
    return tap_done();
}
