/* test-fits.c — fits with exact answers: the conjugate normal model's log
 * evidence and posterior, a dense Gaussian recovered by fullrank, and
 * mean-field variances equal to 1/Lambda_ii; plus the same seed giving
 * bit-identical fits. */
#include <math.h>

#include "estimators.h"
#include "fixture.h"
#include "tap.h"

/* A fit at fixed settings; the final ELBO from `check_draws` fresh draws.
 * The optimizer is made afresh, so equal seeds give equal fits. */
typedef struct fit_outcome {
    vh_fit fit;
    double elbo, elbo_mcse;
    double *mean, *cov;   /* q's exact moments */
} fit_outcome;

static int fit_and_measure(fixture *fx, uint64_t seed, uint64_t iterations,
                           uint64_t grad_samples, size_t check_draws, fit_outcome *out)
{
    vh_model *m = &fx->model;
    vh_engine_settings set = {
        .seed = seed, .grad_samples = grad_samples, .elbo_samples = 100,
        .max_iterations = iterations, .eval_every = 100, .rule = VH_RULE_NONE,
        .tolerance = 0.01, .progress = 0,
    };
    memset(out, 0, sizeof *out);
    if (fixture_reset_optimizer(fx) != 0 || vh_engine_fit(m, &set, &out->fit, &fx->err) != 0)
        return -1;
    vh_draw_buffers buf;
    double *values = malloc(check_draws * sizeof *values);
    out->mean = calloc(m->dim, sizeof *out->mean);
    out->cov = calloc(m->dim * m->dim, sizeof *out->cov);
    if (values == NULL || vh_draw_buffers_alloc(m, &buf) != 0)
        return -1;
    int status = vh_elbo_estimate(m, out->fit.lambda, seed, VH_RNG_TEST, 0, check_draws,
                                  &buf, values, &out->elbo, &out->elbo_mcse, &fx->err);
    vi_error perr = {sizeof perr, 0, ""};
    if (status == 0)
        status = m->family->moments(m->family_self, out->fit.lambda, out->mean, out->cov,
                                    buf.family_work, &perr);
    vh_draw_buffers_free(&buf);
    free(values);
    return status;
}

static void fit_outcome_free(fit_outcome *o)
{
    vh_fit_free(&o->fit);
    free(o->mean);
    free(o->cov);
}

