/* test-posteriordb.c — the model library against posteriors someone else
 * computed, and the exact linear-regression answer:
 *  - each posteriordb posterior in share/data/posteriordb, loaded through
 *    its run file share/examples/posteriordb/<posterior>.yaml (target,
 *    options, data, `reference:`), is fitted with fullrank (and meanfield
 *    where the posterior is near-Gaussian) at a fixed seed; every
 *    reference mean must lie within 0.25 reference sd of the fit's, and
 *    the sd ratios are printed as diagnostics.  Where Gaussian VI is known
 *    to be biased (the funnel of eight schools' tau) the test asserts the
 *    documented direction of the bias instead;
 *  - each target's log density equals the model written out in posteriordb's
 *    model.md, evaluated here from textbook formulas, up to one constant
 *    (the regressions' run files use linreg's qr: true, the same posterior
 *    in better-conditioned coordinates; see share/doc/models.md);
 *  - linreg with strongly collinear predictors: fullrank recovers the
 *    exact Gaussian posterior (means and covariance within 2%), and
 *    meanfield's variances equal 1/Lambda_ii, less than the true ones.
 * PDB_ONLY and PDB_ITERATIONS (see run_posteriordb) narrow a run, e.g.
 * under valgrind. */
#include <math.h>
#include <stdint.h>

#include <vihost/sdk.h>

#include "estimators.h"
#include "fixture.h"
#include "rng.h"
#include "runfile.h"
#include "tap.h"

#define MAX_DIM 32
#define MAX_REF 32

/* ------------------------------------------------------------------ */
/* The reference and the model from the run file                        */
/* ------------------------------------------------------------------ */

typedef struct reference {
    size_t n;
    char name[MAX_REF][64];
    double mean[MAX_REF], sd[MAX_REF];
} reference;

/* Reads posteriordb's reference.csv (name,mean,sd,q05,q50,q95). */
static int reference_read(const char *path, reference *ref)
{
    char line[512];
    FILE *f = fopen(path, "r");
    ref->n = 0;
    if (f == NULL)
        return -1;
    int ok_header = fgets(line, sizeof line, f) != NULL &&
                    strncmp(line, "name,mean,sd,", 13) == 0;
    while (ok_header && ref->n < MAX_REF && fgets(line, sizeof line, f) != NULL) {
        char *comma = strchr(line, ','), *end;
        if (comma == NULL || (size_t)(comma - line) >= sizeof ref->name[0])
            break;
        memcpy(ref->name[ref->n], line, (size_t)(comma - line));
        ref->name[ref->n][comma - line] = '\0';
        ref->mean[ref->n] = strtod(comma + 1, &end);
        ref->sd[ref->n] = strtod(end + 1, NULL);
        ref->n++;
    }
    fclose(f);
    return ok_header && ref->n > 0 ? 0 : -1;
}

/* Like fixture_open, with the target (plugin, options, data) taken from a
 * loaded run file. */
