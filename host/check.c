/* check.c — `vihost check` (see check.h): the driver.  Finds the plugin,
 * runs each check in a forked child (so a crash, a hang or an exit in the
 * plugin is a failed row, not the end of vihost), and prints the table. */
#include "check.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkers.h"
#include "config.h"
#include "data.h"
#include "elfsyms.h"
#include "hostapi.h"
#include "loader.h"
#include "runfile.h"

#define DETAIL_SIZE 1024

/* Everything one `vihost check` works with. */
typedef struct check_session {
    const vh_check_request *req;
    char *path;                  /* the plugin file, absolute */
    vh_runfile *run;             /* --config, or NULL */
    vh_registry registry;
    const vh_library *library;
    int width;                   /* of the COMPONENT column */
    size_t family_dim;           /* families are created for this dimension */
    char dim_note[700];          /* where family_dim comes from */
    size_t passed, failed, skipped;
} check_session;

/* ------------------------------------------------------------------ */
/* Children                                                             */
/* ------------------------------------------------------------------ */

/* What a child left in its pipe: its last stage note and its result. */
typedef struct child_report {
    char stage[256];
    int has_result;
    check_result result;
    char detail[DETAIL_SIZE];
} child_report;

static void child_main(const check_ctx *base, check_fn fn, int fd, unsigned timeout)
{
    check_ctx ctx = *base;
    char detail[DETAIL_SIZE] = "", line[DETAIL_SIZE + 8];
    ctx.fd = fd;
    /* A crash must end the child by its signal, whatever handlers the
     * parent had, so that it is reported as a crash. */
    static const int fatal[] = {SIGALRM, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        signal(fatal[i], SIG_DFL);
    /* Anything a plugin prints (it should not) goes to stderr, not into
     * the table. */
    dup2(STDERR_FILENO, STDOUT_FILENO);
    alarm(timeout);
    check_result r = fn(&ctx, detail, sizeof detail);
    int len = snprintf(line, sizeof line, "=%d%s\n", (int)r, detail);
    if (len >= (int)sizeof line)
        len = (int)sizeof line - 1;
    if (len > 0 && write(fd, line, (size_t)len) < 0)
        _exit(VH_EXIT_FAILURE);
    _exit(0);
}

static void parse_report(char *text, child_report *rep)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '@')
            snprintf(rep->stage, sizeof rep->stage, "%s", line + 1);
        else if (line[0] == '=' && line[1] >= '0' && line[1] <= '2') {
            rep->has_result = 1;
            rep->result = (check_result)(line[1] - '0');
            snprintf(rep->detail, sizeof rep->detail, "%s", line + 2);
        }
    }
}

/* Reads the child's pipe to its end; keeps the last 64 KiB. */
static void read_child(int fd, child_report *rep)
{
    size_t cap = 65536, used = 0;
    char *text = malloc(cap + 1), chunk[4096];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (text != NULL && used + (size_t)got > cap) {
            /* Keep whole lines: drop the older half. */
            char *cut = memchr(text + used / 2, '\n', used - used / 2);
            size_t keep = cut ? used - (size_t)(cut + 1 - text) : 0;
            memmove(text, text + used - keep, keep);
            used = keep;
        }
        if (text != NULL && used + (size_t)got <= cap) {
            memcpy(text + used, chunk, (size_t)got);
            used += (size_t)got;
        }
    }
    if (text != NULL) {
        text[used] = '\0';
        parse_report(text, rep);
    }
    free(text);
}

static check_result judge_child(int status, const child_report *rep, unsigned timeout,
                                char *detail, size_t size)
{
    const char *where = rep->stage[0] ? rep->stage : "start-up";
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        return check_fail(detail, size, "timed out after %u s during %s", timeout, where);
    if (WIFSIGNALED(status))
        return check_fail(detail, size, "crashed: signal %d (%s) during %s", WTERMSIG(status),
                          strsignal(WTERMSIG(status)), where);
    if (!rep->has_result || (WIFEXITED(status) && WEXITSTATUS(status) != 0))
        return check_fail(detail, size, "the process exited (status %d) during %s, with no "
                          "result: a call to exit (a plugin must never exit) or a sanitizer's "
                          "report", WIFEXITED(status) ? WEXITSTATUS(status) : -1, where);
    snprintf(detail, size, "%s", rep->detail);
    return rep->result;
}

