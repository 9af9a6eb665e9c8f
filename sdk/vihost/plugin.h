/*
 * vihost/plugin.h — the vihost plugin ABI, version 1.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * `vi_plugin_entry`, a const `vi_plugin`.  It holds a table of components:
 * targets (an unnormalized log density over R^dim and its gradient),
 * variational families (a reparameterizable q_lambda) and optimizers
 * (a stochastic-gradient ascent rule on lambda).
 *
 * Rules (see share/doc/plugins.md for the guide):
 *  - Every struct that crosses the boundary begins with `uint32_t
 *    struct_size`.  Members are only ever appended, each block marked with
 *    the ABI minor version that added it.  Read a member added after 1.0
 *    only when VI_HAS_MEMBER says the other side has it.
 *  - Descriptors are const tables of function pointers; instances are opaque
 *    `void *` owned by the plugin, made by `create` and freed by `destroy`.
 *  - Every numeric array is allocated by the caller, sized by the dimension
 *    the instance reports, and not kept after the call returns.  Nothing is
 *    freed across the boundary.  Strings a plugin returns live as long as
 *    the instance; descriptor strings live until the plugin is unloaded.
 *  - Fallible calls return 0 or a negative VI_E* status and may describe
 *    the failure in the caller's `vi_error` (use vi_error_set from sdk.h).
 *    A plugin never prints, never calls exit or abort.
 *  - Thread tags on every function:
 *      [load-time]        called once per load, before/after everything else;
 *      [instance-serial]  never concurrently with any other call on the
 *                         same instance;
 *      [any-thread]       may run concurrently on one instance from several
 *                         threads, each with its own buffers and workspace.
 *    A component whose [any-thread] functions are not safe sets
 *    VI_FLAG_SERIAL; the host then serializes them.
 */
#ifndef VIHOST_PLUGIN_H
#define VIHOST_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Versions                                                             */
/* ------------------------------------------------------------------ */

/* The host loads a plugin whose abi.major equals VI_ABI_MAJOR, whatever its
 * minor; minors only append members. */
#define VI_ABI_MAJOR 1
#define VI_ABI_MINOR 0

typedef struct vi_version {
    uint32_t major;
    uint32_t minor;
    uint32_t patch;
} vi_version;

/* True when the struct at `ptr` (of type `type`, or a newer minor of it)
 * is large enough to contain `member`.  Test it before reading any member
 * added after 1.0 — on both sides, since a newer plugin may meet an older
 * host and the other way round.  `ptr` may be NULL (then false). */
#define VI_HAS_MEMBER(ptr, type, member)                                      \
    ((ptr) != NULL &&                                                         \
     (size_t)((const type *)(ptr))->struct_size >=                            \
         offsetof(type, member) + sizeof(((const type *)0)->member))

/* Marks the one exported symbol; everything else in a plugin is hidden. */
#if defined(_WIN32)
#define VI_EXPORT __declspec(dllexport)
#else
#define VI_EXPORT __attribute__((visibility("default")))
#endif

/* ------------------------------------------------------------------ */
/* Status codes and errors                                              */
/* ------------------------------------------------------------------ */

/* Append-only.  0 is success; every failure is negative. */
enum {
    VI_OK = 0,
    VI_EINVAL = -1,       /* an argument or option value is invalid */
    VI_ENOMEM = -2,       /* out of memory */
    VI_ENOTFOUND = -3,    /* a configuration key or data variable is absent */
    VI_ETYPE = -4,        /* a key or variable has the wrong type or shape */
    VI_EDOMAIN = -5,      /* a point is outside where the function is defined */
    VI_ENUMERIC = -6,     /* a numerical failure (NaN, singular matrix, ...) */
    VI_EUNSUPPORTED = -7, /* the operation is not supported by this instance */
    VI_EIO = -8,          /* an input/output failure */
    VI_EINTERNAL = -9     /* a bug: an invariant did not hold */
};

#define VI_ERROR_MSG_SIZE 512

/* Filled by a plugin to explain a failed call.  The caller owns it, sets
 * struct_size, code 0 and an empty message before the call.  The plugin
 * writes a one-line, NUL-terminated message without a trailing period,
 * naming what failed and why (for example "option 'sigma' must be > 0,
 * got -1").  May be NULL in any call: then the plugin only returns the
 * status. */
