/*
 * Importing postcode directories (ONSPD, NSPL, Code-Point Open, or any
 * CSV of postcodes with coordinates) into a postcode index.  Geo side:
 * grid-only files need PROJ (fp_bng_to_latlon); zlib reads .gz input.
 *
 * The files are streamed (the full ONSPD is over a gigabyte of text), so
 * the reader here is a streaming RFC 4180 one: quotes, doubled quotes,
 * embedded separators and newlines, CRLF, a UTF-8 byte-order mark; blank
 * lines skipped.  Only (key, latitude, longitude) of each row is kept:
 * 16 bytes a row, sorted at the end by a stable radix sort so the last
 * occurrence of a postcode is the one kept.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "internal.h"

/* Shared with postcode.c (private; not in internal.h yet). */

#define RD_BUF (256u * 1024u)
#define RD_MAX_RECORD (1u << 20) /* no directory has rows anywhere near */

/* ---- a streaming CSV reader over zlib (which passes plain files through) ---- */

typedef struct reader {
    fp_ctx *ctx;
    const char *path;
    gzFile gz;
    unsigned char *buf;
    size_t pos, len;
    int eof;
    size_t line;     /* physical line the reader is on (1-based) */
    size_t rec_line; /* line where the current record began */
    char *fld;       /* the record's fields, unescaped, NUL-separated */
    size_t fldlen, fldcap;
    size_t *starts;
    size_t nf, startcap;
    const char **fields;
    size_t fieldcap;
    int last_nl;     /* did the last record end with a line end? */
} reader;

/* Next byte, or -1 at the end, -2 on error (ctx set). */
static int rd_refill(reader *r)
{
    if (r->eof) return -1;
    int n = gzread(r->gz, r->buf, RD_BUF);
    if (n > 0) {
        r->pos = 0;
        r->len = (size_t)n;
        return 0;
    }
    int err = Z_OK;
    const char *msg = gzerror(r->gz, &err);
    if (n < 0 || (err != Z_OK && err != Z_STREAM_END)) {
        if (err == Z_BUF_ERROR)
            fp__error(r->ctx, FP_EFORMAT,
                      "%s: compressed data cut short: the file is truncated", r->path);
        else if (err == Z_ERRNO)
            fp__error(r->ctx, FP_EIO, "%s: read error: %s", r->path, strerror(errno));
        else
            fp__error(r->ctx, FP_EFORMAT, "%s: corrupt compressed data (%s)", r->path,
                      msg ? msg : "zlib error");
        return -2;
    }
    r->eof = 1;
    return -1;
}

static inline int rd_byte(reader *r)
{
    if (FP_UNLIKELY(r->pos == r->len)) {
        int rc = rd_refill(r);
        if (rc) return rc;
    }
    return r->buf[r->pos++];
}

/* Puts back the byte just read (it is still in the buffer). */
static inline void rd_unget(reader *r) { r->pos--; }

static int rd_put(reader *r, char ch)
{
    if (FP_UNLIKELY(r->fldlen == r->fldcap)) {
        if (r->fldlen >= RD_MAX_RECORD)
            return fp__error(r->ctx, FP_EFORMAT,
                             "%s line %zu: a row longer than %u bytes: not a postcode "
                             "CSV (or an unterminated quote)",
                             r->path, r->rec_line, RD_MAX_RECORD);
        if (fp__grow(&r->ctx->alloc, (void **)&r->fld, &r->fldcap, r->fldlen + 1, 1))
            return fp__error(r->ctx, FP_ENOMEM, "out of memory");
    }
    r->fld[r->fldlen++] = ch;
    return FP_OK;
}

