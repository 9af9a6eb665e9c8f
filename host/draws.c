/* draws.c — draws in parallel, over threads and MPI ranks (see draws.h). */
#include "draws.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "estimators.h"

/* Added to a draw's failure flag (summed over the ranks): a numeric
 * failure, which a redraw may mend, and one that nothing mends. */
#define DRAW_NUMERIC 1.0
#define DRAW_FATAL 1024.0
/* The per-draw arrays hold at least this many draws; longer runs of
 * draws (the output draws) go through them in chunks. */
#define DRAW_CHUNK 256
/* A loop with less work than this (nanoseconds, by the draws' measured
 * cost) runs on the calling thread: handing it out and gathering it again
 * would cost more than the other threads save.  Which thread runs a draw
 * never changes its result, so this choice cannot change an output. */
#define DRAW_PARALLEL_MIN_NS 40000.0

struct vh_parallel {
    vh_pool *pool;              /* NULL: the calling thread alone */
    const vh_dist *dist;
    int ranks;                  /* MPI ranks sharing the data */
    int phases;                 /* 2 (several ranks): forward, the sum, backward */
    size_t threads;
    vh_draw_buffers *bufs;      /* one per thread */
    vh_err *errs;               /* one per thread: its smallest failing draw's error */
    size_t *failed_at;          /* one per thread: that draw's index; SIZE_MAX: none */
    size_t capacity;            /* draws (draw x stratum pairs) held at once */
    double *value;              /* per draw: its term of the ELBO, or log p~ */
    double *lq;                 /* per draw (x stratum): log q */
    size_t *dropped;            /* per draw: redraws */
    unsigned *attempt;          /* per draw: the redraw it is at */
    int *status;                /* per draw: 0 done, 1 pending, -1 failed */
    /* Measured nanoseconds of one draw's work, by kind of loop (0: not yet
     * measured): a gradient draw, a draw without gradient. */
    double cost[2];
    int always;                 /* share every loop (vh_parallel_share_always) */
    /* Two phases: per draw x stratum, the base noise, z, and the shares
     * summed over the ranks: log p~, the failure flag, then the gradient. */
    size_t stride;              /* 2 + dim */
    size_t base_dim, dim;
    double *eps, *z, *sums;     /* allocated for two phases only */
};

/* What a parallel loop works on. */
typedef struct draw_job {
    const vh_model *model;
    vh_parallel *par;
    const double *lambda;
    uint64_t seed;
    vh_rng_purpose purpose;
    uint64_t iteration;
    size_t first;               /* chunk offset: draw index of slot 0 */
    int closed;                 /* closed-form entropy (reparam) */
    int want_lq;
    double *rows;               /* per draw: gradient contributions, n_params each */
    double *lp_out, *lq_out, *z_out, *value_out;
    double entropy;             /* added to the values when closed */
    size_t limit;
    const vi_family_strata *st;
    size_t K;
} draw_job;

/* ---- setup ---- */

static int parallel_serial(const vh_model *m)
{
    return ((m->target->flags | m->family->flags) & VI_FLAG_SERIAL) != 0;
}

/* The per-draw storage of the two phases. */
static int phase_storage(vh_parallel *par)
{
    if (par->sums != NULL)
        return 0;
    par->eps = calloc(par->capacity * (par->base_dim + 1), sizeof *par->eps);
    par->z = calloc(par->capacity * (par->dim + 1), sizeof *par->z);
    par->sums = calloc(par->capacity * par->stride, sizeof *par->sums);
    return par->eps && par->z && par->sums ? 0 : -1;
}

void vh_parallel_share_always(vh_parallel *par)
{
    par->always = 1;
}

int vh_parallel_two_phases(vh_parallel *par)
{
    par->phases = 2;
    return phase_storage(par);
}

size_t vh_parallel_threads(const vh_parallel *par)
{
    return par != NULL ? par->threads : 1;
}

vh_draw_buffers *vh_parallel_buffers(vh_parallel *par)
{
    return &par->bufs[0];
}

void vh_parallel_free(vh_parallel *par)
{
    if (par == NULL)
        return;
    for (size_t w = 0; par->bufs != NULL && w < par->threads; w++)
        vh_draw_buffers_free(&par->bufs[w]);
    free(par->bufs);
    free(par->errs);
    free(par->failed_at);
    free(par->value);
    free(par->lq);
    free(par->dropped);
    free(par->attempt);
    free(par->status);
    free(par->eps);
    free(par->z);
    free(par->sums);
    free(par);
}

