/* stopping.h — when to stop: Stan ADVI's relative-ELBO rule, or only the
 * iteration budget. */
#ifndef VH_STOPPING_H
#define VH_STOPPING_H

#include <stddef.h>
#include <stdint.h>

typedef enum vh_rule {
    VH_RULE_RELATIVE = 1, /* Stan's: mean or median relative change below tolerance */
    VH_RULE_NONE = 2      /* run max_iterations */
} vh_rule;

/* Parses "relative" / "none"; 0 when unknown. */
vh_rule vh_rule_parse(const char *name);

typedef struct vh_stopping {
    vh_rule rule;
    double tolerance;
    double *window;       /* circular buffer of relative changes */
    double *scratch;      /* for the median, same length */
    size_t capacity;
    size_t count;
    size_t next;
    double previous;      /* the previous ELBO estimate; 0 before any, as in Stan */
} vh_stopping;

/* Stan's window: max(floor(0.1 * max_iterations / eval_every), 2). */
int vh_stopping_init(vh_stopping *stop, vh_rule rule, double tolerance,
                     uint64_t max_iterations, uint64_t eval_every);
void vh_stopping_free(vh_stopping *stop);

/* Feeds the ELBO estimate of one evaluation.  *rel_change gets
 * |(previous - elbo) / elbo| (1 at the first, as in Stan).  Returns 1 and
 * sets *reason when the rule says stop. */
int vh_stopping_update(vh_stopping *stop, double elbo, double *rel_change,
                       const char **reason);

#endif
