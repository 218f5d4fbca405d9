/*
 * LD_PRELOAD shim for the out-of-memory test: counts the allocations that the program's
 * own code makes (calls from the executable: trisa and its library, linked in; not
 * libcrypto's or libc's own) and fails the FAILALLOC_NTH one. With FAILALLOC_NTH unset
 * or 0 it only counts, and prints the count to the file FAILALLOC_COUNT at exit.
 *
 * Built by the test with `cc -shared -fPIC`; deterministic (the count is per run).
 */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static uintptr_t exe_lo, exe_hi;
static long nth, count;

static int find_exe(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    /* The first object is the program itself. */
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            if (exe_lo == 0 || lo < exe_lo) {
                exe_lo = lo;
            }
            if (lo + ph->p_memsz > exe_hi) {
                exe_hi = lo + ph->p_memsz;
            }
        }
    }
    return 1;
}

static void report(void)
{
    const char *f = getenv("FAILALLOC_COUNT");
    FILE *out = f != NULL ? fopen(f, "w") : NULL;
    if (out != NULL) {
        fprintf(out, "%ld\n", count);
        fclose(out);
    }
}

__attribute__((constructor)) static void init(void)
{
    const char *n = getenv("FAILALLOC_NTH");
    nth = n != NULL ? strtol(n, NULL, 10) : 0;
    dl_iterate_phdr(find_exe, NULL);
    atexit(report);
}

/* Whether this call, from caller, is the one to fail. */
static int fail_now(void *caller)
{
    uintptr_t c = (uintptr_t)caller;
    if (exe_lo == 0 || c < exe_lo || c >= exe_hi) {
        return 0;
    }
    count++;
    return nth > 0 && count == nth;
}

void *malloc(size_t n)
{
    return fail_now(__builtin_return_address(0)) ? NULL : __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    return fail_now(__builtin_return_address(0)) ? NULL : __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    return fail_now(__builtin_return_address(0)) ? NULL : __libc_realloc(p, n);
}

char *strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = fail_now(__builtin_return_address(0)) ? NULL : __libc_malloc(n);
    return d != NULL ? memcpy(d, s, n) : NULL;
}

char *strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *d = fail_now(__builtin_return_address(0)) ? NULL : __libc_malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}
