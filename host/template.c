/* template.c — `vihost new` (see template.h). */
#include "template.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loader.h"

/* tpl_target_c, tpl_plugin_mk, ...: share/templates/ as C strings,
 * generated at build time (tests/sdk.am). */
#include "host/templates.inc"

#define PLACEHOLDER "vitemplate"

/* One file of a project: its name after the component's (".c", ...) or
 * a fixed name, and its template. */
typedef struct template_file {
    const char *suffix;   /* appended to NAME, or NULL */
    const char *fixed;    /* the file name when suffix is NULL */
    const char *text;
} template_file;

static const template_file target_files[] = {
    {".c", NULL, tpl_target_c},
    {NULL, "Makefile", tpl_plugin_mk},
    {".yaml", NULL, tpl_target_yaml},
    {".json", NULL, tpl_target_json},
    {NULL, NULL, NULL},
};
static const template_file family_files[] = {
    {".c", NULL, tpl_family_c},
    {NULL, "Makefile", tpl_plugin_mk},
    {".yaml", NULL, tpl_family_yaml},
    {".json", NULL, tpl_logistic_json},
    {NULL, NULL, NULL},
};
static const template_file optimizer_files[] = {
    {".c", NULL, tpl_optimizer_c},
    {NULL, "Makefile", tpl_plugin_mk},
    {".yaml", NULL, tpl_optimizer_yaml},
    {".json", NULL, tpl_logistic_json},
    {NULL, NULL, NULL},
};

static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || !islower((unsigned char)name[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i]) &&
            name[i] != '_')
            return 0;
    return 1;
}

/* The template with every PLACEHOLDER replaced by name; caller frees. */
static char *substitute(const char *text, const char *name)
{
    size_t count = 0, plen = strlen(PLACEHOLDER), nlen = strlen(name);
    for (const char *p = strstr(text, PLACEHOLDER); p; p = strstr(p + plen, PLACEHOLDER))
        count++;
    char *out = malloc(strlen(text) + count * nlen + 1), *w = out;
    if (out == NULL)
        return NULL;
    for (const char *p = text;;) {
        const char *hit = strstr(p, PLACEHOLDER);
        size_t len = hit ? (size_t)(hit - p) : strlen(p);
        memcpy(w, p, len);
        w += len;
        if (hit == NULL)
            break;
        memcpy(w, name, nlen);
        w += nlen;
        p = hit + plen;
    }
    *w = '\0';
    return out;
}

/* mkdir -p. */
static int make_dirs(const char *dir, vh_err *err)
{
    char *path = strdup(dir);
    if (path == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    for (char *p = path + 1;; p++) {
        int end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            struct stat st;
            if (mkdir(path, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                free(path);
                return vh_err_set(err, VH_EXIT_USAGE, "cannot make the folder %s: %s", dir,
                                  strerror(e));
            }
            if (end && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))) {
                free(path);
                return vh_err_set(err, VH_EXIT_USAGE, "%s exists and is not a folder", dir);
            }
            if (end)
                break;
            *p = '/';
        }
    }
    free(path);
    return 0;
}

static void file_path(char *out, size_t size, const char *dir, const char *name,
                      const template_file *f)
{
    if (f->suffix != NULL)
        snprintf(out, size, "%s/%s%s", dir, name, f->suffix);
    else
        snprintf(out, size, "%s/%s", dir, f->fixed);
}

/* Every file is checked before any is written. */
static int refuse_existing(const template_file *files, const char *dir, const char *name,
                           vh_err *err)
{
    char path[4200];
    struct stat st;
    for (const template_file *f = files; f->text != NULL; f++) {
        file_path(path, sizeof path, dir, name, f);
        if (stat(path, &st) == 0)
            return vh_err_set(err, VH_EXIT_USAGE, "%s already exists: vihost new never "
                              "overwrites (choose another folder, or remove it)", path);
    }
    return 0;
}

static int write_file(const char *path, const char *text, vh_err *err)
{
    /* "x": fail rather than overwrite, even if the file appeared just now. */
    FILE *out = fopen(path, "wx");
    if (out == NULL)
        return vh_err_set(err, VH_EXIT_USAGE, "cannot write %s: %s", path, strerror(errno));
    int bad = fputs(text, out) == EOF;
    bad |= fclose(out) != 0;
    if (bad)
        return vh_err_set(err, VH_EXIT_FAILURE, "cannot write %s", path);
    return 0;
}

/* A component of that name on the plugin path would clash at load time. */
static int refuse_taken(const char *name, const char *const *dirs, size_t n_dirs,
                        vh_err *err)
{
    size_t n;
    vh_registry reg;
    char **search = vh_search_path(dirs, n_dirs, NULL, 0, &n);
    vh_registry_init(&reg);
    vh_registry_scan(&reg, (const char *const *)search, n);
    const vh_component *c = vh_registry_find(&reg, name, 0);
    int rc = 0;
    if (c != NULL)
        rc = vh_err_set(err, VH_EXIT_USAGE, "a %s named '%s' exists already (%s): component "
                        "names are unique, choose another NAME", vh_kind_name(c->kind), name,
                        c->library->path);
    vh_registry_free(&reg);
    vh_search_path_free(search);
    return rc;
}

static int write_project(const template_file *files, const char *dir, const char *name,
                         vh_err *err)
{
    char path[4200];
    for (const template_file *f = files; f->text != NULL; f++) {
        char *text = substitute(f->text, name);
        file_path(path, sizeof path, dir, name, f);
        int rc = text ? write_file(path, text, err)
                      : vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
        free(text);
        if (rc != 0)
            return -1;
        printf("wrote %s\n", path);
    }
    return 0;
}

int vh_template_new(const char *kind, const char *name, const char *dir,
                    const char *const *plugin_dirs, size_t n_plugin_dirs, vh_err *err)
{
    const template_file *files = NULL;
    if (kind != NULL && strcmp(kind, "target") == 0)
        files = target_files;
    else if (kind != NULL && strcmp(kind, "family") == 0)
        files = family_files;
    else if (kind != NULL && strcmp(kind, "optimizer") == 0)
        files = optimizer_files;
    if (files == NULL || name == NULL || dir == NULL)
        return vh_err_set(err, VH_EXIT_USAGE, "usage: vihost new target|family|optimizer NAME "
                          "DIR (e.g. vihost new target mymodel mymodel/)");
    if (!name_ok(name))
        return vh_err_set(err, VH_EXIT_USAGE, "'%s' cannot name a component: use 1-64 "
                          "lower-case letters, digits and '_', starting with a letter", name);
    char *folder = strdup(dir);
    if (folder == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    for (size_t n = strlen(folder); n > 1 && folder[n - 1] == '/'; n--)
        folder[n - 1] = '\0'; /* "DIR/" writes DIR/NAME.c, not DIR//NAME.c */
    int rc = -1;
    if (refuse_taken(name, plugin_dirs, n_plugin_dirs, err) == 0 &&
        make_dirs(folder, err) == 0 && refuse_existing(files, folder, name, err) == 0 &&
        write_project(files, folder, name, err) == 0) {
        printf("\nnext:\n  make -C %s\n  vihost check %s/%s.so\n  vihost run %s/%s.yaml\n",
               folder, folder, name, folder, name);
        rc = 0;
    }
    free(folder);
    return rc;
}
