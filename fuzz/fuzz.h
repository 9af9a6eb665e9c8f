/* fuzz.h — what every fuzz harness checks besides "no crash": a refusal is
 * one non-empty line with an exit status of DESIGN.md, and an accepted
 * run file reads back from its own emitted form.  A broken promise is an
 * abort(), which libFuzzer and the corpus replay (make check) report. */
#ifndef VH_FUZZ_H
#define VH_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "node.h"
#include "runfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz: broken promise: %s: %s\n", what, detail ? detail : "");
    abort();
}

/* A refusal: a message of one line, with a usage or an I/O exit status. */
static inline void fuzz_check_refusal(const vh_err *err)
{
    if (err->message[0] == '\0')
        fuzz_fail("a refusal without a message", NULL);
    for (const char *c = err->message; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            fuzz_fail("a message with a control character", err->message);
    if (err->exit_code != VH_EXIT_USAGE && err->exit_code != VH_EXIT_FAILURE)
        fuzz_fail("a refusal with an unexpected exit status", err->message);
}

/* The tree emitted as YAML text (malloc'ed), or NULL. */
static inline char *fuzz_emit(const vh_node *node, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (f == NULL)
        return NULL;
    int rc = vh_node_emit(node, f);
    if (fclose(f) != 0 || rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* An accepted run file: its resolved tree, emitted, loads again and
 * resolves to the very same text (run.yaml reproduces the run). */
static inline void fuzz_check_round_trip(const vh_runfile *run)
{
    size_t len = 0, len2 = 0;
    char *text = fuzz_emit(run->root, &len);
    if (text == NULL)
        fuzz_fail("the resolved run file cannot be emitted", run->path);
    vh_runfile *again = NULL;
    vh_err err;
    vh_err_clear(&err);
    if (vh_runfile_load_text(run->path, text, len, NULL, 0, &again, &err) != 0) {
        fprintf(stderr, "%s\n", text);
        fuzz_fail("the emitted run file is refused", err.message);
    }
    char *text2 = fuzz_emit(again->root, &len2);
    if (text2 == NULL || len2 != len || memcmp(text, text2, len) != 0) {
        fprintf(stderr, "first:\n%s\nsecond:\n%s\n", text, text2 ? text2 : "(none)");
        fuzz_fail("the emitted run file resolves to something else", run->path);
    }
    free(text2);
    free(text);
    vh_runfile_free(again);
}

#endif
