/* test-optimizers.c — every built-in optimizer, table-driven: each reaches
 * the exact posterior of the conjugate normal model (meanfield) and of the
 * dense 10-dimensional Gaussian (fullrank); a saved state loaded into a
 * fresh instance gives bit-identical next steps; bad states are refused;
 * learning rates read back; and the step rules themselves: Stan ADVI's
 * exact step sequence, the sgd schedules, AMSGrad's maximum, AdaGrad's
 * and DoG's first steps. */
#include <float.h>
#include <math.h>

#include "estimators.h"
#include "fixture.h"
#include "tap.h"

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct opt_case {
    const char *plugin;
    const char *options;      /* YAML flow mapping */
    uint64_t iterations;
    uint64_t grad_samples;
    vh_averaging averaging;   /* polyak over the second half, or polynomial */
} opt_case;

static const opt_case cases[] = {
    {"sgd", "{learning_rate: 0.02, schedule: constant}", 20000, 8, VH_AVERAGING_POLYAK},
    {"sgd", "{learning_rate: 0.05, schedule: inverse, decay: 0.002}", 20000, 8,
     VH_AVERAGING_POLYAK},
    {"sgd", "{learning_rate: 0.05, schedule: cosine, period: 4000, min_rate: 0.001}", 20000, 8,
     VH_AVERAGING_POLYAK},
    {"adam", "{learning_rate: 0.01}", 20000, 8, VH_AVERAGING_POLYAK},
    {"adam", "{learning_rate: 0.01, amsgrad: true}", 20000, 8, VH_AVERAGING_POLYAK},
    {"adagrad", "{learning_rate: 0.5}", 20000, 8, VH_AVERAGING_POLYAK},
    {"rmsprop", "{learning_rate: 0.005}", 20000, 8, VH_AVERAGING_POLYAK},
    {"stan", "{learning_rate: 1}", 20000, 8, VH_AVERAGING_POLYAK},
    {"dog", "{}", 20000, 8, VH_AVERAGING_POLYNOMIAL},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static int fit_case(fixture *fx, const opt_case *c, double *mean, double *cov)
{
    vh_model *m = &fx->model;
    vh_engine_settings set = {
        .seed = 17, .grad_samples = c->grad_samples, .elbo_samples = 2,
        .max_iterations = c->iterations, .eval_every = c->iterations, .rule = VH_RULE_NONE,
        .tolerance = 0.01, .averaging = c->averaging, .averaging_start = c->iterations / 2,
        .averaging_power = 8.0,
    };
    vh_fit fit;
    if (vh_engine_fit(m, &set, &fit, &fx->err) != 0)
        return -1;
    vi_error perr = {sizeof perr, 0, ""};
    double *work = calloc(m->family_work + 1, sizeof *work);
    int status = m->family->moments(m->family_self, fit.lambda, mean, cov, work, &perr);
    free(work);
    vh_fit_free(&fit);
    return status;
}

/* The conjugate normal model: posterior N(post_mean, post_sd^2). */
static void test_normal(const opt_case *c, const char *label)
{
    fixture fx;
    double mean, var;
    if (!ok(fixture_open(&fx, "normal", "{mu0: 0, s0: 10}", "normal.json", "meanfield", NULL,
                         c->plugin, c->options) == 0 &&
                fit_case(&fx, c, &mean, &var) == 0,
            "%s fits normal (%s)", label, fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    const double *y;
    size_t shape[VI_MAX_RANK], ndim;
    vh_config_get_array(fx.target.config, "y", &y, shape, &ndim);
    double sum = 0.0;
    for (size_t i = 0; i < shape[0]; i++)
        sum += y[i];
    double prec = 1.0 / 100.0 + (double)shape[0] / 4.0;
    double post_mean = sum / 4.0 / prec, post_sd = sqrt(1.0 / prec);
    ok(fabs(mean - post_mean) < 0.05 * post_sd && fabs(sqrt(var) / post_sd - 1.0) < 0.03,
       "%s on normal: mean %.5f (exact %.5f), sd %.5f (exact %.5f)", label, mean, post_mean,
       sqrt(var), post_sd);
    fixture_free(&fx);
}

/* The dense Gaussian of mvnormal.json: fullrank recovers mean and cov. */
static void test_mvnormal(const opt_case *c, const char *label)
{
    fixture fx;
    double mean[10], cov[100];
    if (!ok(fixture_open(&fx, "mvnormal", NULL, "mvnormal.json", "fullrank", NULL, c->plugin,
                         c->options) == 0 &&
                fx.model.dim == 10 && fit_case(&fx, c, mean, cov) == 0,
            "%s fits mvnormal (%s)", label, fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    const double *m0, *c0;
    size_t shape[VI_MAX_RANK], ndim;
    vh_config_get_array(fx.target.config, "mean", &m0, shape, &ndim);
    vh_config_get_array(fx.target.config, "cov", &c0, shape, &ndim);
    double worst_mean = 0.0, worst_sd = 0.0, worst_corr = 0.0;
    for (size_t i = 0; i < 10; i++) {
        double sd = sqrt(c0[i * 11]);
        worst_mean = fmax(worst_mean, fabs(mean[i] - m0[i]) / sd);
        worst_sd = fmax(worst_sd, fabs(sqrt(cov[i * 11]) / sd - 1.0));
        for (size_t j = 0; j < i; j++) {
            double r = cov[i * 10 + j] / sqrt(cov[i * 11] * cov[j * 11]);
            double r0 = c0[i * 10 + j] / (sd * sqrt(c0[j * 11]));
            worst_corr = fmax(worst_corr, fabs(r - r0));
        }
    }
    ok(worst_mean < 0.1 && worst_sd < 0.05 && worst_corr < 0.05,
       "%s on mvnormal: worst mean error %.4f sd, sd error %.4f, correlation error %.4f",
       label, worst_mean, worst_sd, worst_corr);
    fixture_free(&fx);
}

/* A deterministic gradient sequence for the state tests. */
static void fake_gradient(double *g, size_t n, int k)
{
    for (size_t i = 0; i < n; i++)
        g[i] = 3.0 * sin(1.7 * (double)k + 0.9 * (double)i) + 0.1 * (double)k;
}

static int take_steps(const vh_model *m, void *self, double *lambda, int from, int to)
{
    double g[64];
    vi_error perr = {sizeof perr, 0, ""};
    for (int k = from; k < to; k++) {
        vi_step_info info = {sizeof info, (uint64_t)k + 1, -10.0};
        fake_gradient(g, m->n_params, k);
        if (m->optimizer->step(self, lambda, g, &info, &perr) != 0)
            return -1;
    }
    return 0;
}

/* Saved after 7 steps and loaded into a fresh instance, the state gives
 * the same next 9 steps, bit for bit; wrong states are refused. */
static void test_state(const opt_case *c, const char *label)
{
    fixture fx;
    if (fixture_open(&fx, "mvnormal", NULL, "mvnormal.json", "meanfield", NULL, c->plugin,
                     c->options) != 0) {
        ok(0, "%s opens for the state test (%s)", label, fx.err.message);
        fixture_free(&fx);
        return;
    }
    const vh_model *m = &fx.model;
    const vi_optimizer_desc *o = m->optimizer;
    size_t n = m->n_params, size = o->state_size(m->optimizer_self);
    double a[64] = {0}, b[64] = {0};
    unsigned char *saved = malloc(size), *again = malloc(size);
    void *fresh = NULL;
    vi_error perr = {sizeof perr, 0, ""};
    int good = take_steps(m, m->optimizer_self, a, 0, 7) == 0 &&
               o->save_state(m->optimizer_self, saved, &perr) == 0 &&
               o->create(&fx.optimizer.context.host, fx.optimizer.config, n, &fresh, &perr) == 0 &&
               o->load_state(fresh, saved, size, &perr) == 0;
    memcpy(b, a, sizeof a);
    good = good && take_steps(m, m->optimizer_self, a, 7, 16) == 0 &&
           take_steps(m, fresh, b, 7, 16) == 0;
    ok(good && memcmp(a, b, n * sizeof *a) == 0,
       "%s: a loaded state gives identical next steps (%s)", label, perr.message);
    o->save_state(m->optimizer_self, saved, &perr);
    o->save_state(fresh, again, &perr);
    ok(memcmp(saved, again, size) == 0, "%s: ... and identical states after them", label);
    int refused = o->load_state(fresh, saved, size - 1, &perr) != 0;
    saved[0] ^= 0x55;
    refused &= o->load_state(fresh, saved, size, &perr) != 0;
    saved[0] ^= 0x55;
    void *other = NULL;
    if (o->create(&fx.optimizer.context.host, fx.optimizer.config, n + 1, &other, &perr) == 0) {
        refused &= o->load_state(other, saved, size, &perr) != 0;
        o->destroy(other);
    }
    ok(refused && strlen(perr.message) > 0,
       "%s: a truncated, foreign or mis-sized state is refused (%s)", label, perr.message);
    double rate = o->get_learning_rate(fresh);
    int set = o->set_learning_rate(fresh, 0.5 * rate, &perr) == 0 &&
              o->get_learning_rate(fresh) == 0.5 * rate &&
              o->set_learning_rate(fresh, -1.0, &perr) != 0 &&
              o->set_learning_rate(fresh, NAN, &perr) != 0 && o->get_learning_rate(fresh) == 0.5 * rate;
    ok(set, "%s: set_learning_rate halves the rate, refuses -1 and NaN", label);
    o->destroy(fresh);
    free(saved);
    free(again);
    fixture_free(&fx);
}

/* Opens the optimizer alone (over a 2-parameter normal/meanfield model). */
static int open_optimizer(fixture *fx, const char *plugin, const char *options)
{
    return fixture_open(fx, "normal", "{mu0: 0, s0: 10}", "normal.json", "meanfield", NULL,
                        plugin, options);
}

static void step_once(fixture *fx, double *lambda, const double *g, uint64_t k)
{
    vi_step_info info = {sizeof info, k, NAN};
    vi_error perr = {sizeof perr, 0, ""};
    fx->model.optimizer->step(fx->model.optimizer_self, lambda, g, &info, &perr);
}

/* Stan: s_1 = g_1^2, s_k = 0.9 s_{k-1} + 0.1 g_k^2,
 * lambda += eta / sqrt(k) g / (1 + sqrt(s_k)), in Stan's order. */
static void test_stan_sequence(void)
{
    fixture fx;
    if (!ok(open_optimizer(&fx, "stan", "{learning_rate: 0.7}") == 0, "stan opens (%s)",
            fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    static const double grads[6][2] = {{3, -1}, {1, 2}, {-2, 0.5}, {0, 4}, {10, -3}, {0.25, 0}};
    double lambda[2] = {0.5, -1.0}, want[2] = {0.5, -1.0}, s[2] = {0, 0};
    int exact = 1;
    for (int k = 1; k <= 6; k++) {
        step_once(&fx, lambda, grads[k - 1], (uint64_t)k);
        for (int i = 0; i < 2; i++) {
            double g = grads[k - 1][i];
            s[i] = k == 1 ? s[i] + g * g : 0.9 * s[i] + 0.1 * (g * g);
            want[i] += 0.7 / sqrt((double)k) * g / (1.0 + sqrt(s[i]));
        }
        exact &= lambda[0] == want[0] && lambda[1] == want[1];
    }
    ok(exact, "stan: six steps equal Stan's sequence bit for bit (%.17g, %.17g)", lambda[0],
       lambda[1]);
    /* By hand: step 1 with g = 3 moves 0.7 * 3 / 4 = 0.525; step 2 with
     * g = 1 has s = 0.9 * 9 + 0.1 = 8.2 and moves 0.7 / sqrt 2 / (1 + sqrt 8.2). */
    double first = 0.5 + 0.525, second = first + 0.7 / sqrt(2.0) / (1.0 + sqrt(8.2));
    fixture_free(&fx);
    open_optimizer(&fx, "stan", "{learning_rate: 0.7}");
    lambda[0] = 0.5;
    lambda[1] = -1.0;
    step_once(&fx, lambda, grads[0], 1);
    is_close(lambda[0], first, 1e-15, 0, "stan: first step 0.7 * 3 / (1 + 3)");
    step_once(&fx, lambda, grads[1], 2);
    is_close(lambda[0], second, 1e-15, 0, "stan: second step 0.7 / sqrt(2) / (1 + sqrt(8.2))");
    fixture_free(&fx);
}

/* With gradient 1 the step is the schedule's rate. */
static double sgd_rate(const char *options, uint64_t t)
{
    fixture fx;
    double lambda[2] = {0, 0}, g[2] = {1, 1}, before = 0.0;
    open_optimizer(&fx, "sgd", options);
    for (uint64_t k = 1; k <= t; k++) {
        before = lambda[0];
        step_once(&fx, lambda, g, k);
    }
    fixture_free(&fx);
    return lambda[0] - before;
}

static void test_sgd_schedules(void)
{
    is_close(sgd_rate("{learning_rate: 0.3, schedule: constant, decay: 5}", 50), 0.3, 1e-15, 0,
             "sgd constant: step 50 is the rate (decay ignored)");
    is_close(sgd_rate("{learning_rate: 0.3, schedule: inverse, decay: 0.5}", 5), 0.1, 1e-15, 0,
             "sgd inverse: step 5 is 0.3 / (1 + 0.5 * 4)");
    is_close(sgd_rate("{learning_rate: 0.3}", 40), 0.3, 1e-15, 0,
             "sgd: the default inverse schedule with decay 0 is constant");
    const char *cosine = "{learning_rate: 0.3, schedule: cosine, period: 10, min_rate: 0.1}";
    is_close(sgd_rate(cosine, 1), 0.3, 1e-15, 0, "sgd cosine: step 1 is the rate");
    is_close(sgd_rate(cosine, 6), 0.2, 1e-15, 0, "sgd cosine: half way, (0.3 + 0.1) / 2");
    is_close(sgd_rate(cosine, 11), 0.3, 1e-15, 0, "sgd cosine: restarts after the period");
    fixture fx;
    ok(open_optimizer(&fx, "sgd", "{schedule: linear}") != 0 &&
           strstr(fx.err.message, "schedule") != NULL,
       "sgd: an unknown schedule is refused (%s)", fx.err.message);
    fixture_free(&fx);
}

static void test_first_steps(void)
{
    fixture fx;
    double lambda[2], g_big[2] = {10, 10}, g_small[2] = {0.1, 0.1};
    double plain[2] = {0, 0}, ams[2] = {0, 0}, first;
    open_optimizer(&fx, "adam", "{learning_rate: 0.1, beta2: 0.5}");
    step_once(&fx, plain, g_big, 1);
    first = plain[0];
    step_once(&fx, plain, g_small, 2);
    step_once(&fx, plain, g_small, 3);
    fixture_free(&fx);
    open_optimizer(&fx, "adam", "{learning_rate: 0.1, beta2: 0.5, amsgrad: true}");
    step_once(&fx, ams, g_big, 1);
    step_once(&fx, ams, g_small, 2);
    step_once(&fx, ams, g_small, 3);
    fixture_free(&fx);
    is_close(first, 0.1, 1e-9, 0, "adam: the first step is the rate along sign(g)");
    ok(ams[0] < plain[0] - 0.01,
       "adam amsgrad: after the gradient shrinks, the running maximum keeps the steps "
       "smaller (%.4f < %.4f)", ams[0], plain[0]);
    open_optimizer(&fx, "adagrad", "{learning_rate: 0.4}");
    lambda[0] = lambda[1] = 1.0;
    step_once(&fx, lambda, g_big, 1);
    is_close(lambda[0], 1.4, 1e-9, 0, "adagrad: the first step is the rate along sign(g)");
    step_once(&fx, lambda, g_big, 2);
    is_close(lambda[0], 1.4 + 0.4 / sqrt(2.0), 1e-9, 0, "adagrad: the second rate / sqrt(2)");
    fixture_free(&fx);
    open_optimizer(&fx, "rmsprop", "{learning_rate: 0.01, rho: 0.9}");
    lambda[0] = lambda[1] = 0.0;
    step_once(&fx, lambda, g_big, 1);
    is_close(lambda[0], 0.01 / sqrt(0.1), 1e-9, 0, "rmsprop: the first step is rate / sqrt(1 - rho)");
    fixture_free(&fx);
    open_optimizer(&fx, "dog", "{initial_movement: 0.001}");
    lambda[0] = 3.0;
    lambda[1] = 4.0;
    step_once(&fx, lambda, g_big, 1);
    double moved = hypot(lambda[0] - 3.0, lambda[1] - 4.0);
    is_close(moved, 0.001 * 6.0, 1e-12, 0, "dog: the first step moves alpha (1 + |lambda|)");
    fixture_free(&fx);
}

/* ---- Stan's ADVI, transcribed from stan/variational/advi.hpp ---- */

/* What Stan's adapt_eta and stochastic_gradient_ascent give when fed the
 * host's estimators: the gradient of iteration k from the draws (seed,
 * gradient, k, 0..S-1), the ELBO of an evaluation at iteration k (0 for
 * the start, adapt_iterations after a trial) from (seed, elbo, k, ...). */
typedef struct stan_outcome {
    double eta;
    uint64_t iterations;
    int by_median;
    double lambda[2];
} stan_outcome;

typedef struct stan_io {
    fixture *fx;
    uint64_t seed;
    size_t grad_samples, elbo_samples;
    vh_draw_buffers buf;
    double per_draw[64], values[512];
} stan_io;

static double stan_elbo(stan_io *io, const double *lambda, uint64_t tag)
{
    double elbo, mcse;
    if (vh_elbo_estimate(&io->fx->model, lambda, io->seed, VH_RNG_ELBO, tag, io->elbo_samples,
                         &io->buf, io->values, &elbo, &mcse, &io->fx->err) != 0 ||
        !isfinite(elbo))
        return -DBL_MAX; /* Stan: a diverged ELBO is -max */
    return elbo;
}

/* One step of Stan's sequence at iteration `k` of its loop. */
static void stan_step(stan_io *io, double *lambda, double *history, double eta, uint64_t k)
{
    double grad[2], elbo;
    if (vh_gradient_estimate(&io->fx->model, lambda, io->seed, k, io->grad_samples, &io->buf,
                             io->per_draw, grad, &elbo, &io->fx->err) != 0)
        grad[0] = grad[1] = 0.0; /* Stan's adapt_eta: elbo_grad.set_to_zero() */
    for (int i = 0; i < 2; i++)
        history[i] = k == 1 ? history[i] + grad[i] * grad[i]
                            : 0.9 * history[i] + 0.1 * (grad[i] * grad[i]);
    double eta_scaled = eta / sqrt((double)k);
    for (int i = 0; i < 2; i++)
        lambda[i] += eta_scaled * grad[i] / (1.0 + sqrt(history[i]));
}

static double stan_adapt_eta(stan_io *io, const double *start, int adapt_iterations)
{
    static const double etas[5] = {100, 10, 1, 0.1, 0.01};
    double elbo_init = stan_elbo(io, start, 0), elbo_best = -DBL_MAX, eta_best = 0.0;
    for (int k = 0; k < 5; k++) {
        double lambda[2] = {start[0], start[1]}, history[2] = {0, 0};
        for (int it = 1; it <= adapt_iterations; it++)
            stan_step(io, lambda, history, etas[k], (uint64_t)it);
        double elbo = stan_elbo(io, lambda, (uint64_t)adapt_iterations);
        if (elbo < elbo_best && elbo_best > elbo_init)
            return eta_best;
        if (k < 4) {
            elbo_best = elbo;
            eta_best = etas[k];
        } else
            return elbo > elbo_init ? etas[k] : NAN;
    }
    return NAN;
}

static void stan_reference(stan_io *io, int adapt_iterations, int max_iterations,
                           int eval_elbo, double tol, stan_outcome *out)
{
    vh_model *m = &io->fx->model;
    double start[2], history[2] = {0, 0};
    vi_error perr = {sizeof perr, 0, ""};
    vh_draw_buffers_alloc(m, &io->buf);
    m->family->init(m->family_self, start, &perr);
    out->eta = stan_adapt_eta(io, start, adapt_iterations);
    double *lambda = out->lambda, elbo = 0.0, cb[100];
    lambda[0] = start[0];
    lambda[1] = start[1];
    int cb_size = (int)fmax(0.1 * max_iterations / eval_elbo, 2.0), cb_n = 0, cb_next = 0;
    for (int iter = 1;; iter++) {
        stan_step(io, lambda, history, out->eta, (uint64_t)iter);
        out->iterations = (uint64_t)iter;
        if (iter % eval_elbo == 0) {
            double elbo_prev = elbo;
            elbo = stan_elbo(io, lambda, (uint64_t)iter);
            cb[cb_next] = fabs((elbo_prev - elbo) / elbo); /* rel_difference(elbo, prev) */
            cb_next = (cb_next + 1) % cb_size;
            cb_n += cb_n < cb_size;
            double sum = 0.0, v[100];
            for (int i = 0; i < cb_n; i++) { /* oldest first */
                v[i] = cb[(cb_n < cb_size ? i : cb_next + i) % cb_size];
                sum += v[i];
            }
            qsort(v, (size_t)cb_n, sizeof v[0], compare_doubles);
            out->by_median = !(sum / cb_n < tol) && v[cb_n / 2] < tol;
            if (sum / cb_n < tol || v[cb_n / 2] < tol)
                break;
        }
        if (iter == max_iterations)
            break;
    }
    vh_draw_buffers_free(&io->buf);
}

/* The documented case of share/doc/optimizers.md (share/examples/advi.yaml):
 * the conjugate normal model, meanfield, the stan optimizer with
 * adaptation, Stan's defaults otherwise, seed 1.  The published algorithm
 * chooses eta = 1 and stops at iteration 300 by the median rule; the
 * engine must agree, and agree bit for bit with the transcription above. */
static void test_stan_case(void)
{
    fixture fx;
    if (!ok(fixture_open(&fx, "normal", "{mu0: 0, s0: 10}", "normal.json", "meanfield", NULL,
                         "stan", NULL) == 0, "normal/meanfield/stan opens (%s)", fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    vh_engine_settings set = {
        .seed = 1, .grad_samples = 1, .elbo_samples = 100, .max_iterations = 10000,
        .eval_every = 100, .rule = VH_RULE_RELATIVE, .tolerance = 0.01, .adapt = 1,
        .adapt_iterations = 50,
    };
    vh_fit fit;
    int rc = vh_engine_fit(&fx.model, &set, &fit, &fx.err);
    ok(rc == 0 && fit.adapted_rate == 1.0 && fit.iterations == 300 &&
           strstr(fit.stop_reason, "median") != NULL,
       "stan with adaptation on the documented case: eta %g, stops at iteration %llu (%s); "
       "the algorithm gives eta 1, iteration 300, by the median",
       rc == 0 ? fit.adapted_rate : NAN, (unsigned long long)(rc == 0 ? fit.iterations : 0),
       rc == 0 ? fit.stop_reason : fx.err.message);
    int trials = 0;
    for (size_t r = 0; rc == 0 && r < fit.n_trace; r++)
        trials += strcmp(fit.trace[r].phase, "adapt") == 0;
    ok(trials == 4, "... after trying eta = 100, 10, 1 and 0.1 (%d trials in the trace)", trials);
    stan_io io;
    memset(&io, 0, sizeof io);
    io.fx = &fx;
    io.seed = 1;
    io.grad_samples = 1;
    io.elbo_samples = 100;
    stan_outcome ref;
    stan_reference(&io, 50, 10000, 100, 0.01, &ref);
    ok(rc == 0 && ref.eta == fit.adapted_rate && ref.iterations == fit.iterations &&
           ref.by_median && memcmp(ref.lambda, fit.lambda, sizeof ref.lambda) == 0,
       "... exactly as a transcription of Stan's adapt_eta and stochastic_gradient_ascent "
       "(eta %g, iteration %llu, lambda %.17g %.17g)", ref.eta,
       (unsigned long long)ref.iterations, ref.lambda[0], ref.lambda[1]);
    if (rc == 0)
        vh_fit_free(&fit);
    fixture_free(&fx);
}

int main(void)
{
    char label[128];
    for (size_t k = 0; k < N_CASES; k++) {
        snprintf(label, sizeof label, "%s %s", cases[k].plugin, cases[k].options);
        test_normal(&cases[k], label);
        test_mvnormal(&cases[k], label);
        test_state(&cases[k], label);
    }
    test_stan_sequence();
    test_sgd_schedules();
    test_first_steps();
    test_stan_case();
    return tap_done();
}
