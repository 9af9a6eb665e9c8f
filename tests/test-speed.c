/* test-speed.c — the machinery of speed and scale, against exact answers:
 * the worker pool runs every index once; estimates on 1, 2 and 3 threads,
 * and in the two phases of an MPI run, are the same bits as on the calling
 * thread alone (reparam, stl, score, the stratified estimator, ELBO and
 * output draws); minibatches are uniform random subsets, and the subset
 * log density is unbiased (an exact identity over a partition, and the
 * mean over many batches within its Monte Carlo error), and so is the
 * control variate's correction, which is exact at its anchor and cuts the
 * gradient's variance near it; a minibatch fit lands on the full-data fit,
 * closer with the control variate; the fast JSON reader gives the numbers
 * jansson gives. */
#include <jansson.h>
#include <math.h>
#include <stdatomic.h>

#include "batch.h"
#include "draws.h"
#include "estimators.h"
#include "fixture.h"
#include "jsonfast.h"
#include "tap.h"
#include "threads.h"

/* ---- the pool ---- */

typedef struct pool_check {
    atomic_int *hits;
    atomic_int bad_worker;
    size_t workers;
} pool_check;

static void pool_task(void *arg, size_t worker, size_t i)
{
    pool_check *c = arg;
    atomic_fetch_add(&c->hits[i], 1);
    if (worker >= c->workers)
        atomic_store(&c->bad_worker, 1);
}

static void test_pool(void)
{
    static const size_t counts[] = {0, 1, 2, 7, 64, 1000};
    for (size_t threads = 1; threads <= 4; threads++) {
        vh_pool *pool = NULL;
        vh_err err;
        vh_err_clear(&err);
        if (!ok(vh_pool_create(threads, &pool, &err) == 0 && vh_pool_size(pool) == threads,
                "a pool of %zu threads starts (%s)", threads, err.message))
            continue;
        int fine = 1;
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            size_t n = counts[c], rounds = 300;
            atomic_int *hits = calloc(n + 1, sizeof *hits);
            pool_check check = {hits, 0, threads};
            for (size_t r = 0; r < rounds; r++)
                vh_pool_run(pool, n, pool_task, &check);
            for (size_t i = 0; i < n; i++)
                fine &= atomic_load(&hits[i]) == (int)rounds;
            fine &= atomic_load(&check.bad_worker) == 0;
            free(hits);
        }
        ok(fine, "%zu threads: 300 loops of 0, 1, 2, 7, 64 and 1000 indices run each index "
           "once per loop, on workers 0..%zu", threads, threads - 1);
        vh_pool_free(pool);
    }
    ok(vh_cpu_count() >= 1, "this process may use %zu CPUs", vh_cpu_count());
}

/* ---- minibatches ---- */

static void test_subset(void)
{
    size_t n = 50, k = 10, rounds = 20000, *perm = malloc(n * sizeof *perm);
    size_t *swaps = malloc(k * sizeof *swaps), *out = malloc(k * sizeof *out);
    size_t *count = calloc(n, sizeof *count), *again = malloc(k * sizeof *again);
    int distinct = 1, identity = 1, same = 1;
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t r = 0; r < rounds; r++) {
        vi_rng rng;
        vh_rng_init(&rng, 9, VH_RNG_BATCH, r, 0);
        vh_batch_subset(&rng, n, k, perm, swaps, out);
        for (size_t i = 0; i < k; i++) {
            distinct &= out[i] < n;
            for (size_t j = 0; j < i; j++)
                distinct &= out[i] != out[j];
            count[out[i] < n ? out[i] : 0]++;
        }
        for (size_t i = 0; i < n; i++)
            identity &= perm[i] == i;
        if (r == 7) {
            vh_rng_init(&rng, 9, VH_RNG_BATCH, r, 0);
            vh_batch_subset(&rng, n, k, perm, swaps, again);
            same = memcmp(out, again, k * sizeof *out) == 0;
        }
    }
    ok(distinct && identity && same, "a minibatch is %zu distinct items of %zu, the "
       "permutation is put back, and the same stream gives the same batch", k, n);
    /* Each item is in a batch with probability k/n: its count is
     * binomial(rounds, 0.2), sd 56.6; 4.5 sd covers all 50 items. */
    double expect = (double)rounds * (double)k / (double)n, sd = sqrt(expect * 0.8), worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)count[i] - expect) / sd);
    ok(worst < 4.5, "every item is drawn k/n of the time (worst %.2f sd off)", worst);
    free(perm);
    free(swaps);
    free(out);
    free(count);
    free(again);
}