static int rd_open(reader *r, fp_ctx *ctx, const char *path)
{
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    r->path = path;
    r->line = 1;
    struct stat st;
    if (stat(path, &st) != 0) return fp__error(ctx, FP_EIO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return fp__error(ctx, FP_EIO, "%s: is a directory", path);
    r->buf = fp__malloc(&ctx->alloc, RD_BUF);
    if (!r->buf) return fp__error(ctx, FP_ENOMEM, "out of memory");
    errno = 0;
    r->gz = gzopen(path, "rb");
    if (!r->gz)
        return fp__error(ctx, errno ? FP_EIO : FP_ENOMEM, "%s: %s", path,
                         errno ? strerror(errno) : "out of memory");
    gzbuffer(r->gz, RD_BUF);
    /* A UTF-8 byte-order mark is not part of the first column's name. */
    int c = rd_byte(r);
    if (c == -2) return fp_ctx_errcode(ctx);
    if (c >= 0) {
        rd_unget(r);
        if (r->len - r->pos >= 3 && memcmp(r->buf + r->pos, "\xEF\xBB\xBF", 3) == 0) r->pos += 3;
    }
    return FP_OK;
}

static void rd_close(reader *r)
{
    const fp_allocator *a = &r->ctx->alloc;
    if (r->gz) gzclose(r->gz);
    fp__free(a, r->buf);
    fp__free(a, r->fld);
    fp__free(a, r->starts);
    fp__free(a, (void *)r->fields);
    memset(r, 0, sizeof *r);
}

/* Next record into r->fields / r->nf: 1, 0 at the end, < 0 on error. */
static int rd_next(reader *r)
{
    int c;
    for (;;) { /* blank lines are not records */
        c = rd_byte(r);
        if (c == '\n')
            r->line++;
        else if (c != '\r')
            break;
    }
    if (c == -1) return 0;
    if (c == -2) return -1;
    rd_unget(r);
    r->rec_line = r->line;
    r->fldlen = r->nf = 0;
    for (;;) {
        if (fp__grow(&r->ctx->alloc, (void **)&r->starts, &r->startcap, r->nf + 1,
                     sizeof *r->starts))
            return fp__error(r->ctx, FP_ENOMEM, "out of memory"), -1;
        r->starts[r->nf++] = r->fldlen;
        c = rd_byte(r);
        if (c == '"') {
            for (;;) {
                c = rd_byte(r);
                if (c == -2) return -1;
                if (c == -1)
                    return fp__error(r->ctx, FP_EFORMAT,
                                     "%s line %zu: unterminated quoted field: the file "
                                     "is truncated or malformed", r->path, r->rec_line), -1;
                if (c == '"') {
                    c = rd_byte(r);
                    if (c == -2) return -1;
                    if (c != '"') {
                        if (c >= 0) rd_unget(r);
                        break;
                    }
                } else if (c == '\n') {
                    r->line++;
                }
                if (rd_put(r, (char)c)) return -1;
            }
            c = rd_byte(r); /* text after a closing quote is kept, as most readers do */
        }
        while (c >= 0 && c != ',' && c != '\n') {
            if (c == '\r') {
                int d = rd_byte(r);
                if (d == -2) return -1;
                if (d >= 0) rd_unget(r);
                if (d == '\n' || d == -1) { /* CR of a CRLF (or at the very end) */
                    c = rd_byte(r);
                    continue;
                }
            }
            if (rd_put(r, (char)c)) return -1;
            c = rd_byte(r);
        }
        if (c == -2) return -1;
        if (rd_put(r, '\0')) return -1;
        if (c == ',') continue;
        r->last_nl = c == '\n';
        if (c == '\n') r->line++;
        break;
    }
    if (fp__grow(&r->ctx->alloc, (void **)&r->fields, &r->fieldcap, r->nf,
                 sizeof *r->fields))
        return fp__error(r->ctx, FP_ENOMEM, "out of memory"), -1;
    for (size_t i = 0; i < r->nf; i++) r->fields[i] = r->fld + r->starts[i];
    return 1;
}

/* ---- columns ---- */

typedef struct columns {
    long pc, lat, lon, east, north; /* -1: absent */
    size_t need;                    /* fields a row must have */
    int header;                     /* the first record is a header */
} columns;

/* Field s trimmed and lower-cased into out (size n). */
static void norm_name(const char *s, char *out, size_t n)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t k = 0;
    for (; *s && k + 1 < n; s++) out[k++] = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
    while (k && (out[k - 1] == ' ' || out[k - 1] == '\t')) k--;
    out[k] = '\0';
}

