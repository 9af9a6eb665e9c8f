/* replay.c — runs a fuzz harness over every file of the folders given on
 * the command line (the committed corpus and the saved crashes), without
 * libFuzzer, as a TAP test: make check replays them on every build, and
 * the sanitizer build checks them for memory errors.  Each harness is
 * linked with this main instead of libFuzzer's. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the whole file; NULL on failure. */
static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            uint8_t *more = realloc(buf, cap ? 2 * cap : 4096);
            if (more == NULL)
                break;
            buf = more;
            cap = cap ? 2 * cap : 4096;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *size = n;
    return buf;
}

/* Replays every regular file of `dir` in name order; returns how many, or
 * -1 when the folder cannot be read. */
static long replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **more = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
            if (more == NULL)
                break;
            names = more;
        }
        if ((names[n] = strdup(ent->d_name)) != NULL)
            n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, compare_names);
    long replayed = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        size_t size = 0;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        free(names[i]);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        uint8_t *data = read_all(path, &size);
        if (data == NULL) {
            replayed = -1;
            continue;
        }
        /* Named first, so that a crash's log says which input did it. */
        fprintf(stderr, "replaying %s\n", path);
        LLVMFuzzerTestOneInput(data, size);
        free(data);
        replayed++;
    }
    free(names);
    return replayed;
}

/* Without arguments (make check): the harness's committed corpus and its
 * saved crashes, fuzz/corpus/NAME and tests/fuzz-crashes/NAME. */
int main(int argc, char **argv)
{
#if defined(SOURCE_DIR) && defined(FUZZ_NAME)
    static char *defaults[] = {NULL, SOURCE_DIR "/fuzz/corpus/" FUZZ_NAME,
                               SOURCE_DIR "/tests/fuzz-crashes/" FUZZ_NAME, NULL};
    if (argc < 2) {
        defaults[0] = argv[0];
        argv = defaults;
        argc = 3;
    }
#endif
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        long n = replay_dir(argv[i]);
        printf("%s %d - replayed %ld inputs from %s without a crash or a broken promise\n",
               n >= 0 ? "ok" : "not ok", i, n, argv[i]);
        failed |= n < 0;
    }
    printf("1..%d\n", argc - 1);
    return failed;
}
