/* data.h — a target's data file: Stan-style JSON (named scalars, vectors,
 * and matrices as arrays of rows) or CSV (one vector per column), read once
 * and served to plugins by name. */
#ifndef VH_DATA_H
#define VH_DATA_H

#include <stddef.h>
#include "errors.h"
#include "value.h"

typedef struct vh_data vh_data;

/* Reads `path`: JSON when it ends in .json, CSV when .csv, otherwise by its
 * first non-blank byte ('{' means JSON).  Every variable becomes a NUMBER
 * (a JSON number) or an ARRAY (a rectangular nest of numbers, rank up to
 * VI_MAX_RANK; an empty array has ndim 1 and shape {0}).  Refused, naming
 * path:line:column and the variable: syntax errors, ragged or too-deep
 * arrays, strings, null, non-finite numbers, duplicate names, an empty file.
 * Exit code 2 on failure. */
int vh_data_load(const char *path, vh_data **out, vh_err *err);

/* The same for a file's content already in memory (`length` bytes, need
 * not end in NUL); `path` names it in messages and picks the format. */
int vh_data_load_text(const char *path, const char *text, size_t length,
                      vh_data **out, vh_err *err);

/* The variable `name`, or NULL. */
const vh_value *vh_data_get(const vh_data *data, const char *name);
size_t vh_data_count(const vh_data *data);
const char *vh_data_name(const vh_data *data, size_t i);
/* The path it was read from. */
const char *vh_data_path(const vh_data *data);

void vh_data_free(vh_data *data);

#endif
