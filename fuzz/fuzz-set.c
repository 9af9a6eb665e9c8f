/* fuzz-set.c — libFuzzer harness for the --set parser: each line of the
 * input is one --set argument, applied to a small valid run file. */
#include "fuzz.h"

#define FUZZ_MAX_SETS 16

static const char fuzz_base[] =
    "vihost: 1\n"
    "seed: 7\n"
    "target: {plugin: normal, data: data.json, options: {sigma: 2}}\n"
    "family: meanfield\n"
    "optimizer: {plugin: adam, options: {learning_rate: 0.1}}\n"
    "stop: {max_iterations: 100}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Each line a NUL-terminated argument, as argv holds them. */
    char *text = malloc(size + 1);
    const char *sets[FUZZ_MAX_SETS];
    size_t n = 0;
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *line = text; n < FUZZ_MAX_SETS;) {
        char *nl = memchr(line, '\n', (size_t)(text + size - line));
        sets[n++] = line;
        if (nl == NULL)
            break;
        *nl = '\0';
        line = nl + 1;
    }
    vh_runfile *run = NULL;
    vh_err err;
    vh_err_clear(&err);
    if (vh_runfile_load_text("run.yaml", fuzz_base, sizeof fuzz_base - 1, sets, n, &run,
                             &err) != 0) {
        if (run != NULL)
            fuzz_fail("a refused run file was handed out", err.message);
        fuzz_check_refusal(&err);
    } else {
        fuzz_check_round_trip(run);
        vh_runfile_free(run);
    }
    free(text);
    return 0;
}
