/* hostapi.c — the vi_host services table (see hostapi.h). */
#include "hostapi.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "rng.h"

#include "build-config.h"

static void hostapi_log(const vi_host *host, vi_log_level level,
                        const char *message)
{
    const vh_host_context *ctx = host->host_data;
    static const char *const level_names[] = {"debug", "info", "warning", "error"};
    if (level < ctx->min_level || message == NULL)
        return;
    const char *name = (unsigned)level <= VI_LOG_ERROR ? level_names[level] : "log";
    /* One fprintf per line so that lines from several threads never mix. */
    fprintf(stderr, "vihost: %s: %s: %.*s\n", ctx->label, name,
            (int)strcspn(message, "\n"), message);
}

static double hostapi_uniform(vi_rng *rng) { return vh_rng_uniform(rng); }
static double hostapi_normal(vi_rng *rng) { return vh_rng_normal(rng); }
static uint64_t hostapi_bits(vi_rng *rng) { return vh_rng_bits(rng); }

/* No host extensions yet; the member exists so plugins can ask. */
static const void *hostapi_get_extension(const vi_host *host, const char *id)
{
    (void)host;
    (void)id;
    return NULL;
}

void vh_hostapi_init(vh_host_context *ctx, const char *label,
                     vi_log_level min_level)
{
    memset(ctx, 0, sizeof *ctx);
    snprintf(ctx->label, sizeof ctx->label, "%s", label);
    ctx->min_level = min_level;
    ctx->host = (vi_host){
        .struct_size = sizeof(vi_host),
        .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
        .name = "vihost",
        .version = PACKAGE_VERSION,
        .host_data = ctx,
        .log = hostapi_log,
        .config_get_double = vh_config_get_double,
        .config_get_int = vh_config_get_int,
        .config_get_bool = vh_config_get_bool,
        .config_get_string = vh_config_get_string,
        .config_get_array = vh_config_get_array,
        .config_has = vh_config_has,
        .rng_uniform = hostapi_uniform,
        .rng_normal = hostapi_normal,
        .rng_bits = hostapi_bits,
        .get_extension = hostapi_get_extension,
    };
}