/* Runs fn in a child process and judges how it ended. */
static check_result run_child(const check_ctx *ctx, check_fn fn, char *detail, size_t size)
{
    unsigned timeout = (unsigned)check_by_level(ctx, 60, 120, 600);
    int fds[2];
    if (pipe(fds) != 0)
        return check_fail(detail, size, "cannot make a pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return check_fail(detail, size, "cannot fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(ctx, fn, fds[1], timeout);
    }
    close(fds[1]);
    child_report rep;
    memset(&rep, 0, sizeof rep);
    read_child(fds[0], &rep);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return judge_child(status, &rep, timeout, detail, size);
}

/* ------------------------------------------------------------------ */
/* The table                                                            */
/* ------------------------------------------------------------------ */

static void print_row(check_session *s, const char *component, const char *check,
                      check_result r, const char *detail)
{
    static const char *const names[] = {"pass", "FAIL", "skip"};
    printf("%-*s %-24s %-6s %s\n", s->width, component, check, names[r], detail);
    fflush(stdout);
    if (r == CHECK_PASS)
        s->passed++;
    else if (r == CHECK_FAIL)
        s->failed++;
    else
        s->skipped++;
}

static check_result row(check_session *s, const check_ctx *ctx, const char *component,
                        const char *check, check_fn fn)
{
    char detail[DETAIL_SIZE];
    check_result r = run_child(ctx, fn, detail, sizeof detail);
    print_row(s, component, check, r, detail);
    return r;
}

/* ------------------------------------------------------------------ */
/* Plugin-wide checks                                                   */
/* ------------------------------------------------------------------ */

/* In the child: the loader's own checks (vh_registry_load_file: dlopen,
 * the entry symbol, the ABI major, every descriptor and option table,
 * init).  ctx->component is NULL. */
static check_result check_load(const check_ctx *ctx, char *detail, size_t size)
{
    vh_registry reg;
    vh_err err;
    const char *path = ctx->plugin_path;
    vh_registry_init(&reg);
    reg.allow_insecure = ctx->allow_insecure;
    vh_err_clear(&err);
    check_stage(ctx, "dlopen and init");
    if (vh_registry_load_file(&reg, path, &err) != 0)
        return check_fail(detail, size, "%s", err.message);
    return check_pass(detail, size, "dlopen, vi_plugin_entry, descriptors and init: %zu "
                      "component%s", reg.n_components, reg.n_components == 1 ? "" : "s");
}

static void check_abi(check_session *s)
{
    const vi_plugin *e = s->library->entry;
    char detail[DETAIL_SIZE];
    snprintf(detail, sizeof detail, "built for %u.%u (vi_plugin_entry: struct_size %u, "
             "1.0: %zu); this vihost speaks %d.%d%s",
             (unsigned)e->abi.major, (unsigned)e->abi.minor, (unsigned)e->struct_size,
             sizeof(vi_plugin), VI_ABI_MAJOR, VI_ABI_MINOR,
             e->abi.minor > VI_ABI_MINOR ? " (members of the newer minor are ignored)" : "");
    print_row(s, "plugin", "ABI version", CHECK_PASS, detail);
}

static void check_exports(check_session *s)
{
    char **names;
    size_t n, extra = 0, used = 0;
    char detail[DETAIL_SIZE] = "";
    vh_err err;
    vh_err_clear(&err);
    if (vh_elf_exports(s->path, &names, &n, &err) != 0) {
        print_row(s, "plugin", "exports", CHECK_FAIL, err.message);
        return;
    }
    int has_entry = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], VI_PLUGIN_ENTRY_SYMBOL) == 0) {
            has_entry = 1;
            continue;
        }
        /* AddressSanitizer's twin of every exported global: instrumentation. */
        if (strncmp(names[i], "__odr_asan", 10) == 0)
            continue;
        if (extra++ < 5 && used < sizeof detail)
            used += (size_t)snprintf(detail + used, sizeof detail - used, "%s%s",
                                     extra > 1 ? ", " : "", names[i]);
    }
    vh_elf_exports_free(names, n);
    char line[DETAIL_SIZE + 200];
    if (extra > 0)
        snprintf(line, sizeof line, "%zu symbol%s besides %s: %s%s (build with "
                 "-fvisibility=hidden and mark only the entry VI_EXPORT)", extra,
                 extra == 1 ? "" : "s", VI_PLUGIN_ENTRY_SYMBOL, detail, extra > 5 ? ", ..." : "");
    else
        snprintf(line, sizeof line, has_entry ? "only %s" : "%s is not in .dynsym",
                 VI_PLUGIN_ENTRY_SYMBOL);
    print_row(s, "plugin", "exports", extra || !has_entry ? CHECK_FAIL : CHECK_PASS, line);
}