/* The first column (in the order of `names`) the header has, or -1. */
static long pick(char (*names)[32], size_t nf, const char *const *want)
{
    for (; *want; want++)
        for (size_t i = 0; i < nf; i++)
            if (strcmp(names[i], *want) == 0) return (long)i;
    return -1;
}

/* Parses a number filling the whole field (spaces around allowed). */
static int number(const char *s, double *v)
{
    char *end;
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) return 0;
    errno = 0;
    *v = strtod(s, &end);
    while (*end == ' ' || *end == '\t') end++;
    return end != s && !*end && errno != ERANGE && isfinite(*v);
}

/* Degrees as integer microdegrees: exactly from the decimal text (the
 * directories give 5 or 6 decimals; further digits round half away from
 * zero), with strtod only for other spellings (exponents).  0 when the
 * field is not a finite number of at most a million degrees. */
static int micro_slow(const char *s, int64_t *out)
{
    double d;
    if (!number(s, &d) || fabs(d) > 1e6) return 0;
    *out = llround(d * 1e6);
    return 1;
}

static int micro(const char *s, int64_t *out)
{
    while (*s == ' ' || *s == '\t') s++;
    const char *p = s;
    int neg = *p == '-', ndig = 0, frac = -1, dropped = -1;
    if (*p == '-' || *p == '+') p++;
    int64_t v = 0;
    for (;; p++) {
        if (*p >= '0' && *p <= '9') {
            ndig++;
            if (frac < 0) {
                if (v > 1000000) return micro_slow(s, out);
                v = v * 10 + (*p - '0');
            } else if (frac < 6) {
                v = v * 10 + (*p - '0');
                frac++;
            } else if (dropped < 0) {
                dropped = *p - '0';
            }
        } else if (*p == '.' && frac < 0) {
            frac = 0;
        } else {
            break;
        }
    }
    while (*p == ' ' || *p == '\t') p++;
    if (*p || ndig == 0) return micro_slow(s, out);
    for (frac = frac < 0 ? 0 : frac; frac < 6; frac++) v *= 10;
    if (dropped >= 5) v++;
    *out = neg ? -v : v;
    return 1;
}

static int blank(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    return !*s;
}

static int detect(fp_ctx *ctx, const char *path, const reader *r, columns *col)
{
    static const char *const pcn[] = {"pcds", "pcd", "pcd2", "postcode", "post_code", "pc", NULL};
    static const char *const latn[] = {"lat", "latitude", NULL};
    static const char *const lonn[] = {"long", "lon", "lng", "longitude", NULL};
    static const char *const eastn[] = {"oseast1m", "easting", "eastings", "ea", NULL};
    static const char *const northn[] = {"osnrth1m", "northing", "northings", "no", NULL};
    size_t nf = r->nf < 512 ? r->nf : 512;
    char(*names)[32] = fp__calloc(&ctx->alloc, nf, sizeof *names);
    if (!names) return fp__error(ctx, FP_ENOMEM, "out of memory");
    for (size_t i = 0; i < nf; i++) norm_name(r->fields[i], names[i], sizeof names[i]);
    col->pc = pick(names, nf, pcn);
    col->lat = pick(names, nf, latn);
    col->lon = pick(names, nf, lonn);
    col->east = pick(names, nf, eastn);
    col->north = pick(names, nf, northn);
    fp__free(&ctx->alloc, names);
    col->header = 1;
    if (col->pc < 0) {
        /* Code-Point Open: no header; postcode, quality, easting, northing. */
        uint64_t key;
        double e, n;
        if (r->nf >= 4 && fp__postcode_key(r->fields[0], &key) && number(r->fields[2], &e) &&
            number(r->fields[3], &n)) {
            col->header = 0;
            col->pc = 0, col->east = 2, col->north = 3, col->lat = col->lon = -1;
            col->need = 4;
            return FP_OK;
        }
        if (r->nf && fp__postcode_key(r->fields[0], &key))
            return fp__error(ctx, FP_EFORMAT,
                             "%s line %zu: no header row: expected column names (pcds, "
                             "lat, long, ...) or Code-Point Open rows (postcode, quality, "
                             "easting, northing, ...)", path, r->rec_line);
        return fp__error(ctx, FP_EFIELD,
                         "%s: no postcode column in the header (expected pcds, pcd, pcd2, "
                         "postcode or pc)", path);
    }
    if ((col->lat >= 0) != (col->lon >= 0)) col->lat = col->lon = -1;
    if ((col->east >= 0) != (col->north >= 0)) col->east = col->north = -1;
    if (col->lat < 0 && col->east < 0)
        return fp__error(ctx, FP_EFIELD,
                         "%s: no coordinate columns: expected lat and long, or oseast1m "
                         "and osnrth1m (easting and northing)", path);
    if (col->lat >= 0) col->east = col->north = -1; /* ONS's own WGS84 values */
    long m = col->pc;
    if (col->lat > m) m = col->lat;
    if (col->lon > m) m = col->lon;
    if (col->east > m) m = col->east;
    if (col->north > m) m = col->north;
    col->need = (size_t)m + 1;
    return FP_OK;
}

