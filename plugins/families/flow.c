/*
 * flow.c — a normalizing flow on a Gaussian base: an elementwise affine
 * layer followed by `depth` affine coupling layers (RealNVP; Dinh,
 * Sohl-Dickstein and Bengio 2017):
 *     x0 = mu + exp(omega) .* eps,   eps ~ N(0, I_D),
 *     layer l (l = 1..depth) splits x by parity: the coordinates a (i odd
 *     in odd layers, even in even ones) pass unchanged and condition the
 *     others, b:
 *         h = tanh(W1 x_a + b1)           (`width` hidden units)
 *         s = Ws h + bs,  t = Wt h + bt   (one pair per coordinate in b)
 *         y_a = x_a,  y_b = x_b .* exp(s) + t,
 *     z = x_depth.
 * log q(z) by the change of variables: the layers are inverted in closed
 * form (x_b = (y_b - t) .* exp(-s), with s and t from y_a = x_a), so
 *     log q(z) = log N(eps) - sum omega - sum over layers of sum s.
 * lambda = (mu[1..D], omega[1..D], then per layer W1 (width x |a|), b1,
 * Ws (|b| x width), bs, Wt (|b| x width), bt).  Ws, bs, Wt, bt start at 0,
 * so the flow starts as the mean-field Gaussian (mu, exp(omega)); W1 starts
 * at a fixed pseudo-random pattern so that the hidden units differ.
 * backward, log_q_grad_z and log_q_grad_lambda are reverse-mode passes
 * through the layers: O(depth D width) each, like a draw.  No closed-form
 * entropy: the host estimates it by -log q of the draws.
 * The conditioners' matrix-vector products and rank-1 updates go through
 * CBLAS (x_a is every other coordinate: stride 2).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "family_util.h"

#define FLOW_MAX_DIM ((size_t)1 << 16)
#define FLOW_MAX_DEPTH 64
#define FLOW_MAX_WIDTH 4096

typedef struct flow_family {
    size_t dim;
    size_t depth;
    size_t width;
    size_t layer_at[FLOW_MAX_DEPTH + 1]; /* offset of layer l's parameters */
    size_t n_params;
    double init_mu;
    double init_log_sd;
    fu_names names;
} flow_family;

/* Layer l's split: which parity passes through, and the sizes. */
typedef struct flow_layer {
    size_t parity;      /* coordinates i with i % 2 == parity form a */
    size_t na, nb;
    const double *w1, *b1, *ws, *bs, *wt, *bt;   /* into lambda */
} flow_layer;

static const vi_option flow_options[] = {
    {sizeof(vi_option), "depth", VI_OPTION_INT, 0, "4", 1.0, (double)FLOW_MAX_DEPTH,
     "number of affine coupling layers (alternating halves)"},
    {sizeof(vi_option), "width", VI_OPTION_INT, 0, "16", 1.0, (double)FLOW_MAX_WIDTH,
     "hidden tanh units of each layer's conditioner"},
    {sizeof(vi_option), "init_mu", VI_OPTION_DOUBLE, 0, "0", -HUGE_VAL, HUGE_VAL,
     "starting value of every base mean mu[i]"},
    {sizeof(vi_option), "init_log_sd", VI_OPTION_DOUBLE, 0, "0", -FU_LOG_SD_LIMIT,
     FU_LOG_SD_LIMIT, "starting value of every base log scale omega[i]"},
    VI_OPTION_END};

static size_t count_parity(size_t dim, size_t parity)
{
    return (dim + 1 - parity) / 2;
}

static size_t layer_size(size_t dim, size_t width, size_t l)
{
    size_t na = count_parity(dim, l % 2), nb = dim - na;
    return width * na + width + 2 * (nb * width + nb);
}

/* Views layer l of lambda (or of a gradient laid out like it). */
static flow_layer layer_of(const flow_family *f, const double *lambda, size_t l)
{
    flow_layer ly;
    const double *p = lambda + f->layer_at[l];
    ly.parity = l % 2;
    ly.na = count_parity(f->dim, ly.parity);
    ly.nb = f->dim - ly.na;
    ly.w1 = p;
    ly.b1 = ly.w1 + f->width * ly.na;
    ly.ws = ly.b1 + f->width;
    ly.bs = ly.ws + ly.nb * f->width;
    ly.wt = ly.bs + ly.nb;
    ly.bt = ly.wt + ly.nb * f->width;
    return ly;
}

static size_t b_index(const flow_layer *ly, size_t j) { return 1 - ly->parity + 2 * j; }