/* ------------------------------------------------------------------ */
/* Per-component static checks                                          */
/* ------------------------------------------------------------------ */

static check_result check_descriptor(const check_ctx *ctx, char *detail, size_t size)
{
    const vi_component_head *h = ctx->component->head;
    const uint64_t known = VI_FLAG_SERIAL | VI_FLAG_TEST | VI_FLAG_NO_GRADIENT;
    check_stage(ctx, "reading the descriptor");
    if (h->summary == NULL || h->summary[0] == '\0' || strchr(h->summary, '\n'))
        return check_fail(detail, size, "summary must be one non-empty line");
    if ((h->flags & VI_FLAG_NO_GRADIENT) && h->kind != VI_KIND_TARGET)
        return check_fail(detail, size, "VI_FLAG_NO_GRADIENT is for targets only");
    if (h->kind == VI_KIND_FAMILY) {
        const vi_family_desc *f = (const vi_family_desc *)h;
        if (!f->entropy && !f->log_q_grad_z && !f->log_q_grad_lambda)
            return check_fail(detail, size, "no entropy, log_q_grad_z or log_q_grad_lambda: "
                              "no gradient estimator can fit this family");
    }
    return check_pass(detail, size, "struct_size %u (ABI 1.0: %zu); required members "
                      "present%s", (unsigned)h->struct_size,
                      vh_descriptor_min_size(h->kind),
                      (h->flags & ~known) ? "; unknown flag bits (a newer minor?) ignored" : "");
}

/* A default that does not read as its option's type or lies outside its
 * range: the host's own reading of it, on a table of that one option. */
static int default_fault(const vi_option *opt, char *why, size_t size)
{
    vi_option table[2];
    vi_config *cfg = NULL;
    vh_err err;
    memset(table, 0, sizeof table);
    table[0] = *opt; /* the 1.0 members; a newer entry's tail is not needed */
    table[0].struct_size = sizeof(vi_option);
    table[1].struct_size = sizeof(vi_option); /* key NULL: the end */
    table[0].required = 0;
    vh_err_clear(&err);
    if (vh_config_build(table, NULL, NULL, "option table", "option", (vh_pos){0, 0}, &cfg,
                        &err) == 0) {
        vh_config_free(cfg);
        return 0;
    }
    snprintf(why, size, "%.*s", (int)(size > 1 ? size - 1 : 0), err.message);
    return -1;
}

static check_result check_options(const check_ctx *ctx, char *detail, size_t size)
{
    const vi_option *table = ctx->component->head->options;
    size_t n = vh_option_count(table);
    char why[600];
    check_stage(ctx, "reading the option table");
    for (size_t i = 0; i < n; i++) {
        const vi_option *o = vh_option_at(table, i);
        if (o->struct_size != table->struct_size)
            return check_fail(detail, size, "option '%s' has struct_size %u, the first "
                              "entry %u: every entry needs the same", o->key,
                              (unsigned)o->struct_size, (unsigned)table->struct_size);
        if (o->doc == NULL || o->doc[0] == '\0' || strchr(o->doc, '\n'))
            return check_fail(detail, size, "option '%s' needs a one-line doc", o->key);
        if (o->required && o->default_value != NULL)
            return check_fail(detail, size, "option '%s' is required and has a default: "
                              "choose one", o->key);
        if (o->default_value != NULL && default_fault(o, why, sizeof why) != 0)
            return check_fail(detail, size, "%s", why);
    }
    return check_pass(detail, size, "%zu option%s with docs; defaults valid", n,
                      n == 1 ? "" : "s");
}

