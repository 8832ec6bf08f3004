/*
 * The streaming CSV reader behind `footprint locate` (see pointcsv.h):
 * input (file, stdin, memory; gzip by magic), blocks of whole records,
 * records, fields and numbers.  This is the hot path of a batch: records
 * are split in place with a sentinel, numbers parsed without strtod in the
 * common case, and only the fields asked for are looked at.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "internal.h"
#include "pointcsv.h"

#define RAW_CHUNK ((size_t)1 << 18)

struct fp__pcsv_reader {
    fp_ctx *ctx;
    fp_allocator alloc;
    char *name;
    /* Raw input: a file descriptor, or memory handed over in pieces. */
    int fd, own_fd, is_stdin;
    const unsigned char *mem;
    size_t memlen, mempos, piece;
    int64_t size;
    _Atomic uint64_t consumed;
    int raw_eof;
    /* Raw bytes read ahead (gzip input, and the first bytes of any input,
     * read to look for the gzip magic). */
    unsigned char *raw;
    size_t rawlen, rawpos;
    int sniffed, gzip, zinit, zdone;
    z_stream z;
    /* The copy of raw bytes kept for a replay. */
    int recording;
    char *rec;
    size_t reclen, reccap;
    /* The incomplete record at the end of the last block. */
    char *carry;
    size_t carrylen, carrycap;
    char delim;
    size_t block;
    int started, bom, finished;
    uint64_t line, offset;
};

/* ---- opening ---- */

static int reader_new(fp_ctx *ctx, const char *name, fp__pcsv_reader **out)
{
    *out = NULL;
    fp__pcsv_reader *r = fp__calloc(&ctx->alloc, 1, sizeof *r);
    if (!r) return fp__error(ctx, FP_ENOMEM, "%s: out of memory", name);
    r->ctx = ctx;
    r->alloc = ctx->alloc;
    r->fd = -1;
    r->size = -1;
    r->delim = ',';
    r->block = FP__PCSV_BLOCK;
    r->line = 1;
    atomic_init(&r->consumed, 0);
    r->name = fp__strdup(&r->alloc, name);
    r->raw = fp__malloc(&r->alloc, RAW_CHUNK);
    if (!r->name || !r->raw) {
        fp__pcsv_reader_free(r);
        return fp__error(ctx, FP_ENOMEM, "%s: out of memory", name);
    }
    *out = r;
    return FP_OK;
}

int fp__pcsv_reader_open(fp_ctx *ctx, const char *path, fp__pcsv_reader **out)
{
    int is_stdin = !path || !strcmp(path, "-");
    int rc = reader_new(ctx, is_stdin ? "stdin" : path, out);
    if (rc) return rc;
    fp__pcsv_reader *r = *out;
    r->is_stdin = is_stdin;
    if (is_stdin) {
        r->fd = 0;
    } else {
        r->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0) {
            rc = fp__error(ctx, FP_EIO, "%s: %s", path, strerror(errno));
            fp__pcsv_reader_free(r);
            *out = NULL;
            return rc;
        }
        r->own_fd = 1;
    }
    struct stat st;
    if (fstat(r->fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            rc = fp__error(ctx, FP_EIO, "%s: is a directory", r->name);
            fp__pcsv_reader_free(r);
            *out = NULL;
            return rc;
        }
        if (S_ISREG(st.st_mode)) {
            off_t at = lseek(r->fd, 0, SEEK_CUR);
            r->size = (int64_t)st.st_size - (at > 0 ? (int64_t)at : 0);
#ifdef POSIX_FADV_SEQUENTIAL
            posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
        }
    }
    return FP_OK;
}

int fp__pcsv_reader_mem(fp_ctx *ctx, const char *buf, size_t len, size_t piece,
                        fp__pcsv_reader **out)
{
    int rc = reader_new(ctx, "buffer", out);
    if (rc) return rc;
    (*out)->mem = (const unsigned char *)buf;
    (*out)->memlen = len;
    (*out)->piece = piece ? piece : len;
    (*out)->size = (int64_t)len;
    return FP_OK;
}

void fp__pcsv_reader_free(fp__pcsv_reader *r)
{
    if (!r) return;
    if (r->own_fd) close(r->fd);
    if (r->zinit) inflateEnd(&r->z);
    fp__free(&r->alloc, r->name);
    fp__free(&r->alloc, r->raw);
    fp__free(&r->alloc, r->rec);
    fp__free(&r->alloc, r->carry);
    fp__free(&r->alloc, r);
}

