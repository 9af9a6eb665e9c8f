/* faults.c — a target, a family and an optimizer that each misbehave on
 * request, so the tests can show what the host does with every kind of
 * plugin fault: a create that fails with a message, a NaN, +inf or -inf
 * log density, a NaN gradient, a failing call, a family whose z is not
 * finite, an optimizer that fails or leaves lambda non-finite, a size
 * beyond reason.  Option `fault` picks the fault ("none" behaves: a
 * standard normal target, a mean-field Gaussian family, plain SGD).
 * Target and family faults strike at points whose first coordinate is
 * above option `above` (so a draw sometimes, or always with the default);
 * optimizer faults from step `at` on. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <vihost/plugin.h>
#include <vihost/sdk.h>

#define FAULT_LOG_2PI 1.8378770664093454836

typedef struct fault_self {
    size_t dim;
    char fault[32];
    double above;
    int64_t at;
    double rate;
} fault_self;

/* Reads the options every component shares and checks `fault` against
 * the names this component knows. */
static int fault_read(const vi_host *host, const vi_config *config,
                      const char *const *known, fault_self *s, vi_error *err)
{
    const char *fault = "none";
    int64_t dim = 2;
    memset(s, 0, sizeof *s);
    if (host->config_get_string(config, "fault", &fault) != VI_OK)
        fault = "none";
    size_t k = 0;
    while (known[k] != NULL && strcmp(known[k], fault) != 0)
        k++;
    if (known[k] == NULL)
        return vi_error_set(err, VI_EINVAL, "option 'fault' names no fault I know: '%s'", fault);
    strncpy(s->fault, fault, sizeof s->fault - 1);
    int status = vi_config_get_double_or(host, config, "above", -1e300, &s->above, err);
    if (status == VI_OK)
        status = vi_config_get_int_or(host, config, "at", 1, &s->at, err);
    if (status == VI_OK)
        status = vi_config_get_int_or(host, config, "dim", 2, &dim, err);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "learning_rate", 0.1, &s->rate, err);
    s->dim = (size_t)dim;
    if (status == VI_OK && strcmp(s->fault, "create") == 0)
        status = vi_error_set(err, VI_EINVAL,
                              "asked to fail: option 'fault' is 'create' (a test plugin)");
    return status;
}

static int fault_is(const fault_self *s, const char *name)
{
    return strcmp(s->fault, name) == 0;
}

static void fault_destroy(void *self)
{
    free(self);
}

