/* batch.c — minibatches and shares of the data items (see batch.h). */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

#include "estimators.h"
#include "rng.h"

/* A uniform integer in [0, m), m >= 1: Lemire's multiply-shift with
 * rejection, so that no value is favoured. */
static uint64_t uniform_below(vi_rng *rng, uint64_t m)
{
    unsigned __int128 p = (unsigned __int128)vh_rng_bits(rng) * m;
    uint64_t low = (uint64_t)p;
    if (low < m) {
        uint64_t floor = (uint64_t)(-m) % m;
        while (low < floor) {
            p = (unsigned __int128)vh_rng_bits(rng) * m;
            low = (uint64_t)p;
        }
    }
    return (uint64_t)(p >> 64);
}

void vh_batch_subset(vi_rng *rng, size_t n, size_t k, size_t *perm, size_t *swaps,
                     size_t *out)
{
    for (size_t i = 0; i < k; i++) {
        size_t r = i + (size_t)uniform_below(rng, n - i), t = perm[i];
        perm[i] = perm[r];
        perm[r] = t;
        swaps[i] = r;
        out[i] = perm[i];
    }
    for (size_t i = k; i-- > 0;) { /* undo, so perm is the identity again */
        size_t r = swaps[i], t = perm[i];
        perm[i] = perm[r];
        perm[r] = t;
    }
}

void vh_batcher_free(vh_batcher *b)
{
    free(b->perm);
    free(b->swaps);
    free(b->idx);
    free(b->anchor);
    free(b->anchor_grad);
    free(b->offset_grad);
    free(b->batch_grad);
    free(b->share_idx);
    if (b->buf != NULL)
        vh_draw_buffers_free(b->buf);
    free(b->buf);
    memset(b, 0, sizeof *b);
}

int vh_batcher_init(vh_batcher *b, const vh_model *model, uint64_t seed, uint64_t batch,
                    const vh_dist *dist, int *needed, vh_err *err)
{
    const vi_target_desc *t = model->target;
    int ranks = vh_dist_size(dist), rank = vh_dist_rank(dist);
    memset(b, 0, sizeof *b);
    *needed = batch > 0 || ranks > 1;
    if (!*needed)
        return 0;
    if (t->n_items == NULL || t->log_density_subset == NULL)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s has no n_items/log_density_subset, so it cannot %s; %s",
                          model->target_label,
                          batch > 0 ? "evaluate minibatches (objective.batch_size)"
                                    : "share its data among MPI ranks",
                          batch > 0 ? "leave objective.batch_size at 0"
                                    : "run it as one process (without mpirun)");
    size_t n = t->n_items(model->target_self);
    if (batch > n)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "objective.batch_size is %llu, more than the %zu data items of %s",
                          (unsigned long long)batch, n, model->target_label);
    b->n_items = n;
    b->batch = (size_t)batch;
    b->seed = seed;
    b->begin = n * (size_t)rank / (size_t)ranks;
    b->end = n * (size_t)(rank + 1) / (size_t)ranks;
    b->idx = malloc((n > 0 ? n : 1) * sizeof *b->idx);
    if (batch > 0) {
        b->perm = malloc(n * sizeof *b->perm);
        b->swaps = malloc((size_t)batch * sizeof *b->swaps);
    }
    if (b->idx == NULL || (batch > 0 && (b->perm == NULL || b->swaps == NULL)))
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory for %zu item indices", n);
    for (size_t i = 0; b->perm != NULL && i < n; i++)
        b->perm[i] = i;
    b->items.without_prior = rank != 0;
    vh_batcher_all(b);
    return 0;
}

void vh_batcher_all(vh_batcher *b)
{
    for (size_t i = b->begin; i < b->end; i++)
        b->idx[i - b->begin] = i;
    b->items.idx = b->idx;
    b->items.n = b->end - b->begin;
    b->items.scale = 1.0;
    b->items.offset_grad = NULL;
    b->items.offset_lp = 0.0;
}

int vh_batcher_control(vh_batcher *b, const vh_model *model, uint64_t every, vh_err *err)
{
    size_t dim = model->dim, share = b->end - b->begin;
    if (every == 0 || b->batch == 0 || b->batch == b->n_items) /* nothing to correct */
        return 0;
    b->anchor = calloc(dim + 1, sizeof *b->anchor);
    b->anchor_grad = calloc(dim + 1, sizeof *b->anchor_grad);
    b->offset_grad = calloc(dim + 1, sizeof *b->offset_grad);
    b->batch_grad = calloc(dim + 1, sizeof *b->batch_grad);
    b->share_idx = malloc((share + 1) * sizeof *b->share_idx);
    b->buf = calloc(1, sizeof *b->buf);
    if (b->buf != NULL && vh_draw_buffers_alloc(model, b->buf) != 0) {
        free(b->buf);
        b->buf = NULL;
    }
    if (!b->anchor || !b->anchor_grad || !b->offset_grad || !b->batch_grad || !b->share_idx ||
        !b->buf)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory for the minibatch control "
                          "variate of %s", model->target_label);
    for (size_t i = 0; i < share; i++)
        b->share_idx[i] = b->begin + i;
    b->anchor_every = every;
    return 0;
}

