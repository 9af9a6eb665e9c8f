/* test-engine.c — the engine's parts with known answers: Stan's relative
 * stopping rule, summaries, importance-sampling diagnostics (Pareto k-hat on
 * weights of known tail shape), and the reparameterization gradient against
 * the exact ELBO gradient of a Gaussian target. */
#include <math.h>

#include "diagnostics.h"
#include "estimators.h"
#include "fixture.h"
#include "rng.h"
#include "stopping.h"
#include "tap.h"

static void test_stopping_window(void)
{
    vh_stopping st;
    vh_stopping_init(&st, VH_RULE_RELATIVE, 0.01, 10000, 100);
    ok(st.capacity == 10, "window of 10000 iterations / 100 is 10 (got %zu)", st.capacity);
    vh_stopping_free(&st);
    vh_stopping_init(&st, VH_RULE_RELATIVE, 0.01, 1000, 100);
    ok(st.capacity == 2, "window is at least 2 (got %zu)", st.capacity);
    vh_stopping_free(&st);
    vh_stopping_init(&st, VH_RULE_RELATIVE, 0.01, 2500, 100);
    ok(st.capacity == 2, "window floors 0.1 * 2500 / 100 = 2.5 to 2 (got %zu)", st.capacity);
    vh_stopping_free(&st);
}

static void test_stopping_sequence(void)
{
    /* Window 3 (max 3000, every 100).  Relative changes |(prev - new)/new|:
     * 1 (first, as Stan), 1, 0.02, 0.001, 0.001: the mean of the last three is
     * 0.00733 < 0.01 at the fifth evaluation; the upper median of
     * {1, 0.02, 0.001} is 0.02 at the fourth, not yet. */
    const double elbos[] = {-200.0, -100.0, -98.0392156862745, -97.94127, -97.84339};
    vh_stopping st;
    const char *reason = NULL;
    double rel;
    int stop_at = 0;
    vh_stopping_init(&st, VH_RULE_RELATIVE, 0.01, 3000, 100);
    for (int i = 0; i < 5 && !stop_at; i++)
        if (vh_stopping_update(&st, elbos[i], &rel, &reason))
            stop_at = i + 1;
    ok(stop_at == 5, "relative rule stops at the fifth evaluation (got %d)", stop_at);
    ok(reason != NULL && strstr(reason, "mean") != NULL, "by the mean rule (%s)",
       reason ? reason : "none");
    vh_stopping_free(&st);

    vh_stopping_init(&st, VH_RULE_RELATIVE, 0.01, 3000, 100);
    vh_stopping_update(&st, -10.0, &rel, &reason);
    ok(rel == 1.0, "the first relative change is 1, as in Stan (got %g)", rel);
    vh_stopping_update(&st, -8.0, &rel, &reason);
    ok(fabs(rel - 0.25) < 1e-15, "relative change divides by the new value (got %g)", rel);
    vh_stopping_free(&st);

    /* Upper median: with window 2 holding {1, 0.000999} Stan takes sorted
     * element 1, the larger: no stop, though a lower median would. */
    vh_stopping_init(&st, VH_RULE_RELATIVE, 0.01, 1000, 100);
    int stopped = vh_stopping_update(&st, -100.0, &rel, &reason);
    stopped |= vh_stopping_update(&st, -100.1, &rel, &reason);
    ok(!stopped, "the median of an even window is the upper one, as in Stan");
    vh_stopping_free(&st);
    /* Window 5 holding {1, 0.001, 0.002}: the median stops it at the third
     * evaluation while the mean is still 0.33. */
    vh_stopping_init(&st, VH_RULE_RELATIVE, 0.01, 5000, 100);
    double e2 = -100.0 / 1.001, e3 = e2 / 1.002;
    vh_stopping_update(&st, -100.0, &rel, &reason);
    stopped = vh_stopping_update(&st, e2, &rel, &reason);
    stopped = !stopped && vh_stopping_update(&st, e3, &rel, &reason);
    ok(stopped && strstr(reason, "median") != NULL, "the median rule stops it (%s)",
       stopped ? reason : "did not stop");
    vh_stopping_free(&st);

    vh_stopping_init(&st, VH_RULE_NONE, 0.01, 1000, 100);
    stopped = 0;
    for (int i = 0; i < 20; i++)
        stopped |= vh_stopping_update(&st, -5.0, &rel, &reason);
    ok(!stopped, "rule none never stops");
    vh_stopping_free(&st);
}

static void test_summaries(void)
{
    const double sorted[] = {1, 2, 3, 4};
    is_close(vh_quantile_sorted(sorted, 4, 0.5), 2.5, 1e-15, 0, "type-7 median of 1..4");
    is_close(vh_quantile_sorted(sorted, 4, 0.05), 1.15, 1e-15, 0, "type-7 5% quantile of 1..4");
    const double x[] = {0.0, log(3.0)};
    is_close(vh_log_mean_exp(x, 2), log(2.0), 1e-15, 0, "log-mean-exp of {1, 3} is log 2");
    const double big[] = {1000.0, 1000.0};
    is_close(vh_log_mean_exp(big, 2), 1000.0, 1e-12, 0, "log-mean-exp does not overflow");
    double draws[] = {1, 10, 2, 20, 3, 30}; /* 3 draws x 2 columns */
    double mean[2], sd[2], q05[2], q50[2], q95[2], scratch[3];
    vh_summarize(draws, 3, 2, mean, sd, q05, q50, q95, scratch);
    ok(mean[0] == 2.0 && mean[1] == 20.0 && sd[0] == 1.0 && sd[1] == 10.0 && q50[1] == 20.0,
       "column summaries: mean, sd and median");
}

