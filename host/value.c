/* value.c — ownership of vh_value's buffers. */
#include "value.h"

#include <stdlib.h>
#include <string.h>

void vh_value_clear(vh_value *value)
{
    if (value == NULL)
        return;
    free(value->numbers);
    free(value->string);
    memset(value, 0, sizeof *value);
}

int vh_value_copy(vh_value *dst, const vh_value *src)
{
    vh_value copy = *src;
    copy.numbers = NULL;
    copy.string = NULL;
    if (src->numbers != NULL && src->length > 0) {
        copy.numbers = malloc(src->length * sizeof *copy.numbers);
        if (copy.numbers == NULL)
            goto fail;
        memcpy(copy.numbers, src->numbers, src->length * sizeof *copy.numbers);
    }
    if (src->string != NULL) {
        copy.string = strdup(src->string);
        if (copy.string == NULL)
            goto fail;
    }
    *dst = copy;
    return 0;
fail:
    free(copy.numbers);
    memset(dst, 0, sizeof *dst);
    return -1;
}
