/* elfsyms.c — exported symbols from an ELF file's .dynsym (see elfsyms.h).
 * The file is read into memory and every offset is checked against its
 * size before use: a plugin file under check may be anything. */
#include "elfsyms.h"

#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* This machine's ELF class: the only one dlopen accepts here. */
#if UINTPTR_MAX > 0xffffffffu
typedef Elf64_Ehdr elf_ehdr;
typedef Elf64_Shdr elf_shdr;
typedef Elf64_Sym elf_sym;
#define ELF_CLASS_HERE ELFCLASS64
#define ELF_ST_BIND(i) ELF64_ST_BIND(i)
#define ELF_ST_VISIBILITY(o) ELF64_ST_VISIBILITY(o)
#else
typedef Elf32_Ehdr elf_ehdr;
typedef Elf32_Shdr elf_shdr;
typedef Elf32_Sym elf_sym;
#define ELF_CLASS_HERE ELFCLASS32
#define ELF_ST_BIND(i) ELF32_ST_BIND(i)
#define ELF_ST_VISIBILITY(o) ELF32_ST_VISIBILITY(o)
#endif

/* Plugins are small; anything bigger than this is refused, not read. */
#define ELF_MAX_BYTES ((size_t)1 << 30)

typedef struct elf_image {
    unsigned char *bytes;
    size_t size;
} elf_image;

static int read_image(const char *path, elf_image *img, vh_err *err)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    img->bytes = NULL;
    img->size = 0;
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        int e = errno;
        if (f != NULL)
            fclose(f);
        return vh_err_set(err, VH_EXIT_PLUGIN, "cannot read %s: %s", path, strerror(e));
    }
    if (st.st_size <= 0 || (unsigned long long)st.st_size > ELF_MAX_BYTES) {
        fclose(f);
        return vh_err_set(err, VH_EXIT_PLUGIN, "%s: not a shared object (size %lld bytes)",
                          path, (long long)st.st_size);
    }
    img->size = (size_t)st.st_size;
    img->bytes = malloc(img->size);
    int ok = img->bytes != NULL && fread(img->bytes, 1, img->size, f) == img->size;
    fclose(f);
    if (!ok) {
        free(img->bytes);
        img->bytes = NULL;
        return vh_err_set(err, VH_EXIT_PLUGIN, "cannot read %s", path);
    }
    return 0;
}

/* True when [offset, offset + count * size) lies inside the image. */
static int in_image(const elf_image *img, uint64_t offset, uint64_t count, uint64_t size)
{
    if (size != 0 && count > UINT64_MAX / size)
        return 0;
    return offset <= img->size && count * size <= img->size - offset;
}

static int check_header(const char *path, const elf_image *img, vh_err *err)
{
    static const unsigned char magic[SELFMAG] = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3};
    const uint16_t probe = 1;
    int little = *(const unsigned char *)&probe == 1;
    if (img->size < sizeof(elf_ehdr) || memcmp(img->bytes, magic, SELFMAG) != 0)
        return vh_err_set(err, VH_EXIT_PLUGIN, "%s: not an ELF file", path);
    if (img->bytes[EI_CLASS] != ELF_CLASS_HERE ||
        img->bytes[EI_DATA] != (little ? ELFDATA2LSB : ELFDATA2MSB))
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: an ELF file for another word size or byte order than this "
                          "vihost's", path);
    const elf_ehdr *eh = (const elf_ehdr *)(const void *)img->bytes;
    if (eh->e_type != ET_DYN)
        return vh_err_set(err, VH_EXIT_PLUGIN, "%s: not a shared object (ELF type %u)", path,
                          (unsigned)eh->e_type);
    if (eh->e_shentsize != sizeof(elf_shdr) || eh->e_shoff % _Alignof(elf_shdr) != 0 ||
        !in_image(img, eh->e_shoff, eh->e_shnum, sizeof(elf_shdr)))
        return vh_err_set(err, VH_EXIT_PLUGIN, "%s: its ELF section table is damaged", path);
    return 0;
}

/* The section headers of .dynsym and of its string table, or -1. */
static int find_dynsym(const elf_image *img, const elf_shdr **sym, const elf_shdr **str)
{
    const elf_ehdr *eh = (const elf_ehdr *)(const void *)img->bytes;
    const elf_shdr *sh = (const elf_shdr *)(const void *)(img->bytes + eh->e_shoff);
    for (size_t i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM)
            continue;
        if (sh[i].sh_link >= eh->e_shnum || sh[i].sh_entsize != sizeof(elf_sym) ||
            sh[i].sh_offset % _Alignof(elf_sym) != 0 ||
            !in_image(img, sh[i].sh_offset, 1, sh[i].sh_size))
            return -1;
        const elf_shdr *s = &sh[sh[i].sh_link];
        if (s->sh_type != SHT_STRTAB || !in_image(img, s->sh_offset, 1, s->sh_size))
            return -1;
        *sym = &sh[i];
        *str = s;
        return 0;
    }
    return -1;
}

static int exported(const elf_sym *s)
{
    int bind = ELF_ST_BIND(s->st_info);
    int vis = ELF_ST_VISIBILITY(s->st_other);
    return s->st_shndx != SHN_UNDEF && s->st_name != 0 &&
           (bind == STB_GLOBAL || bind == STB_WEAK || bind == STB_GNU_UNIQUE) &&
           (vis == STV_DEFAULT || vis == STV_PROTECTED);
}

static int push_name(char ***names, size_t *n, const char *name, size_t max_len)
{
    char **more = realloc(*names, (*n + 1) * sizeof *more);
    if (more == NULL)
        return -1;
    *names = more;
    more[*n] = strndup(name, max_len);
    if (more[*n] == NULL)
        return -1;
    (*n)++;
    return 0;
}

static int collect(const elf_image *img, const elf_shdr *symsec, const elf_shdr *strsec,
                   char ***names, size_t *n)
{
    const elf_sym *syms = (const elf_sym *)(const void *)(img->bytes + symsec->sh_offset);
    const char *strs = (const char *)img->bytes + strsec->sh_offset;
    size_t count = symsec->sh_size / sizeof(elf_sym);
    for (size_t i = 0; i < count; i++) {
        if (!exported(&syms[i]) || syms[i].st_name >= strsec->sh_size)
            continue;
        if (push_name(names, n, strs + syms[i].st_name,
                      strsec->sh_size - syms[i].st_name) != 0)
            return -1;
    }
    return 0;
}

int vh_elf_exports(const char *path, char ***names, size_t *n, vh_err *err)
{
    elf_image img;
    const elf_shdr *symsec = NULL, *strsec = NULL;
    *names = NULL;
    *n = 0;
    if (read_image(path, &img, err) != 0)
        return -1;
    int rc = check_header(path, &img, err);
    if (rc == 0 && find_dynsym(&img, &symsec, &strsec) != 0)
        rc = vh_err_set(err, VH_EXIT_PLUGIN, "%s: no readable dynamic symbol table (.dynsym)",
                        path);
    if (rc == 0 && collect(&img, symsec, strsec, names, n) != 0) {
        vh_elf_exports_free(*names, *n);
        *names = NULL;
        *n = 0;
        rc = vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    free(img.bytes);
    return rc;
}

void vh_elf_exports_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