/* ---- the import ---- */

typedef struct entry {
    uint64_t key;
    int32_t lat, lon;
} entry;

typedef struct job {
    fp_ctx *ctx;
    entry *e;
    size_t n, cap;
    char *sources;
    size_t slen, scap;
    fp_postcodes_import_stats st;
} job;

/* Coordinates in microdegrees, within range. */
static int add_entry(job *j, uint64_t key, int64_t lat, int64_t lon)
{
    if (fp__grow(&j->ctx->alloc, (void **)&j->e, &j->cap, j->n + 1, sizeof *j->e))
        return fp__error(j->ctx, FP_ENOMEM, "out of memory");
    entry *x = &j->e[j->n++];
    x->key = key;
    x->lat = (int32_t)lat;
    x->lon = (int32_t)lon;
    return FP_OK;
}

static int add_source(job *j, const char *path, long long bytes, size_t rows, size_t kept,
                      size_t no_grid, size_t malformed)
{
    char name[4096], line[4400];
    snprintf(name, sizeof name, "%s", path);
    for (char *p = name; *p; p++) /* a tab or line end would break the table */
        if (*p == '\t' || *p == '\n' || *p == '\r') *p = '?';
    int k = snprintf(line, sizeof line, "%s\t%lld\t%zu\t%zu\t%zu\t%zu\n", name, bytes, rows,
                     kept, no_grid, malformed);
    size_t len = k < 0 ? 0 : (size_t)k < sizeof line ? (size_t)k : sizeof line - 1;
    if (fp__grow(&j->ctx->alloc, (void **)&j->sources, &j->scap, j->slen + len + 1, 1))
        return fp__error(j->ctx, FP_ENOMEM, "out of memory");
    memcpy(j->sources + j->slen, line, len);
    j->slen += len;
    j->sources[j->slen] = '\0';
    return FP_OK;
}