/* The conjugate normal model of share/data/normal.json (sigma 2, mu0 0, s0 10). */
static void test_normal(void)
{
    fixture fx;
    fit_outcome o;
    int opened = fixture_open(&fx, "normal", "{mu0: 0, s0: 10}", "normal.json",
                              "meanfield", NULL, "sgd", "{learning_rate: 0.05, decay: 0.01}") == 0;
    if (!ok(opened && fit_and_measure(&fx, 7, 20000, 8, 20000, &o) == 0,
            "normal/meanfield/sgd fits (%s)", fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    const double *y;
    size_t shape[VI_MAX_RANK], ndim;
    vh_config_get_array(fx.target.config, "y", &y, shape, &ndim);
    double sigma = 2.0, s0 = 10.0, mu0 = 0.0, sum = 0.0;
    size_t n = shape[0];
    for (size_t i = 0; i < n; i++)
        sum += y[i];
    double prec = 1.0 / (s0 * s0) + (double)n / (sigma * sigma);
    double post_mean = (mu0 / (s0 * s0) + sum / (sigma * sigma)) / prec;
    double post_sd = sqrt(1.0 / prec);
    double log_z;
    vi_error perr = {sizeof perr, 0, ""};
    fx.model.target->log_evidence(fx.model.target_self, &log_z, &perr);
    diag("ELBO %.6f +- %.6f, exact log Z %.6f", o.elbo, o.elbo_mcse, log_z);
    ok(fabs(o.elbo - log_z) <= 3.0 * o.elbo_mcse + 0.01,
       "normal: ELBO %.5f within 3 MCSE + 0.01 of the exact log evidence %.5f", o.elbo,
       log_z);
    is_close(o.mean[0], post_mean, 0.0, 0.02, "normal: posterior mean within 2%");
    is_close(sqrt(o.cov[0]), post_sd, 0.0, 0.02, "normal: posterior sd within 2%");
    ok(o.fit.gradient_evaluations == 20000 * 8, "normal: gradient evaluations counted (%llu)",
       (unsigned long long)o.fit.gradient_evaluations);
    fit_outcome_free(&o);
    fixture_free(&fx);
}

/* Inverts the symmetric positive-definite a (n x n) into inv by
 * Gauss-Jordan elimination; fine for the 10 x 10 of these tests. */
static void invert(const double *a, double *inv, size_t n)
{
    double *w = malloc(n * 2 * n * sizeof *w);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < 2 * n; j++)
            w[i * 2 * n + j] = j < n ? a[i * n + j] : (j - n == i);
    for (size_t c = 0; c < n; c++) {
        double p = w[c * 2 * n + c];
        for (size_t j = 0; j < 2 * n; j++)
            w[c * 2 * n + j] /= p;
        for (size_t r = 0; r < n; r++) {
            double f = w[r * 2 * n + c];
            if (r != c)
                for (size_t j = 0; j < 2 * n; j++)
                    w[r * 2 * n + j] -= f * w[c * 2 * n + j];
        }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            inv[i * n + j] = w[i * 2 * n + n + j];
    free(w);
}

/* log det of the symmetric positive-definite a (n x n), by Cholesky. */
static double log_det_spd(const double *a, size_t n)
{
    double *l = calloc(n * n, sizeof *l), log_det = 0.0;
    for (size_t j = 0; j < n; j++) {
        double s = a[j * n + j];
        for (size_t k = 0; k < j; k++)
            s -= l[j * n + k] * l[j * n + k];
        l[j * n + j] = sqrt(s);
        log_det += 2.0 * log(l[j * n + j]);
        for (size_t i = j + 1; i < n; i++) {
            double t = a[i * n + j];
            for (size_t k = 0; k < j; k++)
                t -= l[i * n + k] * l[j * n + k];
            l[i * n + j] = t / l[j * n + j];
        }
    }
    free(l);
    return log_det;
}

static void test_mvnormal(const char *family, uint64_t iterations)
{
    fixture fx;
    fit_outcome o;
    /* A decaying step size (Robbins-Monro) reaches the optimum itself, not
     * a noise floor around it. */
    int opened = fixture_open(&fx, "mvnormal", NULL, "mvnormal.json", family, NULL, "sgd",
                              "{learning_rate: 0.05, decay: 0.01}") == 0;
    if (!ok(opened && fit_and_measure(&fx, 11, iterations, 8, 20000, &o) == 0,
            "mvnormal/%s/sgd fits (%s)", family, fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    const double *mean, *cov;
    size_t shape[VI_MAX_RANK], ndim, d = fx.model.dim;
    vh_config_get_array(fx.target.config, "mean", &mean, shape, &ndim);
    vh_config_get_array(fx.target.config, "cov", &cov, shape, &ndim);
    double worst_mean = 0.0, worst_cov = 0.0, worst_var = 0.0;
    double *prec = malloc(d * d * sizeof *prec);
    invert(cov, prec, d);
    for (size_t i = 0; i < d; i++) {
        worst_mean = fmax(worst_mean, fabs(o.mean[i] - mean[i]) / sqrt(cov[i * d + i]));
        worst_var = fmax(worst_var, fabs(o.cov[i * d + i] * prec[i * d + i] - 1.0));
        for (size_t j = 0; j < d; j++)
            worst_cov = fmax(worst_cov, fabs(o.cov[i * d + j] - cov[i * d + j]) /
                                            sqrt(cov[i * d + i] * cov[j * d + j]));
    }
    ok(worst_mean < 0.05, "mvnormal/%s: means within 0.05 sd (worst %.4f)", family, worst_mean);
    if (strcmp(family, "fullrank") == 0) {
        ok(worst_cov < 0.05, "mvnormal/fullrank: covariance within 5%% (worst %.4f)", worst_cov);
        ok(fabs(o.elbo) <= 3.0 * o.elbo_mcse + 0.01,
           "mvnormal/fullrank: ELBO %.5f +- %.5f reaches log Z = 0", o.elbo, o.elbo_mcse);
    } else {
        ok(worst_var < 0.05, "mvnormal/meanfield: variances equal 1/Lambda_ii within 5%% "
                             "(worst %.4f)", worst_var);
        /* At the mean-field optimum KL(q||p) = (sum log Lambda_ii - log det Lambda) / 2. */
        double log_det = 0.0, sum_log_diag = 0.0;
        for (size_t i = 0; i < d; i++)
            sum_log_diag += log(prec[i * d + i]);
        log_det = -log_det_spd(cov, d);
        double kl = 0.5 * (sum_log_diag - log_det);
        ok(fabs(o.elbo + kl) <= 3.0 * o.elbo_mcse + 0.01,
           "mvnormal/meanfield: ELBO %.4f +- %.4f equals -KL = %.4f, the exact mean-field gap",
           o.elbo, o.elbo_mcse, -kl);
    }
    free(prec);
    fit_outcome_free(&o);
    fixture_free(&fx);
}

static void test_same_seed(void)
{
    fixture fx;
    fit_outcome a, b, c;
    int opened = fixture_open(&fx, "logistic", NULL, "logistic.json", "fullrank", NULL,
                              "adam", "{learning_rate: 0.05}") == 0;
    int fitted = opened && fit_and_measure(&fx, 5, 500, 2, 200, &a) == 0 &&
                 fit_and_measure(&fx, 5, 500, 2, 200, &b) == 0 &&
                 fit_and_measure(&fx, 6, 500, 2, 200, &c) == 0;
    if (ok(fitted, "logistic/fullrank/adam fits three times (%s)", fx.err.message)) {
        size_t n = fx.model.n_params * sizeof(double);
        ok(memcmp(a.fit.lambda, b.fit.lambda, n) == 0, "the same seed gives identical lambda");
        ok(memcmp(a.fit.lambda, c.fit.lambda, n) != 0, "another seed gives another lambda");
        fit_outcome_free(&a);
        fit_outcome_free(&b);
        fit_outcome_free(&c);
    }
    fixture_free(&fx);
}

int main(void)
{
    test_normal();
    test_mvnormal("fullrank", 20000);
    test_mvnormal("meanfield", 20000);
    test_same_seed();
    return tap_done();
}
