/*
 * The postcode index: normalisation, the file format, opening (mmap and
 * validation) and lookups.  Core: no GDAL, no PROJ (postcode_import.c
 * reads the CSV directories and calls fp__postcodes_write below).
 *
 * Layout (little-endian, native byte order checked by a mark; every part
 * 8-byte aligned; nothing in the file is unchecked):
 *   header     128 bytes: magic "FPPCODE\0", byte-order mark, format
 *              version, file size, postcode and district counts, the
 *              offset of every part, creation time, writer version,
 *              checksums of the district table and the sources text, and
 *              last a checksum of the header's own first 120 bytes
 *   districts  24 bytes each, in byte order of their outward codes:
 *              outward code (4 bytes, NUL-padded), index of its first
 *              postcode, how many, zero, checksum of its records
 *   keys       uint16 per postcode: inward code as digit*676 + letter*26 +
 *              letter (0..6759), ascending within each district
 *   coords     int32 latitude, int32 longitude per postcode, 1e-6 degrees
 *   sources    text (what it was imported from), NUL-terminated
 * Padding between parts must be zero.  The offsets follow from the counts
 * (they are stored to be checked, not trusted), so a header that passes
 * its checksum and those equalities cannot point outside the file.
 *
 * Opening checks the header and hashes the district table (72 KB for
 * Great Britain: microseconds) and checks every entry's bounds; a
 * district's records (at most 6,760: 68 KB) are hashed and checked the
 * first time a lookup touches them.  So one-shot lookups stay cheap, and
 * a damaged byte anywhere is reported (at open, at the lookup that
 * reaches it, or by fp_postcodes_verify), never used.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "internal.h"

/* The layouts (format.h), by their short names here. */
typedef fp__pc_hdr pc_hdr;
typedef fp__pc_dist pc_dist;

enum { ST_NEW = 0, ST_OK = 1, ST_BAD = 2 };

struct fp_postcodes {
    fp_allocator alloc;
    const unsigned char *map;
    size_t size;
    size_t count, ndist;
    const pc_dist *dist;
    const uint16_t *keys;
    const int32_t *coords;
    const char *sources;
    long long created;
    atomic_uchar *state; /* per district: ST_* */
    char *path;
};

/* ---- normalisation ---- */

/* Length of the white space at p (space, tab, CR, LF, UTF-8 U+00A0),
 * or 0. */
static size_t ws_len(const unsigned char *p)
{
    if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') return 1;
    if (p[0] == 0xC2 && p[1] == 0xA0) return 2;
    return 0;
}

