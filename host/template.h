/* template.h — `vihost new target|family|optimizer NAME DIR`: writes a
 * complete out-of-tree plugin project into DIR: NAME.c (every descriptor
 * member filled in and commented), a Makefile that builds NAME.so against
 * the installed SDK through pkg-config, a run file NAME.yaml and its data,
 * NAME.json (for a family or an optimizer, a small logistic regression).  The sources are share/templates/,
 * compiled into vihost, with the placeholder "vitemplate" replaced by NAME. */
#ifndef VH_TEMPLATE_H
#define VH_TEMPLATE_H

#include <stddef.h>
#include "errors.h"

/* Writes the project and prints what it wrote and what to run next.
 * Refused (exit 2): an unknown kind, a NAME that is not [a-z][a-z0-9_]*
 * (at most 64), a NAME already taken by a component on the plugin search
 * path (`plugin_dirs` first), a DIR that cannot be made, any file that
 * exists already (nothing is overwritten). */
int vh_template_new(const char *kind, const char *name, const char *dir,
                    const char *const *plugin_dirs, size_t n_plugin_dirs, vh_err *err);

#endif
