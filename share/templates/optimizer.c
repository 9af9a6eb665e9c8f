/*
 * vitemplate.c — a vihost optimizer plugin, written by
 * `vihost new optimizer`.
 *
 * The rule, a starting point to replace with your own: gradient ascent
 * with heavy-ball momentum,
 *     v = beta v + grad,    lambda += learning_rate v.
 *
 * The loop:
 *     make                          builds vitemplate.so
 *     vihost check ./vitemplate.so  ascent, checkpoints, independence, ...
 *     vihost run vitemplate.yaml    fits a test target with it
 * Every member of the descriptor below is filled in or set to NULL with a
 * note on when to provide it; plugin.h has the full contract and
 * share/doc/plugins.md (or `man vihost-plugins`) the guide.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

typedef struct vitemplate_optimizer {
    size_t n;
    double learning_rate, beta;
    double *v; /* n: the velocity, the optimizer's state */
} vitemplate_optimizer;

/* What save_state writes: a tag, n, the learning rate, then v. */
#define STATE_TAG 0x76697465u /* "vite" */

typedef struct vitemplate_state_head {
    uint32_t tag;
    uint32_t reserved;
    uint64_t n;
    double learning_rate;
} vitemplate_state_head;

static const vi_option vitemplate_options[] = {
    /* struct_size, key, type, required, default, min, max, doc */
    {sizeof(vi_option), "learning_rate", VI_OPTION_DOUBLE, 0, "0.01", 0.0, HUGE_VAL,
     "step size (> 0)"},
    {sizeof(vi_option), "beta", VI_OPTION_DOUBLE, 0, "0.9", 0.0, 1.0,
     "how much of the last velocity is kept, in [0, 1)"},
    VI_OPTION_END};

static int vitemplate_check_rate(double rate, vi_error *err)
{
    if (!(rate > 0.0) || !isfinite(rate))
        return vi_error_set(err, VI_EINVAL, "learning_rate must be finite and > 0, got %g",
                            rate);
    return VI_OK;
}

/* [instance-serial] An instance for n parameters. */
static int vitemplate_create(const vi_host *host, const vi_config *config, size_t n,
                             void **self, vi_error *err)
{
    vitemplate_optimizer *o;
    double rate, beta;
    int status;
    *self = NULL;
    status = vi_config_get_double_or(host, config, "learning_rate", 0.01, &rate, err);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "beta", 0.9, &beta, err);
    if (status == VI_OK)
        status = vitemplate_check_rate(rate, err);
    if (status != VI_OK)
        return status;
    if (!(beta >= 0.0 && beta < 1.0))
        return vi_error_set(err, VI_EINVAL, "option 'beta' must be in [0, 1), got %g", beta);
    o = (vitemplate_optimizer *)malloc(sizeof *o);
    if (o == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    o->v = (double *)calloc(n + 1, sizeof *o->v); /* + 1: n may be 0 */
    if (o->v == NULL) {
        free(o);
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    }
    o->n = n;
    o->learning_rate = rate;
    o->beta = beta;
    *self = o;
    return VI_OK;
}

/* [instance-serial] NULL is a no-op. */
static void vitemplate_destroy(void *self)
{
    vitemplate_optimizer *o = (vitemplate_optimizer *)self;
    if (o != NULL)
        free(o->v);
    free(o);
}

/* [instance-serial] One ascent step on lambda, in place.  Leaves lambda
 * finite whenever grad is: a velocity that overflows is refused. */
static int vitemplate_step(void *self, double *lambda, const double *grad,
                           const vi_step_info *info, vi_error *err)
{
    vitemplate_optimizer *o = (vitemplate_optimizer *)self;
    size_t i;
    (void)info; /* info->iteration counts from 1; info->elbo is the latest estimate */
    for (i = 0; i < o->n; ++i) {
        double v = o->beta * o->v[i] + grad[i];
        double next = lambda[i] + o->learning_rate * v;
        if (!isfinite(next))
            return vi_error_set(err, VI_ENUMERIC,
                                "step of lambda[%lu] is not finite (gradient %g); lower "
                                "learning_rate", (unsigned long)i + 1UL, grad[i]);
        o->v[i] = v;
        lambda[i] = next;
    }
    return VI_OK;
}

/* [instance-serial] The base learning rate, for the host's step-size
 * adaptation. */
static double vitemplate_get_learning_rate(const void *self)
{
    return ((const vitemplate_optimizer *)self)->learning_rate;
}

static int vitemplate_set_learning_rate(void *self, double rate, vi_error *err)
{
    int status = vitemplate_check_rate(rate, err);
    if (status == VI_OK)
        ((vitemplate_optimizer *)self)->learning_rate = rate;
    return status;
}

/* [instance-serial] Checkpoints: everything step depends on. */
static size_t vitemplate_state_size(const void *self)
{
    return sizeof(vitemplate_state_head) + ((const vitemplate_optimizer *)self)->n * sizeof(double);
}

static int vitemplate_save_state(const void *self, void *buf, vi_error *err)
{
    const vitemplate_optimizer *o = (const vitemplate_optimizer *)self;
    vitemplate_state_head head = {STATE_TAG, 0, (uint64_t)o->n, o->learning_rate};
    (void)err;
    memcpy(buf, &head, sizeof head);
    memcpy((char *)buf + sizeof head, o->v, o->n * sizeof(double));
    return VI_OK;
}

static int vitemplate_load_state(void *self, const void *buf, size_t size, vi_error *err)
{
    vitemplate_optimizer *o = (vitemplate_optimizer *)self;
    vitemplate_state_head head;
    if (size != vitemplate_state_size(o))
        return vi_error_set(err, VI_EINVAL, "a state of %lu bytes, expected %lu",
                            (unsigned long)size, (unsigned long)vitemplate_state_size(o));
    memcpy(&head, buf, sizeof head);
    if (head.tag != STATE_TAG || head.n != (uint64_t)o->n)
        return vi_error_set(err, VI_EINVAL, "not a vitemplate state for %lu parameters",
                            (unsigned long)o->n);
    o->learning_rate = head.learning_rate;
    memcpy(o->v, (const char *)buf + sizeof head, o->n * sizeof(double));
    return VI_OK;
}

static const vi_optimizer_desc vitemplate_desc = {
    .struct_size = sizeof(vi_optimizer_desc),
    .kind = VI_KIND_OPTIMIZER,
    .name = "vitemplate", /* unique among all loaded components */
    .summary = "gradient ascent with momentum (a vihost new template)",
    .flags = 0,
    .options = vitemplate_options,
    .create = vitemplate_create,
    .destroy = vitemplate_destroy,
    .step = vitemplate_step,
    .get_extension = NULL, /* capabilities beyond 1.0, by id */
    .get_learning_rate = vitemplate_get_learning_rate,
    .set_learning_rate = vitemplate_set_learning_rate,
    .state_size = vitemplate_state_size,
    .save_state = vitemplate_save_state,
    .load_state = vitemplate_load_state};

static const vi_component_head *const vitemplate_components[] = {
    VI_COMPONENT(vitemplate_desc), NULL};

/* The one exported symbol. */
VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "vitemplate",
    .version = "0.1.0",
    .description = "the vitemplate optimizer",
    .init = NULL,
    .deinit = NULL,
    .components = vitemplate_components};