void fp__pcsv_reader_set(fp__pcsv_reader *r, char delim, size_t block_size)
{
    r->delim = delim;
    /* A few bytes at least: the byte-order mark is looked for in the
     * first block. */
    r->block = block_size < 8 ? 8 : block_size;
}

void fp__pcsv_reader_record(fp__pcsv_reader *r, int on)
{
    r->recording = on;
}

const char *fp__pcsv_reader_recorded(const fp__pcsv_reader *r, size_t *len)
{
    *len = r->reclen;
    return r->rec;
}

const char *fp__pcsv_reader_name(const fp__pcsv_reader *r) { return r->name; }
int fp__pcsv_reader_gzip(const fp__pcsv_reader *r) { return r->gzip; }
int fp__pcsv_reader_bom(const fp__pcsv_reader *r) { return r->bom; }
int64_t fp__pcsv_reader_size(const fp__pcsv_reader *r) { return r->size; }
int fp__pcsv_reader_stdin(const fp__pcsv_reader *r) { return r->is_stdin; }

uint64_t fp__pcsv_reader_consumed(const fp__pcsv_reader *r)
{
    return atomic_load_explicit(&((fp__pcsv_reader *)r)->consumed,
                                memory_order_relaxed);
}

void fp__pcsv_block_free(fp__pcsv_reader *r, fp__pcsv_block *b)
{
    if (!b) return;
    fp__free(&r->alloc, b->data);
    memset(b, 0, sizeof *b);
}

/* ---- raw input ---- */

/* Reads up to n raw bytes into dst: >0 bytes, 0 at the end, -1 error. */
static long raw_read(fp__pcsv_reader *r, void *dst, size_t n)
{
    long got;
    if (r->mem) {
        size_t left = r->memlen - r->mempos;
        if (n > left) n = left;
        if (n > r->piece) n = r->piece;
        memcpy(dst, r->mem + r->mempos, n);
        r->mempos += n;
        got = (long)n;
    } else {
        ssize_t k;
        do k = read(r->fd, dst, n);
        while (k < 0 && errno == EINTR);
        if (k < 0) {
            fp__error(r->ctx, FP_EIO, "%s: %s", r->name, strerror(errno));
            return -1;
        }
        got = (long)k;
    }
    if (got == 0) r->raw_eof = 1;
    if (got > 0) {
        atomic_fetch_add_explicit(&r->consumed, (uint64_t)got, memory_order_relaxed);
        if (r->recording) {
            if (fp__grow(&r->alloc, (void **)&r->rec, &r->reccap,
                         r->reclen + (size_t)got, 1)) {
                fp__error(r->ctx, FP_ENOMEM, "%s: out of memory", r->name);
                return -1;
            }
            memcpy(r->rec + r->reclen, dst, (size_t)got);
            r->reclen += (size_t)got;
        }
    }
    return got;
}

/* Tops the read-ahead buffer up (moving what is left to its start). */
static long raw_refill(fp__pcsv_reader *r)
{
    if (r->rawpos > 0) {
        memmove(r->raw, r->raw + r->rawpos, r->rawlen - r->rawpos);
        r->rawlen -= r->rawpos;
        r->rawpos = 0;
    }
    if (r->raw_eof || r->rawlen == RAW_CHUNK) return 0;
    long got = raw_read(r, r->raw + r->rawlen, RAW_CHUNK - r->rawlen);
    if (got > 0) r->rawlen += (size_t)got;
    return got;
}

