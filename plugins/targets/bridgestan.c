/*
 * bridgestan.c — the `bridgestan` target: any Stan model compiled with
 * BridgeStan (https://roualdes.github.io/bridgestan) as a vihost target.
 *
 * It dlopen()s the model library named by the option `model` and talks to
 * it through BridgeStan's public C API (bridgestan.h, version 2.x):
 * bs_model_construct / bs_model_destruct, bs_param_unc_num and
 * bs_param_unc_names (the unconstrained coordinates vihost fits over),
 * bs_param_num, bs_param_names and bs_param_constrain (the constrained
 * values written to summary.csv and draws.csv), bs_log_density and
 * bs_log_density_gradient (with the Jacobian of the constraining
 * transforms, so the density is over the unconstrained space), and
 * bs_free_error_msg for every error message it hands back.  Nothing of
 * BridgeStan is needed at build time.
 *
 * The data are the run file's target data file, a Stan JSON file, handed
 * to bs_model_construct by its path (the host's "data_file" key), or the
 * option `data` (a path, or a JSON string).
 *
 * BridgeStan's functions are thread-safe only in a library compiled with
 * STAN_THREADS=true, which the adapter cannot see, so the component is
 * VI_FLAG_SERIAL.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

/* BridgeStan's opaque types. */
typedef struct bs_model bs_model;
typedef struct bs_rng bs_rng;

/* The functions of bridgestan.h that the adapter calls. */
typedef struct bs_api {
    void *handle;
    bs_model *(*model_construct)(const char *data, unsigned int seed, char **error_msg);
    void (*model_destruct)(bs_model *m);
    void (*free_error_msg)(char *error_msg);
    int (*param_unc_num)(const bs_model *m);
    int (*param_num)(const bs_model *m, bool include_tp, bool include_gq);
    const char *(*param_unc_names)(const bs_model *m);
    const char *(*param_names)(const bs_model *m, bool include_tp, bool include_gq);
    int (*param_constrain)(const bs_model *m, bool include_tp, bool include_gq,
                           const double *theta_unc, double *theta, bs_rng *rng,
                           char **error_msg);
    int (*log_density)(const bs_model *m, bool propto, bool jacobian,
                       const double *theta_unc, double *lp, char **error_msg);
    int (*log_density_gradient)(const bs_model *m, bool propto, bool jacobian,
                                const double *theta_unc, double *val, double *grad,
                                char **error_msg);
} bs_api;

typedef struct bridgestan_target {
    bs_api api;
    bs_model *model;
    bool propto;
    size_t dim, cdim;
    char *unc_text, *text;        /* the names, rewritten "a.1.2" -> "a[1,2]" */
    const char **unc_names, **names;
} bridgestan_target;

static const vi_option bridgestan_options[] = {
    {sizeof(vi_option), "model", VI_OPTION_STRING, 1, NULL, 0.0, 0.0,
     "the model's shared library, compiled with BridgeStan 2.x (e.g. bernoulli_model.so)"},
    {sizeof(vi_option), "data", VI_OPTION_STRING, 0, NULL, 0.0, 0.0,
     "Stan JSON data: a path or a JSON string; default: the run file's target data file"},
    {sizeof(vi_option), "seed", VI_OPTION_INT, 0, "1", 0.0, 4294967295.0,
     "seed of the model's transformed data block (bs_model_construct)"},
    {sizeof(vi_option), "propto", VI_OPTION_BOOL, 0, "false", 0.0, 0.0,
     "drop the density's constant terms (then the ELBO is shifted by an unknown constant)"},
    VI_OPTION_END};

/* Copies BridgeStan's message into err, on one line, and frees it. */
static int bs_fail(const bs_api *api, char *msg, vi_error *err, int code, const char *what)
{
    char line[VI_ERROR_MSG_SIZE];
    size_t i, n = 0;
    int space = 0;
    for (i = 0; msg != NULL && msg[i] != '\0' && n + 1 < sizeof line; ++i) {
        int blank = msg[i] == '\n' || msg[i] == '\r' || msg[i] == '\t' || msg[i] == ' ';
        if (blank && (n == 0 || space))
            continue;
        space = blank;
        line[n++] = blank ? ' ' : msg[i];
    }
    while (n > 0 && line[n - 1] == ' ')
        --n;
    line[n] = '\0';
    if (msg != NULL && api->free_error_msg != NULL)
        api->free_error_msg(msg);
    return vi_error_set(err, code, "%s: %s", what, n ? line : "no message");
}

static void *need(void *handle, const char *symbol, const char **missing)
{
    void *p = dlsym(handle, symbol);
    if (p == NULL && *missing == NULL)
        *missing = symbol;
    return p;
}