/* Log weights whose upper tail is generalized Pareto with shape k. */
static double khat_of_pareto(double k, size_t n)
{
    double *lw = malloc(n * sizeof *lw), *scratch = malloc(n * sizeof *scratch);
    vi_rng rng;
    vh_rng_init(&rng, 99, VH_RNG_TEST, (uint64_t)(k * 1000), 0);
    for (size_t i = 0; i < n; i++) {
        double u = vh_rng_uniform(&rng);
        lw[i] = log(expm1(-k * log(u)) / k);
    }
    vh_importance imp;
    vh_importance_diagnose(lw, n, 10, scratch, &imp);
    free(lw);
    free(scratch);
    return imp.khat;
}

static void test_importance(void)
{
    /* The estimate's sd is about (1 + k) / sqrt(tail), 0.06 here. */
    double k03 = khat_of_pareto(0.3, 100000), k09 = khat_of_pareto(0.9, 100000);
    ok(fabs(k03 - 0.3) < 0.15, "k-hat of Pareto(0.3) weights is 0.3 +- 0.15 (got %.3f)", k03);
    ok(fabs(k09 - 0.9) < 0.15, "k-hat of Pareto(0.9) weights is 0.9 +- 0.15 (got %.3f)", k09);

    double lw[1000], scratch[1000];
    for (int i = 0; i < 1000; i++)
        lw[i] = -3.5;
    vh_importance imp;
    vh_importance_diagnose(lw, 1000, 10, scratch, &imp);
    ok(imp.elbo == -3.5 && fabs(imp.log_evidence + 3.5) < 1e-12 && fabs(imp.iw_elbo + 3.5) < 1e-12,
       "equal weights: ELBO = IW-ELBO = log evidence = -3.5");
    ok(fabs(imp.ess - 1000.0) < 1e-9 && imp.log_evidence_mcse == 0.0 && imp.elbo_mcse == 0.0,
       "equal weights: ESS = n and zero MCSE");
}

/* The reparameterization gradient of meanfield at mu = 0, omega = 0 on
 * N(m, Sigma) is exactly P m for mu and 1 - P_ii for omega_i (P = Sigma^-1). */
static void test_gradient_estimator(void)
{
    fixture fx;
    if (!ok(fixture_open(&fx, "mvnormal", NULL, "mvnormal.json", "meanfield", NULL, NULL,
                         NULL) == 0, "mvnormal/meanfield opens (%s)", fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    vh_model *m = &fx.model;
    size_t d = m->dim, n = m->n_params, S = 40000;
    double *lambda = calloc(n, sizeof *lambda), *grad = calloc(n, sizeof *grad);
    double *per_draw = calloc(S * n, sizeof *per_draw), elbo;
    vh_draw_buffers buf;
    vh_draw_buffers_alloc(m, &buf);
    int status = vh_gradient_estimate(m, lambda, 3, 1, S, &buf, per_draw, grad, &elbo, &fx.err);
    ok(status == 0, "gradient estimate from %zu draws (%s)", S, fx.err.message);
    /* The exact gradient from the target itself: grad log p at mu is -P(mu - m). */
    double lp, *exact_mu = calloc(d, sizeof *exact_mu);
    vi_error perr = {sizeof perr, 0, ""};
    m->target->log_density(m->target_self, lambda, &lp, exact_mu, buf.target_work, &perr);
    double worst = 0.0;
    for (size_t i = 0; i < d; i++)
        worst = fmax(worst, fabs(grad[i] - exact_mu[i]) / (1.0 + fabs(exact_mu[i])));
    ok(worst < 0.05, "mu gradient matches P m (worst relative error %.4f)", worst);
    /* omega: 1 - P_ii, with P_ii read off the target's Hessian by differences. */
    double worst_w = 0.0, h = 1e-4;
    double *x = calloc(d, sizeof *x), *g1 = calloc(d, sizeof *g1);
    for (size_t i = 0; i < d; i++) {
        x[i] = h;
        m->target->log_density(m->target_self, x, &lp, g1, buf.target_work, &perr);
        double p_ii = -(g1[i] - exact_mu[i]) / h;
        x[i] = 0.0;
        worst_w = fmax(worst_w, fabs(grad[d + i] - (1.0 - p_ii)) / (1.0 + p_ii));
    }
    ok(worst_w < 0.05, "omega gradient matches 1 - P_ii (worst relative error %.4f)", worst_w);
    free(x);
    free(g1);
    free(exact_mu);
    vh_draw_buffers_free(&buf);
    free(lambda);
    free(grad);
    free(per_draw);
    fixture_free(&fx);
}

int main(void)
{
    test_stopping_window();
    test_stopping_sequence();
    test_summaries();
    test_importance();
    test_gradient_estimator();
    return tap_done();
}