static int import_file(job *j, const char *path)
{
    fp_ctx *ctx = j->ctx;
    reader r;
    int rc = rd_open(&r, ctx, path);
    if (rc) {
        rd_close(&r);
        return rc;
    }
    size_t rows = 0, kept = 0, no_grid = 0, malformed = 0;
    columns col = {-1, -1, -1, -1, -1, 0, 0};
    int got = rd_next(&r);
    if (got < 0) goto fail;
    if (got == 0) {
        fp__error(ctx, FP_EFORMAT, "%s: empty file", path);
        goto fail;
    }
    if ((rc = detect(ctx, path, &r, &col)) != FP_OK) goto fail;
    if (col.header) got = rd_next(&r);
    for (; got == 1; got = rd_next(&r)) {
        rows++;
        if (r.nf < col.need) {
            fp__error(ctx, FP_EFORMAT,
                      "%s line %zu: %zu field%s, expected at least %zu: the row is cut "
                      "short (truncated file?)", path, r.rec_line, r.nf,
                      r.nf == 1 ? "" : "s", col.need);
            goto fail;
        }
        const char *pcs = r.fields[col.pc];
        uint64_t key;
        if (!fp__postcode_key(pcs, &key)) {
            malformed++;
            if (!j->st.first_malformed[0])
                snprintf(j->st.first_malformed, sizeof j->st.first_malformed,
                         "%s line %zu: '%.40s'", path, r.rec_line, pcs);
            continue;
        }
        int64_t lat, lon; /* microdegrees */
        if (col.lat >= 0) {
            const char *a = r.fields[col.lat], *b = r.fields[col.lon];
            if (blank(a) || blank(b)) {
                no_grid++;
                continue;
            }
            if (!micro(a, &lat) || !micro(b, &lon)) {
                fp__error(ctx, FP_EFORMAT, "%s line %zu: latitude/longitude not numbers: "
                                           "'%.40s', '%.40s'", path, r.rec_line, a, b);
                goto fail;
            }
            if (lat >= 99900000 && lat < 100000000) { /* NSPL/ONSPD: no grid reference */
                no_grid++;
                continue;
            }
            if (lat < -90000000 || lat > 90000000 || lon < -180000000 || lon > 180000000) {
                fp__error(ctx, FP_EFORMAT, "%s line %zu: latitude %.40s, longitude %.40s out "
                                           "of range", path, r.rec_line, a, b);
                goto fail;
            }
        } else {
            const char *a = r.fields[col.east], *b = r.fields[col.north];
            double e, n;
            if (blank(a) || blank(b)) {
                no_grid++;
                continue;
            }
            if (!number(a, &e) || !number(b, &n)) {
                fp__error(ctx, FP_EFORMAT, "%s line %zu: easting/northing not numbers: "
                                           "'%.40s', '%.40s'", path, r.rec_line, a, b);
                goto fail;
            }
            if (e == 0 && n == 0) { /* Code-Point Open, positional quality 90 */
                no_grid++;
                continue;
            }
            double y, x;
            int st = fp_bng_to_latlon(ctx, e, n, &y, &x);
            if (st) {
                char msg[FP_ERRMSG_MAX];
                snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
                /* Off the grid is bad data here, not a bad argument. */
                fp__error(ctx, st == FP_EINVAL ? FP_EFORMAT : st, "%s line %zu: %s", path,
                          r.rec_line, msg);
                goto fail;
            }
            lat = llround(y * 1e6); /* 1e-6 degree: 0.1 m, below the 1 m grid */
            lon = llround(x * 1e6);
        }
        if ((rc = add_entry(j, key, lat, lon)) != FP_OK) goto fail;
        kept++;
    }
    if (got < 0) goto fail;
    /* A file cut off mid-row could end in a shortened number that still
     * parses: a complete file ends its last row with a line end. */
    if (rows && !r.last_nl) {
        fp__error(ctx, FP_EFORMAT,
                  "%s line %zu: the last row has no line end: the file looks truncated "
                  "(add a line end if it is complete)", path, r.rec_line);
        goto fail;
    }
    struct stat st;
    long long bytes = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    rd_close(&r);
    j->st.files++;
    j->st.rows += rows;
    j->st.no_grid += no_grid;
    j->st.malformed += malformed;
    return add_source(j, path, bytes, rows, kept, no_grid, malformed);
fail:
    j->st.rows += rows;
    j->st.no_grid += no_grid;
    j->st.malformed += malformed;
    rc = fp_ctx_errcode(ctx);
    rd_close(&r);
    return rc ? rc : FP_EFORMAT;
}

