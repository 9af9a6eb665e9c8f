/* batch.c — minibatches and shares of the data items (see batch.h). */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

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
}