/* h = tanh(W1 x_a + b1), then s = Ws h + bs and t = Wt h + bt. */
static void conditioner(const flow_family *f, const flow_layer *ly, const double *x, double *h,
                        double *s, double *t)
{
    const int w = (int)f->width, na = (int)ly->na, nb = (int)ly->nb;
    size_t k;
    memcpy(h, ly->b1, f->width * sizeof *h);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, w, na, 1.0, ly->w1, na, x + ly->parity, 2, 1.0,
                h, 1);
    for (k = 0; k < f->width; ++k)
        h[k] = tanh(h[k]);
    memcpy(s, ly->bs, ly->nb * sizeof *s);
    memcpy(t, ly->bt, ly->nb * sizeof *t);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, nb, w, 1.0, ly->ws, w, h, 1, 1.0, s, 1);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, nb, w, 1.0, ly->wt, w, h, 1, 1.0, t, 1);
}

/* Reverse mode through one conditioner: given ds and dt (nb each), adds
 * W1^T dpre into gx at the a coordinates and, when dly is non-NULL, the
 * parameter gradients into the gradient it views (laid out like lambda).
 * dh is width scratch (it ends holding dpre). */
static void conditioner_backward(const flow_family *f, const flow_layer *ly,
                                 const flow_layer *dly, const double *x, const double *h,
                                 const double *ds, const double *dt, double *dh, double *gx)
{
    const int w = (int)f->width, na = (int)ly->na, nb = (int)ly->nb;
    size_t k, j;
    /* dh = Ws^T ds + Wt^T dt */
    cblas_dgemv(CblasRowMajor, CblasTrans, nb, w, 1.0, ly->ws, w, ds, 1, 0.0, dh, 1);
    cblas_dgemv(CblasRowMajor, CblasTrans, nb, w, 1.0, ly->wt, w, dt, 1, 1.0, dh, 1);
    if (dly != NULL) {
        for (j = 0; j < ly->nb; ++j) {
            ((double *)dly->bs)[j] += ds[j];
            ((double *)dly->bt)[j] += dt[j];
        }
        cblas_dger(CblasRowMajor, nb, w, 1.0, ds, 1, h, 1, (double *)dly->ws, w);
        cblas_dger(CblasRowMajor, nb, w, 1.0, dt, 1, h, 1, (double *)dly->wt, w);
    }
    for (k = 0; k < f->width; ++k) /* dpre */
        dh[k] *= 1.0 - h[k] * h[k];
    if (dly != NULL) {
        for (k = 0; k < f->width; ++k)
            ((double *)dly->b1)[k] += dh[k];
        cblas_dger(CblasRowMajor, w, na, 1.0, dh, 1, x + ly->parity, 2, (double *)dly->w1, na);
    }
    cblas_dgemv(CblasRowMajor, CblasTrans, w, na, 1.0, ly->w1, na, dh, 1, 1.0, gx + ly->parity,
                2);
}

/* ------------------------------------------------------------------ */
/* Workspace: the pass's stored values                                  */
/* ------------------------------------------------------------------ */

/* [x_0 .. x_depth (D each) | h per layer (width) | s per layer (D) |
 *  g (D) | ds (D) | dt (D) | dh (width) | s_cur, t_cur (D each)] */
typedef struct flow_tape {
    double *x, *h, *s, *g, *ds, *dt, *dh, *t_cur;
} flow_tape;

static flow_tape tape_of(const flow_family *f, double *work)
{
    flow_tape tp;
    size_t dim = f->dim, depth = f->depth;
    tp.x = work;
    tp.h = tp.x + (depth + 1) * dim;
    tp.s = tp.h + depth * f->width;
    tp.g = tp.s + depth * dim;
    tp.ds = tp.g + dim;
    tp.dt = tp.ds + dim;
    tp.dh = tp.dt + dim;
    tp.t_cur = tp.dh + f->width;
    return tp;
}

static size_t flow_workspace_size(const void *self)
{
    const flow_family *f = (const flow_family *)self;
    return (f->depth + 1) * f->dim + f->depth * f->width + f->depth * f->dim + 4 * f->dim +
           f->width;
}