static int open_from_runfile(fixture *fx, const vh_runfile *run, const char *family,
                             const char *family_options, const char *optimizer,
                             const char *optimizer_options)
{
    vh_model *m = &fx->model;
    vi_error perr = {sizeof perr, 0, ""};
    char path[1024];
    memset(fx, 0, sizeof *fx);
    vh_registry_init(&fx->registry);
    fixture_plugin_path(path, sizeof path, "targets", run->target.plugin);
    if ((run->target.data != NULL && vh_data_load(run->target.data, &fx->data, &fx->err) != 0) ||
        vh_registry_load_file(&fx->registry, path, &fx->err) != 0)
        return -1;
    fx->target.component = vh_registry_find(&fx->registry, run->target.plugin, VI_KIND_TARGET);
    if (fx->target.component == NULL)
        return vh_err_set(&fx->err, 3, "no target '%s'", run->target.plugin);
    fx->target.options = run->target.options ? vh_node_clone(run->target.options) : NULL;
    vh_hostapi_init(&fx->target.context, run->target.plugin, VI_LOG_WARNING);
    if (vh_config_build(fx->target.component->head->options, fx->target.options, fx->data,
                        run->path, run->target.plugin, run->target.pos, &fx->target.config,
                        &fx->err) != 0)
        return -1;
    m->target = (const vi_target_desc *)fx->target.component->head;
    m->target_label = "target";
    if (m->target->create(&fx->target.context.host, fx->target.config, &m->target_self,
                          &perr) != 0)
        return vh_err_set(&fx->err, 3, "target create: %s", perr.message);
    m->dim = m->target->dim(m->target_self);
    m->target_work = m->target->workspace_size ? m->target->workspace_size(m->target_self) : 0;
    /* A component pointer lives until the registry loads the next library,
     * so each descriptor is read right after its own load. */
    if (fixture_part_load(fx, &fx->family, "families", VI_KIND_FAMILY, family, family_options,
                          NULL) != 0)
        return -1;
    m->family = (const vi_family_desc *)fx->family.component->head;
    m->family_label = "family";
    m->family_host = &fx->family.context.host;
    if (m->family->create(&fx->family.context.host, fx->family.config, m->dim,
                          &m->family_self, &perr) != 0)
        return vh_err_set(&fx->err, 3, "family create: %s", perr.message);
    m->n_params = m->family->n_params(m->family_self);
    if (fixture_part_load(fx, &fx->optimizer, "optimizers", VI_KIND_OPTIMIZER, optimizer,
                          optimizer_options, NULL) != 0)
        return -1;
    m->optimizer = (const vi_optimizer_desc *)fx->optimizer.component->head;
    m->optimizer_label = "optimizer";
    if (m->optimizer->create(&fx->optimizer.context.host, fx->optimizer.config, m->n_params,
                             &m->optimizer_self, &perr) != 0)
        return vh_err_set(&fx->err, 3, "optimizer create: %s", perr.message);
    vh_model_measure(m);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Fitting and summarizing                                              */
/* ------------------------------------------------------------------ */

/* The settings of one fit: a fixed iteration count (no stopping rule, so
 * the test does not depend on one) and Polyak averaging of the second half
 * of the iterates, which removes the optimizer's noise floor. */
typedef struct fit_plan {
    uint64_t iterations;
    uint64_t grad_samples;
} fit_plan;

/* Constrained means and sds of q from `draws` output draws. */
typedef struct summary {
    size_t n;
    const char *name[MAX_DIM];
    double mean[MAX_DIM], sd[MAX_DIM];
} summary;

static int fit_and_summarize(fixture *fx, const fit_plan *plan, uint64_t seed, size_t draws,
                             summary *out, vh_fit *fit)
{
    vh_model *m = &fx->model;
    vh_engine_settings set = {
        .seed = seed, .grad_samples = plan->grad_samples, .elbo_samples = 50,
        .max_iterations = plan->iterations, .eval_every = plan->iterations,
        .rule = VH_RULE_NONE, .tolerance = 0.01, .progress = 0,
        .averaging = VH_AVERAGING_POLYAK, .averaging_start = plan->iterations / 2,
    };
    if (vh_engine_fit(m, &set, fit, &fx->err) != 0)
        return -1;
    const vi_target_desc *t = m->target;
    vh_draw_buffers buf;
    double c[MAX_DIM], sum[MAX_DIM] = {0}, sum2[MAX_DIM] = {0};
    vi_error perr = {sizeof perr, 0, ""};
    if (vh_draw_buffers_alloc(m, &buf) != 0)
        return vh_err_set(&fx->err, 1, "out of memory");
    out->n = t->constrained_dim(m->target_self);
    for (size_t j = 0; j < out->n; j++)
        out->name[j] = t->constrained_name(m->target_self, j);
    int failed = 0;
    for (size_t d = 0; d < draws && !failed; d++) {
        failed = vh_draw_base(m, seed, VH_RNG_OUTPUT, 0, d, buf.eps, &fx->err) != 0 ||
                 m->family->forward(m->family_self, fit->lambda, buf.eps, buf.z, NULL,
                                    buf.family_work, &perr) != 0 ||
                 t->constrain(m->target_self, buf.z, c, &perr) != 0;
        for (size_t j = 0; j < out->n; j++) {
            sum[j] += c[j];
            sum2[j] += c[j] * c[j];
        }
    }
    vh_draw_buffers_free(&buf);
    for (size_t j = 0; j < out->n; j++) {
        out->mean[j] = sum[j] / (double)draws;
        out->sd[j] = sqrt(fmax(0.0, (sum2[j] - sum[j] * out->mean[j]) / (double)(draws - 1)));
    }
    return failed ? vh_err_set(&fx->err, 4, "draws failed: %s", perr.message) : 0;
}

static long summary_find(const summary *s, const char *name)
{
    for (size_t j = 0; j < s->n; j++)
        if (strcmp(s->name[j], name) == 0)
            return (long)j;
    return -1;
}

/* ------------------------------------------------------------------ */
/* posteriordb                                                          */
/* ------------------------------------------------------------------ */

/* The model of posteriordb's model.md, from textbook formulas: the log
 * density of the constrained values c (in the target's constrained order,
 * which is the reference's) plus the log-Jacobian of Stan's
 * unconstraining transforms, data read from the target's config. */
typedef double (*model_md_fn)(const vi_config *config, const double *c);

typedef struct pdb_case {
    const char *posterior;        /* folder under share/data/posteriordb, run-file stem */
    model_md_fn model_md;
    const char *optimizer, *optimizer_options;
    fit_plan plan;
    int meanfield;                /* near-Gaussian: meanfield's means are checked too */
    const char *biased;           /* the parameter Gaussian VI is known to underestimate */
} pdb_case;

/* Compares a fit with the reference: every mean within 0.25 reference sd
 * (except the documented biased parameter, whose sd must come out below
 * the reference's), sd ratios as diagnostics. */
static void compare_with_reference(const pdb_case *pc, const char *family,
                                   const reference *ref, const summary *s, int check_means)
{
    double worst = 0.0, low = INFINITY, high = 0.0;
    const char *worst_name = "?";
    int all_found = 1;
    for (size_t r = 0; r < ref->n; r++) {
        long j = summary_find(s, ref->name[r]);
        if (j < 0) {
            all_found = 0;
            continue;
        }
        double z = fabs(s->mean[j] - ref->mean[r]) / ref->sd[r];
        double ratio = s->sd[j] / ref->sd[r];
        diag("%s/%s %-9s mean %12.6g (ref %12.6g, %+.3f sd)  sd %11.5g (ref %11.5g, ratio %.3f)",
             pc->posterior, family, ref->name[r], s->mean[j], ref->mean[r],
             (s->mean[j] - ref->mean[r]) / ref->sd[r], s->sd[j], ref->sd[r], ratio);
        if (pc->biased != NULL && strcmp(ref->name[r], pc->biased) == 0) {
            ok(ratio < 1.0 && s->mean[j] < ref->mean[r],
               "%s/%s: %s comes out smaller and narrower than the reference (mean %+.3f "
               "sd, sd ratio %.3f), the documented direction of Gaussian VI's bias on "
               "this funnel", pc->posterior, family, pc->biased,
               (s->mean[j] - ref->mean[r]) / ref->sd[r], ratio);
            continue;
        }
        if (z > worst) {
            worst = z;
            worst_name = ref->name[r];
        }
        low = fmin(low, ratio);
        high = fmax(high, ratio);
    }
    ok(all_found, "%s/%s: the target reports every reference parameter by name",
       pc->posterior, family);
    if (check_means)
        ok(worst < 0.25, "%s/%s: every posterior mean within 0.25 reference sd (worst "
                         "%.3f sd, %s)", pc->posterior, family, worst, worst_name);
    diag("%s/%s: sd ratios (fit / reference) from %.3f to %.3f", pc->posterior, family, low,
         high);
}

/* The target's log density minus the model.md density is one constant
 * (Stan's dropped constants, QR's log-Jacobian) at 4 random points. */
static void check_model_md(const pdb_case *pc, fixture *fx)
{
    const vh_model *m = &fx->model;
    double u[MAX_DIM], c[MAX_DIM], lp, first = 0.0, worst = 0.0;
    double *work = calloc(m->target_work + 1, sizeof *work);
    vi_rng rng;
    vh_rng_init(&rng, 47, VH_RNG_TEST, 8, 0);
    for (int p = 0; p < 4; p++) {
        for (size_t i = 0; i < m->dim; i++)
            u[i] = 0.5 * vh_rng_normal(&rng);
        m->target->log_density(m->target_self, u, &lp, NULL, work, NULL);
        m->target->constrain(m->target_self, u, c, NULL);
        double diff = lp - pc->model_md(fx->target.config, c);
        if (p == 0)
            first = diff;
        worst = fmax(worst, fabs(diff - first) / (1.0 + fabs(lp)));
    }
    ok(worst < 1e-10, "%s: the target's log density is model.md's up to a constant (%.6g) at "
                      "4 random points (worst relative deviation %.1e)", pc->posterior, first,
       worst);
    free(work);
}

static void check_posterior(const pdb_case *pc)
{
    char path[1024];
    vh_runfile *run = NULL;
    vh_err err;
    reference ref;
    snprintf(path, sizeof path, "%s/share/examples/posteriordb/%s.yaml", SOURCE_DIR,
             pc->posterior);
    int loaded = vh_runfile_load(path, NULL, 0, &run, &err) == 0;
    if (!ok(loaded && run->reference != NULL && reference_read(run->reference, &ref) == 0,
            "%s: run file loads and its reference: file reads as name,mean,sd (%s)",
            pc->posterior, loaded ? "" : err.message)) {
        vh_runfile_free(run);
        return;
    }
    const char *families[2] = {"fullrank", "meanfield"};
    for (int f = 0; f < (pc->meanfield ? 2 : 1); f++) {
        fixture fx;
        summary s = {0};
        vh_fit fit;
        memset(&fit, 0, sizeof fit);
        int fitted = open_from_runfile(&fx, run, families[f], NULL, pc->optimizer,
                                       pc->optimizer_options) == 0 &&
                     fit_and_summarize(&fx, &pc->plan, 20261121, 4000, &s, &fit) == 0;
        if (f == 0 && fx.model.target_self != NULL)
            check_model_md(pc, &fx);
        if (ok(fitted, "%s/%s fits (%llu iterations, %s %s; %s)", pc->posterior, families[f],
               (unsigned long long)pc->plan.iterations, pc->optimizer, pc->optimizer_options,
               fx.err.message))
            compare_with_reference(pc, families[f], &ref, &s, 1);
        vh_fit_free(&fit);
        fixture_free(&fx);
    }
    vh_runfile_free(run);
}


/* ---- model.md, written out ---- */

static double n_lpdf(double x, double mu, double sd)
{
    return -0.5 * (x - mu) * (x - mu) / (sd * sd) - log(sd) - 0.5 * log(2.0 * M_PI);
}

static double half_cauchy(double x, double scale)
{
    return log(2.0 / (M_PI * scale * (1.0 + (x / scale) * (x / scale))));
}

static const double *data_of(const vi_config *config, const char *key, size_t *n)
{
    const double *v = NULL;
    size_t shape[VI_MAX_RANK], ndim;
    vh_config_get_array(config, key, &v, shape, &ndim);
    *n = ndim == 0 ? 1 : shape[0];
    return v;
}

/* alpha, beta[1..K], sigma. */
static double md_ark(const vi_config *config, const double *c)
{
    size_t T, K = 5;
    const double *y = data_of(config, "y", &T);
    double sigma = c[K + 1], lp = n_lpdf(c[0], 0, 10) + half_cauchy(sigma, 2.5) + log(sigma);
    for (size_t k = 1; k <= K; k++)
        lp += n_lpdf(c[k], 0, 10);
    for (size_t t = K; t < T; t++) {
        double mean = c[0];
        for (size_t k = 1; k <= K; k++)
            mean += c[k] * y[t - k];
        lp += n_lpdf(y[t], mean, sigma);
    }
    return lp;
}

/* theta[1..8], mu, tau; the density is over (theta_trans, mu, log tau). */
static double md_eight_schools(const vi_config *config, const double *c)
{
    size_t J;
    const double *y = data_of(config, "y", &J), *sigma = data_of(config, "sigma", &J);
    double mu = c[J], tau = c[J + 1];
    double lp = n_lpdf(mu, 0, 5) + half_cauchy(tau, 5) + log(tau);
    for (size_t j = 0; j < J; j++)
        lp += n_lpdf((c[j] - mu) / tau, 0, 1) + n_lpdf(y[j], c[j], sigma[j]);
    return lp;
}

/* beta[1..4], sigma; flat beta. */
static double md_kidiq(const vi_config *config, const double *c)
{
    size_t N;
    const double *score = data_of(config, "kid_score", &N);
    const double *hs = data_of(config, "mom_hs", &N), *iq = data_of(config, "mom_iq", &N);
    double sigma = c[4], lp = half_cauchy(sigma, 2.5) + log(sigma);
    for (size_t n = 0; n < N; n++)
        lp += n_lpdf(score[n], c[0] + c[1] * hs[n] + c[2] * iq[n] + c[3] * hs[n] * iq[n],
                     sigma);
    return lp;
}

/* alpha, beta, sigma; the priors from the data file; flat sigma. */
static double md_kilpisjarvi(const vi_config *config, const double *c)
{
    size_t N, one;
    const double *x = data_of(config, "x", &N), *y = data_of(config, "y", &N);
    double lp = n_lpdf(c[0], *data_of(config, "pmualpha", &one), *data_of(config, "psalpha", &one)) +
                n_lpdf(c[1], *data_of(config, "pmubeta", &one), *data_of(config, "psbeta", &one)) +
                log(c[2]);
    for (size_t n = 0; n < N; n++)
        lp += n_lpdf(y[n], c[0] + c[1] * x[n], c[2]);
    return lp;
}

/* mu[1], mu[2], sigma[1], sigma[2], theta. */
static double md_gauss_mix(const vi_config *config, const double *c)
{
    size_t N;
    const double *y = data_of(config, "y", &N);
    double theta = c[4];
    double lp = n_lpdf(c[0], 0, 2) + n_lpdf(c[1], 0, 2) + log(2.0) + n_lpdf(c[2], 0, 2) +
                log(2.0) + n_lpdf(c[3], 0, 2) +
                log(pow(theta, 4) * pow(1 - theta, 4) * tgamma(10) / (tgamma(5) * tgamma(5)));
    lp += log(c[1] - c[0]) + log(c[2]) + log(c[3]) + log(theta) + log(1 - theta);
    for (size_t n = 0; n < N; n++)
        lp += log(theta * exp(n_lpdf(y[n], c[0], c[2])) +
                  (1 - theta) * exp(n_lpdf(y[n], c[1], c[3])));
    return lp;
}

/* beta[1..D], sigma. */
static double md_blr(const vi_config *config, const double *c)
{
    const double *X, *y;
    size_t shape[VI_MAX_RANK], ndim, N;
    vh_config_get_array(config, "X", &X, shape, &ndim);
    size_t D = shape[1];
    y = data_of(config, "y", &N);
    double sigma = c[D], lp = log(2.0) + n_lpdf(sigma, 0, 10) + log(sigma);
    for (size_t d = 0; d < D; d++)
        lp += n_lpdf(c[d], 0, 10);
    for (size_t n = 0; n < N; n++) {
        double mean = 0.0;
        for (size_t d = 0; d < D; d++)
            mean += X[n * D + d] * c[d];
        lp += n_lpdf(y[n], mean, sigma);
    }
    return lp;
}

/* Fit settings per posterior.  rmsprop's second-moment estimate forgets
 * the enormous gradients of the first iterations within tens of steps
 * (Adam's, with beta2 = 0.999, holds them for thousands and stalls), and
 * Polyak averaging of the second half removes its noise floor.  The
 * regressions run with qr: true in their run files (see models.md): the
 * same posterior in better-conditioned coordinates. */
static const pdb_case pdb_cases[] = {
    {"arK-arK", md_ark, "rmsprop", "{learning_rate: 0.002}", {10000, 2}, 1, NULL},
    {"eight_schools-eight_schools_noncentered", md_eight_schools, "rmsprop",
     "{learning_rate: 0.02}", {10000, 4}, 0, "tau"},
    {"kidiq-kidscore_interaction", md_kidiq, "rmsprop", "{learning_rate: 0.02}", {20000, 2}, 1,
     NULL},
    {"kilpisjarvi_mod-kilpisjarvi", md_kilpisjarvi, "rmsprop", "{learning_rate: 0.02}",
     {20000, 2}, 1, NULL},
    {"low_dim_gauss_mix-low_dim_gauss_mix", md_gauss_mix, "rmsprop", "{learning_rate: 0.01}",
     {8000, 1}, 1, NULL},
    {"sblri-blr", md_blr, "rmsprop", "{learning_rate: 0.01}", {40000, 2}, 1, NULL},
};

/* PDB_ONLY=<part of a posterior's name> runs only the matching posteriors,
 * PDB_ITERATIONS=<n> overrides the iteration counts (for valgrind runs). */
static void run_posteriordb(void)
{
    for (size_t i = 0; i < sizeof pdb_cases / sizeof pdb_cases[0]; i++) {
        pdb_case pc = pdb_cases[i];
        const char *only = getenv("PDB_ONLY"), *iterations = getenv("PDB_ITERATIONS");
        if (only != NULL && strstr(pc.posterior, only) == NULL)
            continue;
        if (iterations != NULL)
            pc.plan.iterations = strtoull(iterations, NULL, 10);
        double t0 = vh_now();
        check_posterior(&pc);
        diag("%s: %.2f s", pc.posterior, vh_now() - t0);
    }
}

/* ------------------------------------------------------------------ */
/* linreg with collinear predictors: the exact Gaussian posterior       */
/* ------------------------------------------------------------------ */

/* Inverts the symmetric positive-definite a (n x n) by Gauss-Jordan. */
static void invert(const double *a, double *inv, size_t n)
{
    double w[MAX_DIM * 2 * MAX_DIM];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < 2 * n; j++)
            w[i * 2 * n + j] = j < n ? a[i * n + j] : (j - n == i);
    for (size_t c = 0; c < n; c++) {
        double p = w[c * 2 * n + c];
        for (size_t j = 0; j < 2 * n; j++)
            w[c * 2 * n + j] /= p;
        for (size_t r = 0; r < n; r++) {
            double f = w[r * 2 * n + c];
            for (size_t j = 0; r != c && j < 2 * n; j++)
                w[r * 2 * n + j] -= f * w[c * 2 * n + j];
        }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            inv[i * n + j] = w[i * 2 * n + n + j];
}

/* q's exact moments after a fit of linreg {known_sigma: 1} on
 * share/data/linreg.json (corr(x1, x2) = 0.99), and the target's exact
 * posterior.  SGD with a Robbins-Monro decay and Polyak averaging of the
 * second half reaches the optimum itself, not a noise floor around it. */
static int fit_linreg(const char *family, double *mean, double *cov, double *exact_mean,
                      double *exact_cov, size_t *dim)
{
    fixture fx;
    vh_fit fit;
    vi_error perr = {sizeof perr, 0, ""};
    vh_engine_settings set = {
        .seed = 3, .grad_samples = 4, .elbo_samples = 50, .max_iterations = 40000,
        .eval_every = 40000, .rule = VH_RULE_NONE, .tolerance = 0.01,
        .averaging = VH_AVERAGING_POLYAK, .averaging_start = 20000,
    };
    int status = fixture_open(&fx, "linreg", "{known_sigma: 1}", "linreg.json", family, NULL,
                              "sgd", "{learning_rate: 0.02, decay: 0.0005}") == 0 &&
                         vh_engine_fit(&fx.model, &set, &fit, &fx.err) == 0
                     ? 0 : -1;
    if (status == 0) {
        const vi_target_moments *exact =
            fx.model.target->get_extension(fx.model.target_self, VI_TARGET_MOMENTS_ID);
        double *work = calloc(fx.model.family_work + 1, sizeof *work);
        *dim = fx.model.dim;
        status = exact == NULL ||
                 exact->moments(fx.model.target_self, exact_mean, exact_cov, &perr) != 0 ||
                 fx.model.family->moments(fx.model.family_self, fit.lambda, mean, cov, work,
                                          &perr) != 0;
        free(work);
        vh_fit_free(&fit);
    }
    ok(status == 0, "linreg (collinear)/%s fits (%s%s)", family, fx.err.message, perr.message);
    fixture_free(&fx);
    return status;
}

static void check_linreg_collinear(void)
{
    double mean[MAX_DIM], cov[MAX_DIM * MAX_DIM], em[MAX_DIM], ec[MAX_DIM * MAX_DIM];
    double prec[MAX_DIM * MAX_DIM];
    size_t d = 0;
    if (fit_linreg("fullrank", mean, cov, em, ec, &d) == 0) {
        double worst_mean = 0.0, worst_cov = 0.0;
        for (size_t i = 0; i < d; i++) {
            worst_mean = fmax(worst_mean, fabs(mean[i] - em[i]) / sqrt(ec[i * d + i]));
            for (size_t j = 0; j < d; j++)
                worst_cov = fmax(worst_cov, fabs(cov[i * d + j] - ec[i * d + j]) /
                                                sqrt(ec[i * d + i] * ec[j * d + j]));
        }
        diag("exact posterior correlation of beta[2], beta[3]: %.4f",
             ec[1 * d + 2] / sqrt(ec[1 * d + 1] * ec[2 * d + 2]));
        ok(worst_mean < 0.02, "linreg (collinear)/fullrank: means within 2%% of an exact sd "
                              "(worst %.4f)", worst_mean);
        ok(worst_cov < 0.02, "linreg (collinear)/fullrank: covariance within 2%% (worst %.4f "
                             "of sqrt(S_ii S_jj))", worst_cov);
    }
    if (fit_linreg("meanfield", mean, cov, em, ec, &d) == 0) {
        double worst = 0.0, worst_mean = 0.0, shrink = 1.0;
        invert(ec, prec, d);
        for (size_t i = 0; i < d; i++) {
            worst = fmax(worst, fabs(cov[i * d + i] * prec[i * d + i] - 1.0));
            worst_mean = fmax(worst_mean, fabs(mean[i] - em[i]) / sqrt(ec[i * d + i]));
            shrink = fmin(shrink, cov[i * d + i] / ec[i * d + i]);
        }
        ok(worst < 0.02, "linreg (collinear)/meanfield: variances equal 1/Lambda_ii within 2%% "
                         "(worst %.4f)", worst);
        ok(worst_mean < 0.02, "linreg (collinear)/meanfield: means exact within 2%% of an sd "
                              "(worst %.4f)", worst_mean);
        ok(shrink < 0.1, "linreg (collinear)/meanfield underestimates the correlated "
                         "coefficients' variance: smallest ratio to the exact variance %.4f",
           shrink);
    }
}

int main(void)
{
    check_linreg_collinear();
    run_posteriordb();
    return tap_done();
}