typedef struct vi_error {
    uint32_t struct_size;
    int32_t code;                      /* the VI_E* status also returned */
    char message[VI_ERROR_MSG_SIZE];   /* NUL-terminated, one line */
} vi_error;

/* ------------------------------------------------------------------ */
/* Options                                                              */
/* ------------------------------------------------------------------ */

typedef enum vi_option_type {
    VI_OPTION_DOUBLE = 1,  /* a finite real */
    VI_OPTION_INT = 2,     /* a whole number (int64 range) */
    VI_OPTION_BOOL = 3,    /* true / false */
    VI_OPTION_STRING = 4,  /* text */
    VI_OPTION_ARRAY = 5    /* a real array of any rank: [1, 2] or [[1, 0], [0, 1]] */
} vi_option_type;

/* One accepted option.  A component's option table is a static array of
 * these, ended by an entry whose `key` is NULL.  Every entry of one table
 * has the same struct_size; the host walks the table with that stride. */
typedef struct vi_option {
    uint32_t struct_size;
    const char *key;           /* the run-file key; [a-z0-9_]+; NULL ends the table */
    vi_option_type type;
    int32_t required;          /* nonzero: the run file must give it */
    const char *default_value; /* a YAML scalar ("0.1", "true", "exact"); NULL: none */
    double min;                /* numbers only: inclusive bounds; use -HUGE_VAL / */
    double max;                /*   HUGE_VAL for unbounded.  Ignored otherwise. */
    const char *doc;           /* one line, shown by `vihost describe` */
} vi_option;

/* ------------------------------------------------------------------ */
/* Host services                                                        */
/* ------------------------------------------------------------------ */

/* A component's configuration: its validated options, with the option
 * table's defaults filled in, and — for targets — the variables of the
 * target's data file.  Owned by the host; valid until the instance is
 * destroyed.  Getters look in the run file's options first, then in the data,
 * then at the option table's defaults.
 * A target whose run file names a data file also finds that file's
 * absolute path under the string key "data_file" (unless its own options
 * declare a key of that name), for adapters that hand the file to another
 * library as a whole. */
typedef struct vi_config vi_config;

/* A random stream handed to `sample_base`.  Owned by the host; valid for
 * that call only.  Drawn through the host's rng_* functions. */
typedef struct vi_rng vi_rng;

typedef enum vi_log_level {
    VI_LOG_DEBUG = 0,
    VI_LOG_INFO = 1,
    VI_LOG_WARNING = 2,
    VI_LOG_ERROR = 3
} vi_log_level;

/* The services the host offers a component.  Passed to `create`; valid,
 * with every pointer in it, until that instance's `destroy` returns.
 * Every function is [any-thread] unless marked. */
typedef struct vi_host {
    uint32_t struct_size;
    vi_version abi;            /* the host's ABI version */
    const char *name;          /* "vihost" */
    const char *version;       /* the host's release, e.g. "0.1.0" */
    void *host_data;           /* the host's own; plugins leave it alone */

    /* Writes one line to the host's log, prefixed with the plugin and
     * component name.  `message` is copied; no trailing newline. */
    void (*log)(const struct vi_host *host, vi_log_level level,
                const char *message);

    /* Configuration and data.  Each returns VI_OK and fills *out, or
     * VI_ENOTFOUND when `key` is in neither the options nor the data, or
     * VI_ETYPE when it cannot be read as asked (a real where an integer is
     * asked, an array where a scalar is asked).  `config` is the handle
     * given to `create`; NULL gives VI_ENOTFOUND. */
    int (*config_get_double)(const vi_config *config, const char *key,
                             double *out);
    int (*config_get_int)(const vi_config *config, const char *key,
                          int64_t *out);
    int (*config_get_bool)(const vi_config *config, const char *key,
                           int *out);
    /* *out lives as long as the config. */
    int (*config_get_string)(const vi_config *config, const char *key,
                             const char **out);
    /* A real array in row-major order.  *data lives as long as the config.
     * *ndim is its rank (0 for a scalar, read as one element);
     * shape[0..ndim) its extents, shape having room for VI_MAX_RANK.
     * Integer data come back as exact doubles. */
    int (*config_get_array)(const vi_config *config, const char *key,
                            const double **data, size_t *shape,
                            size_t *ndim);
    /* Nonzero when `key` is present in the options or the data. */
    int (*config_has)(const vi_config *config, const char *key);

    /* Random numbers, for a family's `sample_base`. */
    double (*rng_uniform)(vi_rng *rng);          /* in (0, 1), never 0 or 1 */
    double (*rng_normal)(vi_rng *rng);           /* standard normal */
    uint64_t (*rng_bits)(vi_rng *rng);           /* 64 uniform bits */

    /* A service added after 1.0, by id ("vi.host.<name>/<rev>"); NULL when
     * this host has none. */
    const void *(*get_extension)(const struct vi_host *host, const char *id);
} vi_host;