/* x_0 .. x_depth from eps onto the tape; returns log q(z). */
static double pass_forward(const flow_family *f, const double *lambda, const double *eps,
                           flow_tape *tp)
{
    size_t dim = f->dim, l, i, j;
    double lq = -0.5 * (double)dim * VI_LOG_2PI;
    for (i = 0; i < dim; ++i) {
        tp->x[i] = lambda[i] + exp(lambda[dim + i]) * eps[i];
        lq -= 0.5 * eps[i] * eps[i] + lambda[dim + i];
    }
    for (l = 0; l < f->depth; ++l) {
        flow_layer ly = layer_of(f, lambda, l);
        const double *x = tp->x + l * dim;
        double *y = tp->x + (l + 1) * dim, *s = tp->s + l * dim;
        conditioner(f, &ly, x, tp->h + l * f->width, s, tp->t_cur);
        memcpy(y, x, dim * sizeof *y);
        for (j = 0; j < ly.nb; ++j) {
            y[b_index(&ly, j)] = x[b_index(&ly, j)] * exp(s[j]) + tp->t_cur[j];
            lq -= s[j];
        }
    }
    return lq;
}

/* x_depth = z back to x_0 onto the tape, and eps into tp->g; returns
 * log q(z). */
static double pass_inverse(const flow_family *f, const double *lambda, const double *z,
                           flow_tape *tp)
{
    size_t dim = f->dim, l, i, j;
    double lq = -0.5 * (double)dim * VI_LOG_2PI;
    memcpy(tp->x + f->depth * dim, z, dim * sizeof *z);
    for (l = f->depth; l-- > 0;) {
        flow_layer ly = layer_of(f, lambda, l);
        const double *y = tp->x + (l + 1) * dim;
        double *x = tp->x + l * dim, *s = tp->s + l * dim;
        conditioner(f, &ly, y, tp->h + l * f->width, s, tp->t_cur);
        memcpy(x, y, dim * sizeof *x);
        for (j = 0; j < ly.nb; ++j) {
            x[b_index(&ly, j)] = (y[b_index(&ly, j)] - tp->t_cur[j]) * exp(-s[j]);
            lq -= s[j];
        }
    }
    for (i = 0; i < dim; ++i) {
        tp->g[i] = (tp->x[i] - lambda[i]) * exp(-lambda[dim + i]);
        lq -= 0.5 * tp->g[i] * tp->g[i] + lambda[dim + i];
    }
    return lq;
}

/* ------------------------------------------------------------------ */
/* Creation                                                             */
/* ------------------------------------------------------------------ */

static void flow_destroy(void *self)
{
    flow_family *f = (flow_family *)self;
    if (f == NULL)
        return;
    fu_names_free(&f->names);
    free(f);
}

static int make_names(flow_family *f, vi_error *err)
{
    static const char *const parts[6] = {"W1", "b1", "Ws", "bs", "Wt", "bt"};
    size_t i, l, p = 0, k, stride = 3 * fu_digits(f->dim > f->width ? f->dim : f->width) + 24;
    int status = fu_names_alloc(&f->names, f->n_params, stride, err);
    if (status != VI_OK)
        return status;
    fu_name_vector(&f->names, &p, "mu", f->dim);
    fu_name_vector(&f->names, &p, "omega", f->dim);
    for (l = 0; l < f->depth; ++l) {
        size_t na = count_parity(f->dim, l % 2), nb = f->dim - na;
        size_t rows[6] = {f->width, f->width, nb, nb, nb, nb};
        size_t cols[6] = {na, 1, f->width, 1, f->width, 1};
        for (k = 0; k < 6; ++k)
            for (i = 0; i < rows[k] * cols[k]; ++i) {
                char *at = fu_name_slot(&f->names, p++);
                if (cols[k] == 1)
                    snprintf(at, stride, "layer%lu.%s[%lu]", (unsigned long)l + 1UL,
                             parts[k], (unsigned long)i + 1UL);
                else
                    snprintf(at, stride, "layer%lu.%s[%lu,%lu]",
                             (unsigned long)l + 1UL, parts[k], (unsigned long)(i / cols[k]) + 1UL,
                             (unsigned long)(i % cols[k]) + 1UL);
            }
    }
    return VI_OK;
}

static int read_options(const vi_host *host, const vi_config *config, flow_family *f,
                        vi_error *err)
{
    int status = fu_read_count(host, config, "depth", 4, FLOW_MAX_DEPTH, &f->depth, err);
    if (status == VI_OK)
        status = fu_read_count(host, config, "width", 16, FLOW_MAX_WIDTH, &f->width, err);
    if (status == VI_OK)
        status = fu_read_init(host, config, &f->init_mu, &f->init_log_sd, err);
    return status;
}

