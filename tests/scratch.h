/* scratch.h — a temporary folder for one test program and the files it
 * writes there, all removed at the end. */
#ifndef VH_TEST_SCRATCH_H
#define VH_TEST_SCRATCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

typedef struct scratch {
    char dir[256];
    char paths[80][512];
    int n;
} scratch;

/* Makes the folder ($TMPDIR or /tmp, "<prefix>-XXXXXX"); bails out on failure. */
static inline void scratch_open(scratch *s, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    s->n = 0;
    snprintf(s->dir, sizeof s->dir, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    if (mkdtemp(s->dir) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        exit(1);
    }
}

/* The path of `name` in the folder, remembered for removal. */
static inline char *scratch_path(scratch *s, const char *name)
{
    if (s->n == (int)(sizeof s->paths / sizeof s->paths[0])) {
        printf("Bail out! too many scratch files\n");
        exit(1);
    }
    char *path = s->paths[s->n++];
    char dir[sizeof s->dir]; /* a copy: gcc cannot tell path and s->dir apart */
    memcpy(dir, s->dir, sizeof dir);
    snprintf(path, sizeof s->paths[0], "%s/%s", dir, name);
    return path;
}

/* Writes `length` bytes of `text` to `name` in the folder; its path. */
static inline const char *scratch_file(scratch *s, const char *name, const char *text,
                                       size_t length)
{
    char *path = scratch_path(s, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(text, 1, length, f) != length || fclose(f) != 0) {
        printf("Bail out! cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return path;
}

static inline const char *scratch_text(scratch *s, const char *name, const char *text)
{
    return scratch_file(s, name, text, strlen(text));
}

/* Removes every file and folder made through it, newest first. */
static inline void scratch_remove(scratch *s)
{
    for (int i = s->n - 1; i >= 0; i--) {
        chmod(s->paths[i], 0700);
        if (unlink(s->paths[i]) != 0)
            rmdir(s->paths[i]);
    }
    rmdir(s->dir);
}

#endif
