/* test-stopping.c — the stopping rules and what the engine does around
 * them: Stan's relative rule against a transcription of advi.hpp on random
 * ELBO sequences, its window sizes, split-R-hat's value, the mcse and rhat
 * rules on sequences with known answers, the budgets, iterate averaging,
 * and the rhat rule returning the exact posterior on normal and mvnormal. */
#include <float.h>
#include <math.h>

#include "estimators.h"
#include "fixture.h"
#include "rng.h"
#include "stopping.h"
#include "tap.h"

/* ---- Stan's rule, transcribed from stan/variational/advi.hpp ---- */

typedef struct stan_rule {
    double cb[1000];      /* boost::circular_buffer<double> elbo_diff(cb_size) */
    int cb_size, cb_count, cb_first;
    double elbo, elbo_prev;
} stan_rule;

static void stan_rule_init(stan_rule *r, int max_iterations, int eval_elbo)
{
    memset(r, 0, sizeof *r);
    r->cb_size = (int)fmax(0.1 * max_iterations / eval_elbo, 2.0);
    r->elbo = 0.0;
    r->elbo_prev = -DBL_MAX;
}

/* rel_difference(prev, curr) = |(curr - prev) / prev|, called as
 * rel_difference(elbo, elbo_prev). */
static double stan_rel_difference(double prev, double curr)
{
    return fabs((curr - prev) / prev);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One evaluation: 0 go on, 1 mean converged, 2 median converged. */
static int stan_rule_eval(stan_rule *r, double new_elbo, double tol, double *delta)
{
    r->elbo_prev = r->elbo;
    r->elbo = new_elbo;
    *delta = stan_rel_difference(r->elbo, r->elbo_prev);
    if (r->cb_count < r->cb_size)
        r->cb[(r->cb_first + r->cb_count++) % r->cb_size] = *delta;
    else {
        r->cb[r->cb_first] = *delta;
        r->cb_first = (r->cb_first + 1) % r->cb_size;
    }
    double sum = 0.0, v[1000];
    for (int i = 0; i < r->cb_count; i++) {
        v[i] = r->cb[(r->cb_first + i) % r->cb_size];
        sum += v[i]; /* std::accumulate from begin() to end() */
    }
    double ave = sum / (double)r->cb_count;
    qsort(v, (size_t)r->cb_count, sizeof v[0], cmp); /* nth_element at n / 2 */
    double med = v[r->cb_count / 2];
    return ave < tol ? 1 : med < tol ? 2 : 0;
}

static void test_relative_is_stans(void)
{
    static const int settings[][2] = {{10000, 100}, {1000, 100}, {3000, 100}, {5000, 50},
                                      {2500, 100}, {20000, 100}};
    int same = 1, stops = 0, medians = 0;
    for (int c = 0; c < 6; c++)
        for (uint64_t seq = 0; seq < 40; seq++) {
            vi_rng rng;
            vh_rng_init(&rng, 42, VH_RNG_TEST, (uint64_t)c, seq);
            stan_rule ref;
            vh_stopping st;
            stan_rule_init(&ref, settings[c][0], settings[c][1]);
            vh_stopping_init(&st, VH_RULE_RELATIVE, 0.01, (uint64_t)settings[c][0],
                             (uint64_t)settings[c][1]);
            double elbo = -1000.0 * (1.0 + vh_rng_uniform(&rng));
            for (int k = 0; k < 100; k++) {
                /* An ELBO climbing to about -100 with noise. */
                elbo += 0.2 * (-100.0 - elbo) + 1.5 * vh_rng_normal(&rng);
                double d_ref, d_ours;
                const char *reason = NULL;
                int r = stan_rule_eval(&ref, elbo, 0.01, &d_ref);
                int ours = vh_stopping_update(&st, elbo, &d_ours, &reason);
                if (!(d_ref == d_ours && (r != 0) == ours) && same)
                    diag("case %d seq %llu eval %d: Stan %.17g stop %d, ours %.17g stop %d", c,
                         (unsigned long long)seq, k, d_ref, r, d_ours, ours);
                same &= d_ref == d_ours && (r != 0) == ours;
                if (ours)
                    same &= strstr(reason, r == 1 ? "mean" : "median") != NULL;
                if (r != 0 || ours) {
                    stops++;
                    medians += r == 2;
                    break;
                }
            }
            vh_stopping_free(&st);
        }
    ok(same && stops > 100 && medians > 10 && stops - medians > 10,
       "relative: Stan's transcription and ours agree bit for bit on 240 random ELBO "
       "sequences (%d stopped within 100 evaluations, %d by the median)", stops, medians);
}

static void test_window_sizes(void)
{
    static const uint64_t cases[][3] = {{10000, 100, 10}, {1000, 100, 2}, {2500, 100, 2},
                                        {10000, 300, 3},  {100000, 100, 100}, {50, 100, 2},
                                        {2999, 100, 2}, {3000, 100, 3}};
    int good = 1;
    for (int i = 0; i < 8; i++) {
        vh_stopping st;
        vh_stopping_init(&st, VH_RULE_RELATIVE, 0.01, cases[i][0], cases[i][1]);
        good &= st.capacity == cases[i][2];
        vh_stopping_free(&st);
    }
    ok(good, "relative: the window is max(floor(0.1 max_iterations / eval_every), 2)");
}

static void test_rhat_value(void)
{
    /* Means 0, 0, 1, 1, variances 1, n = 10: B = 10/3 (4 * 0.25) = 10/3,
     * var+ = 0.9 + 1/3, R = sqrt(1.2333...). */
    const double means[] = {0, 0, 1, 1}, vars[] = {1, 1, 1, 1};
    is_close(vh_rhat(means, vars, 4, 10.0), sqrt(0.9 + 1.0 / 3.0), 1e-15, 0,
             "split-R-hat of four chains by hand");
    const double flat[] = {2, 2, 2, 2}, zero[] = {0, 0, 0, 0};
    ok(vh_rhat(flat, zero, 4, 10.0) == 1.0, "constant, equal chains: R-hat 1");
    const double apart[] = {2, 2, 2, 3};
    ok(isinf(vh_rhat(apart, zero, 4, 10.0)), "constant, unequal chains: R-hat infinite");
}

/* Feeds up to `n` iterations of x_t[i] = level + i + slope t + noise e to a
 * rule; 1 and *stopped_at when it stopped. */
static int feed(vh_stopping *st, size_t width, uint64_t n, double level, double slope,
                double noise, uint64_t *stopped_at)
{
    vi_rng rng;
    vh_rng_init(&rng, 5, VH_RNG_TEST, (uint64_t)(slope * 1e6), (uint64_t)(noise * 100));
    double x[8];
    const char *reason = NULL;
    for (uint64_t t = 1; t <= n; t++) {
        for (size_t i = 0; i < width; i++)
            x[i] = level + (double)i + slope * (double)t + noise * vh_rng_normal(&rng);
        if (vh_stopping_iterate(st, x, x[0], &reason)) {
            *stopped_at = t;
            return 1;
        }
    }
    return 0;
}

static void test_rhat_rule(void)
{
    vh_stopping st;
    uint64_t at = UINT64_MAX;
    vh_stopping_init(&st, VH_RULE_RHAT, 0.01, 10000, 100);
    vh_stopping_set_window(&st, 3, 400, 2.0, 1.1);
    /* Record the window's values to check the average. */
    vi_rng rng;
    vh_rng_init(&rng, 9, VH_RNG_TEST, 0, 0);
    double sum[3] = {0, 0, 0}, x[3];
    const char *reason = NULL;
    for (uint64_t t = 1; t <= 400 && at == UINT64_MAX; t++) {
        for (int i = 0; i < 3; i++) {
            x[i] = 100.0 + i + 0.5 * vh_rng_normal(&rng);
            sum[i] += x[i];
        }
        if (vh_stopping_iterate(&st, x, 0.0, &reason))
            at = t;
    }
    const double *avg = vh_stopping_average(&st);
    ok(at == 400 && reason != NULL && strstr(reason, "R-hat") != NULL,
       "rhat: stationary iterates stop at the first check, iteration 400 (got %llu)",
       (unsigned long long)at);
    ok(avg != NULL && fabs(avg[0] - sum[0] / 400) < 1e-12 && fabs(avg[2] - sum[2] / 400) < 1e-12,
       "rhat: the returned average is the window's mean");
    vh_stopping_free(&st);
    vh_stopping_init(&st, VH_RULE_RHAT, 0.01, 10000, 100);
    vh_stopping_set_window(&st, 3, 400, 2.0, 1.1);
    at = UINT64_MAX;
    int stopped = feed(&st, 3, 4000, 0.0, 0.01, 0.5, &at);
    ok(!stopped, "rhat: iterates drifting by 4 sd per window never stop (R-hat %.2f)",
       st.statistic);
    vh_stopping_free(&st);
}

static void test_mcse_rule(void)
{
    vh_stopping st;
    uint64_t at = UINT64_MAX;
    vh_stopping_init(&st, VH_RULE_MCSE, 0.0001, 10000, 100);
    vh_stopping_set_window(&st, 0, 200, 2.0, 1.1);
    int stopped = feed(&st, 1, 5000, -1000.0, 0.0, 2.0, &at);
    ok(stopped && at % 50 == 0 && at <= 400,
       "mcse: a stationary ELBO stops within two checks (at %llu)", (unsigned long long)at);
    vh_stopping_free(&st);
    vh_stopping_init(&st, VH_RULE_MCSE, 0.0001, 10000, 100);
    vh_stopping_set_window(&st, 0, 200, 2.0, 1.1);
    at = UINT64_MAX;
    stopped = feed(&st, 1, 5000, -1000.0, 0.02, 2.0, &at);
    ok(!stopped, "mcse: an ELBO rising 2 per 100 iterations (MCSE 0.28) never stops");
    vh_stopping_free(&st);
    vh_stopping_init(&st, VH_RULE_MCSE, 0.01, 10000, 100);
    vh_stopping_set_window(&st, 0, 200, 2.0, 1.1);
    at = UINT64_MAX;
    stopped = feed(&st, 1, 5000, -1000.0, 0.02, 2.0, &at);
    ok(stopped && at == 200, "mcse: ... unless the change is below tolerance |ELBO| (at %llu)",
       (unsigned long long)at);
    vh_stopping_free(&st);
}

/* ---- in the engine ---- */

static vh_engine_settings base_settings(uint64_t iterations)
{
    vh_engine_settings set = {
        .seed = 3, .grad_samples = 4, .elbo_samples = 50, .max_iterations = iterations,
        .eval_every = 100, .rule = VH_RULE_NONE, .tolerance = 0.01,
    };
    return set;
}

static void test_budgets(void)
{
    fixture fx;
    if (!ok(fixture_open(&fx, "normal", "{mu0: 0, s0: 10}", "normal.json", "meanfield", NULL,
                         "adam", "{learning_rate: 0.05}") == 0,
            "normal/meanfield/adam opens (%s)", fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    vh_engine_settings set = base_settings(10000);
    vh_fit fit;
    set.max_gradients = 1002;
    int rc = vh_engine_fit(&fx.model, &set, &fit, &fx.err);
    ok(rc == 0 && !fit.converged && strcmp(fit.stop_reason, "max_gradients reached") == 0 &&
           fit.gradient_evaluations == 1004 && fit.iterations == 251,
       "max_gradients 1002 stops after the step that reaches it: 251 steps of 4 (%s, %llu)",
       rc == 0 ? fit.stop_reason : fx.err.message,
       (unsigned long long)(rc == 0 ? fit.gradient_evaluations : 0));
    ok(rc == 0 && fit.n_trace > 0 && fit.trace[fit.n_trace - 1].iter == 251,
       "... and its last trace row is the stopping iteration");
    if (rc == 0)
        vh_fit_free(&fit);
    fixture_reset_optimizer(&fx);
    set = base_settings(100000000);
    set.max_seconds = 0.05;
    rc = vh_engine_fit(&fx.model, &set, &fit, &fx.err);
    ok(rc == 0 && strcmp(fit.stop_reason, "max_seconds reached") == 0 && fit.seconds < 1.0,
       "max_seconds 0.05 stops the run (%s after %.3f s)", rc == 0 ? fit.stop_reason : "",
       rc == 0 ? fit.seconds : 0.0);
    if (rc == 0)
        vh_fit_free(&fit);
    fixture_free(&fx);
}

static void test_averaging(void)
{
    fixture fx;
    fixture_open(&fx, "mvnormal", NULL, "mvnormal.json", "meanfield", NULL, "sgd",
                 "{learning_rate: 0.02}");
    vh_engine_settings set = base_settings(500);
    vh_fit a, b, last;
    set.averaging = VH_AVERAGING_POLYAK;
    int rc = vh_engine_fit(&fx.model, &set, &a, &fx.err);
    fixture_reset_optimizer(&fx);
    set.averaging = VH_AVERAGING_POLYNOMIAL;
    set.averaging_power = 0.0;
    rc |= vh_engine_fit(&fx.model, &set, &b, &fx.err);
    fixture_reset_optimizer(&fx);
    set.averaging = VH_AVERAGING_NONE;
    rc |= vh_engine_fit(&fx.model, &set, &last, &fx.err);
    size_t n = fx.model.n_params;
    ok(rc == 0 && memcmp(a.lambda, b.lambda, n * sizeof *a.lambda) == 0 &&
           memcmp(a.lambda, last.lambda, n * sizeof *a.lambda) != 0,
       "polynomial averaging with power 0 is Polyak's from the start, bit for bit, and "
       "differs from the last iterate");
    if (rc == 0) {
        vh_fit_free(&a);
        vh_fit_free(&b);
        vh_fit_free(&last);
    }
    fixture_free(&fx);
}

/* The rhat rule's window average against the exact posterior. */
static void test_rhat_fits(void)
{
    fixture fx;
    double mean[10], cov[100];
    vi_error perr = {sizeof perr, 0, ""};
    double work[256];
    vh_fit fit;
    vh_engine_settings set = base_settings(200000);
    set.rule = VH_RULE_RHAT;
    set.window = 4000;
    set.rhat_threshold = 1.1;
    set.base = VH_BASE_QMC;
    set.grad_samples = 8;
    set.eval_every = 1000;
    fixture_open(&fx, "normal", "{mu0: 0, s0: 10}", "normal.json", "meanfield", NULL, "sgd",
                 "{learning_rate: 0.05}");
    int rc = vh_engine_fit(&fx.model, &set, &fit, &fx.err);
    if (rc == 0)
        fx.model.family->moments(fx.model.family_self, fit.lambda, mean, cov, work, &perr);
    double prec = 1.0 / 100.0 + 20.0 / 4.0, post_sd = sqrt(1.0 / prec);
    double post_mean = 36.1582 / 4.0 / prec; /* sum of y is 36.1582 */
    ok(rc == 0 && fit.converged && fabs(mean[0] - post_mean) < 0.1 * post_sd &&
           fabs(sqrt(cov[0]) / post_sd - 1.0) < 0.1,
       "rhat on normal stops (%s, iteration %llu) within 0.1 sd and 10%%: mean %.4f (%.4f), "
       "sd %.4f (%.4f)", rc == 0 ? fit.stop_reason : fx.err.message,
       (unsigned long long)fit.iterations, mean[0], post_mean, sqrt(cov[0]), post_sd);
    if (rc == 0)
        vh_fit_free(&fit);
    fixture_free(&fx);

    fixture_open(&fx, "mvnormal", NULL, "mvnormal.json", "fullrank", NULL, "sgd",
                 "{learning_rate: 0.05}");
    rc = vh_engine_fit(&fx.model, &set, &fit, &fx.err);
    if (rc == 0)
        fx.model.family->moments(fx.model.family_self, fit.lambda, mean, cov, work, &perr);
    const double *m0, *c0;
    size_t shape[VI_MAX_RANK], ndim;
    vh_config_get_array(fx.target.config, "mean", &m0, shape, &ndim);
    vh_config_get_array(fx.target.config, "cov", &c0, shape, &ndim);
    double worst_mean = 0.0, worst_sd = 0.0;
    for (size_t i = 0; i < 10; i++) {
        worst_mean = fmax(worst_mean, fabs(mean[i] - m0[i]) / sqrt(c0[i * 11]));
        worst_sd = fmax(worst_sd, fabs(sqrt(cov[i * 11] / c0[i * 11]) - 1.0));
    }
    ok(rc == 0 && fit.converged && worst_mean < 0.1 && worst_sd < 0.1,
       "rhat on mvnormal/fullrank stops (%s, iteration %llu) within 0.1 sd (%.4f) and 10%% "
       "(%.4f)", rc == 0 ? fit.stop_reason : fx.err.message,
       (unsigned long long)fit.iterations, worst_mean, worst_sd);
    if (rc == 0)
        vh_fit_free(&fit);
    fixture_free(&fx);
}

int main(void)
{
    test_relative_is_stans();
    test_window_sizes();
    test_rhat_value();
    test_rhat_rule();
    test_mcse_rule();
    test_budgets();
    test_averaging();
    test_rhat_fits();
    return tap_done();
}