static int is_gzip_magic(const unsigned char *p, size_t n)
{
    return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* Decompressed (or plain) input: >0 bytes into dst, 0 at the end, <0 a
 * negative status (message set). */
static long src_read(fp__pcsv_reader *r, char *dst, size_t n)
{
    if (!r->sniffed) {
        /* Two bytes decide: gzip or not. */
        while (r->rawlen < 2 && !r->raw_eof)
            if (raw_refill(r) < 0) return -FP_EIO;
        r->sniffed = 1;
        r->gzip = is_gzip_magic(r->raw, r->rawlen);
        if (r->gzip) {
            memset(&r->z, 0, sizeof r->z);
            /* 16 + MAX_WBITS: a gzip wrapper, nothing else. */
            if (inflateInit2(&r->z, 16 + MAX_WBITS) != Z_OK) {
                fp__error(r->ctx, FP_ENOMEM, "%s: out of memory", r->name);
                return -FP_ENOMEM;
            }
            r->zinit = 1;
        }
    }
    if (!r->gzip) {
        if (r->rawpos < r->rawlen) {
            size_t k = r->rawlen - r->rawpos;
            if (k > n) k = n;
            memcpy(dst, r->raw + r->rawpos, k);
            r->rawpos += k;
            return (long)k;
        }
        /* Straight into the block: one copy from the kernel. */
        long got = raw_read(r, dst, n);
        return got < 0 ? -FP_EIO : got;
    }
    for (;;) {
        if (r->zdone) {
            /* Concatenated members are one stream (as gzip -d has it). */
            while (r->rawlen - r->rawpos < 2 && !r->raw_eof)
                if (raw_refill(r) < 0) return -FP_EIO;
            size_t left = r->rawlen - r->rawpos;
            if (left == 0) return 0;
            if (!is_gzip_magic(r->raw + r->rawpos, left)) {
                fp__error(r->ctx, FP_EFORMAT, "%s: data after the end of the gzip stream",
                          r->name);
                return -FP_EFORMAT;
            }
            inflateReset(&r->z);
            r->zdone = 0;
        }
        if (r->rawpos == r->rawlen) {
            long got = raw_refill(r);
            if (got < 0) return -FP_EIO;
            if (got == 0) {
                fp__error(r->ctx, FP_EFORMAT,
                          "%s: gzip data truncated (the file ends mid-stream)", r->name);
                return -FP_EFORMAT;
            }
        }
        r->z.next_in = r->raw + r->rawpos;
        r->z.avail_in = (uInt)(r->rawlen - r->rawpos);
        r->z.next_out = (unsigned char *)dst;
        r->z.avail_out = (uInt)(n > 0x40000000u ? 0x40000000u : n);
        uInt before = r->z.avail_out;
        int zr = inflate(&r->z, Z_NO_FLUSH);
        r->rawpos = r->rawlen - r->z.avail_in;
        size_t made = before - r->z.avail_out;
        if (zr == Z_STREAM_END) {
            r->zdone = 1;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            fp__error(r->ctx, zr == Z_MEM_ERROR ? FP_ENOMEM : FP_EFORMAT,
                      "%s: gzip data corrupt: %s", r->name,
                      r->z.msg ? r->z.msg : zError(zr));
            return zr == Z_MEM_ERROR ? -FP_ENOMEM : -FP_EFORMAT;
        }
        if (made > 0) return (long)made;
    }
}

/* ---- blocks ---- */

/* Newlines in p[0..n), eight bytes at a time. */
static uint64_t count_newlines(const char *p, size_t n)
{
    uint64_t c = 0;
    size_t i = 0;
    const uint64_t lo7 = 0x7f7f7f7f7f7f7f7full, nl = 0x0a0a0a0a0a0a0a0aull;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        v ^= nl; /* newline bytes become zero */
        /* Exactly the zero bytes get their top bit set. */
        uint64_t t = ~(((v & lo7) + lo7) | v | lo7);
        c += ((t >> 7) * 0x0101010101010101ull) >> 56; /* sum of the bytes */
    }
    for (; i < n; i++) c += p[i] == '\n';
    return c;
}

/* The last newline in [p, e), or NULL. */
static const char *last_newline(const char *p, const char *e)
{
    while (e > p)
        if (*--e == '\n') return e;
    return NULL;
}

size_t fp__pcsv_cut(const char *buf, size_t len, char delim, int *open,
                    size_t *open_at)
{
    const char *end = buf + len, *p = buf, *rec = buf;
    size_t last = 0;
    *open = 0;
    *open_at = 0;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        const char *nl = last_newline(p, q ? q : end);
        if (nl) {
            last = (size_t)(nl + 1 - buf);
            rec = nl + 1;
        }
        if (!q) break;
        if (q > buf && q[-1] != delim && q[-1] != '\n') { /* a quote as data */
            p = q + 1;
            continue;
        }
        /* A quoted field: newlines in it do not end the record. */
        const char *s = q + 1;
        for (;;) {
            const char *c = memchr(s, '"', (size_t)(end - s));
            if (!c) {
                *open = 1;
                *open_at = (size_t)(rec - buf);
                return last;
            }
            if (c + 1 < end && c[1] == '"') {
                s = c + 2;
                continue;
            }
            p = c + 1;
            break;
        }
    }
    return last;
}