static int flow_setup(const vi_host *host, const vi_config *config, size_t dim, void *self,
                      vi_error *err)
{
    flow_family *f = (flow_family *)self;
    size_t l;
    int status;
    f->dim = dim;
    status = read_options(host, config, f, err);
    if (status != VI_OK)
        return status;
    f->layer_at[0] = 2 * dim;
    for (l = 0; l < f->depth; ++l)
        f->layer_at[l + 1] = f->layer_at[l] + layer_size(dim, f->width, l);
    f->n_params = f->layer_at[f->depth];
    return make_names(f, err);
}

static int flow_create(const vi_host *host, const vi_config *config, size_t dim, void **self,
                       vi_error *err)
{
    *self = NULL;
    if (dim < 2 || dim > FLOW_MAX_DIM)
        return vi_error_set(err, VI_EINVAL, "the flow family needs a target of dimension "
                            "2..%lu (its coupling layers split z in two), got %lu; for one "
                            "dimension use meanfield or mixture", (unsigned long)FLOW_MAX_DIM,
                            (unsigned long)dim);
    return fu_create(host, config, dim, sizeof(flow_family), flow_setup, flow_destroy, self,
                     err);
}

static size_t flow_n_params(const void *self)
{
    return ((const flow_family *)self)->n_params;
}

static size_t flow_base_dim(const void *self)
{
    return ((const flow_family *)self)->dim;
}

static const char *flow_param_name(const void *self, size_t i)
{
    return fu_name(&((const flow_family *)self)->names, i);
}

static int flow_init(const void *self, double *lambda, vi_error *err)
{
    const flow_family *f = (const flow_family *)self;
    size_t i, l;
    (void)err;
    memset(lambda, 0, f->n_params * sizeof *lambda);
    for (i = 0; i < f->dim; ++i) {
        lambda[i] = f->init_mu;
        lambda[f->dim + i] = f->init_log_sd;
    }
    /* W1 ~ 1/sqrt(|a|) in scale, on inputs of the starting scale. */
    for (l = 0; l < f->depth; ++l) {
        flow_layer ly = layer_of(f, lambda, l);
        double scale = exp(-f->init_log_sd) / sqrt((double)ly.na);
        double *w1 = lambda + f->layer_at[l];
        for (i = 0; i < f->width * ly.na; ++i)
            w1[i] = scale * fu_start_pattern(f->layer_at[l] + i);
    }
    return VI_OK;
}

/* ------------------------------------------------------------------ */
/* The family's functions                                               */
/* ------------------------------------------------------------------ */

static int flow_forward(const void *self, const double *lambda, const double *eps, double *z,
                        double *log_q, double *work, vi_error *err)
{
    const flow_family *f = (const flow_family *)self;
    flow_tape tp = tape_of(f, work);
    double lq = pass_forward(f, lambda, eps, &tp);
    (void)err;
    memcpy(z, tp.x + f->depth * f->dim, f->dim * sizeof *z);
    if (log_q != NULL)
        *log_q = lq;
    return VI_OK;
}

/* J^T dz by reverse mode, last layer first:  with y_b = x_b e^s + t,
 * dx_b = g_b e^s, ds = g_b x_b e^s, dt = g_b, and x_a gets W1^T dpre. */
static int flow_backward(const void *self, const double *lambda, const double *eps,
                         const double *dz, double *dlambda, double *work, vi_error *err)
{
    const flow_family *f = (const flow_family *)self;
    flow_tape tp = tape_of(f, work);
    size_t dim = f->dim, l, i, j;
    (void)err;
    pass_forward(f, lambda, eps, &tp);
    memcpy(tp.g, dz, dim * sizeof *tp.g);
    for (l = f->depth; l-- > 0;) {
        flow_layer ly = layer_of(f, lambda, l), dly = layer_of(f, dlambda, l);
        const double *x = tp.x + l * dim, *s = tp.s + l * dim;
        for (j = 0; j < ly.nb; ++j) {
            size_t b = b_index(&ly, j);
            double e = exp(s[j]);
            tp.ds[j] = tp.g[b] * x[b] * e;
            tp.dt[j] = tp.g[b];
            tp.g[b] *= e;
        }
        conditioner_backward(f, &ly, &dly, x, tp.h + l * f->width, tp.ds, tp.dt, tp.dh, tp.g);
    }
    for (i = 0; i < dim; ++i) {
        dlambda[i] += tp.g[i];
        dlambda[dim + i] += tp.g[i] * exp(lambda[dim + i]) * eps[i];
    }
    return VI_OK;
}