static int is_letter(char c) { return c >= 'A' && c <= 'Z'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Is o[0..n) an outward code of an accepted shape?  `in` is the inward
 * code (GIR goes only with 0AA). */
static int outward_ok(const char *o, size_t n, const char *in)
{
    char shape[5];
    for (size_t i = 0; i < n; i++) shape[i] = is_letter(o[i]) ? 'A' : is_digit(o[i]) ? '9' : '?';
    shape[n] = '\0';
    static const char *const shapes[] = {"A9", "A99", "AA9", "AA99", "A9A", "AA9A"};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        if (strcmp(shape, shapes[i]) == 0) return 1;
    if (n == 3 && memcmp(o, "NPT", 3) == 0) return 1;
    if (n == 3 && memcmp(o, "GIR", 3) == 0) return in == NULL || memcmp(in, "0AA", 3) == 0;
    return 0;
}

/* Splits `in` into outward code (NUL-padded to 4) and inward number; 0 when
 * malformed. */
static int parse(const char *in, char out4[4], unsigned *inward)
{
    if (!in) return 0;
    const unsigned char *p = (const unsigned char *)in;
    char c[7];
    size_t n = 0, gap_at = 0, w;
    int gaps = 0;
    while ((w = ws_len(p)) != 0) p += w;
    while (*p) {
        if ((w = ws_len(p)) != 0) {
            while ((w = ws_len(p)) != 0) p += w;
            if (!*p) break; /* trailing */
            if (gaps++) return 0;
            gap_at = n;
            continue;
        }
        char ch = (char)*p++;
        if (ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
        if (!is_letter(ch) && !is_digit(ch)) return 0;
        if (n == sizeof c) return 0;
        c[n++] = ch;
    }
    if (n < 5) return 0;
    size_t no = n - 3;
    /* White space only between the outward and the inward code. */
    if (gaps && gap_at != no) return 0;
    if (!is_digit(c[no]) || !is_letter(c[no + 1]) || !is_letter(c[no + 2])) return 0;
    if (!outward_ok(c, no, c + no)) return 0;
    memset(out4, 0, 4);
    memcpy(out4, c, no);
    *inward = (unsigned)(c[no] - '0') * 676u + (unsigned)(c[no + 1] - 'A') * 26u +
              (unsigned)(c[no + 2] - 'A');
    return 1;
}

static uint64_t make_key(const char o[4], unsigned inward)
{
    uint32_t b = (uint32_t)(unsigned char)o[0] << 24 | (uint32_t)(unsigned char)o[1] << 16 |
                 (uint32_t)(unsigned char)o[2] << 8 | (uint32_t)(unsigned char)o[3];
    return (uint64_t)b << 16 | inward;
}

static void key_outward(uint64_t key, char o[4])
{
    uint32_t b = (uint32_t)(key >> 16);
    o[0] = (char)(b >> 24), o[1] = (char)(b >> 16), o[2] = (char)(b >> 8), o[3] = (char)b;
}

/* Normal form of outward code o (NUL-padded) and inward number. */
static void format_pc(const char o[4], unsigned inward, char out[FP_POSTCODE_MAX])
{
    size_t n = 0;
    while (n < 4 && o[n]) out[n] = o[n], n++;
    out[n++] = ' ';
    out[n++] = (char)('0' + inward / 676);
    out[n++] = (char)('A' + inward / 26 % 26);
    out[n++] = (char)('A' + inward % 26);
    out[n] = '\0';
}

int fp_postcode_normalise(const char *in, char out[FP_POSTCODE_MAX])
{
    char o[4];
    unsigned inward;
    if (!parse(in, o, &inward)) {
        out[0] = '\0';
        return FP_EINVAL;
    }
    format_pc(o, inward, out);
    return FP_OK;
}

int fp__postcode_key(const char *in, uint64_t *key)
{
    char o[4];
    unsigned inward;
    if (!parse(in, o, &inward)) return 0;
    *key = make_key(o, inward);
    return 1;
}

/* Is a stored outward code (4 bytes, NUL-padded) one we would write? */
static int stored_outward_ok(const char o[4])
{
    size_t n = 0;
    while (n < 4 && o[n]) n++;
    for (size_t i = n; i < 4; i++)
        if (o[i]) return 0;
    return n >= 2 && outward_ok(o, n, NULL);
}

/* ---- checksums ---- */

static uint64_t block_hash(const uint16_t *keys, const int32_t *coords, size_t n)
{
    return fp__hash64(keys, n * sizeof *keys) * 0x9e3779b97f4a7c15u ^
           fp__hash64(coords, n * 2 * sizeof *coords);
}

/* Records of one district: ascending inward codes in range, coordinates in
 * range.  NULL when sound, else what is wrong. */
static const char *block_check(const uint16_t *k, const int32_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (k[i] >= FP_PC_INWARD_CODES) return "inward code out of range";
        if (i && k[i] <= k[i - 1]) return "inward codes out of order";
        if (c[2 * i] < -90000000 || c[2 * i] > 90000000 || c[2 * i + 1] < -180000000 ||
            c[2 * i + 1] > 180000000)
            return "coordinates out of range";
    }
    return NULL;
}

static const char *district_why(const fp_postcodes *pc, size_t d)
{
    const pc_dist *e = &pc->dist[d];
    const uint16_t *k = pc->keys + e->first;
    const int32_t *c = pc->coords + 2 * (size_t)e->first;
    if (block_hash(k, c, e->n) != e->hash) return "checksum mismatch";
    /* GIR goes only with 0AA (inward number 0): a lookup accepts nothing
     * else, so the index may hold nothing else. */
    if (memcmp(e->code, "GIR", 4) == 0 && (e->n != 1 || k[0] != 0))
        return "inward code out of range";
    return block_check(k, c, e->n);
}

/* Checks district d once; thread-safe (two threads may both check it:
 * the answer is the same). */
static int district_ok(const fp_postcodes *pc, size_t d)
{
    unsigned char s = atomic_load_explicit(&pc->state[d], memory_order_acquire);
    if (FP_LIKELY(s == ST_OK)) return 1;
    if (s == ST_BAD) return 0;
    int ok = district_why(pc, d) == NULL;
    atomic_store_explicit(&pc->state[d], ok ? ST_OK : ST_BAD, memory_order_release);
    return ok;
}

/* ---- layout ---- */

static uint64_t pad8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

typedef struct layout {
    uint64_t dist_off, keys_off, coords_off, sources_off, file_size;
} layout;

/* Where every part lies, from the counts alone (counts bounded first, so
 * nothing overflows). */
static layout layout_of(uint64_t count, uint64_t ndist, uint64_t sources_len)
{
    layout l;
    l.dist_off = sizeof(pc_hdr);
    l.keys_off = pad8(l.dist_off + ndist * sizeof(pc_dist));
    l.coords_off = pad8(l.keys_off + count * sizeof(uint16_t));
    l.sources_off = l.coords_off + count * 2 * sizeof(int32_t);
    l.file_size = pad8(l.sources_off + sources_len);
    return l;
}

static int zeros(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* ---- writing ---- */

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t k = write(fd, b, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Makes a rename durable: fsync the directory holding path (best effort:
 * some file systems refuse). */
static void sync_dir(const char *path)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int fp__postcodes_write(fp_ctx *ctx, const char *path, const uint64_t *keys,
                        const int32_t *latlon, size_t n, const char *sources,
                        size_t *bytes, size_t *districts)
{
    if (n == 0 || n >= FP_PC_MAX_COUNT)
        return fp__error(ctx, FP_EINVAL, "%s: %zu postcodes: cannot index", path, n);
    size_t ndist = 0;
    for (size_t i = 0; i < n; i++) {
        char o[4];
        key_outward(keys[i], o);
        if ((keys[i] & 0xffff) >= FP_PC_INWARD_CODES || !stored_outward_ok(o) ||
            (memcmp(o, "GIR", 4) == 0 && (keys[i] & 0xffff) != 0) || /* 0AA only */
            (i && keys[i] <= keys[i - 1]))
            return fp__error(ctx, FP_EINVAL, "%s: postcode keys unsorted or invalid", path);
        if (!i || keys[i] >> 16 != keys[i - 1] >> 16) ndist++;
    }
    if (ndist >= FP_PC_MAX_DIST)
        return fp__error(ctx, FP_EINVAL, "%s: too many districts", path);
    size_t slen = strlen(sources) + 1;
    layout l = layout_of(n, ndist, slen);
    unsigned char *d = fp__calloc(&ctx->alloc, 1, (size_t)l.file_size);
    if (!d) return fp__error(ctx, FP_ENOMEM, "%s: out of memory", path);
    pc_dist *dist = (pc_dist *)(d + l.dist_off);
    uint16_t *k = (uint16_t *)(d + l.keys_off);
    int32_t *c = (int32_t *)(d + l.coords_off);
    memcpy(c, latlon, n * 2 * sizeof *c);
    size_t di = 0;
    for (size_t i = 0; i < n; i++) {
        k[i] = (uint16_t)(keys[i] & 0xffff);
        if (!i || keys[i] >> 16 != keys[i - 1] >> 16) {
            key_outward(keys[i], dist[di].code);
            dist[di].first = (uint32_t)i;
            di++;
        }
        dist[di - 1].n++;
    }
    for (size_t j = 0; j < ndist; j++)
        dist[j].hash = block_hash(k + dist[j].first, c + 2 * (size_t)dist[j].first, dist[j].n);
    memcpy(d + l.sources_off, sources, slen);
    pc_hdr h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, FP_PC_MAGIC, 8);
    h.bom = FP_PC_BOM;
    h.version = FP_PC_VERSION;
    h.file_size = l.file_size;
    h.count = n;
    h.ndist = (uint32_t)ndist;
    h.dist_off = l.dist_off, h.keys_off = l.keys_off, h.coords_off = l.coords_off;
    h.sources_off = l.sources_off, h.sources_len = slen;
    h.created = (int64_t)time(NULL);
    snprintf(h.fp_version, sizeof h.fp_version, "%s", FP_VERSION_STRING);
    h.dist_hash = fp__hash64(dist, ndist * sizeof *dist);
    h.sources_hash = fp__hash64(d + l.sources_off, slen);
    h.header_hash = fp__hash64(&h, offsetof(pc_hdr, header_hash));
    memcpy(d, &h, sizeof h);

    /* A temporary file beside the target, renamed into place when whole:
     * readers see the old index or the new one, never half of one. */
    static atomic_uint serial; /* two imports in one process get two names */
    char tmp[4200];
    int rc = FP_OK;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(),
                         atomic_fetch_add(&serial, 1)) >= sizeof tmp) {
        rc = fp__error(ctx, FP_EIO, "%s: path too long", path);
        goto out;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) { /* left by a killed process with our pid */
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
        rc = fp__error(ctx, FP_EIO, "%s: cannot write: %s", path, strerror(errno));
        goto out;
    }
    int bad = write_all(fd, d, (size_t)l.file_size) || fsync(fd) != 0;
    int e = errno;
    if (close(fd) != 0 && !bad) bad = 1, e = errno;
    if (!bad && rename(tmp, path) != 0) bad = 1, e = errno;
    if (bad) {
        unlink(tmp);
        rc = fp__error(ctx, FP_EIO, "%s: cannot write: %s", path, strerror(e));
        goto out;
    }
    sync_dir(path);
    if (bytes) *bytes = (size_t)l.file_size;
    if (districts) *districts = ndist;
out:
    fp__free(&ctx->alloc, d);
    return rc;
}

