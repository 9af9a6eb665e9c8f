/*
 * optimizer_util.h — what the built-in optimizers share: checking a
 * learning rate, reading bounded options, and the layout of a saved state.
 *
 * A saved state is a header (an 8-byte magic naming the optimizer and its
 * layout revision, n, the step count and the learning rate) followed by
 * `count` doubles, all in native byte order and copied with memcpy, so the
 * buffer need not be aligned.  Everything here is static inline: each
 * optimizer is its own shared object.
 */
#ifndef VIHOST_OPTIMIZER_UTIL_H
#define VIHOST_OPTIMIZER_UTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

/* Four 8-byte members: no padding, so it is copied byte for byte. */
typedef struct opt_state_header {
    char magic[8];
    uint64_t n;
    uint64_t steps;
    double learning_rate;
} opt_state_header;

/* `what` names the source in the message: the option or the setter. */
static inline int opt_check_rate(double rate, const char *what, vi_error *err)
{
    if (!(rate > 0.0) || !isfinite(rate))
        return vi_error_set(err, VI_EINVAL, "%s must be finite and > 0, got %g", what, rate);
    return VI_OK;
}

/* Reads a real option that must lie in [lo, hi) (hi_open) or [lo, hi]. */
static inline int opt_read_real(const vi_host *host, const vi_config *config,
                                const char *key, double fallback, double lo, double hi,
                                int hi_open, double *out, vi_error *err)
{
    int status = vi_config_get_double_or(host, config, key, fallback, out, err);
    if (status != VI_OK)
        return status;
    if (!isfinite(*out) || *out < lo || *out > hi || (hi_open && *out >= hi))
        return vi_error_set(err, VI_EINVAL, "option '%s' must be in [%g, %g%s, got %g", key,
                            lo, hi, hi_open ? ")" : "]", *out);
    return VI_OK;
}

static inline size_t opt_state_size(size_t count)
{
    return sizeof(opt_state_header) + count * sizeof(double);
}

static inline void opt_state_write(void *buf, const char magic[8], size_t n, uint64_t steps,
                                   double learning_rate, const double *values, size_t count)
{
    opt_state_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, magic, sizeof h.magic);
    h.n = (uint64_t)n;
    h.steps = steps;
    h.learning_rate = learning_rate;
    memcpy(buf, &h, sizeof h);
    if (count > 0)
        memcpy((char *)buf + sizeof h, values, count * sizeof(double));
}

/* Checks a saved state against an instance (`name`, its n, `count`
 * doubles) and copies it out: every value finite, values from index
 * `nonneg_from` on also >= 0.  Nothing is written unless all checks pass. */
static inline int opt_state_read(const void *buf, size_t size, const char magic[8],
                                 const char *name, size_t n, size_t count,
                                 size_t nonneg_from, uint64_t *steps,
                                 double *learning_rate, double *values, vi_error *err)
{
    opt_state_header h;
    const char *bytes = (const char *)buf;
    size_t expected = opt_state_size(count), i;
    if (size < sizeof h)
        return vi_error_set(err, VI_EINVAL, "%s state is %lu bytes, too short for its header",
                            name, (unsigned long)size);
    memcpy(&h, bytes, sizeof h);
    if (memcmp(h.magic, magic, sizeof h.magic) != 0)
        return vi_error_set(err, VI_EINVAL, "the state was not saved by a %s optimizer "
                            "(bad header)", name);
    if (h.n != (uint64_t)n)
        return vi_error_set(err, VI_EINVAL, "%s state was saved for n = %llu parameters, "
                            "this instance has n = %lu", name, (unsigned long long)h.n,
                            (unsigned long)n);
    if (size != expected)
        return vi_error_set(err, VI_EINVAL, "%s state is %lu bytes, expected %lu for n = %lu",
                            name, (unsigned long)size, (unsigned long)expected,
                            (unsigned long)n);
    if (opt_check_rate(h.learning_rate, "", NULL) != VI_OK)
        return vi_error_set(err, VI_EINVAL, "%s state holds an invalid learning rate %g",
                            name, h.learning_rate);
    for (i = 0; i < count; ++i) {
        double value;
        memcpy(&value, bytes + sizeof h + i * sizeof value, sizeof value);
        if (!isfinite(value) || (i >= nonneg_from && value < 0.0))
            return vi_error_set(err, VI_EINVAL, "%s state holds an invalid value %g at "
                                "position %lu", name, value, (unsigned long)i + 1UL);
    }
    if (count > 0)
        memcpy(values, bytes + sizeof h, count * sizeof(double));
    *steps = h.steps;
    *learning_rate = h.learning_rate;
    return VI_OK;
}

#endif