static int flow_log_q(const void *self, const double *lambda, const double *z, double *lq,
                      double *work, vi_error *err)
{
    const flow_family *f = (const flow_family *)self;
    flow_tape tp = tape_of(f, work);
    (void)err;
    *lq = pass_inverse(f, lambda, z, &tp);
    return VI_OK;
}

/* Both log q gradients at fixed z, by reverse mode through the inverse
 * pass, first layer first.  g = d log q / dx_l; with
 * x_b = (y_b - t) e^-s:  dy_b = g_b e^-s,  dt = -g_b e^-s,
 * ds = -g_b x_b - 1 (the -1 from the log-determinant).  dlambda (laid out
 * like lambda, zeroed here) may be NULL; dz receives d log q / dz. */
static double inverse_gradients(const flow_family *f, const double *lambda, const double *z,
                                double *dz, double *dlambda, flow_tape *tp)
{
    size_t dim = f->dim, l, i, j;
    double lq = pass_inverse(f, lambda, z, tp);
    if (dlambda != NULL)
        memset(dlambda, 0, f->n_params * sizeof *dlambda);
    for (i = 0; i < dim; ++i) {
        double e = tp->g[i], inv = exp(-lambda[dim + i]);
        if (dlambda != NULL) {
            dlambda[i] = e * inv;
            dlambda[dim + i] = e * e - 1.0;
        }
        tp->g[i] = -e * inv;
    }
    for (l = 0; l < f->depth; ++l) {
        flow_layer ly = layer_of(f, lambda, l);
        const double *x = tp->x + l * dim, *s = tp->s + l * dim;
        for (j = 0; j < ly.nb; ++j) {
            size_t b = b_index(&ly, j);
            double e = exp(-s[j]);
            tp->dt[j] = -tp->g[b] * e;
            tp->ds[j] = -tp->g[b] * x[b] - 1.0;
            tp->g[b] *= e;
        }
        if (dlambda != NULL) {
            flow_layer dly = layer_of(f, dlambda, l);
            conditioner_backward(f, &ly, &dly, x, tp->h + l * f->width, tp->ds, tp->dt,
                                 tp->dh, tp->g);
        } else {
            conditioner_backward(f, &ly, NULL, x, tp->h + l * f->width, tp->ds, tp->dt,
                                 tp->dh, tp->g);
        }
    }
    memcpy(dz, tp->g, dim * sizeof *dz);
    return lq;
}

static int flow_log_q_grad_z(const void *self, const double *lambda, const double *z,
                             double *lq, double *dz, double *work, vi_error *err)
{
    const flow_family *f = (const flow_family *)self;
    flow_tape tp = tape_of(f, work);
    (void)err;
    *lq = inverse_gradients(f, lambda, z, dz, NULL, &tp);
    return VI_OK;
}

static int flow_log_q_grad_lambda(const void *self, const double *lambda, const double *z,
                                  double *lq, double *dlambda, double *work, vi_error *err)
{
    const flow_family *f = (const flow_family *)self;
    flow_tape tp = tape_of(f, work);
    (void)err;
    /* d log q / dz lands in the tape's ds slot, which is free by then. */
    *lq = inverse_gradients(f, lambda, z, tp.ds, dlambda, &tp);
    return VI_OK;
}

static const vi_family_desc flow_family_desc = {
    .struct_size = sizeof(vi_family_desc),
    .kind = VI_KIND_FAMILY,
    .name = "flow",
    .summary = "normalizing flow: affine coupling layers (RealNVP) on a Gaussian base",
    .flags = 0,
    .options = flow_options,
    .create = flow_create,
    .destroy = flow_destroy,
    .n_params = flow_n_params,
    .base_dim = flow_base_dim,
    .param_name = flow_param_name,
    .workspace_size = flow_workspace_size,
    .init = flow_init,
    .sample_base = NULL, /* standard normal: the host draws eps */
    .forward = flow_forward,
    .backward = flow_backward,
    .entropy = NULL, /* none in closed form: the host estimates it */
    .log_q = flow_log_q,
    .log_q_grad_z = flow_log_q_grad_z,
    .log_q_grad_lambda = flow_log_q_grad_lambda,
    .moments = NULL};

static const vi_component_head *const flow_components[] = {
    VI_COMPONENT(flow_family_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "flow",
    .version = "0.1.0",
    .description = "the RealNVP normalizing-flow variational family",
    .init = NULL,
    .deinit = NULL,
    .components = flow_components};
