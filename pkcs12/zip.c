/*
 * Safe ZIP reading into memory. A batch ZIP comes from the network: every entry is
 * checked before its bytes are trusted, and nothing is ever written under its name.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zip.h>

#include "common/internal.h"
#include "trisa/bundle.h"

#define DEFAULT_MAX_ENTRIES 1000u
#define DEFAULT_MAX_ENTRY   (16u * 1024u * 1024u)
#define DEFAULT_MAX_TOTAL   (64u * 1024u * 1024u)
#define DEFAULT_MAX_RATIO   100u

typedef struct entry {
    char *name;
    unsigned char *data;
    size_t len;
} entry;

struct trisa_bundle_zip {
    entry *entries;
    size_t count;
};

/* Entry names come from the archive: escaped in every message (an ESC sequence would
 * act on the terminal, U+202E would reorder the line). */
static const char *shown(char out[160], const char *name)
{
    return trisa_printable(out, 160, name);
}

static int bad(const char *name, const char *why)
{
    char n[160];
    return trisa_error_set(TRISA_EZIP, "ZIP entry '%s': %s", shown(n, name), why);
}

static uint32_t le16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
    return le16(p) | le16(p + 2) << 16;
}

/*
 * libzip refuses an archive whose central directory and local headers disagree, without
 * saying which entry: find it here, from the raw bytes, so that the message names it.
 * Only called after libzip has refused the archive; returns 0 when no entry could be
 * singled out (then the caller's general message stands).
 */
static int name_inconsistent_entry(const unsigned char *z, size_t len)
{
    size_t eocd = 0, cd, off;
    unsigned count;
    int found = 0;

    if (len < 22) {
        return 0;
    }
    for (size_t i = len - 22;; i--) {
        if (le32(z + i) == 0x06054b50u) {
            eocd = i;
            found = 1;
            break;
        }
        if (i == 0 || len - i > 22 + 65535) {
            break;
        }
    }
    if (!found) {
        return 0;
    }
    count = le16(z + eocd + 10);
    cd = le32(z + eocd + 16);
    for (off = cd; count-- > 0 && off + 46 <= len && le32(z + off) == 0x02014b50u;) {
        size_t nlen = le16(z + off + 28), xlen = le16(z + off + 30), clen = le16(z + off + 32);
        size_t loc = le32(z + off + 42);
        char name[512];
        int differ;
        if (off + 46 + nlen > len) {
            return 0;
        }
        snprintf(name, sizeof(name), "%.*s", (int)(nlen < 511 ? nlen : 511), z + off + 46);
        if (memchr(z + off + 46, '\0', nlen) != NULL) {
            return bad(name, "a NUL byte in the name");
        }
        if (loc > len || len - loc < 30 || le32(z + loc) != 0x04034b50u) {
            return bad(name, "no local header where the central directory says (corrupt or "
                             "tampered archive)");
        }
        differ = le16(z + loc + 8) != le16(z + off + 10) || /* method */
                 le16(z + loc + 26) != nlen ||              /* name length */
                 loc + 30 + nlen > len || memcmp(z + loc + 30, z + off + 46, nlen) != 0;
        if (!differ && !(le16(z + loc + 6) & 0x8u)) {
            /* No data descriptor: CRC and sizes are in the local header too. */
            differ =
                le32(z + loc + 14) != le32(z + off + 16) ||
                (le32(z + off + 20) != 0xffffffffu && (le32(z + loc + 18) != le32(z + off + 20) ||
                                                       le32(z + loc + 22) != le32(z + off + 24)));
        }
        if (differ) {
            return bad(name, "its local header and the central directory disagree (name, "
                             "method, CRC or size: corrupt or tampered archive)");
        }
        off += 46 + nlen + xlen + clen;
    }
    return 0;
}