/* log p~ and its gradient at theta over `items` (no offset), as the draws
 * see them: this rank's part, the prior on rank 0 only. */
static int items_density(vh_batcher *b, const vh_model *model, const vh_items *items,
                         const double *theta, double *lp, double *grad, uint64_t iteration,
                         vh_err *err)
{
    vh_model over = *model;
    vi_error perr = {sizeof perr, 0, ""};
    over.items = items;
    memcpy(b->buf->z, theta, model->dim * sizeof *theta);
    int status = vh_target_density(&over, b->buf->z, lp, grad, b->buf, &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->target_label, "log_density_subset", &perr, status,
                                 iteration);
    return vh_check_density(model, theta, *lp, grad, iteration, 0, err);
}

int vh_batcher_anchor(vh_batcher *b, const vh_model *model, const double *point,
                      uint64_t iteration, vh_err *err)
{
    vh_items share = {b->share_idx, b->end - b->begin, 1.0, b->items.without_prior, NULL, 0.0};
    if (point != b->anchor) /* a restored checkpoint reads it in place */
        memcpy(b->anchor, point, model->dim * sizeof *point);
    b->anchored = 0;
    if (items_density(b, model, &share, b->anchor, &b->anchor_lp, b->anchor_grad, iteration,
                      err) != 0)
        return -1;
    b->anchored = 1;
    b->anchored_at = iteration;
    return 0;
}

/* q_lambda's mean into b->buf->z: the family's moments, or T(lambda, 0)
 * for a family without them (any point near q's mass serves). */
static int family_center(vh_batcher *b, const vh_model *model, const double *lambda,
                         uint64_t iteration, vh_err *err)
{
    const vi_family_desc *f = model->family;
    vi_error perr = {sizeof perr, 0, ""};
    int status;
    const char *call = f->moments != NULL ? "moments" : "forward";
    if (f->moments != NULL)
        status = f->moments(model->family_self, lambda, b->buf->z, NULL, b->buf->family_work,
                            &perr);
    else {
        memset(b->buf->eps, 0, model->base_dim * sizeof *b->buf->eps);
        status = f->forward(model->family_self, lambda, b->buf->eps, b->buf->z, NULL,
                            b->buf->family_work, &perr);
    }
    if (status != 0)
        return vh_plugin_failure(err, model->family_label, call, &perr, status, iteration);
    return vh_check_family(model, call, "the minibatch anchor", b->buf->z, model->dim,
                           iteration, 0, err);
}

int vh_batcher_prepare(vh_batcher *b, const vh_model *model, const double *lambda,
                       uint64_t iteration, unsigned use, vh_err *err)
{
    vh_batcher_select(b, iteration, use);
    if (b->anchor_every == 0)
        return 0;
    int stale = !b->anchored || iteration < b->anchored_at ||
                (use == VH_BATCH_GRADIENT && iteration - b->anchored_at >= b->anchor_every);
    if (stale && (family_center(b, model, lambda, iteration, err) != 0 ||
                  vh_batcher_anchor(b, model, b->buf->z, iteration, err) != 0))
        return -1;
    return vh_batcher_offset(b, model, iteration, err);
}

int vh_batcher_offset(vh_batcher *b, const vh_model *model, uint64_t iteration, vh_err *err)
{
    b->items.offset_grad = NULL;
    vh_items batch = b->items;
    double batch_lp = 0.0;
    if (items_density(b, model, &batch, b->anchor, &batch_lp, b->batch_grad, iteration,
                      err) != 0)
        return -1;
    for (size_t i = 0; i < model->dim; i++)
        b->offset_grad[i] = b->anchor_grad[i] - b->batch_grad[i];
    b->items.offset_lp = b->anchor_lp - batch_lp;
    b->items.offset_grad = b->offset_grad;
    return 0;
}

void vh_batcher_select(vh_batcher *b, uint64_t iteration, unsigned use)
{
    if (b->batch == 0) /* this rank's share, set once by vh_batcher_init */
        return;
    vi_rng rng;
    vh_rng_init(&rng, b->seed, VH_RNG_BATCH, iteration, use);
    /* The whole batch lands at the end of idx; this rank keeps its own
     * items of it, in the order drawn, at the start. */
    size_t *drawn = b->idx + (b->n_items - b->batch), kept = 0;
    vh_batch_subset(&rng, b->n_items, b->batch, b->perm, b->swaps, drawn);
    for (size_t i = 0; i < b->batch; i++)
        if (drawn[i] >= b->begin && drawn[i] < b->end)
            b->idx[kept++] = drawn[i];
    b->items.idx = b->idx;
    b->items.n = kept;
    b->items.scale = (double)b->n_items / (double)b->batch;
    b->items.offset_grad = NULL; /* an offset belongs to the batch it was made for */
    b->items.offset_lp = 0.0;
}
