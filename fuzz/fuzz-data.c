/* fuzz-data.c — libFuzzer harness for the data-file reader: the first
 * byte picks the file name (so the format: .json, .csv, or by content),
 * the rest is the file.  An accepted file must hold only what data.h
 * promises: named, finite, rectangular values, each found by its name. */
#include <math.h>

#include "data.h"
#include "fuzz.h"

static void fuzz_check_value(const char *name, const vh_value *v)
{
    size_t count = 1;
    if (v == NULL)
        fuzz_fail("a variable not found by its name", name);
    if (v->kind == VH_VALUE_NUMBER) {
        if (v->ndim != 0 || v->length != 1)
            fuzz_fail("a number with a shape", name);
    } else if (v->kind == VH_VALUE_ARRAY) {
        if (v->ndim < 1 || v->ndim > VI_MAX_RANK)
            fuzz_fail("an array of a bad rank", name);
        for (size_t k = 0; k < v->ndim; k++)
            count *= v->shape[k];
        if (count != v->length)
            fuzz_fail("an array whose shape does not match its length", name);
    } else
        fuzz_fail("a variable that is neither a number nor an array", name);
    for (size_t i = 0; i < v->length; i++) {
        if (!isfinite(v->numbers[i]))
            fuzz_fail("a non-finite number accepted", name);
        if (v->integral && v->numbers[i] != floor(v->numbers[i]))
            fuzz_fail("a fraction in a variable marked integral", name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"data.json", "data.csv", "data.txt"};
    if (size == 0)
        return 0;
    const char *path = names[data[0] % 3];
    /* An exactly sized copy: reading past the end is an error the
     * sanitizer sees. */
    char *text = malloc(size - 1 ? size - 1 : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    vh_data *d = NULL;
    vh_err err;
    vh_err_clear(&err);
    if (vh_data_load_text(path, text, size - 1, &d, &err) != 0) {
        if (d != NULL)
            fuzz_fail("a refused data file was handed out", err.message);
        fuzz_check_refusal(&err);
    } else {
        for (size_t i = 0; i < vh_data_count(d); i++) {
            const char *name = vh_data_name(d, i);
            if (name == NULL || name[0] == '\0')
                fuzz_fail("a variable without a name", NULL);
            fuzz_check_value(name, vh_data_get(d, name));
        }
        if (vh_data_name(d, vh_data_count(d)) != NULL)
            fuzz_fail("a name past the last variable", NULL);
        vh_data_free(d);
    }
    free(text);
    return 0;
}
