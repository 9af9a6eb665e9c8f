/* value.h — a typed value from a run file's options or a data file, as the
 * host serves it to plugins through vi_config. */
#ifndef VH_VALUE_H
#define VH_VALUE_H

#include <stddef.h>
#include <stdint.h>
#include <vihost/plugin.h>

typedef enum vh_value_kind {
    VH_VALUE_NUMBER = 1,  /* one real; `numbers` holds it, ndim 0 */
    VH_VALUE_BOOL = 2,    /* `boolean` */
    VH_VALUE_STRING = 3,  /* `string` */
    VH_VALUE_ARRAY = 4    /* `numbers` holds `length` reals, row-major, shape[0..ndim) */
} vh_value_kind;

typedef struct vh_value {
    vh_value_kind kind;
    double *numbers;              /* NUMBER and ARRAY; owned */
    size_t length;                /* NUMBER: 1; ARRAY: product of shape (may be 0) */
    size_t ndim;                  /* NUMBER: 0; ARRAY: 1..VI_MAX_RANK */
    size_t shape[VI_MAX_RANK];
    int integral;                 /* every number is whole and |x| <= 2^53 */
    int boolean;                  /* BOOL */
    char *string;                 /* STRING; owned */
} vh_value;

/* Frees what the value owns (not the value itself) and zeroes it. */
void vh_value_clear(vh_value *value);
/* Deep copy; 0 or -1 on ENOMEM. */
int vh_value_copy(vh_value *dst, const vh_value *src);

#endif
