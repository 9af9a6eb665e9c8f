/* fuzz-runfile.c — libFuzzer harness for the run-file reader: the bytes
 * are a run file, read by the YAML parser (node.c) and checked and
 * resolved by runfile.c, all in memory. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vh_runfile *run = NULL;
    vh_err err;
    vh_err_clear(&err);
    if (vh_runfile_load_text("run.yaml", (const char *)data, size, NULL, 0, &run, &err) != 0) {
        if (run != NULL)
            fuzz_fail("a refused run file was handed out", err.message);
        fuzz_check_refusal(&err);
        return 0;
    }
    fuzz_check_round_trip(run);
    vh_runfile_free(run);
    return 0;
}
