/* batch.h — which data items the target's log density covers: minibatches
 * (objective.batch_size: B) and this MPI rank's share of the items.
 *
 * A minibatch is B distinct items of the N, a uniformly random subset
 * drawn from the counter-based stream (seed, VH_RNG_BATCH, iteration,
 * use), so it depends only on the iteration, never on the threads, the
 * ranks or what came before (a resumed run draws the same batches).  The
 * likelihood over it is scaled by N / B, the prior counted once, so the
 * log density and its gradient are unbiased estimates of the whole
 * data's.  Across MPI ranks every rank draws the same batch and evaluates
 * the items of it that fall in its share; rank 0 alone adds the prior. */
#ifndef VH_BATCH_H
#define VH_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include "dist.h"
#include "engine.h"
#include "errors.h"

/* Minibatches of a gradient estimate, and of a fresh ELBO estimate. */
#define VH_BATCH_GRADIENT 0
#define VH_BATCH_ELBO 1

typedef struct vh_batcher {
    size_t n_items;           /* N */
    size_t batch;             /* B; 0: every item */
    size_t begin, end;        /* this rank's share: items [begin, end) */
    uint64_t seed;
    size_t *perm;             /* N: the identity, shuffled in part and put back */
    size_t *swaps;            /* B: the swaps to undo */
    size_t *idx;              /* the current items */
    vh_items items;           /* what model->items points at */
} vh_batcher;

/* Prepares the items of `model` (created target) for `batch` items per
 * minibatch (0: all) and the ranks of `dist`.  *needed is 0 when neither
 * applies (one rank, no minibatch: the target's own log_density is used,
 * and nothing is allocated).  Fails (exit 2) when the target has no
 * n_items / log_density_subset, or B exceeds N, naming the key. */
int vh_batcher_init(vh_batcher *b, const vh_model *model, uint64_t seed, uint64_t batch,
                    const vh_dist *dist, int *needed, vh_err *err);
void vh_batcher_free(vh_batcher *b);

/* The items of minibatch `use` (VH_BATCH_GRADIENT, VH_BATCH_ELBO) of
 * `iteration`, or this rank's whole share when there are no minibatches. */
void vh_batcher_select(vh_batcher *b, uint64_t iteration, unsigned use);
/* This rank's whole share, scale 1 (the output draws are judged on all
 * the data). */
void vh_batcher_all(vh_batcher *b);

/* A uniformly random k-subset of 0..n-1 (k <= n) from `rng` into out
 * (in the order drawn): a partial Fisher-Yates shuffle of perm (the
 * identity on entry and on return; swaps has room for k). */
void vh_batch_subset(vi_rng *rng, size_t n, size_t k, size_t *perm, size_t *swaps,
                     size_t *out);

#endif