/* The path rules: relative, forward slashes, no `..`, no drive letter, no control bytes. */
static int check_name(const char *name)
{
    size_t n = strlen(name);
    const char *p;

    if (n == 0) {
        return bad(name, "empty name");
    }
    if (name[0] == '/') {
        return bad(name, "absolute path");
    }
    if (strchr(name, '\\') != NULL) {
        return bad(name, "backslash in name");
    }
    if (n >= 2 && name[1] == ':' &&
        ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'))) {
        return bad(name, "drive letter in name");
    }
    for (p = name; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            return bad(name, "control character in name");
        }
    }
    p = name;
    while (*p != '\0') {
        const char *slash = strchr(p, '/');
        size_t clen = slash != NULL ? (size_t)(slash - p) : strlen(p);
        if (clen == 2 && p[0] == '.' && p[1] == '.') {
            return bad(name, "'..' component in path");
        }
        if (slash == NULL) {
            break;
        }
        p = slash + 1;
    }
    if (name[n - 1] == '/') {
        return bad(name, "not a regular file (folder)");
    }
    return 0;
}

/* Links, folders, devices: only regular files pass. */
static int check_kind(zip_t *za, zip_uint64_t i, const char *name)
{
    zip_uint8_t opsys = 0;
    zip_uint32_t attr = 0;

    if (zip_file_get_external_attributes(za, i, 0, &opsys, &attr) != 0) {
        return bad(name, "unreadable attributes");
    }
    if (opsys == ZIP_OPSYS_UNIX) {
        unsigned mode = (unsigned)(attr >> 16);
        if ((mode & S_IFMT) != 0 && (mode & S_IFMT) != S_IFREG) {
            return bad(name, S_ISLNK(mode) ? "symbolic link" : "not a regular file");
        }
    }
    if ((attr & 0x10u) != 0) { /* MS-DOS folder attribute */
        return bad(name, "not a regular file (folder)");
    }
    return 0;
}