/* Stable LSD radix sort on the 48-bit keys: equal keys keep their input
 * order, so the last occurrence of a postcode stays last. */
static int sort_entries(job *j)
{
    entry *tmp = fp__malloc(&j->ctx->alloc, j->n * sizeof *tmp);
    size_t *count = fp__malloc(&j->ctx->alloc, 65536 * sizeof *count);
    if (!tmp || !count) {
        fp__free(&j->ctx->alloc, tmp);
        fp__free(&j->ctx->alloc, count);
        return fp__error(j->ctx, FP_ENOMEM, "out of memory");
    }
    entry *src = j->e, *dst = tmp;
    for (int shift = 0; shift < 48; shift += 16) {
        memset(count, 0, 65536 * sizeof *count);
        for (size_t i = 0; i < j->n; i++) count[(src[i].key >> shift) & 0xffff]++;
        size_t sum = 0;
        for (size_t b = 0; b < 65536; b++) {
            size_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < j->n; i++) dst[count[(src[i].key >> shift) & 0xffff]++] = src[i];
        entry *t = src;
        src = dst;
        dst = t;
    }
    fp__free(&j->ctx->alloc, dst); /* the other buffer */
    j->e = src;
    j->cap = j->n;
    fp__free(&j->ctx->alloc, count);
    return FP_OK;
}

int fp_postcodes_import(fp_ctx *ctx, const char *const *paths, size_t n, const char *out_path,
                        fp_postcodes_import_stats *stats)
{
    fp__clear(ctx);
    job j;
    memset(&j, 0, sizeof j);
    j.ctx = ctx;
    int rc = FP_OK;
    uint64_t *keys = NULL;
    int32_t *coords = NULL;
    if (!paths || n == 0 || !out_path) {
        rc = fp__error(ctx, FP_EINVAL, "postcode import: no input files or no output path");
        goto out;
    }
    for (size_t i = 0; i < n && !rc; i++) rc = import_file(&j, paths[i]);
    if (rc) goto out;
    if (j.n == 0) {
        rc = fp__error(ctx, FP_EFORMAT,
                       "%s%s: no postcode with coordinates (%zu rows: %zu without a grid "
                       "reference, %zu malformed)", paths[0], n > 1 ? " and the rest" : "",
                       j.st.rows, j.st.no_grid, j.st.malformed);
        goto out;
    }
    if ((rc = sort_entries(&j)) != FP_OK) goto out;
    /* Keep the last of each run of equal keys. */
    keys = fp__malloc(&ctx->alloc, j.n * sizeof *keys);
    coords = fp__malloc(&ctx->alloc, j.n * 2 * sizeof *coords);
    if (!keys || !coords) {
        rc = fp__error(ctx, FP_ENOMEM, "out of memory");
        goto out;
    }
    size_t m = 0;
    for (size_t i = 0; i < j.n; i++) {
        if (m && keys[m - 1] == j.e[i].key) {
            j.st.duplicates++;
            if (coords[2 * m - 2] != j.e[i].lat || coords[2 * m - 1] != j.e[i].lon)
                j.st.moved++;
            m--;
        }
        keys[m] = j.e[i].key;
        coords[2 * m] = j.e[i].lat;
        coords[2 * m + 1] = j.e[i].lon;
        m++;
    }
    fp__free(&ctx->alloc, j.e); /* the biggest block: gone before the file is built */
    j.e = NULL;
    j.st.postcodes = m;
    rc = fp__postcodes_write(ctx, out_path, keys, coords, m, j.sources ? j.sources : "",
                             &j.st.bytes, &j.st.districts);
    if (rc) j.st.bytes = j.st.districts = 0;
out:
    if (rc) j.st.postcodes = 0;
    if (stats) *stats = j.st;
    fp__free(&ctx->alloc, keys);
    fp__free(&ctx->alloc, coords);
    fp__free(&ctx->alloc, j.e);
    fp__free(&ctx->alloc, j.sources);
    return rc;
}
