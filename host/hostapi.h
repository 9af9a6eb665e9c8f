/* hostapi.h — the host services table (vi_host) handed to each component:
 * logging under the component's name, configuration and data getters, and
 * random numbers. */
#ifndef VH_HOSTAPI_H
#define VH_HOSTAPI_H

#include <vihost/plugin.h>

/* One component's view of the host.  `host.host_data` points back here.
 * Must outlive the component's instance. */
typedef struct vh_host_context {
    vi_host host;
    char label[192];      /* "target 'normal' (normal.so)": prefixes its log lines */
    vi_log_level min_level; /* lines below this level are dropped */
} vh_host_context;

/* Fills ctx for a component described by `label`; lines below `min_level`
 * are not shown. */
void vh_hostapi_init(vh_host_context *ctx, const char *label,
                     vi_log_level min_level);

#endif