/* ---- opening ---- */

void fp_postcodes_free(fp_postcodes *pc)
{
    if (!pc) return;
    fp_allocator a = pc->alloc;
    if (pc->map) munmap((void *)pc->map, pc->size);
    fp__free(&a, (void *)pc->state);
    fp__free(&a, pc->path);
    fp__free(&a, pc);
}

/* Header and district table; NULL when sound, else what is wrong. */
static const char *validate(fp_postcodes *pc, const pc_hdr *h)
{
    if (h->count == 0 || h->count >= FP_PC_MAX_COUNT || h->ndist == 0 || h->ndist >= FP_PC_MAX_DIST ||
        h->ndist > h->count || h->sources_len == 0 || h->sources_len > pc->size)
        return "corrupt header (counts)";
    layout l = layout_of(h->count, h->ndist, h->sources_len);
    if (h->dist_off != l.dist_off || h->keys_off != l.keys_off || h->coords_off != l.coords_off ||
        h->sources_off != l.sources_off || h->file_size != l.file_size || l.file_size != pc->size)
        return "corrupt header (offsets)";
    if (h->reserved || memchr(h->fp_version, '\0', sizeof h->fp_version) == NULL)
        return "corrupt header";
    const unsigned char *m = pc->map;
    pc->count = (size_t)h->count;
    pc->ndist = h->ndist;
    pc->dist = (const pc_dist *)(m + l.dist_off);
    pc->keys = (const uint16_t *)(m + l.keys_off);
    pc->coords = (const int32_t *)(m + l.coords_off);
    pc->sources = (const char *)(m + l.sources_off);
    pc->created = h->created;
    size_t dist_end = (size_t)(l.dist_off + pc->ndist * sizeof(pc_dist));
    size_t keys_end = (size_t)(l.keys_off + pc->count * sizeof(uint16_t));
    size_t src_end = (size_t)(l.sources_off + h->sources_len);
    if (!zeros(m + dist_end, (size_t)l.keys_off - dist_end) ||
        !zeros(m + keys_end, (size_t)l.coords_off - keys_end) ||
        !zeros(m + src_end, (size_t)l.file_size - src_end))
        return "padding not zero";
    if (fp__hash64(pc->dist, pc->ndist * sizeof(pc_dist)) != h->dist_hash)
        return "district table checksum mismatch";
    if (fp__hash64(pc->sources, (size_t)h->sources_len) != h->sources_hash)
        return "sources checksum mismatch";
    if (pc->sources[h->sources_len - 1] != '\0') return "sources text";
    uint64_t next = 0;
    for (size_t d = 0; d < pc->ndist; d++) {
        const pc_dist *e = &pc->dist[d];
        if (!stored_outward_ok(e->code)) return "district code";
        if (d && memcmp(pc->dist[d - 1].code, e->code, 4) >= 0) return "districts out of order";
        if (e->first != next || e->n == 0 || e->n > FP_PC_INWARD_CODES || e->reserved)
            return "district bounds";
        next += e->n;
    }
    if (next != pc->count) return "district bounds";
    return NULL;
}

