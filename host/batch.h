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
 * the items of it that fall in its share; rank 0 alone adds the prior.
 *
 * The control variate (objective.anchor_every: K > 0).  With N / B large
 * the minibatch's own noise swamps the draws' and the fit stalls far from
 * the optimum.  So each estimate is corrected by the same items at a fixed
 * anchor point a, whose whole-data value is known:
 *
 *     log p~(z) ~= [prior(z) + N/B sum_S l_i(z)]
 *                   - N/B sum_S l_i(a) + sum_all l_i(a)
 *
 * still unbiased for any a (the last two terms have mean zero together),
 * and its noise is that of the items' differences l_i(z) - l_i(a), small
 * while the draws z stay near a.  The anchor is q's mean (the family's
 * moments; T(lambda, 0) when it has none), moved every K iterations at the
 * cost of one pass over the data (this rank's share); each estimate costs
 * one more batch evaluation, at a, shared by all of its draws.  Baker,
 * Fearnhead, Fox and Nemeth (2019) use this control variate for
 * stochastic-gradient MCMC. */
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
    /* The control variate; all NULL and 0 without one. */
    uint64_t anchor_every;    /* K: iterations between anchor moves; 0: no control variate */
    int anchored;             /* anchor holds a point */
    uint64_t anchored_at;     /* the iteration it was set at */
    double *anchor;           /* dim */
    double anchor_lp;         /* this rank's share of the data at the anchor */
    double *anchor_grad;      /* dim: its gradient */
    double *offset_grad;      /* dim: items.offset_grad, when on */
    double *batch_grad;       /* dim: scratch */
    size_t *share_idx;        /* this rank's items, begin..end-1 */
    struct vh_draw_buffers *buf;  /* scratch for the target and the family */
} vh_batcher;

/* Prepares the items of `model` (created target) for `batch` items per
 * minibatch (0: all) and the ranks of `dist`.  *needed is 0 when neither
 * applies (one rank, no minibatch: the target's own log_density is used,
 * and nothing is allocated).  Fails (exit 2) when the target has no
 * n_items / log_density_subset, or B exceeds N, naming the key. */
int vh_batcher_init(vh_batcher *b, const vh_model *model, uint64_t seed, uint64_t batch,
                    const vh_dist *dist, int *needed, vh_err *err);
void vh_batcher_free(vh_batcher *b);

/* Turns the control variate on, the anchor moving every `every`
 * iterations (0: leaves it off).  Nothing happens without minibatches, or
 * when a batch is every item (B = N: the estimate is exact already).
 * Allocates its buffers; fails (exit 1) when out of memory. */
int vh_batcher_control(vh_batcher *b, const vh_model *model, uint64_t every, vh_err *err);

/* The items of minibatch `use` (VH_BATCH_GRADIENT, VH_BATCH_ELBO) of
 * `iteration`, or this rank's whole share when there are no minibatches. */
void vh_batcher_select(vh_batcher *b, uint64_t iteration, unsigned use);

/* vh_batcher_select, then with the control variate on: the anchor moved
 * to q_lambda's mean when it has none, when `use` is VH_BATCH_GRADIENT
 * and K iterations have passed since it was set, or when the iteration
 * went back (step-size adaptation starts over); and the items' offset set
 * for the new batch.  Fails as the target or family call does (their
 * message, exit 4 for a non-finite value at the anchor). */
int vh_batcher_prepare(vh_batcher *b, const vh_model *model, const double *lambda,
                       uint64_t iteration, unsigned use, vh_err *err);

/* The items' offset for the current items (b->items, as select or the
 * caller set them) at the anchor: this rank's share of the data there
 * minus the items' scaled part.  Needs an anchor. */
int vh_batcher_offset(vh_batcher *b, const vh_model *model, uint64_t iteration, vh_err *err);

/* Sets the anchor at `point` (dim values; may be b->anchor itself) as of
 * `iteration` and evaluates this rank's share of the data there (for
 * checkpoints: the anchor is restored, not recomputed from a lambda the
 * run no longer has). */
int vh_batcher_anchor(vh_batcher *b, const vh_model *model, const double *point,
                      uint64_t iteration, vh_err *err);
/* This rank's whole share, scale 1, no offset (the output draws are
 * judged on all the data). */
void vh_batcher_all(vh_batcher *b);

/* A uniformly random k-subset of 0..n-1 (k <= n) from `rng` into out
 * (in the order drawn): a partial Fisher-Yates shuffle of perm (the
 * identity on entry and on return; swaps has room for k). */
void vh_batch_subset(vi_rng *rng, size_t n, size_t k, size_t *perm, size_t *swaps,
                     size_t *out);

#endif