int fp__pcsv_reader_next(fp__pcsv_reader *r, fp__pcsv_block *b)
{
    if (r->finished) return 0;
    size_t want = r->block > r->carrylen ? r->block : 2 * r->carrylen;
    if (b->cap < want + 1) {
        char *d = fp__realloc(&r->alloc, b->data, want + 1 + FP__PCSV_PAD);
        if (!d) goto nomem;
        b->data = d;
        b->cap = want + 1;
    }
    size_t n = r->carrylen, cut;
    if (n) memcpy(b->data, r->carry, n);
    r->carrylen = 0;
    int eof = 0;
    for (;;) {
        while (n < b->cap - 1) {
            long got = src_read(r, b->data + n, b->cap - 1 - n);
            if (got < 0) return (int)got;
            if (got == 0) {
                eof = 1;
                break;
            }
            n += (size_t)got;
        }
        if (!r->started && (n >= 3 || eof)) {
            r->started = 1;
            if (n >= 3 && memcmp(b->data, "\xEF\xBB\xBF", 3) == 0) {
                r->bom = 1;
                memmove(b->data, b->data + 3, n - 3);
                n -= 3;
                if (!eof) continue; /* fill the three bytes up */
            }
        }
        int open;
        size_t open_at;
        cut = fp__pcsv_cut(b->data, n, r->delim, &open, &open_at);
        if (eof) {
            if (open) {
                uint64_t line = r->line + count_newlines(b->data, open_at);
                fp__error(r->ctx, FP_EFORMAT,
                          "%s: line %llu: unterminated quoted field: the input is "
                          "truncated or malformed",
                          r->name, (unsigned long long)line);
                return -FP_EFORMAT;
            }
            cut = n;
            break;
        }
        if (cut > 0) break;
        /* One record longer than the block: a bigger block. */
        size_t cap = 2 * (b->cap - 1) + 1;
        char *d = fp__realloc(&r->alloc, b->data, cap + FP__PCSV_PAD);
        if (!d) goto nomem;
        b->data = d;
        b->cap = cap;
    }
    if (n > cut) {
        if (fp__grow(&r->alloc, (void **)&r->carry, &r->carrycap, n - cut, 1)) goto nomem;
        memcpy(r->carry, b->data + cut, n - cut);
        r->carrylen = n - cut;
    }
    if (eof) r->finished = 1;
    if (cut == 0) return 0;
    b->len = cut;
    b->data[cut] = '\n'; /* the sentinel */
    memset(b->data + cut + 1, 0, FP__PCSV_PAD); /* defined bytes for word reads */
    b->line = r->line;
    b->offset = r->offset;
    r->line += count_newlines(b->data, cut);
    r->offset += cut;
    return 1;
nomem:
    fp__error(r->ctx, FP_ENOMEM, "%s: out of memory", r->name);
    return -FP_ENOMEM;
}

/* ---- records and fields ---- */

/* Word-at-a-time search (little-endian: the lowest flagged byte is the
 * first match; flags above it may be false, below it never are). */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FP_SWAR 1
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)
static inline uint64_t zero_bytes(uint64_t v) { return (v - ONES) & ~v & HIGHS; }
#endif

/* The first delimiter or newline at or after p (the sentinel newline at
 * the end of the block stops it; FP__PCSV_PAD bytes follow it). */
static inline const char *field_end(const char *p, char delim)
{
#ifdef FP_SWAR
    const uint64_t d = ONES * (unsigned char)delim, nl = ONES * (unsigned char)'\n';
    for (;; p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        uint64_t t = zero_bytes(v ^ d) | zero_bytes(v ^ nl);
        if (t) return p + (__builtin_ctzll(t) >> 3);
    }
#else
    while (*p != delim && *p != '\n') p++;
    return p;
#endif
}