int fp_postcodes_open(fp_ctx *ctx, const char *path, fp_postcodes **out)
{
    *out = NULL;
    fp__clear(ctx);
    /* O_NONBLOCK: a FIFO must not hang us; only regular files pass. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return fp__error(ctx, FP_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fp__error(ctx, FP_EIO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fp__error(ctx, FP_EIO, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (size < sizeof(pc_hdr)) {
        close(fd);
        return fp__error(ctx, FP_EFORMAT,
                         "%s: not a footprint postcode index (%zu bytes)", path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return fp__error(ctx, FP_EIO, "%s: cannot map: %s", path, strerror(e));
    fp_postcodes *pc = fp__calloc(&ctx->alloc, 1, sizeof *pc);
    if (!pc) {
        munmap(map, size);
        return fp__error(ctx, FP_ENOMEM, "out of memory");
    }
    pc->alloc = ctx->alloc;
    pc->map = map;
    pc->size = size;
    if (!(pc->path = fp__strdup(&ctx->alloc, path))) {
        fp_postcodes_free(pc);
        return fp__error(ctx, FP_ENOMEM, "out of memory");
    }
    pc_hdr h;
    memcpy(&h, map, sizeof h);
    const char *why = NULL;
    if (memcmp(h.magic, FP_PC_MAGIC, 8) != 0) {
        fp__error(ctx, FP_EFORMAT, "%s: not a footprint postcode index", path);
    } else if (h.bom != FP_PC_BOM) {
        fp__error(ctx, FP_EFORMAT,
                  "%s: postcode index written on a machine of other byte order: "
                  "import it again here", path);
    } else if (h.version != FP_PC_VERSION) {
        fp__error(ctx, FP_EFORMAT,
                  "%s: postcode index format %u, this footprint reads format %u: "
                  "import it again with 'footprint postcodes import'",
                  path, h.version, FP_PC_VERSION);
    } else if (fp__hash64(&h, offsetof(pc_hdr, header_hash)) != h.header_hash) {
        fp__error(ctx, FP_EFORMAT, "%s: damaged postcode index (header checksum "
                                   "mismatch): import it again", path);
    } else if (h.file_size != size) {
        fp__error(ctx, FP_EFORMAT,
                  "%s: truncated or extended postcode index (%zu bytes, header "
                  "says %llu): import it again", path, size,
                  (unsigned long long)h.file_size);
    } else if ((why = validate(pc, &h)) != NULL) {
        fp__error(ctx, FP_EFORMAT, "%s: damaged postcode index (%s): import it again",
                  path, why);
    } else if (!(pc->state = fp__calloc(&ctx->alloc, pc->ndist, sizeof *pc->state))) {
        fp__error(ctx, FP_ENOMEM, "out of memory");
    } else {
        *out = pc;
        return FP_OK;
    }
    int rc = fp_ctx_errcode(ctx);
    fp_postcodes_free(pc);
    return rc;
}

size_t fp_postcodes_count(const fp_postcodes *pc) { return pc ? pc->count : 0; }
size_t fp_postcodes_districts(const fp_postcodes *pc) { return pc ? pc->ndist : 0; }
size_t fp_postcodes_size(const fp_postcodes *pc) { return pc ? pc->size : 0; }
long long fp_postcodes_created(const fp_postcodes *pc) { return pc ? pc->created : 0; }
const char *fp_postcodes_sources(const fp_postcodes *pc) { return pc ? pc->sources : ""; }

/* ---- lookups ---- */

/* District of outward code o, or -1. */
static long find_district(const fp_postcodes *pc, const char o[4])
{
    size_t lo = 0, hi = pc->ndist;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(pc->dist[mid].code, o, 4);
        if (c == 0) return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int find_key(const fp_postcodes *pc, const char o[4], unsigned inward, double *lat,
                    double *lon)
{
    long d = find_district(pc, o);
    if (d < 0) return FP_ENOTFOUND;
    if (!district_ok(pc, (size_t)d)) return FP_EFORMAT;
    const pc_dist *e = &pc->dist[d];
    const uint16_t *k = pc->keys + e->first;
    size_t lo = 0, hi = e->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k[mid] == inward) {
            const int32_t *c = pc->coords + 2 * ((size_t)e->first + mid);
            /* Division, not * 1e-6: the nearest double to the decimal. */
            if (lat) *lat = c[0] / 1e6;
            if (lon) *lon = c[1] / 1e6;
            return FP_OK;
        }
        if (k[mid] < inward)
            lo = mid + 1;
        else
            hi = mid;
    }
    return FP_ENOTFOUND;
}