#define VI_MAX_RANK 4

/* ------------------------------------------------------------------ */
/* Components                                                           */
/* ------------------------------------------------------------------ */

typedef enum vi_kind {
    VI_KIND_TARGET = 1,
    VI_KIND_FAMILY = 2,
    VI_KIND_OPTIMIZER = 3
} vi_kind;

/* Descriptor flags. */
/* The [any-thread] functions must not run concurrently on one instance. */
#define VI_FLAG_SERIAL ((uint64_t)1 << 0)
/* Test-only component: hidden from `vihost list` unless --all. */
#define VI_FLAG_TEST ((uint64_t)1 << 1)
/* Targets only: log_density (and log_density_subset) compute no gradient
 * and never write `grad`.  The host then differentiates log_density by
 * central finite differences (2 dim extra calls per gradient), warns once
 * per run, and result.json says "target_gradient": "finite differences".
 * For models whose gradient is not worth writing by hand; an analytic
 * gradient is faster and more accurate. */
#define VI_FLAG_NO_GRADIENT ((uint64_t)1 << 2)

/* The members every descriptor begins with, in this order.  The host reads
 * a component through this head, then by its kind. */
typedef struct vi_component_head {
    uint32_t struct_size;   /* sizeof the whole descriptor */
    vi_kind kind;
    const char *name;       /* unique among loaded components; [a-z0-9_]+ */
    const char *summary;    /* one line */
    uint64_t flags;         /* VI_FLAG_* */
    const vi_option *options; /* option table, or NULL for none */
} vi_component_head;

/* ---- Target ------------------------------------------------------- */

/* An unnormalized log density log p~(theta) over unconstrained R^dim. */
typedef struct vi_target_desc {
    uint32_t struct_size;
    vi_kind kind;             /* VI_KIND_TARGET */
    const char *name;
    const char *summary;
    uint64_t flags;
    const vi_option *options;

    /* [instance-serial] Makes an instance from a validated config; *self
     * receives it.  On failure returns a status, fills err, leaves *self
     * NULL and has freed everything it allocated.  `host` and `config`
     * stay valid until destroy. */
    int (*create)(const vi_host *host, const vi_config *config, void **self,
                  vi_error *err);
    /* [instance-serial] Frees the instance.  NULL is a no-op. */
    void (*destroy)(void *self);
    /* [any-thread] The dimension of theta. */
    size_t (*dim)(const void *self);
    /* [any-thread] Name of unconstrained coordinate i < dim, e.g.
     * "log_sigma"; lives as long as the instance. */
    const char *(*param_name)(const void *self, size_t i);
    /* [any-thread] Doubles of scratch space the host hands to every
     * log_density call (its contents undefined on entry).  NULL: none. */
    size_t (*workspace_size)(const void *self);
    /* [any-thread] *lp = log p~(theta).  When grad is non-NULL, also writes
     * its gradient (dim values; overwrite, do not add) — unless the
     * descriptor sets VI_FLAG_NO_GRADIENT.  -INFINITY in *lp means zero
     * density and is not an error; a NaN is.  `work` has workspace_size
     * doubles (NULL when 0). */
    int (*log_density)(const void *self, const double *theta, double *lp,
                       double *grad, double *work, vi_error *err);
    /* [any-thread] Extension by id ("vi.target.<name>/<rev>" or a reverse-
     * DNS id); NULL when unsupported.  The member itself may be NULL. */
    const void *(*get_extension)(const void *self, const char *id);

    /* -- Optional capabilities (1.0): NULL when not provided. -- */

    /* [any-thread] Constrained (natural-scale) output: its length, the
     * name of element i (e.g. "sigma", "theta[1]"), and the map from theta
     * (derived quantities allowed).  When NULL, theta is reported as is. */
    size_t (*constrained_dim)(const void *self);
    const char *(*constrained_name)(const void *self, size_t i);
    int (*constrain)(const void *self, const double *theta, double *out,
                     vi_error *err);
    /* [any-thread] Likelihood over a subset of data items, for minibatches
     * and sharding: log prior + scale * sum over idx[0..n) of the item log
     * likelihoods, and its gradient (overwrite).  n_items gives N. */
    size_t (*n_items)(const void *self);
    int (*log_density_subset)(const void *self, const double *theta,
                              const size_t *idx, size_t n, double scale,
                              double *lp, double *grad, double *work,
                              vi_error *err);
    /* [any-thread] The exact log normalizer log Z = log int p~(theta)
     * dtheta, for targets where it is known (test targets, conjugate
     * models).  Returns VI_EUNSUPPORTED when unknown for this config. */
    int (*log_evidence)(const void *self, double *log_z, vi_error *err);
} vi_target_desc;

