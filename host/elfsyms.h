/* elfsyms.h — the symbols a shared object exports, read from its ELF
 * dynamic symbol table (.dynsym) without loading it, for `vihost check`'s
 * "only vi_plugin_entry is exported" rule. */
#ifndef VH_ELFSYMS_H
#define VH_ELFSYMS_H

#include <stddef.h>
#include "errors.h"

/* The names of the symbols `path` defines and exports (global or weak
 * binding, default or protected visibility, defined in one of its
 * sections), in table order.  Only this machine's ELF class and byte order
 * are read: anything else could not be loaded by this host anyway.  On
 * failure (not ELF, truncated, no .dynsym) returns -1 with err (exit 3).
 * Free the result with vh_elf_exports_free. */
int vh_elf_exports(const char *path, char ***names, size_t *n, vh_err *err);
void vh_elf_exports_free(char **names, size_t n);

#endif