int fp_postcodes_find(const fp_postcodes *pc, const char *postcode, double *lat, double *lon)
{
    char o[4];
    unsigned inward;
    if (!parse(postcode, o, &inward)) return FP_EINVAL;
    return find_key(pc, o, inward, lat, lon);
}

size_t fp_postcodes_find_n(const fp_postcodes *pc, const char *const *postcodes, size_t n,
                           double *lat, double *lon, int *status)
{
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        double y = NAN, x = NAN;
        int st = fp_postcodes_find(pc, postcodes[i], &y, &x);
        if (st != FP_OK) y = x = NAN;
        found += st == FP_OK;
        if (lat) lat[i] = y;
        if (lon) lon[i] = x;
        if (status) status[i] = st;
    }
    return found;
}

int fp_postcodes_get(const fp_postcodes *pc, size_t i, char postcode[FP_POSTCODE_MAX],
                     double *lat, double *lon)
{
    if (postcode) postcode[0] = '\0';
    if (i >= pc->count) return FP_EINVAL;
    /* The last district starting at or before i. */
    size_t lo = 0, hi = pc->ndist;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (pc->dist[mid].first <= i)
            lo = mid;
        else
            hi = mid;
    }
    if (!district_ok(pc, lo)) return FP_EFORMAT;
    if (postcode) format_pc(pc->dist[lo].code, pc->keys[i], postcode);
    if (lat) *lat = pc->coords[2 * i] / 1e6;
    if (lon) *lon = pc->coords[2 * i + 1] / 1e6;
    return FP_OK;
}

int fp_postcodes_verify(fp_ctx *ctx, const fp_postcodes *pc)
{
    fp__clear(ctx);
    for (size_t d = 0; d < pc->ndist; d++) {
        const char *why = district_why(pc, d);
        atomic_store_explicit(&pc->state[d], why ? ST_BAD : ST_OK, memory_order_release);
        if (why)
            return fp__error(ctx, FP_EFORMAT,
                             "%s: damaged postcode index (district %.4s: %s): import it again",
                             pc->path, pc->dist[d].code, why);
    }
    return FP_OK;
}