/* ---- Family ------------------------------------------------------- */

/* A variational family q_lambda over R^dim, reparameterized as
 * z = T(lambda, eps) with base noise eps of length base_dim. */
typedef struct vi_family_desc {
    uint32_t struct_size;
    vi_kind kind;             /* VI_KIND_FAMILY */
    const char *name;
    const char *summary;
    uint64_t flags;
    const vi_option *options;

    /* [instance-serial] Makes an instance for targets of dimension `dim`. */
    int (*create)(const vi_host *host, const vi_config *config, size_t dim,
                  void **self, vi_error *err);
    /* [instance-serial] Frees the instance.  NULL is a no-op. */
    void (*destroy)(void *self);
    /* [any-thread] The length of lambda. */
    size_t (*n_params)(const void *self);
    /* [any-thread] The length of eps. */
    size_t (*base_dim)(const void *self);
    /* [any-thread] Name of lambda[i], e.g. "mu[3]", "L[2,1]"; lives as long
     * as the instance. */
    const char *(*param_name)(const void *self, size_t i);
    /* [any-thread] Doubles of scratch space handed to forward, backward,
     * entropy, log_q and the log_q gradients.  NULL: none. */
    size_t (*workspace_size)(const void *self);
    /* [any-thread] Writes the starting point lambda (n_params values). */
    int (*init)(const void *self, double *lambda, vi_error *err);
    /* [any-thread] Draws base noise eps (base_dim values) from `rng` through
     * the host's rng_* functions.  NULL when the base is i.i.d. standard
     * normal: then the host draws eps itself (pseudo, antithetic or
     * quasi-random). */
    int (*sample_base)(const void *self, vi_rng *rng, const vi_host *host,
                       double *eps, vi_error *err);
    /* [any-thread] z = T(lambda, eps) (dim values).  When log_q is
     * non-NULL, also *log_q = log q_lambda(z). */
    int (*forward)(const void *self, const double *lambda, const double *eps,
                   double *z, double *log_q, double *work, vi_error *err);
    /* [any-thread] Adds J_T(lambda, eps)^T dz into dlambda (n_params). */
    int (*backward)(const void *self, const double *lambda, const double *eps,
                    const double *dz, double *dlambda, double *work,
                    vi_error *err);
    /* [any-thread] Closed-form entropy H[q_lambda] into *h; when dlambda is
     * non-NULL, adds dH/dlambda into it.  NULL when there is no closed
     * form: the host then estimates it by Monte Carlo. */
    int (*entropy)(const void *self, const double *lambda, double *h,
                   double *dlambda, double *work, vi_error *err);
    /* [any-thread] *lq = log q_lambda(z). */
    int (*log_q)(const void *self, const double *lambda, const double *z,
                 double *lq, double *work, vi_error *err);
    /* [any-thread] Extension by id; NULL when unsupported.  May be NULL. */
    const void *(*get_extension)(const void *self, const char *id);

    /* -- Optional capabilities (1.0): NULL when not provided. -- */

    /* [any-thread] *lq = log q_lambda(z) and its gradient in z, written
     * (not added) into dz (dim values).  For the STL estimator. */
    int (*log_q_grad_z)(const void *self, const double *lambda,
                        const double *z, double *lq, double *dz,
                        double *work, vi_error *err);
    /* [any-thread] *lq = log q_lambda(z) and its gradient in lambda at
     * fixed z, written (not added) into dlambda.  For the score-function
     * estimator. */
    int (*log_q_grad_lambda)(const void *self, const double *lambda,
                             const double *z, double *lq, double *dlambda,
                             double *work, vi_error *err);
    /* [any-thread] Exact mean (dim) and covariance (dim x dim, row-major) of
     * q_lambda; either pointer may be NULL to skip it. */
    int (*moments)(const void *self, const double *lambda, double *mean,
                   double *cov, double *work, vi_error *err);
} vi_family_desc;