static int read_entry(zip_t *za, zip_uint64_t i, const char *name, zip_uint64_t declared,
                      size_t max, entry *e)
{
    zip_file_t *zf = NULL;
    unsigned char *buf = NULL;
    char n[160];
    size_t cap = declared < 65536 ? (size_t)declared + 1 : 65536;
    size_t len = 0;
    int rc = 0;

    zf = zip_fopen_index(za, i, 0);
    if (zf == NULL) {
        rc = trisa_error_set(TRISA_EZIP, "ZIP entry '%s': cannot open: %s", shown(n, name),
                             zip_strerror(za));
        goto done;
    }
    buf = malloc(cap);
    if (buf == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    /* Read with a bound: the declared size may lie. */
    for (;;) {
        zip_int64_t got;
        if (len == cap) {
            size_t ncap = cap * 2;
            unsigned char *nb;
            if (ncap > max + 1) {
                ncap = max + 1;
            }
            if (ncap <= cap) {
                rc = trisa_error_set(TRISA_EZIP,
                                     "ZIP entry '%s': larger than the limit of %zu bytes",
                                     shown(n, name), max);
                goto done;
            }
            nb = realloc(buf, ncap);
            if (nb == NULL) {
                rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        got = zip_fread(zf, buf + len, cap - len);
        if (got < 0) {
            zip_error_t *ze = zip_file_get_error(zf);
            if (zip_error_code_zip(ze) == ZIP_ER_CRC) {
                rc = bad(name, "CRC mismatch (corrupt archive)");
            } else {
                rc = trisa_error_set(TRISA_EZIP, "ZIP entry '%s': cannot read: %s", shown(n, name),
                                     zip_error_strerror(ze));
            }
            goto done;
        }
        if (got == 0) {
            break;
        }
        len += (size_t)got;
        if (len > max) {
            rc = trisa_error_set(TRISA_EZIP, "ZIP entry '%s': larger than the limit of %zu bytes",
                                 shown(n, name), max);
            goto done;
        }
    }
    if ((zip_uint64_t)len != declared) {
        rc = trisa_error_set(TRISA_EZIP, "ZIP entry '%s': %zu bytes where the header declares %llu",
                             shown(n, name), len, (unsigned long long)declared);
        goto done;
    }
    e->data = buf;
    e->len = len;
    buf = NULL;
done:
    if (zf != NULL) {
        zip_fclose(zf);
    }
    free(buf);
    return rc;
}

/* The limits in force for one archive (defaults filled in). */
typedef struct zip_limits {
    size_t max_entries, max_entry, max_total;
    unsigned max_ratio;
} zip_limits;

/* Entry i: every check on its name, kind and declared sizes, then its bytes, bounded. */
static int take_entry(zip_t *za, zip_uint64_t i, trisa_bundle_zip *z, const zip_limits *lim,
                      size_t *total)
{
    zip_stat_t st;
    char shown_name[160];
    const char *name = zip_get_name(za, i, ZIP_FL_ENC_RAW);
    int rc;

    if (name == NULL) {
        return trisa_error_set(TRISA_EZIP, "ZIP entry %llu: unreadable name",
                               (unsigned long long)i);
    }
    if ((rc = check_name(name)) != 0 || (rc = check_kind(za, i, name)) != 0) {
        return rc;
    }
    for (size_t j = 0; j < z->count; j++) {
        if (strcmp(z->entries[j].name, name) == 0) {
            return bad(name, "duplicate name");
        }
    }
    zip_stat_init(&st);
    if (zip_stat_index(za, i, ZIP_FL_ENC_RAW, &st) != 0) {
        return trisa_error_set(TRISA_EZIP, "ZIP entry '%s': %s", shown(shown_name, name),
                               zip_strerror(za));
    }
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
        return bad(name, "encrypted entry");
    }
    if (!(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE)) {
        return bad(name, "no size in the header");
    }
    if (st.size > lim->max_entry) {
        return trisa_error_set(TRISA_EZIP, "ZIP entry '%s': %llu bytes uncompressed; limit %zu",
                               shown(shown_name, name), (unsigned long long)st.size,
                               lim->max_entry);
    }
    if (st.size > lim->max_total - *total) {
        return trisa_error_set(TRISA_EZIP,
                               "ZIP entry '%s': archive over %zu bytes uncompressed in total",
                               shown(shown_name, name), lim->max_total);
    }
    if (st.size > 0 && st.size / (st.comp_size > 0 ? st.comp_size : 1) > lim->max_ratio) {
        return trisa_error_set(
            TRISA_EZIP, "ZIP entry '%s': compression ratio %llu:1 over the limit %u:1",
            shown(shown_name, name),
            (unsigned long long)(st.size / (st.comp_size > 0 ? st.comp_size : 1)), lim->max_ratio);
    }
    z->entries[z->count].name = strdup(name);
    if (z->entries[z->count].name == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    z->count++;
    rc = read_entry(za, i, name, st.size, lim->max_entry, &z->entries[z->count - 1]);
    if (rc == 0) {
        *total += z->entries[z->count - 1].len;
    }
    return rc;
}

int trisa_bundle_zip_read(trisa_bundle_zip **out, const void *data, size_t len,
                          const trisa_bundle_zip_limits *limits)
{
    zip_limits lim = {DEFAULT_MAX_ENTRIES, DEFAULT_MAX_ENTRY, DEFAULT_MAX_TOTAL, DEFAULT_MAX_RATIO};
    size_t total = 0;
    zip_error_t zerr;
    zip_source_t *src = NULL;
    zip_t *za = NULL;
    trisa_bundle_zip *z = NULL;
    zip_int64_t n;
    int rc = 0;

    if (out == NULL || (data == NULL && len > 0)) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_zip_read: no output or no data");
    }
    *out = NULL;
    if (limits != NULL) {
        lim.max_entries = limits->max_entries != 0 ? limits->max_entries : lim.max_entries;
        lim.max_entry = limits->max_entry_size != 0 ? limits->max_entry_size : lim.max_entry;
        lim.max_total = limits->max_total_size != 0 ? limits->max_total_size : lim.max_total;
        lim.max_ratio = limits->max_ratio != 0 ? limits->max_ratio : lim.max_ratio;
    }
    zip_error_init(&zerr);
    src = zip_source_buffer_create(data, len, 0, &zerr);
    if (src == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "cannot read ZIP: %s", zip_error_strerror(&zerr));
        goto done;
    }
    za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (za == NULL && zip_error_code_zip(&zerr) == ZIP_ER_EXISTS) {
        /* libzip refuses duplicate names without naming them: reopen leniently so the loop
         * below finds and names the duplicate (and still refuses the archive). */
        zip_error_fini(&zerr);
        zip_error_init(&zerr);
        za = zip_open_from_source(src, ZIP_RDONLY, &zerr);
    }
    if (za == NULL && zip_error_code_zip(&zerr) == ZIP_ER_INCONS &&
        (rc = name_inconsistent_entry(data, len)) != 0) {
        zip_source_free(src);
        src = NULL;
        goto done;
    }
    if (za == NULL) {
        int code = zip_error_code_zip(&zerr);
        rc = trisa_error_set(
            TRISA_EZIP, "not a valid ZIP archive (%s)%s", zip_error_strerror(&zerr),
            code == ZIP_ER_NOZIP || code == ZIP_ER_INCONS ? ": truncated, corrupt or not a ZIP file"
                                                          : "");
        zip_source_free(src);
        src = NULL;
        goto done;
    }
    src = NULL; /* owned by za now */
    n = zip_get_num_entries(za, 0);
    if (n < 0) {
        rc = trisa_error_set(TRISA_EZIP, "cannot count ZIP entries");
        goto done;
    }
    if ((zip_uint64_t)n > lim.max_entries) {
        rc = trisa_error_set(TRISA_EZIP, "ZIP archive has %lld entries; at most %zu accepted",
                             (long long)n, lim.max_entries);
        goto done;
    }
    z = calloc(1, sizeof(*z));
    if (z == NULL || (n > 0 && (z->entries = calloc((size_t)n, sizeof(entry))) == NULL)) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    for (zip_uint64_t i = 0; i < (zip_uint64_t)n; i++) {
        if ((rc = take_entry(za, i, z, &lim, &total)) != 0) {
            goto done;
        }
    }
    *out = z;
    z = NULL;
done:
    if (za != NULL) {
        zip_discard(za);
    }
    zip_source_free(src);
    zip_error_fini(&zerr);
    trisa_bundle_zip_free(z);
    return rc;
}

size_t trisa_bundle_zip_count(const trisa_bundle_zip *zip)
{
    return zip != NULL ? zip->count : 0;
}

int trisa_bundle_zip_entry(const trisa_bundle_zip *zip, size_t index, const char **name,
                           const unsigned char **data, size_t *len)
{
    if (zip == NULL || index >= zip->count) {
        return trisa_error_set(TRISA_EINVAL, "ZIP entry index %zu out of range", index);
    }
    if (name != NULL) {
        *name = zip->entries[index].name;
    }
    if (data != NULL) {
        *data = zip->entries[index].data;
    }
    if (len != NULL) {
        *len = zip->entries[index].len;
    }
    return 0;
}

void trisa_bundle_zip_free(trisa_bundle_zip *zip)
{
    if (zip == NULL) {
        return;
    }
    for (size_t i = 0; i < zip->count; i++) {
        free(zip->entries[i].name);
        if (zip->entries[i].data != NULL) {
            /* Members may hold keys: wipe. */
            trisa_free_secret(zip->entries[i].data, zip->entries[i].len);
        }
    }
    free(zip->entries);
    free(zip);
}