/* ------------------------------------------------------------------ */
/* Configuration from --config                                          */
/* ------------------------------------------------------------------ */

static int spec_names(const vh_component_spec *spec, const vh_component *c)
{
    if (strchr(spec->plugin, '/') == NULL && strstr(spec->plugin, ".so") == NULL)
        return strcmp(spec->plugin, c->name) == 0;
    char *real = realpath(spec->plugin, NULL);
    int same = real != NULL && strcmp(real, c->library->path) == 0;
    free(real);
    return same;
}

/* The run file's section for component c, or NULL. */
static const vh_component_spec *find_spec(const vh_runfile *run, const vh_component *c)
{
    if (run == NULL)
        return NULL;
    if (c->kind == VI_KIND_TARGET)
        return spec_names(&run->target, c) ? &run->target : NULL;
    if (c->kind == VI_KIND_OPTIMIZER)
        return spec_names(&run->optimizer, c) ? &run->optimizer : NULL;
    for (size_t i = 0; i < run->n_families; i++)
        if (spec_names(&run->families[i], c))
            return &run->families[i];
    return NULL;
}

/* Builds c's configuration: from its --config section (options, and a
 * target's data file) or from the option table's defaults.  *note says
 * which. */
static int build_config(const check_session *s, const vh_component *c, const char *label,
                        vi_config **cfg, vh_data **data, char *note, size_t size,
                        vh_err *err)
{
    const vh_component_spec *spec = find_spec(s->run, c);
    *data = NULL;
    if (spec == NULL) {
        snprintf(note, size, "option defaults%s", s->run ? " (no section of --config names "
                                                           "it)" : "");
        return vh_config_build(c->head->options, NULL, NULL, "defaults", label,
                               (vh_pos){0, 0}, cfg, err);
    }
    if (spec->data != NULL && vh_data_load(spec->data, data, err) != 0)
        return -1;
    snprintf(note, size, "options%s from %s", *data ? " and data" : "", s->run->path);
    return vh_config_build(c->head->options, spec->options, *data, s->run->path, label,
                           spec->pos, cfg, err);
}

/* In a child: creates the --config run file's target, as `vihost run`
 * would, and reports its dimension as the detail. */
static check_result probe_target_dim(const check_ctx *ctx, char *detail, size_t size)
{
    const vh_runfile *run = ctx->run;
    const vh_component *c = NULL;
    vh_registry reg;
    vh_data *data = NULL;
    vi_config *cfg = NULL;
    vh_host_context host;
    vh_err err;
    size_t n;
    vh_err_clear(&err);
    char **dirs = vh_search_path(NULL, 0, (const char *const *)run->plugin_path,
                                 run->n_plugin_path, &n);
    vh_registry_init(&reg);
    reg.allow_insecure = ctx->allow_insecure;
    vh_registry_scan(&reg, (const char *const *)dirs, n);
    check_stage(ctx, "making the target of %s", run->path);
    if (vh_registry_resolve(&reg, run->target.plugin, VI_KIND_TARGET, "the plugin path", &c,
                            &err) != 0 ||
        (run->target.data != NULL && vh_data_load(run->target.data, &data, &err) != 0) ||
        vh_config_build(c->head->options, run->target.options, data, run->path, "target",
                        run->target.pos, &cfg, &err) != 0)
        return check_fail(detail, size, "%s", err.message);
    const vi_target_desc *d = (const vi_target_desc *)c->head;
    void *self = NULL;
    vi_error perr;
    check_error_init(&perr);
    vh_hostapi_init(&host, "target", VI_LOG_ERROR);
    if (d->create(&host.host, cfg, &self, &perr) != 0)
        return check_fail(detail, size, "its create failed: %s", check_error_text(&perr));
    return check_pass(detail, size, "%zu %s", d->dim(self), c->name);
}

/* The dimension families are checked at: the --config target's, else
 * CHECK_FAMILY_DIM. */
