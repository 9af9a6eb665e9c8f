/* test-plugins.c — every built-in target's gradient and every built-in
 * family's backward, entropy gradient, log_q gradients, entropy and moments
 * checked against central finite differences and Monte Carlo, table-driven
 * over all of them (GSL style), through the same loader and config code the
 * host runs. */
#include <math.h>

#include "fixture.h"
#include "rng.h"
#include "tap.h"

typedef struct target_case {
    const char *name;
    const char *options;
    const char *data;
    double spread;       /* random points: N(0, spread^2) per coordinate */
} target_case;

static const target_case target_cases[] = {
    {"normal", "{mu0: 1, s0: 3}", "normal.json", 2.0},
    {"mvnormal", NULL, "mvnormal.json", 1.5},
    {"logistic", "{prior_scale: 2.5}", "logistic.json", 1.0},
};

static const char *const family_names[] = {"meanfield", "fullrank"};

/* Scratch sized for any case here. */
#define MAX_N 256

/* Worst |fd - analytic| / (1 + |analytic|) of f's gradient at x. */
typedef int (*scalar_fn)(void *ctx, const double *x, double *value);

static double worst_fd_error(scalar_fn f, void *ctx, double *x, const double *grad,
                             size_t n, size_t *worst_at)
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

static int target_value(void *ctx, const double *x, double *value)
{
    fixture *fx = ctx;
    double work[MAX_N * 64];
    return fx->model.target->log_density(fx->model.target_self, x, value, NULL,
                                         fx->model.target_work ? work : NULL, NULL);
}