/* dlsym's object pointer into a function pointer member, as POSIX allows. */
#define LOAD(member, symbol)                                                  \
    do {                                                                      \
        void *p_ = need(api->handle, symbol, &missing);                       \
        memcpy(&api->member, &p_, sizeof p_);                                 \
    } while (0)

/* Opens the library and finds every function of the C API. */
static int bs_open(bs_api *api, const char *path, vi_error *err)
{
    const char *missing = NULL;
    const int *major;
    memset(api, 0, sizeof *api);
    api->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (api->handle == NULL) {
        const char *why = dlerror();
        return vi_error_set(err, VI_EIO, "option 'model': cannot load '%s': %s", path,
                            why ? why : "dlopen failed");
    }
    /* bs_major_version is in every 2.x library; the 1.x API differs. */
    major = (const int *)dlsym(api->handle, "bs_major_version");
    if (major != NULL && *major != 2)
        return vi_error_set(err, VI_EUNSUPPORTED, "option 'model': '%s' was built with "
                            "BridgeStan %d.x; this adapter speaks the 2.x C API", path, *major);
    LOAD(model_construct, "bs_model_construct");
    LOAD(model_destruct, "bs_model_destruct");
    LOAD(free_error_msg, "bs_free_error_msg");
    LOAD(param_unc_num, "bs_param_unc_num");
    LOAD(param_num, "bs_param_num");
    LOAD(param_unc_names, "bs_param_unc_names");
    LOAD(param_names, "bs_param_names");
    LOAD(param_constrain, "bs_param_constrain");
    LOAD(log_density, "bs_log_density");
    LOAD(log_density_gradient, "bs_log_density_gradient");
    if (missing != NULL)
        return vi_error_set(err, VI_EINVAL, "option 'model': '%s' is not a BridgeStan model "
                            "library: it has no %s", path, missing);
    return VI_OK;
}

/* Splits BridgeStan's comma-separated names into n strings, each written
 * the vihost (and Stan CSV) way: "b.2.3" becomes "b[2,3]". */
static int split_names(const char *csv, size_t n, char **text, const char ***names)
{
    size_t len, i, k = 0;
    char *out, *w;
    const char **list;
    if (csv == NULL)
        return VI_EINVAL;
    len = strlen(csv);
    out = (char *)malloc(2 * len + 2);
    list = (const char **)calloc(n + 1, sizeof *list);
    if (out == NULL || list == NULL) {
        free(out);
        free((void *)list);
        return VI_ENOMEM;
    }
    w = out;
    for (i = 0; i <= len && k < n; ++i) {
        const char *field = csv + i;
        size_t flen = strcspn(field, ","), j, dots = 0;
        list[k++] = w;
        for (j = 0; j < flen; ++j) {
            if (field[j] == '.')
                *w++ = dots++ ? ',' : '[';
            else
                *w++ = field[j];
        }
        if (dots)
            *w++ = ']';
        *w++ = '\0';
        i += flen;
    }
    *text = out;
    *names = list;
    return k == n ? VI_OK : VI_EINVAL;
}

static void bridgestan_destroy(void *self)
{
    bridgestan_target *t = (bridgestan_target *)self;
    if (t == NULL)
        return;
    if (t->model != NULL)
        t->api.model_destruct(t->model);
    if (t->api.handle != NULL)
        dlclose(t->api.handle);
    free(t->unc_text);
    free(t->text);
    free((void *)t->unc_names);
    free((void *)t->names);
    free(t);
}

/* The data for bs_model_construct: the option, else the data file, else
 * none (""). */
static const char *data_source(const vi_host *host, const vi_config *config)
{
    const char *data = NULL;
    if (host->config_get_string(config, "data", &data) == VI_OK && data != NULL)
        return data;
    if (host->config_get_string(config, "data_file", &data) == VI_OK && data != NULL)
        return data;
    return "";
}

/* Makes the model and reads its sizes and names. */
static int bridgestan_model(bridgestan_target *t, const char *data, unsigned int seed,
                            vi_error *err)
{
    char *msg = NULL;
    int unc, num;
    t->model = t->api.model_construct(data, seed, &msg);
    if (t->model == NULL)
        return bs_fail(&t->api, msg, err, VI_EINVAL, "the Stan model refused its data");
    unc = t->api.param_unc_num(t->model);
    num = t->api.param_num(t->model, false, false);
    if (unc <= 0 || num < 0)
        return vi_error_set(err, VI_EINVAL, "the Stan model has no parameters to fit (%d)",
                            unc);
    t->dim = (size_t)unc;
    t->cdim = (size_t)num;
    if (split_names(t->api.param_unc_names(t->model), t->dim, &t->unc_text,
                    &t->unc_names) != VI_OK ||
        split_names(t->api.param_names(t->model, false, false), t->cdim, &t->text,
                    &t->names) != VI_OK)
        return vi_error_set(err, VI_EINVAL, "the Stan model's parameter names do not match "
                            "its parameter counts (%lu unconstrained, %lu constrained)",
                            (unsigned long)t->dim, (unsigned long)t->cdim);
    return VI_OK;
}