/* ---- Optimizer ---------------------------------------------------- */

/* What the host tells an optimizer at each step. */
typedef struct vi_step_info {
    uint32_t struct_size;
    uint64_t iteration;   /* 1 for the first step */
    double elbo;          /* the latest ELBO estimate (NaN before any) */
} vi_step_info;

typedef struct vi_optimizer_desc {
    uint32_t struct_size;
    vi_kind kind;             /* VI_KIND_OPTIMIZER */
    const char *name;
    const char *summary;
    uint64_t flags;
    const vi_option *options;

    /* [instance-serial] Makes an instance for n parameters. */
    int (*create)(const vi_host *host, const vi_config *config, size_t n,
                  void **self, vi_error *err);
    /* [instance-serial] Frees the instance.  NULL is a no-op. */
    void (*destroy)(void *self);
    /* [instance-serial] One ascent step on lambda (n values, in place)
     * along the stochastic gradient `grad` of the ELBO.  Must leave lambda
     * finite when grad is finite. */
    int (*step)(void *self, double *lambda, const double *grad,
                const vi_step_info *info, vi_error *err);
    /* [any-thread] Extension by id; NULL when unsupported.  May be NULL. */
    const void *(*get_extension)(const void *self, const char *id);

    /* -- Optional capabilities (1.0): NULL when not provided. -- */

    /* [instance-serial] The base learning rate, read and set (for the
     * host's step-size adaptation and halving on divergence). */
    double (*get_learning_rate)(const void *self);
    int (*set_learning_rate)(void *self, double rate, vi_error *err);
    /* [instance-serial] Checkpoints: the state's size in bytes, a copy of
     * it into `buf` (state_size bytes), and a load from such a copy made
     * by an instance created with the same options and n. */
    size_t (*state_size)(const void *self);
    int (*save_state)(const void *self, void *buf, vi_error *err);
    int (*load_state)(void *self, const void *buf, size_t size,
                      vi_error *err);
} vi_optimizer_desc;

/* ------------------------------------------------------------------ */
/* The plugin entry                                                     */
/* ------------------------------------------------------------------ */

typedef struct vi_plugin {
    uint32_t struct_size;
    vi_version abi;             /* {VI_ABI_MAJOR, VI_ABI_MINOR, 0} */
    const char *name;           /* the library's name */
    const char *version;        /* the library's release, e.g. "1.2.0" */
    const char *description;    /* one line */
    /* [load-time] Called once after loading, before any component is
     * used; NULL when not needed.  Must be safe to call more than once. */
    int (*init)(vi_error *err);
    /* [load-time] Called before unloading; NULL when not needed.  Safe to
     * call more than once, and after a failed init. */
    void (*deinit)(void);
    /* NULL-terminated array of pointers to descriptors (vi_target_desc,
     * vi_family_desc or vi_optimizer_desc), each beginning with the
     * members of vi_component_head. */
    const vi_component_head *const *components;
} vi_plugin;

/* The plugin's one exported symbol:
 *     VI_EXPORT const vi_plugin vi_plugin_entry = { ... };          */
#define VI_PLUGIN_ENTRY_SYMBOL "vi_plugin_entry"

/* ------------------------------------------------------------------ */
/* Extensions the host knows (1.0)                                      */
/* ------------------------------------------------------------------ */

/* A component offers one of these by returning a pointer to the struct
 * from its descriptor's get_extension(self, id); the pointer lives as long
 * as the instance.  Each struct begins with struct_size and only gains
 * members at its end (test them with VI_HAS_MEMBER); an id's revision
 * ("/1") changes only if a member's meaning does.  Functions in them carry
 * the same thread tags as the descriptor's. */

/* "vi.target.finite/1": the target lives on a finite set of states, points
 * of R^dim.  log_density at a state is log p~ of it (an unnormalized log
 * probability mass) and -INFINITY anywhere else.  A density on a finite
 * set has no gradient: log_density may refuse a non-NULL grad with
 * VI_EUNSUPPORTED, and the host fits such a target only with the
 * score-function gradient and a family offering vi.family.finite/1.  From
 * the states the host computes the exact log evidence, log sum_i p~(x_i),
 * and the exact KL(q || p) of the fit (result.json's kl_exact). */
