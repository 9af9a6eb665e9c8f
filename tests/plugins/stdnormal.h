/* stdnormal.h — a tiny standard-normal target shared by the ABI test
 * plugins, so each of them differs from a correct plugin in one way only. */
#ifndef TEST_STDNORMAL_H
#define TEST_STDNORMAL_H

#include <math.h>
#include <stdlib.h>
#include <vihost/plugin.h>

#define STDNORMAL_DIM 2

static inline int stdnormal_create(const vi_host *host, const vi_config *config, void **self,
                            vi_error *err)
{
    (void)host;
    (void)config;
    (void)err;
    *self = malloc(1);
    return *self ? VI_OK : VI_ENOMEM;
}

static inline void stdnormal_destroy(void *self) { free(self); }
static inline size_t stdnormal_dim(const void *self) { (void)self; return STDNORMAL_DIM; }

static inline const char *stdnormal_param_name(const void *self, size_t i)
{
    static const char *const names[STDNORMAL_DIM] = {"x[1]", "x[2]"};
    (void)self;
    return i < STDNORMAL_DIM ? names[i] : NULL;
}

static inline int stdnormal_log_density(const void *self, const double *theta, double *lp,
                                 double *grad, double *work, vi_error *err)
{
    (void)self;
    (void)work;
    (void)err;
    double s = 0.0;
    for (size_t i = 0; i < STDNORMAL_DIM; i++) {
        s += theta[i] * theta[i];
        if (grad)
            grad[i] = -theta[i];
    }
    *lp = -0.5 * s - 0.5 * STDNORMAL_DIM * log(2.0 * M_PI);
    return VI_OK;
}

static inline int stdnormal_log_evidence(const void *self, double *log_z, vi_error *err)
{
    (void)self;
    (void)err;
    *log_z = 0.0;
    return VI_OK;
}

#define STDNORMAL_MEMBERS                                                       \
    .create = stdnormal_create, .destroy = stdnormal_destroy,                  \
    .dim = stdnormal_dim, .param_name = stdnormal_param_name,                  \
    .log_density = stdnormal_log_density, .log_evidence = stdnormal_log_evidence

#endif