int vh_parallel_create(const vh_model *model, vh_pool *pool, const vh_dist *dist,
                       size_t draws, vh_parallel **out, vh_err *err)
{
    const vi_family_strata *st;
    size_t K = vh_strata_used(model, &st), cap = draws < DRAW_CHUNK ? DRAW_CHUNK : draws;
    *out = NULL;
    vh_parallel *par = calloc(1, sizeof *par);
    if (par == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    par->pool = parallel_serial(model) ? NULL : pool;
    par->threads = vh_pool_size(par->pool);
    par->dist = dist;
    par->ranks = vh_dist_size(dist);
    par->phases = par->ranks > 1 ? 2 : 1;
    par->capacity = cap * (K > 0 ? K : 1);
    par->stride = 2 + model->dim;
    par->bufs = calloc(par->threads, sizeof *par->bufs);
    par->errs = calloc(par->threads, sizeof *par->errs);
    par->failed_at = calloc(par->threads, sizeof *par->failed_at);
    par->value = calloc(par->capacity, sizeof *par->value);
    par->lq = calloc(par->capacity, sizeof *par->lq);
    par->dropped = calloc(par->capacity, sizeof *par->dropped);
    par->attempt = calloc(par->capacity, sizeof *par->attempt);
    par->status = calloc(par->capacity, sizeof *par->status);
    int bad = !par->bufs || !par->errs || !par->failed_at || !par->value || !par->lq ||
              !par->dropped || !par->attempt || !par->status;
    for (size_t w = 0; !bad && w < par->threads; w++)
        bad = vh_draw_buffers_alloc(model, &par->bufs[w]) != 0;
    par->base_dim = model->base_dim;
    par->dim = model->dim;
    if (!bad && par->phases == 2)
        bad = phase_storage(par) != 0;
    if (bad) {
        vh_parallel_free(par);
        return vh_err_set(err, VH_EXIT_FAILURE,
                          "out of memory for the buffers of %zu threads and %zu draws",
                          vh_pool_size(pool), cap);
    }
    *out = par;
    return 0;
}

/* ---- loops ---- */

enum { COST_GRADIENT = 0, COST_VALUE = 1 };

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

/* Runs fn over n draws on the pool, or on this thread when the measured
 * work is too little to share; updates the measure. */
static void par_loop(vh_parallel *par, int kind, size_t n, vh_pool_fn fn, void *job)
{
    vh_pool *pool = par->pool;
    if (pool != NULL && !par->always && par->cost[kind] > 0.0 &&
        (double)n * par->cost[kind] < DRAW_PARALLEL_MIN_NS)
        pool = NULL;
    double t0 = now_ns();
    vh_pool_run(pool, n, fn, job);
    if (n == 0)
        return;
    double per = (now_ns() - t0) * (double)vh_pool_size(pool) / (double)n;
    par->cost[kind] = par->cost[kind] > 0.0 ? 0.8 * par->cost[kind] + 0.2 * per : per;
}

/* ---- failures: the smallest failing draw wins, whatever the thread ---- */

static void failures_clear(vh_parallel *par)
{
    for (size_t w = 0; w < par->threads; w++) {
        par->failed_at[w] = SIZE_MAX;
        vh_err_clear(&par->errs[w]);
    }
}

static void failure_note(vh_parallel *par, size_t w, size_t i, const vh_err *e)
{
    if (e != NULL && i < par->failed_at[w]) {
        par->failed_at[w] = i;
        par->errs[w] = *e;
    }
}

/* The smallest failing draw (SIZE_MAX: none), its error copied into err. */
static size_t failures_first(const vh_parallel *par, vh_err *err)
{
    size_t best = SIZE_MAX, who = 0;
    for (size_t w = 0; w < par->threads; w++)
        if (par->failed_at[w] < best) {
            best = par->failed_at[w];
            who = w;
        }
    if (best != SIZE_MAX && err != NULL)
        *err = par->errs[who];
    return best;
}

/* ---- two phases: a draw's buffers in the per-draw storage ---- */

/* Thread w's buffers with eps, z and grad_z of slot j (two phases), or
 * thread w's own (one phase). */
static vh_draw_buffers slot_buffers(const vh_parallel *par, const vh_model *m, size_t w,
                                    size_t j, size_t eps_slot)
{
    vh_draw_buffers b = par->bufs[w];
    if (par->phases == 2) {
        b.eps = par->eps + eps_slot * (m->base_dim + 1);
        b.z = par->z + j * (m->dim + 1);
        b.grad_z = par->sums + j * par->stride + 2;
    }
    return b;
}

/* Sums the first n slots' shares over the ranks. */
static int slots_sum(vh_parallel *par, size_t n, vh_err *err)
{
    return vh_dist_sum(par->dist, par->sums, n * par->stride, err);
}

/* Phase one's outcome for slot j: its share (or the failure flag) in the
 * sums; the error noted for the thread. */
static void slot_share(vh_parallel *par, size_t w, size_t j, size_t index, int rc, double lp,
                       const vh_err *e)
{
    double *slot = par->sums + j * par->stride;
    slot[0] = rc == 0 ? lp : 0.0;
    slot[1] = rc == 0 ? 0.0 : e != NULL && e->exit_code != VH_EXIT_NUMERIC ? DRAW_FATAL
                                                                             : DRAW_NUMERIC;
    if (rc != 0)
        failure_note(par, w, index, e);
}

/* After the sum: 0 when slot j succeeded on every rank, else -1 with a
 * failure noted (a rank's own error of phase one is kept apart and wins,
 * see run_phases). */
static int slot_summed(vh_parallel *par, const vh_model *m, size_t w, size_t j, size_t index,
                       uint64_t iteration, vh_err *e)
{
    double flag = par->sums[j * par->stride + 1];
    if (flag == 0.0)
        return 0;
    vh_err_set(e, flag >= DRAW_FATAL ? VH_EXIT_PLUGIN : VH_EXIT_NUMERIC,
               "%s or %s failed on another MPI rank at iteration %llu (draw %zu); that "
               "rank's message says why",
               m->family_label, m->target_label, (unsigned long long)iteration, index + 1);
    failure_note(par, w, index, e);
    return -1;
}

/* One loop (one phase), or phase one, the sum over the ranks and phase
 * two; 0, or -1 with the smallest failing draw's error. */
static int run_phases(draw_job *j, size_t n, vh_pool_fn first, vh_pool_fn second, vh_err *err)
{
    vh_parallel *par = j->par;
    failures_clear(par);
    par_loop(par, COST_GRADIENT, n, first, j);
    if (par->phases == 1)
        return failures_first(par, err) == SIZE_MAX ? 0 : -1;
    vh_err own;
    size_t own_at = failures_first(par, &own);
    if (slots_sum(par, n, err) != 0)
        return -1;
    failures_clear(par);
    par_loop(par, COST_GRADIENT, n, second, j);
    size_t at = failures_first(par, err);
    if (at == SIZE_MAX)
        return 0;
    if (own_at <= at && err != NULL)
        *err = own;
    return -1;
}

/* ---- gradient: reparam and stl (path derivatives) ---- */

static void path_finish(draw_job *j, vh_draw_buffers *b, size_t w, size_t s, double lp)
{
    const vh_model *m = j->model;
    vh_err e;
    double *g = j->rows + s * m->n_params;
    memset(g, 0, m->n_params * sizeof *g);
    if (vh_draw_backward(m, j->lambda, b, j->iteration, s, lp, g, &e) != 0)
        failure_note(j->par, w, s, &e);
    j->par->value[s] = j->closed ? lp : lp - j->par->lq[s];
}

static void task_path(void *arg, size_t w, size_t s)
{
    draw_job *j = arg;
    const vh_model *m = j->model;
    vh_parallel *par = j->par;
    vh_draw_buffers b = slot_buffers(par, m, w, s, s);
    vh_err e;
    double lp = NAN;
    par->lq[s] = NAN;
    int rc = vh_draw_base(m, j->seed, VH_RNG_GRADIENT, j->iteration, s, b.eps, &e) != 0 ||
             vh_draw_forward(m, j->lambda, &b, j->iteration, s, &lp,
                             j->closed ? NULL : &par->lq[s], 1, &e) != 0;
    if (par->phases == 2)
        slot_share(par, w, s, s, rc, lp, &e);
    else if (rc != 0)
        failure_note(par, w, s, &e);
    else
        path_finish(j, &b, w, s, lp);
}

static void task_path_back(void *arg, size_t w, size_t s)
{
    draw_job *j = arg;
    vh_parallel *par = j->par;
    vh_draw_buffers b = slot_buffers(par, j->model, w, s, s);
    vh_err e;
    if (slot_summed(par, j->model, w, s, s, j->iteration, &e) == 0)
        path_finish(j, &b, w, s, par->sums[s * par->stride]);
}

/* ---- gradient: the score function ---- */

static void score_finish(draw_job *j, vh_draw_buffers *b, size_t w, size_t s, double lp)
{
    const vh_model *m = j->model;
    vh_err e;
    if (vh_score_backward(m, j->lambda, b, j->iteration, s, lp, &j->par->value[s],
                          j->rows + s * m->n_params, &e) != 0)
        failure_note(j->par, w, s, &e);
}

static void task_score(void *arg, size_t w, size_t s)
{
    draw_job *j = arg;
    const vh_model *m = j->model;
    vh_parallel *par = j->par;
    vh_draw_buffers b = slot_buffers(par, m, w, s, s);
    vh_err e;
    double lp = NAN;
    int rc = vh_draw_base(m, j->seed, VH_RNG_GRADIENT, j->iteration, s, b.eps, &e) != 0 ||
             vh_draw_forward(m, j->lambda, &b, j->iteration, s, &lp, NULL, 0, &e) != 0;
    if (par->phases == 2)
        slot_share(par, w, s, s, rc, lp, &e);
    else if (rc != 0)
        failure_note(par, w, s, &e);
    else
        score_finish(j, &b, w, s, lp);
}

static void task_score_back(void *arg, size_t w, size_t s)
{
    draw_job *j = arg;
    vh_parallel *par = j->par;
    vh_draw_buffers b = slot_buffers(par, j->model, w, s, s);
    vh_err e;
    if (slot_summed(par, j->model, w, s, s, j->iteration, &e) == 0)
        score_finish(j, &b, w, s, par->sums[s * par->stride]);
}

/* The score estimator's combination, in draw order, as estimators.c's
 * serial score_estimate does it (rows hold the G_s, value the f_s). */
static void score_combine(const vh_model *m, const vh_parallel *par, size_t S, double *rows,
                          double *grad, double *elbo)
{
    size_t n = m->n_params;
    double sum = 0.0, f0 = par->value[0];
    memset(grad, 0, n * sizeof *grad);
    for (size_t s = 0; s < S; s++) {
        double *g = rows + s * n, f = par->value[s];
        for (size_t i = 0; i < n; i++) {
            grad[i] += g[i];
            g[i] *= f - f0;
        }
        sum += f;
    }
    double shift = sum / (double)S - f0, scale = S > 1 ? 1.0 / (double)(S - 1) : 1.0;
    if (S == 1)
        shift = -f0;
    for (size_t i = 0; i < n; i++)
        grad[i] *= -shift;
    for (size_t s = 0; s < S; s++)
        for (size_t i = 0; i < n; i++)
            grad[i] += rows[s * n + i];
    for (size_t i = 0; i < n; i++)
        grad[i] *= scale;
    *elbo = sum / (double)S;
}

/* ---- gradient: stratified (a family with vi.family.strata/1) ---- */

static void strata_one_phase(draw_job *j, size_t w, size_t s)
{
    const vh_model *m = j->model;
    vh_draw_buffers *b = &j->par->bufs[w];
    double *g = j->rows + s * m->n_params, *f = b->strata + j->K;
    vh_err e;
    int rc = vh_draw_base(m, j->seed, VH_RNG_GRADIENT, j->iteration, s, b->eps, &e);
    memset(g, 0, m->n_params * sizeof *g);
    for (size_t k = 0; rc == 0 && k < j->K; k++) {
        double lp, lq;
        rc = vh_stratum_forward(m, j->st, k, j->lambda, b, j->iteration, s, &lp, &lq, &e) ||
             vh_stratum_backward(m, j->st, k, b->strata[k], j->lambda, b, j->iteration, s, lp,
                                 lq, &f[k], g, &e);
    }
    if (rc == 0)
        rc = vh_strata_combine(m, j->st, j->K, j->lambda, b, j->iteration, &j->par->value[s],
                               g, &e);
    if (rc != 0)
        failure_note(j->par, w, s, &e);
}

static void task_strata(void *arg, size_t w, size_t s)
{
    draw_job *j = arg;
    const vh_model *m = j->model;
    vh_parallel *par = j->par;
    if (par->phases == 1) {
        strata_one_phase(j, w, s);
        return;
    }
    vh_err e;
    vh_draw_buffers b = slot_buffers(par, m, w, s * j->K, s);
    int rc = vh_draw_base(m, j->seed, VH_RNG_GRADIENT, j->iteration, s, b.eps, &e);
    for (size_t k = 0; k < j->K; k++) {
        size_t slot = s * j->K + k;
        double lp = NAN;
        b = slot_buffers(par, m, w, slot, s);
        int rk = rc != 0 ? rc
                         : vh_stratum_forward(m, j->st, k, j->lambda, &b, j->iteration, s, &lp,
                                              &par->lq[slot], &e);
        slot_share(par, w, slot, s, rk, lp, &e);
    }
}

static void task_strata_back(void *arg, size_t w, size_t s)
{
    draw_job *j = arg;
    const vh_model *m = j->model;
    vh_parallel *par = j->par;
    double *g = j->rows + s * m->n_params, *f = par->bufs[w].strata + j->K;
    vh_err e;
    int rc = 0;
    memset(g, 0, m->n_params * sizeof *g);
    for (size_t k = 0; rc == 0 && k < j->K; k++) {
        size_t slot = s * j->K + k;
        vh_draw_buffers b = slot_buffers(par, m, w, slot, s);
        if (slot_summed(par, m, w, slot, s, j->iteration, &e) != 0)
            return;
        rc = vh_stratum_backward(m, j->st, k, b.strata[k], j->lambda, &b, j->iteration, s,
                                 par->sums[slot * par->stride], par->lq[slot], &f[k], g, &e);
    }
    if (rc == 0)
        rc = vh_strata_combine(m, j->st, j->K, j->lambda, &par->bufs[w], j->iteration,
                               &par->value[s], g, &e);
    if (rc != 0)
        failure_note(par, w, s, &e);
}

/* The weights w_k, computed once and copied to every thread's buffers. */
static int strata_weights(const draw_job *j, vh_err *err)
{
    const vh_model *m = j->model;
    vh_parallel *par = j->par;
    vi_error perr = {sizeof perr, 0, ""};
    int status = j->st->weights(m->family_self, j->lambda, par->bufs[0].strata,
                                par->bufs[0].family_work, &perr);
    if (status != 0)
        return vh_plugin_failure(err, m->family_label, "weights", &perr, status, j->iteration);
    for (size_t w = 1; w < par->threads; w++)
        memcpy(par->bufs[w].strata, par->bufs[0].strata, j->K * sizeof(double));
    return 0;
}

/* Sums the rows in draw order into grad and divides by S; *elbo is the
 * mean of the values. */
static void rows_mean(const vh_model *m, const vh_parallel *par, size_t S, const double *rows,
                      double *grad, double *elbo)
{
    size_t n = m->n_params;
    double sum = 0.0;
    for (size_t s = 0; s < S; s++)
        sum += par->value[s];
    memset(grad, 0, n * sizeof *grad);
    for (size_t s = 0; s < S; s++)
        for (size_t i = 0; i < n; i++)
            grad[i] += rows[s * n + i];
    for (size_t i = 0; i < n; i++)
        grad[i] /= (double)S;
    *elbo = sum / (double)S;
}

int vh_parallel_gradient(const vh_model *m, const double *lambda, uint64_t seed,
                         uint64_t iteration, size_t S, double *per_draw, double *grad,
                         double *elbo, vh_err *err)
{
    vh_parallel *par = m->parallel;
    draw_job j = {.model = m, .par = par, .lambda = lambda, .seed = seed,
                  .purpose = VH_RNG_GRADIENT, .iteration = iteration, .rows = per_draw};
    j.K = vh_strata_used(m, &j.st);
    if (S * (j.K > 0 ? j.K : 1) > par->capacity)
        return vh_err_set(err, VH_EXIT_FAILURE, "internal error: %zu draws exceed the %zu "
                          "the parallel buffers hold", S, par->capacity);
    if (m->gradient == VH_GRADIENT_SCORE) {
        if (run_phases(&j, S, task_score, task_score_back, err) != 0)
            return -1;
        score_combine(m, par, S, per_draw, grad, elbo);
        return 0;
    }
    if (j.K > 0) {
        if (strata_weights(&j, err) != 0 ||
            run_phases(&j, S, task_strata, task_strata_back, err) != 0)
            return -1;
        rows_mean(m, par, S, per_draw, grad, elbo);
        return 0;
    }
    j.closed = m->family->entropy != NULL && m->gradient == VH_GRADIENT_REPARAM;
    if (run_phases(&j, S, task_path, task_path_back, err) != 0)
        return -1;
    rows_mean(m, par, S, per_draw, grad, elbo);
    if (j.closed) {
        double h;
        if (vh_closed_entropy(m, lambda, &par->bufs[0], &h, grad, iteration, err) != 0)
            return -1;
        *elbo += h;
    }
    return 0;
}

/* ---- draws redrawn until finite: ELBO estimates and output draws ---- */

static void finite_store(const draw_job *j, const vh_draw_buffers *b, size_t i, double lp,
                         double lq)
{
    size_t dim = j->model->dim;
    if (j->lp_out != NULL)
        j->lp_out[i] = lp;
    if (j->lq_out != NULL)
        j->lq_out[i] = lq;
    if (j->z_out != NULL)
        memcpy(j->z_out + i * dim, b->z, dim * sizeof *b->z);
    if (j->value_out != NULL)
        j->value_out[i] = j->closed ? lp + j->entropy : lp - lq;
}

static void task_finite(void *arg, size_t w, size_t s)
{
    draw_job *j = arg;
    vh_parallel *par = j->par;
    vh_draw_buffers *b = &par->bufs[w];
    size_t i = j->first + s, d = 0;
    double lp = NAN, lq = NAN;
    vh_err e;
    int rc = vh_draw_finite(j->model, j->lambda, j->seed, j->purpose, j->iteration, i, b, &lp,
                            j->want_lq ? &lq : NULL, &d, j->limit, &e);
    par->dropped[s] = d;
    par->status[s] = rc != 0 ? -1 : 0;
    if (rc == 0)
        finite_store(j, b, i, lp, lq);
}

/* Phase one of a pending draw at its current redraw. */
static void task_finite_forward(void *arg, size_t w, size_t s)
{
    draw_job *j = arg;
    const vh_model *m = j->model;
    vh_parallel *par = j->par;
    vh_draw_buffers b = slot_buffers(par, m, w, s, s);
    size_t i = j->first + s;
    vh_err e;
    double lp = NAN;
    if (par->status[s] != 1) {
        memset(par->sums + s * par->stride, 0, par->stride * sizeof *par->sums);
        return;
    }
    par->lq[s] = NAN;
    int rc = vh_draw_base_attempt(m, par->attempt[s], j->seed, j->purpose, j->iteration, i,
                                  b.eps, &e) != 0 ||
             vh_draw_forward(m, j->lambda, &b, j->iteration, i, &lp,
                             j->want_lq ? &par->lq[s] : NULL, 0, &e) != 0;
    slot_share(par, w, s, i, rc, lp, &e);
}

/* Phase two: done, redrawn next round, or failed. */
static void task_finite_back(void *arg, size_t w, size_t s)
{
    draw_job *j = arg;
    const vh_model *m = j->model;
    vh_parallel *par = j->par;
    vh_draw_buffers b = slot_buffers(par, m, w, s, s);
    size_t i = j->first + s;
    vh_err e;
    if (par->status[s] != 1)
        return;
    double lp = par->sums[s * par->stride], flag = par->sums[s * par->stride + 1];
    int fine = slot_summed(par, m, w, s, i, j->iteration, &e) == 0 &&
               vh_check_density(m, b.z, lp, NULL, j->iteration, i, &e) == 0;
    if (fine && j->want_lq && !isfinite(par->lq[s])) {
        vh_err_set(&e, VH_EXIT_NUMERIC, "%s: log q is not finite at a draw (iteration %llu, "
                   "draw %llu)", m->family_label, (unsigned long long)j->iteration,
                   (unsigned long long)i);
        fine = 0;
    }
    if (fine) {
        par->status[s] = 0;
        finite_store(j, &b, i, lp, par->lq[s]);
        return;
    }
    failure_note(par, w, i, &e);
    if (flag >= DRAW_FATAL || ++par->dropped[s] >= j->limit ||
        par->attempt[s] >= VH_SAMPLER_REDRAWS)
        par->status[s] = -1;
    else
        par->attempt[s]++;
}

/* Draws first .. first + n - 1 across the ranks, in rounds until none is
 * pending. */
static int finite_rounds(draw_job *j, size_t n, vh_err *err)
{
    vh_parallel *par = j->par;
    unsigned base = j->model->sampler != NULL ? j->model->sampler->attempt : 0;
    for (size_t s = 0; s < n; s++) {
        par->status[s] = 1;
        par->attempt[s] = base;
        par->dropped[s] = 0;
    }
    failures_clear(par);
    for (int pending = 1; pending;) {
        par_loop(par, COST_VALUE, n, task_finite_forward, j);
        if (slots_sum(par, n, err) != 0)
            return -1;
        par_loop(par, COST_VALUE, n, task_finite_back, j);
        pending = 0;
        for (size_t s = 0; s < n; s++)
            pending |= par->status[s] == 1;
    }
    return 0;
}

/* The redraws of draws first .. first + n - 1 added up in draw order, as
 * one thread would have: a draw fails where the count reaches the limit.
 * On one rank that draw is evaluated again on this thread for the exact
 * error; across ranks the error noted for it is given. */
static int finite_account(draw_job *j, size_t n, size_t *dropped, vh_err *err)
{
    vh_parallel *par = j->par;
    for (size_t s = 0; s < n; s++) {
        if (par->status[s] == 0 && *dropped + par->dropped[s] < j->limit) {
            *dropped += par->dropped[s];
            continue;
        }
        if (par->phases == 2) {
            *dropped += par->dropped[s];
            if (failures_first(par, err) == SIZE_MAX)
                vh_err_set(err, VH_EXIT_NUMERIC, "%s: the draws stayed non-finite after %zu "
                           "redraws", j->model->target_label, *dropped);
            return -1;
        }
        double lp, lq;
        if (vh_draw_finite(j->model, j->lambda, j->seed, j->purpose, j->iteration,
                           j->first + s, &par->bufs[0], &lp, j->want_lq ? &lq : NULL, dropped,
                           j->limit, err) == 0)
            return vh_err_set(err, VH_EXIT_FAILURE, "internal error: draw %zu differs between "
                              "threads", j->first + s + 1);
        return -1;
    }
    return 0;
}

/* Every draw of the job, chunk by chunk. */
static int finite_run(draw_job *j, size_t n, size_t *dropped, vh_err *err)
{
    vh_parallel *par = j->par;
    size_t chunk = par->capacity;
    *dropped = 0;
    for (size_t first = 0; first < n; first += chunk) {
        size_t m = n - first < chunk ? n - first : chunk;
        j->first = first;
        if (par->phases == 2) {
            if (finite_rounds(j, m, err) != 0)
                return -1;
        } else
            par_loop(par, COST_VALUE, m, task_finite, j);
        if (finite_account(j, m, dropped, err) != 0)
            return -1;
    }
    return 0;
}

int vh_parallel_finite(const vh_model *model, const double *lambda, uint64_t seed,
                       vh_rng_purpose purpose, uint64_t iteration, size_t n, double *lp,
                       double *lq, double *z, size_t *dropped, size_t limit, vh_err *err)
{
    draw_job j = {.model = model, .par = model->parallel, .lambda = lambda, .seed = seed,
                  .purpose = purpose, .iteration = iteration, .want_lq = lq != NULL,
                  .lp_out = lp, .lq_out = lq, .z_out = z, .limit = limit};
    return finite_run(&j, n, dropped, err);
}

int vh_parallel_elbo(const vh_model *model, const double *lambda, uint64_t seed,
                     vh_rng_purpose purpose, uint64_t iteration, size_t S, double *values,
                     size_t *redraws, vh_err *err)
{
    vh_parallel *par = model->parallel;
    draw_job j = {.model = model, .par = par, .lambda = lambda, .seed = seed,
                  .purpose = purpose, .iteration = iteration, .value_out = values,
                  .limit = S};
    j.closed = model->family->entropy != NULL;
    j.want_lq = !j.closed;
    *redraws = 0;
    if (j.closed && vh_closed_entropy(model, lambda, &par->bufs[0], &j.entropy, NULL,
                                      iteration, err) != 0)
        return -1;
    return finite_run(&j, S, redraws, err);
}
