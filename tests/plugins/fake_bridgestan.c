/* fake_bridgestan.c — a stand-in for a Stan model compiled with
 * BridgeStan: the same C API (bridgestan.h, 2.x: bs_model_construct,
 * bs_log_density_gradient, ...) implemented by hand for the model
 *
 *     data { int N; vector[N] y; real<lower=0> sigma; }  // sigma: 1 if absent
 *     parameters { real mu; array[2] real<lower=0> s; }
 *     model { mu ~ normal(0, 10); y ~ normal(mu, sigma); s ~ exponential(1); }
 *
 * so that the `bridgestan` target can be tested without a Stan toolchain.
 * Unconstrained, theta = (mu, log s[1], log s[2]); the log density adds
 * the Jacobian log s[k] of each s[k] = exp(theta[k]).  Data come as
 * BridgeStan takes them: a path ending in ".json", a JSON string, or ""
 * for none.  Errors are malloc'd strings freed by bs_free_error_msg, as
 * in BridgeStan. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bs_model {
    size_t n;
    double *y;
    double sigma;
} bs_model;
typedef struct bs_rng bs_rng;

int bs_major_version = 2;
int bs_minor_version = 4;
int bs_patch_version = 0;

static const double log_sqrt_2pi = 0.91893853320467274178;

static void set_error(char **error_msg, const char *text)
{
    if (error_msg != NULL)
        *error_msg = strdup(text);
}

/* The text of `data`: the file it names, or itself. */
static char *data_text(const char *data)
{
    size_t len = data ? strlen(data) : 0;
    if (len < 5 || strcmp(data + len - 5, ".json") != 0)
        return strdup(data ? data : "");
    FILE *f = fopen(data, "rb");
    if (f == NULL)
        return NULL;
    char *text = NULL;
    size_t size = 0, used = 0, got;
    do {
        if (used + 4096 + 1 > size) {
            char *more = realloc(text, size = 2 * size + 4096 + 1);
            if (more == NULL)
                break;
            text = more;
        }
        got = fread(text + used, 1, 4096, f);
        used += got;
    } while (got > 0);
    fclose(f);
    if (text != NULL)
        text[used] = '\0';
    return text;
}

/* The number after "key": in text, or NAN. */
static double json_number(const char *text, const char *key)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *p = strstr(text, quoted);
    if (p == NULL || (p = strchr(p, ':')) == NULL)
        return NAN;
    return strtod(p + 1, NULL);
}

/* The numbers of the array after "key": in text; -1 when absent. */
static long json_array(const char *text, const char *key, double **out)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *p = strstr(text, quoted);
    if (p == NULL || (p = strchr(p, '[')) == NULL)
        return -1;
    long n = 0;
    *out = NULL;
    for (p++;;) {
        char *end;
        double x = strtod(p, &end);
        if (end == p)
            break;
        double *more = realloc(*out, (size_t)(n + 1) * sizeof *more);
        if (more == NULL)
            return -1;
        *out = more;
        (*out)[n++] = x;
        p = end + strspn(end, " \t\r\n");
        if (*p != ',')
            break;
        p++;
    }
    return n;
}

bs_model *bs_model_construct(const char *data, unsigned int seed, char **error_msg)
{
    (void)seed;
    char *text = data_text(data);
    if (text == NULL) {
        set_error(error_msg, "construct: cannot read the data file");
        return NULL;
    }
    bs_model *m = calloc(1, sizeof *m);
    long n = m ? json_array(text, "y", &m->y) : -1;
    double sigma = json_number(text, "sigma");
    free(text);
    if (m == NULL || n < 0) {
        if (m != NULL)
            free(m->y);
        free(m);
        /* Like Stan's message: over two lines. */
        set_error(error_msg, "Error in 'fake_normal' model: variable does not exist;\n"
                             "  processing stage=data initialization; variable name=y; "
                             "base type=double\n");
        return NULL;
    }
    m->n = (size_t)n;
    m->sigma = isnan(sigma) ? 1.0 : sigma;
    return m;
}

void bs_model_destruct(bs_model *m)
{
    if (m != NULL)
        free(m->y);
    free(m);
}

void bs_free_error_msg(char *error_msg) { free(error_msg); }
const char *bs_name(const bs_model *m) { (void)m; return "fake_normal"; }
const char *bs_model_info(const bs_model *m) { (void)m; return "a hand-written stand-in"; }
int bs_param_unc_num(const bs_model *m) { (void)m; return 3; }

int bs_param_num(const bs_model *m, bool include_tp, bool include_gq)
{
    (void)m;
    (void)include_tp;
    (void)include_gq;
    return 3;
}

const char *bs_param_unc_names(const bs_model *m) { (void)m; return "mu,s.1,s.2"; }

const char *bs_param_names(const bs_model *m, bool include_tp, bool include_gq)
{
    (void)m;
    (void)include_tp;
    (void)include_gq;
    return "mu,s.1,s.2";
}

int bs_param_constrain(const bs_model *m, bool include_tp, bool include_gq,
                       const double *theta_unc, double *theta, bs_rng *rng, char **error_msg)
{
    (void)m;
    (void)include_tp;
    (void)include_gq;
    (void)rng;
    (void)error_msg;
    theta[0] = theta_unc[0];
    theta[1] = exp(theta_unc[1]);
    theta[2] = exp(theta_unc[2]);
    return 0;
}

int bs_log_density_gradient(const bs_model *m, bool propto, bool jacobian,
                            const double *theta_unc, double *val, double *grad,
                            char **error_msg)
{
    double mu = theta_unc[0], lp, g_mu;
    if (isnan(mu) || isnan(theta_unc[1]) || isnan(theta_unc[2])) {
        set_error(error_msg, "normal_lpdf: Random variable is nan, but must be not nan!");
        return -1;
    }
    lp = -0.5 * (mu / 10.0) * (mu / 10.0);
    g_mu = -mu / 100.0;
    if (!propto)
        lp -= log(10.0) + log_sqrt_2pi + (double)m->n * (log(m->sigma) + log_sqrt_2pi);
    for (size_t i = 0; i < m->n; i++) {
        double z = (m->y[i] - mu) / m->sigma;
        lp -= 0.5 * z * z;
        g_mu += z / m->sigma;
    }
    for (int k = 1; k <= 2; k++) {
        double s = exp(theta_unc[k]); /* exponential(1): log p = -s */
        lp += -s + (jacobian ? theta_unc[k] : 0.0);
        if (grad != NULL)
            grad[k] = -s + (jacobian ? 1.0 : 0.0);
    }
    if (grad != NULL)
        grad[0] = g_mu;
    *val = lp;
    return 0;
}

int bs_log_density(const bs_model *m, bool propto, bool jacobian, const double *theta_unc,
                   double *val, char **error_msg)
{
    return bs_log_density_gradient(m, propto, jacobian, theta_unc, val, NULL, error_msg);
}