static int bridgestan_setup(const vi_host *host, const vi_config *config, void *self,
                            vi_error *err)
{
    bridgestan_target *t = (bridgestan_target *)self;
    const char *model = NULL;
    char path[4096];
    int64_t seed = 1;
    int propto = 0, status;
    if (host->config_get_string(config, "model", &model) != VI_OK || model == NULL ||
        model[0] == '\0')
        return vi_error_set(err, VI_EINVAL, "option 'model' (the model's .so) is missing");
    /* Without a '/', dlopen would search the system's library folders. */
    snprintf(path, sizeof path, "%s%s", strchr(model, '/') ? "" : "./", model);
    status = vi_config_get_int_or(host, config, "seed", 1, &seed, err);
    if (status != VI_OK)
        return status;
    host->config_get_bool(config, "propto", &propto);
    t->propto = propto != 0;
    status = bs_open(&t->api, path, err);
    if (status == VI_OK)
        status = bridgestan_model(t, data_source(host, config), (unsigned int)seed, err);
    return status;
}

static int bridgestan_create(const vi_host *host, const vi_config *config, void **self,
                             vi_error *err)
{
    return tu_create(host, config, sizeof(bridgestan_target), bridgestan_setup,
                     bridgestan_destroy, self, err);
}

static size_t bridgestan_dim(const void *self)
{
    return ((const bridgestan_target *)self)->dim;
}

static const char *bridgestan_param_name(const void *self, size_t i)
{
    const bridgestan_target *t = (const bridgestan_target *)self;
    return i < t->dim ? t->unc_names[i] : NULL;
}

/* Stan throws where the density is undefined (a rejection); that is an
 * error with Stan's message, as BridgeStan reports it. */
static int bridgestan_log_density(const void *self, const double *theta, double *lp,
                                  double *grad, double *work, vi_error *err)
{
    const bridgestan_target *t = (const bridgestan_target *)self;
    char *msg = NULL;
    int rc = grad != NULL
                 ? t->api.log_density_gradient(t->model, t->propto, true, theta, lp, grad, &msg)
                 : t->api.log_density(t->model, t->propto, true, theta, lp, &msg);
    (void)work;
    if (rc != 0)
        return bs_fail(&t->api, msg, err, VI_EDOMAIN, "the Stan model rejected the point");
    if (isnan(*lp))
        return vi_error_set(err, VI_ENUMERIC, "the Stan model's log density is NaN");
    return VI_OK;
}

static size_t bridgestan_constrained_dim(const void *self)
{
    return ((const bridgestan_target *)self)->cdim;
}

static const char *bridgestan_constrained_name(const void *self, size_t i)
{
    const bridgestan_target *t = (const bridgestan_target *)self;
    return i < t->cdim ? t->names[i] : NULL;
}

static int bridgestan_constrain(const void *self, const double *theta, double *out,
                                vi_error *err)
{
    const bridgestan_target *t = (const bridgestan_target *)self;
    char *msg = NULL;
    if (t->api.param_constrain(t->model, false, false, theta, out, NULL, &msg) != 0)
        return bs_fail(&t->api, msg, err, VI_EDOMAIN, "bs_param_constrain failed");
    return VI_OK;
}

static const vi_target_desc bridgestan_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "bridgestan",
    .summary = "any Stan model compiled with BridgeStan 2.x (option model: path.so)",
    .flags = VI_FLAG_SERIAL,
    .options = bridgestan_options,
    .create = bridgestan_create,
    .destroy = bridgestan_destroy,
    .dim = bridgestan_dim,
    .param_name = bridgestan_param_name,
    .workspace_size = NULL,
    .log_density = bridgestan_log_density,
    .get_extension = NULL,
    .constrained_dim = bridgestan_constrained_dim,
    .constrained_name = bridgestan_constrained_name,
    .constrain = bridgestan_constrain};

static const vi_component_head *const bridgestan_components[] = {
    VI_COMPONENT(bridgestan_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "bridgestan",
    .version = "0.1.0",
    .description = "Stan models through BridgeStan's C API",
    .init = NULL,
    .deinit = NULL,
    .components = bridgestan_components};