static void family_dimension(check_session *s)
{
    char detail[DETAIL_SIZE];
    s->family_dim = CHECK_FAMILY_DIM;
    snprintf(s->dim_note, sizeof s->dim_note, "families are checked at dim %d",
             CHECK_FAMILY_DIM);
    int families = 0;
    for (size_t i = 0; i < s->registry.n_components; i++)
        families |= s->registry.components[i].kind == VI_KIND_FAMILY;
    if (s->run == NULL || !families)
        return;
    check_ctx ctx = {.seed = s->req->seed, .level = s->req->level, .fd = -1,
                     .allow_insecure = s->req->allow_insecure,
                     .plugin_path = s->path, .run = s->run};
    unsigned long dim = 0;
    char name[80] = "";
    if (run_child(&ctx, probe_target_dim, detail, sizeof detail) == CHECK_PASS &&
        sscanf(detail, "%lu %79s", &dim, name) == 2 && dim > 0) {
        s->family_dim = dim;
        snprintf(s->dim_note, sizeof s->dim_note, "dim %lu, of its target '%s'", dim, name);
    } else
        snprintf(s->dim_note, sizeof s->dim_note, "dim %d: its target could not be made "
                 "(%.500s)", CHECK_FAMILY_DIM, detail);
}

/* ------------------------------------------------------------------ */
/* Components                                                           */
/* ------------------------------------------------------------------ */

static const check_item *checks_of(vi_kind kind)
{
    return kind == VI_KIND_TARGET   ? vh_target_checks
           : kind == VI_KIND_FAMILY ? vh_family_checks
                                    : vh_optimizer_checks;
}

/* The functional checks; after a failed create, the rest are skipped. */
static void run_items(check_session *s, const check_ctx *ctx, const char *label)
{
    const check_item *items = checks_of(ctx->component->kind);
    int created = 1;
    for (size_t i = 0; items[i].name != NULL; i++) {
        if (!created) {
            print_row(s, label, items[i].name, CHECK_SKIP, "create failed");
            continue;
        }
        if (row(s, ctx, label, items[i].name, items[i].run) == CHECK_FAIL && i == 0)
            created = 0;
    }
}

static void check_component(check_session *s, const vh_component *c)
{
    char label[128], note[1400];
    snprintf(label, sizeof label, "%s %s", vh_kind_name(c->kind), c->name);
    check_ctx ctx = {.component = c, .seed = s->req->seed, .level = s->req->level, .fd = -1,
                     .allow_insecure = s->req->allow_insecure,
                     .plugin_path = s->path, .family_dim = s->family_dim, .run = s->run};
    if (row(s, &ctx, label, "descriptor", check_descriptor) == CHECK_FAIL ||
        row(s, &ctx, label, "option table", check_options) == CHECK_FAIL)
        return;
    vh_host_context host;
    vi_config *cfg = NULL;
    vh_data *data = NULL;
    vh_err err;
    vh_err_clear(&err);
    char quoted[160];
    snprintf(quoted, sizeof quoted, "%s '%s'", vh_kind_name(c->kind), c->name);
    vh_hostapi_init(&host, quoted, VI_LOG_WARNING);
    if (build_config(s, c, quoted, &cfg, &data, note, sizeof note, &err) != 0) {
        print_row(s, label, "configuration", CHECK_FAIL, err.message);
        vh_data_free(data);
        return;
    }
    if (c->kind == VI_KIND_FAMILY) {
        size_t used = strlen(note);
        snprintf(note + used, sizeof note - used, "; %s", s->dim_note);
    }
    print_row(s, label, "configuration", CHECK_PASS, note);
    ctx.defaults_only = find_spec(s->run, c) == NULL;
    ctx.config = cfg;
    ctx.host = &host.host;
    run_items(s, &ctx, label);
    vh_config_free(cfg);
    vh_data_free(data);
}

/* ------------------------------------------------------------------ */
/* Set-up                                                               */
/* ------------------------------------------------------------------ */

