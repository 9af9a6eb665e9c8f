/* jsonfast.h — a fast reader for the common shape of a data file: a JSON
 * object whose members are numbers or rectangular arrays of numbers, keys
 * without escapes.  It reads the numbers straight into their arrays (no
 * tree of JSON values, which costs several times the data's size), exactly
 * as strtod would (Clinger's exact fast path, else strtod itself), and can
 * hand back the text it has read so far, so that a large file mapped into
 * memory never sits there whole.
 *
 * Anything else — a syntax error, a string, true/false/null, an empty or
 * ragged array, a duplicate or odd name, a number too large — makes it
 * give up (status 1) without a message: the caller then reads the file
 * with jansson, which accepts or refuses it exactly as before, with its
 * messages. */
#ifndef VH_JSONFAST_H
#define VH_JSONFAST_H

#include <stddef.h>
#include "value.h"

/* One variable, in file order; the callback takes what the value owns
 * (also on failure).  Returns 0, or -1 to stop (out of memory). */
typedef int (*vh_jsonfast_push)(void *ctx, const char *name, vh_value *value);

/* Called now and then with how many leading bytes of the text are no
 * longer needed; NULL: never. */
typedef void (*vh_jsonfast_release)(void *ctx, size_t done);

/* Parses text[0..len).  0: every variable was pushed; 1: not in the fast
 * subset (some may have been pushed: the caller discards them); -1: out
 * of memory or the callback failed. */
int vh_jsonfast_parse(const char *text, size_t len, vh_jsonfast_push push, void *push_ctx,
                      vh_jsonfast_release release, void *release_ctx);

#endif