/* The subset log density of the logistic target: over a partition of the
 * items into 5 batches, scale 1, the batches' likelihoods add up to the
 * full one exactly as sums go (prior counted once); and with the batcher's
 * random batches of 40 of the 200 items, scaled by 5, the mean over 3000
 * batches of the log density and of its gradient is the full data's,
 * within 4.5 Monte Carlo standard errors. */
static void test_unbiased(void)
{
    fixture fx;
    if (!ok(fixture_open(&fx, "logistic", "{prior_scale: 2.5}", "logistic.json", "meanfield",
                         NULL, NULL, NULL) == 0, "logistic opens (%s)", fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    vh_model *m = &fx.model;
    size_t d = m->dim, n = m->target->n_items(m->target_self), batches = 3000, B = 40;
    double *theta = calloc(d, sizeof *theta), *full = calloc(d, sizeof *full);
    double *g = calloc(d, sizeof *g), *sum = calloc(d + 1, sizeof *sum);
    double *sq = calloc(d + 1, sizeof *sq), *work = calloc(m->target_work + 1, sizeof *work);
    size_t *idx = malloc(n * sizeof *idx);
    vi_error perr = {sizeof perr, 0, ""};
    double lp_full, lp, prior, total = 0.0;
    for (size_t i = 0; i < d; i++)
        theta[i] = 0.3 * (double)(i % 3) - 0.2;
    m->target->log_density(m->target_self, theta, &lp_full, full, work, &perr);
    m->target->log_density_subset(m->target_self, theta, idx, 0, 1.0, &prior, NULL, work, &perr);
    for (size_t b = 0; b < 5; b++) {
        for (size_t i = 0; i < n / 5; i++)
            idx[i] = i * 5 + b;
        m->target->log_density_subset(m->target_self, theta, idx, n / 5, 1.0, &lp, NULL, work,
                                      &perr);
        total += lp - prior;
    }
    ok(fabs(total + prior - lp_full) <= 1e-12 * fabs(lp_full),
       "5 disjoint batches add up to the full log density (%.17g vs %.17g)", total + prior,
       lp_full);
    vh_batcher bat;
    int needed = 0;
    vh_err err;
    vh_err_clear(&err);
    int opened = vh_batcher_init(&bat, m, 5, B, NULL, &needed, &err) == 0 && needed;
    ok(opened && bat.items.n == n && bat.items.scale == 1.0,
       "the batcher starts on all %zu items (%s)", n, err.message);
    vh_draw_buffers buf;
    vh_draw_buffers_alloc(m, &buf);
    m->items = &bat.items;
    for (size_t r = 0; opened && r < batches; r++) {
        vh_batcher_select(&bat, r + 1, VH_BATCH_GRADIENT);
        vh_target_density(m, theta, &lp, g, &buf, &perr);
        sum[d] += lp;
        sq[d] += lp * lp;
        for (size_t i = 0; i < d; i++) {
            sum[i] += g[i];
            sq[i] += g[i] * g[i];
        }
    }
    double worst = 0.0;
    for (size_t i = 0; i <= d; i++) {
        double mean = sum[i] / (double)batches, want = i < d ? full[i] : lp_full;
        double se = sqrt(fmax(sq[i] / (double)batches - mean * mean, 1e-300) / (double)batches);
        worst = fmax(worst, fabs(mean - want) / se);
    }
    ok(opened && bat.items.n == B && bat.items.scale == (double)n / (double)B && worst < 4.5,
       "batches of %zu scaled by %g: the mean log density and gradient over %zu batches "
       "are the full data's (worst %.2f standard errors off)", B, (double)n / (double)B,
       batches, worst);
    m->items = NULL;
    vh_draw_buffers_free(&buf);
    if (opened)
        vh_batcher_free(&bat);
    free(theta);
    free(full);
    free(g);
    free(sum);
    free(sq);
    free(work);
    free(idx);
    fixture_free(&fx);
}

/* ---- the same bits on any number of threads, and in two phases ---- */

typedef struct estimates {
    double *grad, *per_draw, elbo;      /* a gradient estimate */
    double *values, value_elbo, mcse;   /* an ELBO estimate */
    double *lp, *lq, *z;                /* output draws */
    size_t dropped;
} estimates;

enum { EST_S_ELBO = 50, EST_DRAWS = 30 };

static void estimates_free(estimates *e)
{
    free(e->grad);
    free(e->per_draw);
    free(e->values);
    free(e->lp);
    free(e->lq);
    free(e->z);
}

static int estimates_make(vh_model *m, size_t S, estimates *e, vh_err *err)
{
    size_t n = m->n_params, redraws;
    double *lambda = calloc(n, sizeof *lambda);
    vi_error perr = {sizeof perr, 0, ""};
    vh_draw_buffers buf;
    memset(e, 0, sizeof *e);
    e->grad = calloc(n, sizeof *e->grad);
    e->per_draw = calloc(S * n, sizeof *e->per_draw);
    e->values = calloc(EST_S_ELBO, sizeof *e->values);
    e->lp = calloc(EST_DRAWS, sizeof *e->lp);
    e->lq = calloc(EST_DRAWS, sizeof *e->lq);
    e->z = calloc(EST_DRAWS * m->dim, sizeof *e->z);
    vh_draw_buffers_alloc(m, &buf);
    int rc = m->family->init(m->family_self, lambda, &perr);
    for (size_t i = 0; i < n; i++) /* away from the symmetric start */
        lambda[i] += 0.05 * (double)((int)(i % 7) - 3);
    rc = rc || vh_gradient_estimate(m, lambda, 11, 3, S, &buf, e->per_draw, e->grad,
                                    &e->elbo, err) != 0;
    rc = rc || vh_elbo_estimate_redrawn(m, lambda, 11, VH_RNG_ELBO, 4, EST_S_ELBO, &buf,
                                        e->values, &e->value_elbo, &e->mcse, &redraws,
                                        err) != 0;
    if (m->parallel != NULL)
        rc = rc || vh_parallel_finite(m, lambda, 11, VH_RNG_OUTPUT, 0, EST_DRAWS, e->lp, e->lq,
                                      e->z, &e->dropped, EST_DRAWS, err) != 0;
    for (size_t i = 0; m->parallel == NULL && !rc && i < EST_DRAWS; i++) {
        rc = vh_draw_finite(m, lambda, 11, VH_RNG_OUTPUT, 0, i, &buf, &e->lp[i], &e->lq[i],
                            &e->dropped, EST_DRAWS, err) != 0;
        memcpy(e->z + i * m->dim, buf.z, m->dim * sizeof *buf.z);
    }
    vh_draw_buffers_free(&buf);
    free(lambda);
    return rc ? -1 : 0;
}

static int estimates_same(const vh_model *m, size_t S, const estimates *a, const estimates *b)
{
    size_t n = m->n_params;
    return memcmp(a->grad, b->grad, n * sizeof *a->grad) == 0 && a->elbo == b->elbo &&
           memcmp(a->values, b->values, EST_S_ELBO * sizeof *a->values) == 0 &&
           a->value_elbo == b->value_elbo && a->mcse == b->mcse &&
           memcmp(a->lp, b->lp, EST_DRAWS * sizeof *a->lp) == 0 &&
           memcmp(a->lq, b->lq, EST_DRAWS * sizeof *a->lq) == 0 &&
           memcmp(a->z, b->z, EST_DRAWS * m->dim * sizeof *a->z) == 0 &&
           a->dropped == b->dropped && S > 0;
}

/* One configuration on 1, 2 and 3 threads, in one phase and in two. */
static void check_threads_config(const char *what, fixture *fx, size_t S)
{
    vh_model *m = &fx->model;
    estimates serial, par_est;
    int fine = estimates_make(m, S, &serial, &fx->err) == 0;
    for (size_t threads = 1; fine && threads <= 3; threads++)
        for (int phases = 1; fine && phases <= 2; phases++) {
            vh_pool *pool = NULL;
            vh_parallel *par = NULL;
            fine = vh_pool_create(threads, &pool, &fx->err) == 0 &&
                   vh_parallel_create(m, pool, NULL, S, &par, &fx->err) == 0 &&
                   (phases == 1 || vh_parallel_two_phases(par) == 0);
            if (par != NULL)
                vh_parallel_share_always(par);
            m->parallel = par;
            fine = fine && estimates_make(m, S, &par_est, &fx->err) == 0 &&
                   estimates_same(m, S, &serial, &par_est);
            if (!fine)
                diag("%s differs on %zu threads, %d phase(s)", what, threads, phases);
            m->parallel = NULL;
            estimates_free(&par_est);
            vh_parallel_free(par);
            vh_pool_free(pool);
        }
    ok(fine, "%s: gradient (S = %zu), ELBO and output draws are the same bits on 1, 2 and 3 "
       "threads, in one phase and in two (%s)", what, S, fx->err.message);
    estimates_free(&serial);
}

static void test_threads(void)
{
    fixture fx;
    vh_sampler qmc = {VH_BASE_QMC, 5, EST_S_ELBO, 0};
    if (fixture_open(&fx, "logistic", NULL, "logistic.json", "meanfield", NULL, NULL, NULL) ==
        0) {
        fx.model.sampler = &qmc;
        check_threads_config("logistic/meanfield, reparam, qmc", &fx, 5);
    } else
        ok(0, "logistic/meanfield opens (%s)", fx.err.message);
    fixture_free(&fx);
    if (fixture_open(&fx, "logistic", NULL, "logistic.json", "fullrank", NULL, NULL, NULL) ==
        0) {
        fx.model.gradient = VH_GRADIENT_STL;
        check_threads_config("logistic/fullrank, stl", &fx, 4);
    } else
        ok(0, "logistic/fullrank opens (%s)", fx.err.message);
    fixture_free(&fx);
    if (fixture_open(&fx, "mvnormal", NULL, "mvnormal.json", "fullrank", NULL, NULL, NULL) ==
        0) {
        fx.model.gradient = VH_GRADIENT_SCORE;
        check_threads_config("mvnormal/fullrank, score", &fx, 6);
    } else
        ok(0, "mvnormal/fullrank opens (%s)", fx.err.message);
    fixture_free(&fx);
    if (fixture_open(&fx, "gmm", "{weights: [0.3, 0.7], means: [-3, 3], sds: [1, 1]}", NULL,
                     "mixture", "{components: 2}", NULL, NULL) == 0)
        check_threads_config("gmm/mixture, stratified", &fx, 3);
    else
        ok(0, "gmm/mixture opens (%s)", fx.err.message);
    fixture_free(&fx);
    if (fixture_open(&fx, "gmm", "{weights: [0.5, 0.5], means: [[0, 0], [0, 0]], sds: [0.5, 2]}",
                     NULL, "studentt", "{learn_dof: true}", NULL, NULL) == 0)
        check_threads_config("gmm/studentt, the family's own sample_base", &fx, 4);
    else
        ok(0, "gmm/studentt opens (%s)", fx.err.message);
    fixture_free(&fx);
}

/* ---- the minibatch control variate ---- */

/* Sum over coordinates of the variance of g over `count` estimates whose
 * sums and sums of squares are in sum, sq (d each). */
static double total_variance(const double *sum, const double *sq, size_t d, size_t count)
{
    double v = 0.0;
    for (size_t i = 0; i < d; i++) {
        double mean = sum[i] / (double)count;
        v += sq[i] / (double)count - mean * mean;
    }
    return v;
}

/* The control variate of batch.h on logistic (200 items, batches of 40
 * scaled by 5): over a partition of the items into 5 batches the corrected
 * estimates average to the whole data's log density and gradient exactly
 * as sums go (the offsets cancel); at the anchor itself every corrected
 * batch is the whole data; and at a point near the anchor the corrected
 * gradient's variance over random batches is a small part of the plain
 * batches'. */
static void test_control_variate(void)
{
    fixture fx;
    if (!ok(fixture_open(&fx, "logistic", NULL, "logistic.json", "meanfield", NULL, NULL,
                         NULL) == 0, "logistic opens (%s)", fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    vh_model *m = &fx.model;
    size_t d = m->dim, n = m->target->n_items(m->target_self), B = 40, batches = 400;
    double *anchor = calloc(d, sizeof *anchor), *theta = calloc(d, sizeof *theta);
    double *full = calloc(d, sizeof *full), *g = calloc(d, sizeof *g);
    double *sum = calloc(2 * d, sizeof *sum), *sq = calloc(2 * d, sizeof *sq);
    size_t *block = malloc(n * sizeof *block);
    vi_error perr = {sizeof perr, 0, ""};
    vh_err err;
    vh_err_clear(&err);
    for (size_t i = 0; i < d; i++) {
        anchor[i] = 0.3 * (double)(i % 3) - 0.2;
        theta[i] = anchor[i] + (i % 2 ? 0.05 : -0.04);
    }
    vh_batcher bat;
    vh_draw_buffers buf;
    int needed = 0, opened = vh_batcher_init(&bat, m, 7, B, NULL, &needed, &err) == 0 &&
                             vh_batcher_control(&bat, m, 10, &err) == 0 &&
                             vh_draw_buffers_alloc(m, &buf) == 0 &&
                             vh_batcher_anchor(&bat, m, anchor, 0, &err) == 0;
    ok(opened && bat.anchored && bat.anchor_every == 10, "the control variate is set up (%s)",
       err.message);
    vh_batcher whole;
    int whole_needed = 0;
    ok(vh_batcher_init(&whole, m, 7, n, NULL, &whole_needed, &err) == 0 &&
           vh_batcher_control(&whole, m, 10, &err) == 0 && whole.anchor_every == 0 &&
           whole.anchor == NULL,
       "batches of all %zu items get no control variate (nothing to correct)", n);
    if (whole_needed)
        vh_batcher_free(&whole);
    if (!opened) {
        free(anchor);
        free(theta);
        free(full);
        free(g);
        free(sum);
        free(sq);
        free(block);
        fixture_free(&fx);
        return;
    }
    double lp_full, lp, mean_lp = 0.0, worst = 0.0;
    vh_target_log_density(m, theta, &lp_full, full, buf.target_work, &perr);
    m->items = &bat.items;
    for (size_t b = 0; b < 5; b++) {
        for (size_t i = 0; i < n / 5; i++)
            block[i] = i * 5 + b;
        bat.items = (vh_items){block, n / 5, 5.0, 0, NULL, 0.0};
        vh_batcher_offset(&bat, m, 0, &err);
        vh_target_density(m, theta, &lp, g, &buf, &perr);
        mean_lp += lp / 5.0;
        for (size_t i = 0; i < d; i++)
            sum[i] += g[i] / 5.0;
    }
    for (size_t i = 0; i < d; i++)
        worst = fmax(worst, fabs(sum[i] - full[i]) / fmax(1.0, fabs(full[i])));
    ok(fabs(mean_lp - lp_full) <= 1e-12 * fabs(lp_full) && worst <= 1e-12,
       "over 5 disjoint batches the corrected estimates average to the whole data's "
       "(log density %.17g vs %.17g, gradient off by %.2g)", mean_lp, lp_full, worst);
    double lp_anchor, off = 0.0;
    vh_target_log_density(m, anchor, &lp_anchor, full, buf.target_work, &perr);
    for (size_t r = 0; r < 20; r++) {
        vh_batcher_select(&bat, r + 1, VH_BATCH_GRADIENT);
        vh_batcher_offset(&bat, m, r + 1, &err);
        vh_target_density(m, anchor, &lp, g, &buf, &perr);
        off = fmax(off, fabs(lp - lp_anchor) / fabs(lp_anchor));
        for (size_t i = 0; i < d; i++)
            off = fmax(off, fabs(g[i] - full[i]) / fmax(1.0, fabs(full[i])));
    }
    ok(off <= 1e-12, "at the anchor every corrected batch is the whole data (off by %.2g)",
       off);
    memset(sum, 0, 2 * d * sizeof *sum);
    for (size_t r = 0; r < batches; r++) {
        vh_batcher_select(&bat, r + 1, VH_BATCH_GRADIENT);
        vh_target_density(m, theta, &lp, g, &buf, &perr); /* plain */
        for (size_t i = 0; i < d; i++) {
            sum[i] += g[i];
            sq[i] += g[i] * g[i];
        }
        vh_batcher_offset(&bat, m, r + 1, &err);
        vh_target_density(m, theta, &lp, g, &buf, &perr); /* corrected */
        for (size_t i = 0; i < d; i++) {
            sum[d + i] += g[i];
            sq[d + i] += g[i] * g[i];
        }
    }
    double plain = total_variance(sum, sq, d, batches);
    double corrected = total_variance(sum + d, sq + d, d, batches);
    ok(plain > 0.0 && corrected < 0.01 * plain,
       "near the anchor the corrected gradient's variance is %.3g of the plain batches' "
       "(%.4g vs %.4g; < 0.01)", corrected / plain, corrected, plain);
    m->items = NULL;
    vh_draw_buffers_free(&buf);
    vh_batcher_free(&bat);
    free(anchor);
    free(theta);
    free(full);
    free(g);
    free(sum);
    free(sq);
    free(block);
    fixture_free(&fx);
}

/* Where the anchor goes: q's mean by the family's moments (meanfield: its
 * location parameters), T(lambda, 0) for a family without moments (flow);
 * it stays for anchor_every - 1 gradient iterations and ELBO estimates,
 * and moves at the next, or when the iterations start over. */
static void test_anchor_center(void)
{
    static const char *const families[] = {"meanfield", "flow"};
    for (size_t f = 0; f < 2; f++) {
        fixture fx;
        if (!ok(fixture_open(&fx, "logistic", NULL, "logistic.json", families[f], NULL, NULL,
                             NULL) == 0, "logistic/%s opens (%s)", families[f], fx.err.message)) {
            fixture_free(&fx);
            continue;
        }
        vh_model *m = &fx.model;
        double *lambda = calloc(m->n_params, sizeof *lambda), *eps = calloc(m->base_dim, 8);
        double *center = calloc(m->dim, sizeof *center), *work = calloc(m->family_work + 1, 8);
        vi_error perr = {sizeof perr, 0, ""};
        vh_batcher bat;
        int needed = 0;
        m->family->init(m->family_self, lambda, &perr);
        for (size_t i = 0; i < m->n_params; i++)
            lambda[i] += 0.01 * (double)(i % 7) - 0.03;
        if (m->family->moments != NULL)
            m->family->moments(m->family_self, lambda, center, NULL, work, &perr);
        else
            m->family->forward(m->family_self, lambda, eps, center, NULL, work, &perr);
        int rc = vh_batcher_init(&bat, m, 1, 40, NULL, &needed, &fx.err) != 0 ||
                 vh_batcher_control(&bat, m, 5, &fx.err) != 0 ||
                 vh_batcher_prepare(&bat, m, lambda, 1, VH_BATCH_GRADIENT, &fx.err) != 0;
        double off = 0.0;
        for (size_t i = 0; !rc && i < m->dim; i++)
            off = fmax(off, fabs(bat.anchor[i] - center[i]));
        ok(!rc && off == 0.0 && bat.anchored_at == 1,
           "%s: the anchor is %s (off by %g; %s)", families[f],
           m->family->moments != NULL ? "q's mean" : "T(lambda, 0)", off, fx.err.message);
        uint64_t at[6] = {0}, its[6] = {2, 5, 6, 7, 12, 3};
        unsigned uses[6] = {VH_BATCH_GRADIENT, VH_BATCH_GRADIENT, VH_BATCH_ELBO,
                            VH_BATCH_GRADIENT, VH_BATCH_GRADIENT, VH_BATCH_GRADIENT};
        for (size_t k = 0; !rc && k < 6; k++) {
            rc = vh_batcher_prepare(&bat, m, lambda, its[k], uses[k], &fx.err);
            at[k] = bat.anchored_at;
        }
        ok(!rc && at[0] == 1 && at[1] == 1 && at[2] == 1 && at[3] == 7 && at[4] == 12 &&
               at[5] == 3,
           "%s: the anchor moves every 5 gradient iterations and when they start over "
           "(set at %llu %llu %llu %llu %llu %llu)", families[f], (unsigned long long)at[0],
           (unsigned long long)at[1], (unsigned long long)at[2], (unsigned long long)at[3],
           (unsigned long long)at[4], (unsigned long long)at[5]);
        if (needed)
            vh_batcher_free(&bat);
        free(lambda);
        free(eps);
        free(center);
        free(work);
        fixture_free(&fx);
    }
}

/* ---- a minibatch fit ---- */

/* The exact mean and sd of q after a fit of logistic/meanfield with the
 * default optimizer and averaging, on batches of `batch` items (0: all),
 * the control variate's anchor moved every `anchor_every` iterations (0:
 * plain batches). */
static int batch_fit(fixture *fx, uint64_t batch, uint64_t anchor_every, double *mean,
                     double *sd)
{
    vh_model *m = &fx->model;
    vh_sampler qmc = {VH_BASE_QMC, 4, 100, 0};
    vh_batcher bat;
    int needed = 0;
    vh_engine_settings set = {
        .seed = 3, .grad_samples = 4, .elbo_samples = 100, .max_iterations = 3000,
        .eval_every = 100, .rule = VH_RULE_NONE, .tolerance = 0.01, .base = VH_BASE_QMC,
        .averaging = VH_AVERAGING_POLYNOMIAL, .averaging_power = 8.0,
    };
    vh_fit fit;
    double *cov = calloc(m->dim * m->dim, sizeof *cov), *work = calloc(m->family_work + 1, 8);
    vi_error perr = {sizeof perr, 0, ""};
    m->sampler = &qmc;
    int rc = fixture_reset_optimizer(fx) != 0 ||
             vh_batcher_init(&bat, m, set.seed, batch, NULL, &needed, &fx->err) != 0 ||
             vh_batcher_control(&bat, m, anchor_every, &fx->err) != 0;
    set.batcher = needed ? &bat : NULL;
    rc = rc || vh_engine_fit(m, &set, &fit, &fx->err) != 0;
    rc = rc || m->family->moments(m->family_self, fit.lambda, mean, cov, work, &perr) != 0;
    for (size_t i = 0; !rc && i < m->dim; i++)
        sd[i] = sqrt(cov[i * m->dim + i]);
    if (needed)
        vh_batcher_free(&bat);
    if (rc == 0)
        vh_fit_free(&fit);
    m->sampler = NULL;
    free(cov);
    free(work);
    return rc;
}

/* How far a minibatch fit's q is from the full-data fit's: the largest
 * |mean difference| / sd, and the range of the sd ratios. */
static void batch_distance(const double *mean, const double *sd, const double *bmean,
                           const double *bsd, size_t d, double out[3])
{
    out[0] = 0.0, out[1] = INFINITY, out[2] = 0.0;
    for (size_t i = 0; i < d; i++) {
        out[0] = fmax(out[0], fabs(bmean[i] - mean[i]) / sd[i]);
        out[1] = fmin(out[1], bsd[i] / sd[i]);
        out[2] = fmax(out[2], bsd[i] / sd[i]);
    }
}

static void test_minibatch_fit(void)
{
    fixture fx;
    if (!ok(fixture_open(&fx, "logistic", NULL, "logistic.json", "meanfield", NULL, "adam",
                         "{learning_rate: 0.2, beta2: 0.9, decay: 0.1}") == 0,
            "logistic/meanfield/adam opens (%s)", fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    size_t d = fx.model.dim;
    double *mean = calloc(d, sizeof *mean), *sd = calloc(d, sizeof *sd);
    double *bmean = calloc(d, sizeof *bmean), *bsd = calloc(d, sizeof *bsd);
    double plain[3] = {INFINITY, 0, 0}, anchored[3] = {INFINITY, 0, 0};
    int fitted = batch_fit(&fx, 0, 0, mean, sd) == 0;
    if (fitted && batch_fit(&fx, 50, 0, bmean, bsd) == 0)
        batch_distance(mean, sd, bmean, bsd, d, plain);
    ok(plain[0] < 0.1 && plain[1] > 0.95 && plain[2] < 1.05,
       "batches of 50 of the 200 items: q's means within %.3f sd of the full-data fit's "
       "(< 0.1), sds %.3f to %.3f times (%s)", plain[0], plain[1], plain[2], fx.err.message);
    if (fitted && batch_fit(&fx, 50, 20, bmean, bsd) == 0)
        batch_distance(mean, sd, bmean, bsd, d, anchored);
    ok(anchored[0] < 0.2 * plain[0] && anchored[1] > 0.99 && anchored[2] < 1.01,
       "with the control variate: within %.4f sd (< a fifth of the plain batches'), sds "
       "%.4f to %.4f times (%s)", anchored[0], anchored[1], anchored[2], fx.err.message);
    vh_err err;
    vh_batcher bat;
    int needed;
    vh_err_clear(&err);
    ok(vh_batcher_init(&bat, &fx.model, 1, 201, NULL, &needed, &err) != 0 &&
           err.exit_code == VH_EXIT_USAGE && strstr(err.message, "batch_size") != NULL,
       "a batch larger than the data is refused: %s", err.message);
    free(mean);
    free(sd);
    free(bmean);
    free(bsd);
    fixture_free(&fx);
    vh_err_clear(&err);
    if (fixture_open(&fx, "mvnormal", NULL, "mvnormal.json", NULL, NULL, NULL, NULL) == 0)
        ok(vh_batcher_init(&bat, &fx.model, 1, 5, NULL, &needed, &err) != 0 &&
               err.exit_code == VH_EXIT_USAGE &&
               strstr(err.message, "log_density_subset") != NULL,
           "a target without log_density_subset refuses minibatches: %s", err.message);
    fixture_free(&fx);
}

/* ---- the fast JSON reader ---- */

/* The numbers of a JSON value in row-major order, as jansson reads them. */
static size_t jansson_numbers(const json_t *v, double *out, size_t at)
{
    if (json_is_number(v)) {
        out[at] = json_number_value(v);
        return at + 1;
    }
    for (size_t i = 0; i < json_array_size(v); i++)
        at = jansson_numbers(json_array_get(v, i), out, at);
    return at;
}

typedef struct fast_seen {
    json_t *root;
    size_t variables;
    int same;
} fast_seen;

static int fast_compare(void *ctx, const char *name, vh_value *value)
{
    fast_seen *f = ctx;
    const json_t *v = json_object_get(f->root, name);
    double *want = calloc(value->length + 1, sizeof *want);
    size_t n = want != NULL && v != NULL ? jansson_numbers(v, want, 0) : 0;
    f->same &= n == value->length && memcmp(want, value->numbers, n * sizeof *want) == 0;
    f->variables++;
    free(want);
    vh_value_clear(value);
    return 0;
}

static void check_fast_json(const char *label, const char *text, int want)
{
    json_error_t jerr;
    fast_seen f = {json_loads(text, JSON_DECODE_INT_AS_REAL, &jerr), 0, 1};
    int rc = vh_jsonfast_parse(text, strlen(text), fast_compare, &f, NULL, NULL);
    ok(rc == want && (want != 0 || (f.same && f.variables == json_object_size(f.root))),
       "fast JSON reader, %s: %s", label, want == 0 ? "the numbers jansson reads"
                                                      : "left to jansson");
    json_decref(f.root);
}

static void test_fast_json(void)
{
    static const char *const files[] = {"logistic.json", "mvnormal.json", "radon.json",
                                        "posteriordb/arK-arK/data.json",
                                        "posteriordb/kidiq-kidscore_interaction/data.json",
                                        NULL};
    for (size_t i = 0; files[i] != NULL; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/share/data/%s", SOURCE_DIR, files[i]);
        FILE *in = fopen(path, "rb");
        char *text = calloc(1, 1 << 22);
        size_t len = in != NULL && text != NULL ? fread(text, 1, (1 << 22) - 1, in) : 0;
        if (in != NULL)
            fclose(in);
        text[len] = '\0';
        check_fast_json(files[i], text, 0);
        free(text);
    }
    check_fast_json("awkward numbers",
                    "{\"a\": [0.1, -0.0, 1e-300, 1.7976931348623157e308, 123456789012345678901,"
                    " 0.30000000000000004, 4.9e-324, 2.2250738585072014e-308, 9007199254740993,"
                    " -12.5E+2, 1e22, 1e23, 0.000123456789012345678]}", 0);
    check_fast_json("a 3-d array", "{\"x\": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]], \"n\": 2}", 0);
    check_fast_json("a ragged array", "{\"x\": [[1, 2], [3]]}", 1);
    check_fast_json("a string", "{\"x\": \"inf\"}", 1);
    check_fast_json("an empty array", "{\"x\": []}", 1);
    check_fast_json("a duplicate name", "{\"x\": 1, \"x\": 2}", 1);
    check_fast_json("an escaped name", "{\"x\\u0041\": 1}", 1);
    check_fast_json("a leading zero", "{\"x\": 01}", 1);
    check_fast_json("an overflow", "{\"x\": 1e400}", 1);
    check_fast_json("text after the object", "{\"x\": 1} x", 1);
}

int main(void)
{
    test_pool();
    test_subset();
    test_unbiased();
    test_control_variate();
    test_anchor_center();
    test_threads();
    test_minibatch_fit();
    test_fast_json();
    return tap_done();
}