const char *fp__pcsv_record(const char *p, const char *end, char delim,
                            const uint32_t *want, int nwant, fp__pcsv_rec *r)
{
    uint32_t nf = 0, maxwant = 0;
    r->start = p;
    r->newlines = 0;
    for (int k = 0; k < nwant; k++) {
        r->f[k] = r->fe[k] = NULL;
        if (want[k] + 1 > maxwant) maxwant = want[k] + 1;
    }
    for (;;) {
        const char *fs = p;
        if (*p == '"' && p < end) {
            const char *s = p + 1;
            for (;;) {
                const char *c = memchr(s, '"', (size_t)(end - s));
                if (!c) c = end; /* unterminated: only at a malformed end */
                for (const char *t = s; t < c; t++) r->newlines += *t == '\n';
                if (c + 1 < end && c[1] == '"') {
                    s = c + 2;
                    continue;
                }
                p = c < end ? c + 1 : end;
                break;
            }
        }
        p = field_end(p, delim);
        int last = p >= end || *p == '\n';
        if (p > end) p = end; /* cannot be: the sentinel stops the scan */
        const char *fe = p;
        if (last && fe > fs && fe[-1] == '\r') fe--;
        if (nf < maxwant)
            for (int k = 0; k < nwant; k++)
                if (want[k] == nf) {
                    r->f[k] = fs;
                    r->fe[k] = fe;
                }
        nf++;
        if (!last) {
            p++;
            continue;
        }
        r->end = p > r->start && p[-1] == '\r' ? p - 1 : p;
        r->nfields = nf;
        r->next = p < end ? p + 1 : end;
        return r->next;
    }
}

size_t fp__pcsv_unquote(const char *f, const char *fe, char *buf)
{
    size_t n = 0;
    if (f < fe && *f == '"') {
        const char *s = f + 1;
        while (s < fe) {
            if (*s == '"') {
                if (s + 1 < fe && s[1] == '"') {
                    buf[n++] = '"';
                    s += 2;
                    continue;
                }
                s++;
                break;
            }
            buf[n++] = *s++;
        }
        f = s;
    }
    while (f < fe) buf[n++] = *f++;
    buf[n] = '\0';
    return n;
}

size_t fp__pcsv_fields(const char *start, const char *end, char delim, char *buf,
                       const char **fields, size_t max)
{
    const char *p = start;
    size_t nf = 0, n = 0;
    for (;;) {
        const char *fs = p;
        if (p < end && *p == '"') {
            const char *s = p + 1;
            while (s < end) {
                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"') {
                        s += 2;
                        continue;
                    }
                    s++;
                    goto closed;
                }
                s++;
            }
        closed:
            p = s;
        }
        while (p < end && *p != delim) p++;
        if (nf < max) fields[nf] = buf + n;
        n += fp__pcsv_unquote(fs, p, buf + n) + 1;
        nf++;
        if (p >= end) return nf;
        p++;
    }
}

size_t fp__pcsv_escape(char *buf, const char *s, size_t len, char delim)
{
    int quote = 0;
    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == delim || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        memcpy(buf, s, len);
        return len;
    }
    size_t n = 0;
    buf[n++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') buf[n++] = '"';
        buf[n++] = s[i];
    }
    buf[n++] = '"';
    return n;
}

/* ---- numbers ---- */

/* Powers of ten exactly representable as doubles. */
static const double exact_pow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int blank(char c) { return c == ' ' || c == '\t'; }

/* Rare: long mantissas, big exponents.  strtod rounds them right (the
 * text is checked plain decimal by now, so strtod's other forms cannot
 * sneak in).  Out of line: the fast path keeps a small frame. */
static __attribute__((noinline)) int slow_number(const char *f, const char *fe, double *out)
{
    char tmp[512];
    size_t len = (size_t)(fe - f);
    if (len >= sizeof tmp) return FP__PCSV_BAD;
    memcpy(tmp, f, len);
    tmp[len] = '\0';
    double v = strtod(tmp, NULL);
    if (!isfinite(v)) return FP__PCSV_BAD;
    *out = v;
    return FP__PCSV_NUM;
}