#define VI_TARGET_FINITE_ID "vi.target.finite/1"

typedef struct vi_target_finite {
    uint32_t struct_size;
    size_t n_states;          /* >= 1 */
    const double *states;     /* n_states x dim, row-major: state i is
                                 states[i * dim .. i * dim + dim) */
} vi_target_finite;

/* "vi.family.finite/1": q_lambda is a probability mass function on these
 * states.  forward returns only states, log_q(z) is the log probability of
 * z (-INFINITY off the states), and the probabilities of the states sum
 * to 1.  z is piecewise constant in lambda (backward adds nothing), so the
 * host fits such a family only with the score-function gradient, and only
 * to a target offering vi.target.finite/1. */
#define VI_FAMILY_FINITE_ID "vi.family.finite/1"

typedef struct vi_family_finite {
    uint32_t struct_size;
    size_t n_states;          /* >= 1 */
    const double *states;     /* n_states x dim, row-major, as above */
} vi_family_finite;

/* "vi.family.strata/1": q_lambda is a mixture sum_k w_k(lambda) q_k of K
 * strata, each reparameterized on the family's own base noise eps:
 * z = T_k(lambda, eps) is a draw from q_k.  With it the host's reparam and
 * stl gradients become the stratified estimator (every stratum drawn at
 * every draw, no discrete sampling; Morningstar et al. 2021):
 *     ELBO = sum_k w_k E_{q_k}[log p~(z) - log q(z)],
 *     g    = sum_k w_k J_k^T (grad log p~(z_k) - grad_z log q(z_k))
 *            + sum_k (f_k - f) grad w_k,
 * with f_k = log p~(z_k) - log q(z_k) and f = sum_k w_k f_k (a baseline:
 * sum_k grad w_k = 0).  The term E_q[grad_lambda log q] is zero and left
 * out, as in stl.  Such a family needs log_q_grad_z.  Its plain forward
 * still draws from q itself (for the ELBO estimates, the output draws and
 * the score-function gradient). */
#define VI_FAMILY_STRATA_ID "vi.family.strata/1"

typedef struct vi_family_strata {
    uint32_t struct_size;
    /* [any-thread] K, the number of strata (>= 1). */
    size_t (*n_strata)(const void *self);
    /* [any-thread] The weights w_k(lambda) into w (K values, summing to
     * 1). */
    int (*weights)(const void *self, const double *lambda, double *w,
                   double *work, vi_error *err);
    /* [any-thread] Adds sum_k dw[k] dw_k/dlambda into dlambda. */
    int (*weights_backward)(const void *self, const double *lambda,
                            const double *dw, double *dlambda, double *work,
                            vi_error *err);
    /* [any-thread] z = T_k(lambda, eps) for stratum k < K; when log_q is
     * non-NULL, also *log_q = log q_lambda(z) of the whole family. */
    int (*forward_stratum)(const void *self, const double *lambda, size_t k,
                           const double *eps, double *z, double *log_q,
                           double *work, vi_error *err);
    /* [any-thread] Adds J_{T_k}(lambda, eps)^T dz into dlambda. */
    int (*backward_stratum)(const void *self, const double *lambda, size_t k,
                            const double *eps, const double *dz,
                            double *dlambda, double *work, vi_error *err);
} vi_family_strata;

/* "vi.target.moments/1": the exact mean and covariance of the normalized
 * target p(theta) = p~(theta) / Z over unconstrained theta, for targets that
 * know them (Gaussian and conjugate models).  A comparison run without a
 * `reference:` file uses them as its reference posterior when the target
 * has no `constrain`: mean errors and sd ratios of every family, and the
 * exact densities and contours in report.html. */
#define VI_TARGET_MOMENTS_ID "vi.target.moments/1"

typedef struct vi_target_moments {
    uint32_t struct_size;
    /* [any-thread] The mean into mean (dim values) and the covariance
     * into cov (dim x dim, row-major); either pointer may be NULL to skip
     * it.  VI_EUNSUPPORTED when this configuration does not know them. */
    int (*moments)(const void *self, double *mean, double *cov,
                   vi_error *err);
} vi_target_moments;

#ifdef __cplusplus
}
#endif

#endif /* VIHOST_PLUGIN_H */