/* PLUGIN as a file, or else as a component name on the search path. */
static int resolve_plugin(const vh_check_request *req, char **path, vh_err *err)
{
    *path = realpath(req->plugin, NULL);
    if (*path != NULL)
        return 0;
    if (strchr(req->plugin, '/') != NULL || strstr(req->plugin, ".so") != NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN, "cannot check %s: %s", req->plugin,
                          strerror(errno));
    vh_registry reg;
    size_t n;
    char **dirs = vh_search_path(req->plugin_dirs, req->n_plugin_dirs, NULL, 0, &n);
    vh_registry_init(&reg);
    reg.allow_insecure = req->allow_insecure;
    vh_registry_scan(&reg, (const char *const *)dirs, n);
    const vh_component *c = vh_registry_find(&reg, req->plugin, 0);
    if (c != NULL)
        *path = strdup(c->library->path);
    vh_registry_free(&reg);
    vh_search_path_free(dirs);
    if (*path == NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN, "no plugin file or component named '%s' "
                          "(give the path of the .so; `vihost list` shows components)",
                          req->plugin);
    return 0;
}

/* Width of the COMPONENT column, and --component's presence. */
static int measure(check_session *s, vh_err *err)
{
    int found = s->req->component == NULL;
    s->width = 9;
    for (size_t i = 0; i < s->registry.n_components; i++) {
        const vh_component *c = &s->registry.components[i];
        int w = (int)(strlen(vh_kind_name(c->kind)) + 1 + strlen(c->name));
        if (w > s->width)
            s->width = w;
        if (s->req->component && strcmp(c->name, s->req->component) == 0)
            found = 1;
    }
    if (!found)
        return vh_err_set(err, VH_EXIT_USAGE, "%s holds no component named '%s' (`vihost "
                          "check %s` checks them all)", s->path, s->req->component,
                          s->req->plugin);
    return 0;
}

static void print_header(const check_session *s)
{
    const vi_plugin *e = s->library ? s->library->entry : NULL;
    printf("vihost check %s\n", s->path);
    if (e != NULL)
        printf("plugin %s %s: %s\n", e->name, e->version,
               e->description ? e->description : "");
    printf("seed %llu, level %d\n\n", (unsigned long long)s->req->seed, s->req->level);
    printf("%-*s %-24s %-6s %s\n", s->width, "COMPONENT", "CHECK", "RESULT", "DETAIL");
}

static int finish(check_session *s)
{
    size_t total = s->passed + s->failed + s->skipped;
    printf("\n%zu check%s: %zu passed, %zu failed, %zu skipped\n", total,
           total == 1 ? "" : "s", s->passed, s->failed, s->skipped);
    return s->failed ? VH_EXIT_PLUGIN : VH_EXIT_OK;
}

static int check_all(check_session *s, vh_err *err)
{
    char detail[DETAIL_SIZE];
    check_ctx ctx = {.seed = s->req->seed, .level = s->req->level, .fd = -1,
                     .allow_insecure = s->req->allow_insecure,
                     .plugin_path = s->path};
    check_result loaded = run_child(&ctx, check_load, detail, sizeof detail);
    if (loaded == CHECK_PASS && vh_registry_load_file(&s->registry, s->path, err) != 0)
        return -1; /* the child's load passed: only a failure of this process */
    if (loaded == CHECK_PASS) {
        s->library = s->registry.libraries[0];
        if (measure(s, err) != 0)
            return -1;
    } else
        s->width = 9;
    print_header(s);
    print_row(s, "plugin", "load", loaded, detail);
    if (loaded != CHECK_PASS)
        return finish(s);
    check_abi(s);
    check_exports(s);
    family_dimension(s);
    for (size_t i = 0; i < s->registry.n_components; i++) {
        const vh_component *c = &s->registry.components[i];
        if (s->req->component == NULL || strcmp(c->name, s->req->component) == 0)
            check_component(s, c);
    }
    return finish(s);
}

int vh_check(const vh_check_request *req, vh_err *err)
{
    check_session s;
    memset(&s, 0, sizeof s);
    s.req = req;
    vh_registry_init(&s.registry);
    s.registry.allow_insecure = req->allow_insecure;
    if (req->level < 1 || req->level > 3)
        return vh_err_set(err, VH_EXIT_USAGE, "--level must be 1, 2 or 3, got %d", req->level);
    if (resolve_plugin(req, &s.path, err) != 0)
        return -1;
    int rc = -1;
    if (req->config == NULL ||
        vh_runfile_load(req->config, NULL, 0, &s.run, err) == 0)
        rc = check_all(&s, err);
    vh_runfile_free(s.run);
    vh_registry_free(&s.registry);
    free(s.path);
    return rc;
}