static void check_target(const target_case *tc)
{
    fixture fx;
    if (!ok(fixture_open(&fx, tc->name, tc->options, tc->data, NULL, NULL, NULL, NULL) == 0,
            "%s opens (%s)", tc->name, fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    size_t d = fx.model.dim, at = 0;
    double x[MAX_N], grad[MAX_N], lp, worst = 0.0;
    double *work = calloc(fx.model.target_work + 1, sizeof *work);
    vi_rng rng;
    vh_rng_init(&rng, 17, VH_RNG_TEST, 1, 0);
    for (int point = 0; point < 5; point++) {
        for (size_t i = 0; i < d; i++)
            x[i] = tc->spread * vh_rng_normal(&rng);
        fx.model.target->log_density(fx.model.target_self, x, &lp, grad, work, NULL);
        worst = fmax(worst, worst_fd_error(target_value, &fx, x, grad, d, &at));
    }
    ok(worst < 1e-6, "%s: gradient matches central differences at 5 random points "
                     "(worst relative error %.2e at coordinate %zu)", tc->name, worst, at + 1);
    const vi_target_desc *t = fx.model.target;
    if (t->n_items != NULL) {
        size_t n = t->n_items(fx.model.target_self);
        size_t *idx = malloc(n * sizeof *idx);
        double lp_all, g_all[MAX_N];
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        t->log_density_subset(fx.model.target_self, x, idx, n, 1.0, &lp_all, g_all, work, NULL);
        t->log_density(fx.model.target_self, x, &lp, grad, work, NULL);
        ok(fabs(lp_all - lp) <= 1e-9 * fabs(lp), "%s: the subset of every item with scale 1 "
                                                 "is the full density", tc->name);
        free(idx);
    }
    free(work);
    fixture_free(&fx);
}

/* Family checks share a context: which function of lambda or z to vary. */
typedef struct family_ctx {
    fixture *fx;
    const double *lambda;
    const double *eps;
    const double *dz;
    const double *z;
    double *work;
    double *zbuf;
} family_ctx;

static int forward_dot_dz(void *p, const double *lambda, double *value)
{
    family_ctx *c = p;
    const vh_model *m = &c->fx->model;
    m->family->forward(m->family_self, lambda, c->eps, c->zbuf, NULL, c->work, NULL);
    *value = 0.0;
    for (size_t i = 0; i < m->dim; i++)
        *value += c->dz[i] * c->zbuf[i];
    return 0;
}

static int entropy_of(void *p, const double *lambda, double *value)
{
    family_ctx *c = p;
    return c->fx->model.family->entropy(c->fx->model.family_self, lambda, value, NULL,
                                        c->work, NULL);
}

static int log_q_of_z(void *p, const double *z, double *value)
{
    family_ctx *c = p;
    return c->fx->model.family->log_q(c->fx->model.family_self, c->lambda, z, value, c->work,
                                      NULL);
}

static int log_q_of_lambda(void *p, const double *lambda, double *value)
{
    family_ctx *c = p;
    return c->fx->model.family->log_q(c->fx->model.family_self, lambda, c->z, value, c->work,
                                      NULL);
}

static void check_family_gradients(const char *name, fixture *fx, family_ctx *c,
                                   double *lambda, double *eps)
{
    const vh_model *m = &fx->model;
    size_t n = m->n_params, d = m->dim, at = 0;
    double dz[MAX_N], z[MAX_N], g[MAX_N * MAX_N / 4], h, lq, lq_fwd;
    vi_rng rng;
    vh_rng_init(&rng, 23, VH_RNG_TEST, 2, 0);
    for (size_t i = 0; i < d; i++)
        dz[i] = vh_rng_normal(&rng);
    c->dz = dz;
    memset(g, 0, n * sizeof *g);
    m->family->backward(m->family_self, lambda, eps, dz, g, c->work, NULL);
    double e = worst_fd_error(forward_dot_dz, c, lambda, g, n, &at);
    ok(e < 1e-6, "%s: backward is J^T dz by central differences (worst %.2e at lambda[%zu])",
       name, e, at + 1);
    memset(g, 0, n * sizeof *g);
    m->family->entropy(m->family_self, lambda, &h, g, c->work, NULL);
    e = worst_fd_error(entropy_of, c, lambda, g, n, &at);
    ok(e < 1e-6, "%s: entropy gradient by central differences (worst %.2e)", name, e);
    m->family->forward(m->family_self, lambda, eps, z, &lq_fwd, c->work, NULL);
    c->z = z;
    m->family->log_q_grad_z(m->family_self, lambda, z, &lq, g, c->work, NULL);
    ok(fabs(lq - lq_fwd) <= 1e-10 * (1.0 + fabs(lq)), "%s: forward's log q equals log_q(z)",
       name);
    e = worst_fd_error(log_q_of_z, c, z, g, d, &at);
    ok(e < 1e-6, "%s: log_q_grad_z by central differences (worst %.2e)", name, e);
    m->family->log_q_grad_lambda(m->family_self, lambda, z, &lq, g, c->work, NULL);
    e = worst_fd_error(log_q_of_lambda, c, lambda, g, n, &at);
    ok(e < 1e-6, "%s: log_q_grad_lambda by central differences (worst %.2e)", name, e);
}

/* Entropy against -mean log q, and moments against sample moments. */
static void check_family_monte_carlo(const char *name, fixture *fx, family_ctx *c,
                                     const double *lambda)
{
    const vh_model *m = &fx->model;
    size_t d = m->dim, S = 40000;
    double eps[MAX_N], z[MAX_N], lq, h, sum = 0.0, sum2 = 0.0;
    double *mean = calloc(d, sizeof *mean), *cov = calloc(d * d, sizeof *cov);
    double *smean = calloc(d, sizeof *smean), *scov = calloc(d * d, sizeof *scov);
    vi_rng rng;
    for (size_t s = 0; s < S; s++) {
        vh_rng_init(&rng, 29, VH_RNG_TEST, 3, s);
        vh_rng_normal_fill(&rng, eps, m->base_dim);
        m->family->forward(m->family_self, lambda, eps, z, &lq, c->work, NULL);
        sum += -lq;
        sum2 += lq * lq;
        for (size_t i = 0; i < d; i++) {
            smean[i] += z[i] / (double)S;
            for (size_t j = 0; j < d; j++)
                scov[i * d + j] += z[i] * z[j] / (double)S;
        }
    }
    double mc = sum / (double)S, se = sqrt((sum2 / (double)S - mc * mc) / (double)S);
    m->family->entropy(m->family_self, lambda, &h, NULL, c->work, NULL);
    ok(fabs(h - mc) < 4.0 * se, "%s: entropy %.5f equals Monte Carlo %.5f +- %.5f", name, h,
       mc, se);
    m->family->moments(m->family_self, lambda, mean, cov, c->work, NULL);
    double worst = 0.0;
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) {
            double sc = scov[i * d + j] - smean[i] * smean[j];
            double scale = sqrt(cov[i * d + i] * cov[j * d + j]);
            worst = fmax(worst, fabs(sc - cov[i * d + j]) / scale);
        }
    for (size_t i = 0; i < d; i++)
        worst = fmax(worst, fabs(smean[i] - mean[i]) / sqrt(cov[i * d + i]));
    ok(worst < 0.03, "%s: moments match sample moments (worst %.4f in sd units)", name, worst);
    free(mean);
    free(cov);
    free(smean);
    free(scov);
}

static void check_family(const char *name)
{
    fixture fx;
    if (!ok(fixture_open(&fx, "mvnormal", NULL, "mvnormal.json", name, NULL, NULL, NULL) == 0,
            "%s opens on a 10-dimensional target (%s)", name, fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    const vh_model *m = &fx.model;
    double lambda[MAX_N * MAX_N / 4], eps[MAX_N], zbuf[MAX_N];
    double *work = calloc(m->family_work + 1, sizeof *work);
    family_ctx c = {&fx, lambda, eps, NULL, NULL, work, zbuf};
    vi_rng rng;
    vh_rng_init(&rng, 19, VH_RNG_TEST, 4, 0);
    m->family->init(m->family_self, lambda, NULL);
    for (size_t i = 0; i < m->n_params; i++)
        lambda[i] += 0.3 * vh_rng_normal(&rng);
    vh_rng_normal_fill(&rng, eps, m->base_dim);
    check_family_gradients(name, &fx, &c, lambda, eps);
    check_family_monte_carlo(name, &fx, &c, lambda);
    free(work);
    fixture_free(&fx);
}

int main(void)
{
    for (size_t i = 0; i < sizeof target_cases / sizeof target_cases[0]; i++)
        check_target(&target_cases[i]);
    for (size_t i = 0; i < sizeof family_names / sizeof family_names[0]; i++)
        check_family(family_names[i]);
    return tap_done();
}