int fp__pcsv_number(const char *f, const char *fe, double *out)
{
    if (f < fe && (blank(*f) || blank(fe[-1]) || *f == '"')) {
        while (f < fe && blank(*f)) f++;
        while (fe > f && blank(fe[-1])) fe--;
        if (f < fe && *f == '"') {
            /* "57.1": the quotes go, nothing may follow the closing one. */
            const char *c = memchr(f + 1, '"', (size_t)(fe - f - 1));
            if (!c || c + 1 != fe) return FP__PCSV_BAD;
            f++;
            fe = c;
            while (f < fe && blank(*f)) f++;
            while (fe > f && blank(fe[-1])) fe--;
        }
    }
    if (f == fe) return FP__PCSV_EMPTY;
    const char *s = f;
    int neg = 0;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    /* Every digit into m: exact while there are at most 19. */
    uint64_t m = 0;
    unsigned d;
    const char *d0 = s;
    while (s < fe && (d = (unsigned)(*s - '0')) < 10) m = m * 10 + d, s++;
    long ndig = s - d0, frac = 0;
    if (s < fe && *s == '.') {
        const char *f0 = ++s;
        while (s < fe && (d = (unsigned)(*s - '0')) < 10) m = m * 10 + d, s++;
        frac = s - f0;
        ndig += frac;
    }
    if (!ndig) return FP__PCSV_BAD;
    long exp10 = -frac;
    if (s < fe && (*s == 'e' || *s == 'E')) {
        s++;
        int eneg = 0;
        long e = 0;
        if (s < fe && (*s == '+' || *s == '-')) eneg = *s++ == '-';
        const char *e0 = s;
        for (; s < fe && (d = (unsigned)(*s - '0')) < 10; s++)
            if (e < 100000) e = e * 10 + d;
        if (s == e0) return FP__PCSV_BAD;
        exp10 += eneg ? -e : e;
    }
    if (s != fe) return FP__PCSV_BAD;
    double v;
    if (ndig <= 19 && m <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        /* Both operands exact: one correctly rounded operation (Clinger). */
        v = exp10 < 0 ? (double)m / exact_pow10[-exp10] : (double)m * exact_pow10[exp10];
    } else {
        return slow_number(f, fe, out);
    }
    *out = neg ? -v : v;
    return FP__PCSV_NUM;
}

/* ---- the whole reader over a buffer ---- */

int fp__pcsv_parse(fp_ctx *ctx, const char *buf, size_t len, size_t piece,
                   size_t block_size, char delim,
                   int (*fn)(void *arg, const fp__pcsv_row *row), void *arg)
{
    fp__pcsv_reader *r;
    int rc = fp__pcsv_reader_mem(ctx, buf, len, piece, &r);
    if (rc) return rc;
    fp__pcsv_reader_set(r, delim, block_size ? block_size : FP__PCSV_BLOCK);
    fp__pcsv_block b = {0};
    char *fbuf = NULL;
    const char **fields = NULL;
    double *nums = NULL;
    int *kinds = NULL;
    size_t fbufcap = 0, fcap = 0, ncap = 0, kcap = 0;
    int got = 0;
    rc = FP_OK;
    while (rc == FP_OK && (got = fp__pcsv_reader_next(r, &b)) > 0) {
        const char *p = b.data, *end = b.data + b.len;
        uint64_t line = b.line;
        while (p < end && rc == FP_OK) {
            fp__pcsv_rec rec;
            fp__pcsv_record(p, end, delim, NULL, 0, &rec);
            size_t clen = (size_t)(rec.end - rec.start);
            if (fp__grow(&ctx->alloc, (void **)&fbuf, &fbufcap, clen + 1, 1) ||
                fp__grow(&ctx->alloc, (void **)&fields, &fcap, rec.nfields,
                         sizeof *fields) ||
                fp__grow(&ctx->alloc, (void **)&nums, &ncap, rec.nfields, sizeof *nums) ||
                fp__grow(&ctx->alloc, (void **)&kinds, &kcap, rec.nfields,
                         sizeof *kinds)) {
                rc = fp__error(ctx, FP_ENOMEM, "out of memory");
                break;
            }
            size_t nf = fp__pcsv_fields(rec.start, rec.end, delim, fbuf, fields,
                                        rec.nfields);
            if (nf != rec.nfields) { /* the two splitters must agree */
                rc = fp__error(ctx, FP_EFORMAT, "line %llu: %zu fields, not %u",
                               (unsigned long long)line, nf, rec.nfields);
                break;
            }
            for (size_t i = 0; i < nf; i++) {
                nums[i] = NAN;
                kinds[i] = fp__pcsv_number(fields[i], fields[i] + strlen(fields[i]),
                                           &nums[i]);
            }
            fp__pcsv_row row = {line, nf, fields, nums, kinds};
            rc = fn(arg, &row);
            line += 1 + rec.newlines;
            p = rec.next;
        }
    }
    if (rc == FP_OK && got < 0) rc = -got;
    fp__free(&ctx->alloc, fbuf);
    fp__free(&ctx->alloc, (void *)fields);
    fp__free(&ctx->alloc, nums);
    fp__free(&ctx->alloc, kinds);
    fp__pcsv_block_free(r, &b);
    fp__pcsv_reader_free(r);
    return rc;
}