static int fault_new(const vi_host *host, const vi_config *config,
                     const char *const *known, void **self, vi_error *err)
{
    fault_self *s = malloc(sizeof *s);
    *self = NULL;
    if (s == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    int status = fault_read(host, config, known, s, err);
    if (status != VI_OK) {
        free(s);
        return status;
    }
    *self = s;
    return VI_OK;
}

/* ---- target: a standard normal over dim coordinates ---------------- */

static const vi_option target_options[] = {
    {sizeof(vi_option), "fault", VI_OPTION_STRING, 0, "none", 0, 0,
     "none, create, nan, inf, neg_inf, nan_grad, status, huge_dim"},
    {sizeof(vi_option), "above", VI_OPTION_DOUBLE, 0, "-1e300", -HUGE_VAL, HUGE_VAL,
     "the fault strikes where theta[1] > above"},
    {sizeof(vi_option), "dim", VI_OPTION_INT, 0, "2", 1, 64, "dimension"},
    VI_OPTION_END};

static int target_create(const vi_host *host, const vi_config *config, void **self,
                         vi_error *err)
{
    static const char *const known[] = {"none", "create", "nan", "inf", "neg_inf",
                                        "nan_grad", "status", "huge_dim", NULL};
    return fault_new(host, config, known, self, err);
}

static size_t target_dim(const void *self)
{
    const fault_self *s = self;
    /* A size no buffer can have: the host must refuse it, not wrap. */
    return fault_is(s, "huge_dim") ? SIZE_MAX : s->dim;
}

static const char *target_param_name(const void *self, size_t i)
{
    static const char *const names[] = {"x[1]", "x[2]", "x[3]", "x[4]"};
    (void)self;
    return i < 4 ? names[i] : "x[n]";
}

static int target_log_density(const void *self, const double *theta, double *lp,
                              double *grad, double *work, vi_error *err)
{
    const fault_self *s = self;
    double ss = 0.0;
    (void)work;
    for (size_t i = 0; i < s->dim; i++) {
        ss += theta[i] * theta[i];
        if (grad != NULL)
            grad[i] = -theta[i];
    }
    *lp = -0.5 * ss - 0.5 * (double)s->dim * FAULT_LOG_2PI;
    if (!(theta[0] > s->above))
        return VI_OK;
    if (fault_is(s, "nan"))
        *lp = NAN;
    else if (fault_is(s, "inf"))
        *lp = HUGE_VAL;
    else if (fault_is(s, "neg_inf"))
        *lp = -HUGE_VAL;
    else if (fault_is(s, "nan_grad") && grad != NULL)
        grad[s->dim - 1] = NAN;
    else if (fault_is(s, "status"))
        return vi_error_set(err, VI_EDOMAIN, "theta[1] = %g is outside my domain (a test fault)",
                            theta[0]);
    return VI_OK;
}

static int target_log_evidence(const void *self, double *log_z, vi_error *err)
{
    (void)self;
    (void)err;
    *log_z = 0.0;
    return VI_OK;
}

static const vi_target_desc fault_target = {
    .struct_size = sizeof(vi_target_desc), .kind = VI_KIND_TARGET,
    .name = "fault_target", .summary = "a standard normal that misbehaves on request",
    .flags = VI_FLAG_TEST, .options = target_options,
    .create = target_create, .destroy = fault_destroy, .dim = target_dim,
    .param_name = target_param_name, .log_density = target_log_density,
    .log_evidence = target_log_evidence,
};

/* ---- family: mean-field Gaussian, lambda = (mu, omega), z = mu + e^omega eps */

static const vi_option family_options[] = {
    {sizeof(vi_option), "fault", VI_OPTION_STRING, 0, "none", 0, 0,
     "none, create, nan_z, inf_z, forward_status, backward_nan, entropy_nan, init_fails, "
     "zero_params"},
    {sizeof(vi_option), "above", VI_OPTION_DOUBLE, 0, "-1e300", -HUGE_VAL, HUGE_VAL,
     "the fault strikes where eps[1] > above"},
    VI_OPTION_END};

static int family_create(const vi_host *host, const vi_config *config, size_t dim,
                         void **self, vi_error *err)
{
    static const char *const known[] = {"none", "create", "nan_z", "inf_z",
                                        "forward_status", "backward_nan", "entropy_nan",
                                        "init_fails", "zero_params", NULL};
    int status = fault_new(host, config, known, self, err);
    if (status == VI_OK)
        ((fault_self *)*self)->dim = dim;
    return status;
}

static size_t family_n_params(const void *self)
{
    const fault_self *s = self;
    return fault_is(s, "zero_params") ? 0 : 2 * s->dim;
}

static size_t family_base_dim(const void *self)
{
    return ((const fault_self *)self)->dim;
}

static int family_init(const void *self, double *lambda, vi_error *err)
{
    const fault_self *s = self;
    if (fault_is(s, "init_fails"))
        return vi_error_set(err, VI_EINVAL, "cannot start: a test fault");
    memset(lambda, 0, 2 * s->dim * sizeof *lambda);
    return VI_OK;
}

static int family_forward(const void *self, const double *lambda, const double *eps,
                          double *z, double *log_q, double *work, vi_error *err)
{
    const fault_self *s = self;
    double lq = 0.0;
    (void)work;
    for (size_t i = 0; i < s->dim; i++) {
        z[i] = lambda[i] + exp(lambda[s->dim + i]) * eps[i];
        lq += -0.5 * eps[i] * eps[i] - lambda[s->dim + i] - 0.5 * FAULT_LOG_2PI;
    }
    if (log_q != NULL)
        *log_q = lq;
    if (!(eps[0] > s->above))
        return VI_OK;
    if (fault_is(s, "nan_z"))
        z[s->dim - 1] = NAN;
    else if (fault_is(s, "inf_z"))
        z[0] = HUGE_VAL;
    else if (fault_is(s, "forward_status"))
        return vi_error_set(err, VI_ENUMERIC, "cannot map eps[1] = %g (a test fault)", eps[0]);
    return VI_OK;
}

static int family_backward(const void *self, const double *lambda, const double *eps,
                           const double *dz, double *dlambda, double *work, vi_error *err)
{
    const fault_self *s = self;
    (void)work;
    (void)err;
    for (size_t i = 0; i < s->dim; i++) {
        dlambda[i] += dz[i];
        dlambda[s->dim + i] += dz[i] * exp(lambda[s->dim + i]) * eps[i];
    }
    if (fault_is(s, "backward_nan") && eps[0] > s->above)
        dlambda[0] = NAN;
    return VI_OK;
}

static int family_entropy(const void *self, const double *lambda, double *h, double *dlambda,
                          double *work, vi_error *err)
{
    const fault_self *s = self;
    (void)work;
    (void)err;
    *h = 0.5 * (double)s->dim * (1.0 + FAULT_LOG_2PI);
    for (size_t i = 0; i < s->dim; i++) {
        *h += lambda[s->dim + i];
        if (dlambda != NULL)
            dlambda[s->dim + i] += 1.0;
    }
    if (fault_is(s, "entropy_nan"))
        *h = NAN;
    return VI_OK;
}

static int family_log_q(const void *self, const double *lambda, const double *z, double *lq,
                        double *work, vi_error *err)
{
    const fault_self *s = self;
    (void)work;
    (void)err;
    *lq = 0.0;
    for (size_t i = 0; i < s->dim; i++) {
        double sd = exp(lambda[s->dim + i]), u = (z[i] - lambda[i]) / sd;
        *lq += -0.5 * u * u - lambda[s->dim + i] - 0.5 * FAULT_LOG_2PI;
    }
    return VI_OK;
}

static const vi_family_desc fault_family = {
    .struct_size = sizeof(vi_family_desc), .kind = VI_KIND_FAMILY,
    .name = "fault_family", .summary = "a mean-field Gaussian that misbehaves on request",
    .flags = VI_FLAG_TEST, .options = family_options,
    .create = family_create, .destroy = fault_destroy, .n_params = family_n_params,
    .base_dim = family_base_dim, .init = family_init, .forward = family_forward,
    .backward = family_backward, .entropy = family_entropy, .log_q = family_log_q,
};

/* ---- optimizer: plain SGD ------------------------------------------- */

static const vi_option optimizer_options[] = {
    {sizeof(vi_option), "fault", VI_OPTION_STRING, 0, "none", 0, 0,
     "none, create, nan_lambda, step_status"},
    {sizeof(vi_option), "at", VI_OPTION_INT, 0, "1", 1, HUGE_VAL,
     "the fault strikes from this step on"},
    {sizeof(vi_option), "learning_rate", VI_OPTION_DOUBLE, 0, "0.1", 0, HUGE_VAL, "step size"},
    VI_OPTION_END};

static int optimizer_create(const vi_host *host, const vi_config *config, size_t n,
                            void **self, vi_error *err)
{
    static const char *const known[] = {"none", "create", "nan_lambda", "step_status", NULL};
    int status = fault_new(host, config, known, self, err);
    if (status == VI_OK)
        ((fault_self *)*self)->dim = n;
    return status;
}

static int optimizer_step(void *self, double *lambda, const double *grad,
                          const vi_step_info *info, vi_error *err)
{
    const fault_self *s = self;
    int strikes = (int64_t)info->iteration >= s->at;
    if (strikes && fault_is(s, "step_status"))
        return vi_error_set(err, VI_ENUMERIC, "cannot step at iteration %llu (a test fault)",
                            (unsigned long long)info->iteration);
    for (size_t i = 0; i < s->dim; i++)
        lambda[i] += s->rate / (double)info->iteration * grad[i];
    if (strikes && fault_is(s, "nan_lambda"))
        lambda[0] = NAN;
    return VI_OK;
}

static const vi_optimizer_desc fault_optimizer = {
    .struct_size = sizeof(vi_optimizer_desc), .kind = VI_KIND_OPTIMIZER,
    .name = "fault_optimizer", .summary = "SGD that misbehaves on request",
    .flags = VI_FLAG_TEST, .options = optimizer_options,
    .create = optimizer_create, .destroy = fault_destroy, .step = optimizer_step,
};

static const vi_component_head *const components[] = {
    VI_COMPONENT(fault_target), VI_COMPONENT(fault_family), VI_COMPONENT(fault_optimizer),
    NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "faults", .version = "0.0.1",
    .description = "test: components that misbehave on request",
    .components = components,
};
