/*
 * footprint locate — tags every row of a CSV of points (coordinates or
 * postcodes) with the footprints covering it: a column group per tier of
 * the chain on a date, or per pinned edition.
 *
 * The pipeline: a reader thread cuts the input into blocks of whole
 * records (lib/src/pointcsv.c); workers parse a block, locate its points
 * in arrays through the plan (fp_plan_locate_n) and format its output;
 * this thread writes the blocks in input order.  A fixed ring of block
 * slots bounds what is in flight, so memory stays flat whatever the input.
 *
 * The light binary runs everything but OGR output (--format) and
 * coordinates that need PROJ (British National Grid, --crs); for those it
 * becomes footprint-geo, replaying what it has already read of stdin.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "footprint.h"
#include "cli.h"
#include "pointcsv.h"
#ifndef FP_CLI_LIGHT
#include "points_ogr.h"
#endif

/* From cmd_postcodes.c: the postcode index (--postcodes FILE,
 * $FOOTPRINT_POSTCODES or DATA/postcodes.fpi), or a message and EXIT_DATA. */
int cli_postcodes_open(fp_ctx *ctx, const common *c, const char *file,
                       fp_postcodes **out);

const char locate_help[] =
    "Usage: footprint locate [FILE] [--out FILE] [--format csv|gpkg|geojson|fgb]\n"
    "         [--tiers LIST] [--edition ID]... [--date YYYY-MM-DD] [--fields LIST]\n"
    "         [--nearest METRES] [--lat-column COL --lon-column COL]\n"
    "         [--x-column COL --y-column COL] [--crs CRS]\n"
    "         [--postcode-column COL] [--postcodes FILE] [--delimiter C]\n"
    "         [--threads N] [--quiet] [--data DIR] [--catalogue FILE] [--atlas FILE]\n"
    "\n"
    "Tags every row of a CSV of points with the footprints covering it.  Reads\n"
    "FILE (default stdin; gzip recognised) with a header row; writes every row\n"
    "unchanged, in order, with columns appended, to stdout or --out FILE\n"
    "(written whole or not at all).  Answers come from the compiled atlas.\n"
    "\n"
    "Points: columns found by name (any case): lat/long (lon, lng, latitude,\n"
    "longitude; WGS84), else oseast1m/osnrth1m or easting/northing (British\n"
    "National Grid), else x/y with --crs; failing those a postcode column\n"
    "(pcds, pcd, postcode) looked up in the postcode index.  COL is a header\n"
    "name or a 1-based column number.\n"
    "\n"
    "Columns: a group per tier in force on --date (default every tier, today),\n"
    "then one per --edition, each with the --fields, named GROUP_FIELD\n"
    "(system_code, icb2023_name, ...):\n"
    "  code, name, ods   the footprint (empty when none), its ODS code\n"
    "  status, edition   its statuses on the date; the edition answering\n"
    "  match             contained, nearest (within --nearest metres), none,\n"
    "                    invalid (no usable point: missing, not a number, out of\n"
    "                    range, swapped, malformed postcode), unknown (postcode\n"
    "                    not in the index)\n"
    "  distance_m        metres to the footprint, 0 when contained\n"
    "Rows are never dropped or reordered: short rows are padded to the\n"
    "header's width, blank lines copied.  A summary goes to stderr, and a\n"
    "progress line while stderr is a terminal.\n"
    "\n"
    "  --out FILE          output file (default stdout)\n"
    "  --format F          csv (default); gpkg, geojson or fgb: WGS84 points\n"
    "                      with every column (rows without a point: no\n"
    "                      geometry; left out of fgb, which cannot hold them)\n"
    "  --tiers LIST        region,system,ics,place,sub,la or all (default all,\n"
    "                      none with --edition)\n"
    "  --edition ID        a group for this edition (repeatable)\n"
    "  --date YYYY-MM-DD   the day of the tiers (default today)\n"
    "  --fields LIST       default code,name,match,distance_m\n"
    "  --nearest METRES    outside all, the nearest within METRES (default 0)\n"
    "  --crs CRS           CRS of the coordinates, any PROJ knows (default\n"
    "                      EPSG:27700 with --x-column; EPSG:4326: x = longitude)\n"
    "  --postcodes FILE    postcode index (default $FOOTPRINT_POSTCODES, else\n"
    "                      postcodes.fpi in the data directory)\n"
    "  --delimiter C       field delimiter (default ','; 'tab')\n"
    "  --threads N         workers (default: one per CPU)\n"
    "  --quiet             no summary, no progress line\n"
    "  --data DIR, --catalogue FILE, --atlas FILE   as for 'which'\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 written, 2 usage error, 3 data error (no atlas; unreadable\n"
    "or truncated input, e.g. an unterminated quote; unwritable output).\n"
    "Boundaries: Source: Office for National Statistics licensed under the\n"
    "Open Government Licence v.3.0; Contains OS data (c) Crown copyright and\n"
    "database right.\n";

#define CMD "locate "

enum {
    O_TIERS = O_FIRST_FREE + 80, O_FIELDS, O_LATCOL, O_LONCOL, O_XCOL, O_YCOL,
    O_CRS, O_PCCOL, O_POSTCODES, O_FORMAT, O_DELIM, O_THREADS, O_QUIET, O_BLOCK
};

/* ---- what a run does ---- */

enum field { F_CODE, F_NAME, F_ODS, F_STATUS, F_EDITION, F_MATCH, F_DISTANCE, F_COUNT };
static const char *const field_names[F_COUNT] = {"code", "name", "ods", "status",
                                                 "edition", "match", "distance_m"};

/* How a row's point is read. */
enum coord { C_LATLON, C_XY, C_POSTCODE };

/* Why a row has no point (and so answers `invalid` or `unknown`). */
enum rowstate {
    ROW_OK, ROW_BLANK, ROW_MISSING, ROW_NOTNUM, ROW_RANGE, ROW_BADPC, ROW_UNKNOWNPC, ROW_COUNT
};

enum { K_CONTAINED, K_NEAREST, K_NONE, K_INVALID, K_UNKNOWN, K_COUNT };
static const char *const kind_names[K_COUNT] = {"contained", "nearest", "none",
                                                "invalid", "unknown"};

typedef struct run run;

/* Counts a block contributes to the summary (merged in input order, so
 * "first" is the first in the file). */
typedef struct stats {
    uint64_t rows, blank, shortrows, longrows;
    uint64_t state[ROW_COUNT];
    uint64_t best[K_COUNT]; /* rows by their best answer over the groups */
    uint64_t first_bad;     /* line of the first invalid row */
    uint64_t first_unknown; /* line of the first unknown postcode */
} stats;

/* A row's place in its block. */
typedef struct rowinfo {
    uint32_t start, end, next; /* content [start, end), next record */
    uint32_t nfields;
    uint32_t state;
    uint64_t line;
} rowinfo;

/* A ring entry: one block from input to output. */
enum { S_FREE, S_FILLED, S_WORKING, S_DONE };
typedef struct slot {
    int state;
    uint64_t seq;
    fp__pcsv_block in;
    size_t nrows, rowcap;
    rowinfo *rows;
    double *lat, *lon;
    fp_hit *hits;
    size_t latcap, hitcap;
    const char **pcs; /* postcode per row (--postcode-column) */
    char *pcbuf;
    size_t pccap, pcbuflen, pcbufcap;
    int *pcst;
    size_t pcstcap;
    /* CSV output, or for OGR the strings and their offsets per row. */
    char *out;
    size_t outlen, outcap;
    uint32_t *offs;
    size_t offcap;
    stats st;
} slot;

/* A pre-formatted group for one footprint: the text for a contained
 * point, and for a nearest one the text split where the distance goes. */
typedef struct snip {
    char *contained, *nearest;
    uint32_t clen, nlen, nsplit;
} snip;

typedef struct worker {
    run *R;
    pthread_t tid;
    fp_ctx *ctx;
    snip **cache;   /* per group: per footprint entry, built on first use */
    int32_t *ncache;
    const char **fptr; /* a row's fields (OGR output) */
    size_t fptrcap;
#ifndef FP_CLI_LIGHT
    fp__xy_to_wgs *xy;
#endif
} worker;

struct run {
    /* Settings. */
    const fp_plan *plan;
    size_t ncols;
    int fields[F_COUNT];
    int nfields, has_distance;
    char delim;
    double nearest;
    int coord;
    uint32_t want[2];
    int nwant;
    uint32_t width; /* fields in the header */
    const char *eol; /* line ending for a last record without one */
    int ogr;
    const char *crs;
    const fp_postcodes *pc;
    /* Per group, the text of a group with no footprint, per kind. */
    char *empty[K_COUNT * 64];
    uint32_t emptylen[K_COUNT * 64];
    size_t nappend; /* appended fields (OGR) */
    /* The pipeline. */
    fp__pcsv_reader *reader;
    fp_ctx *rctx;
    pthread_t rtid;
    slot *slots;
    size_t nslots;
    pthread_mutex_t mu;
    pthread_cond_t cv_read, cv_work, cv_write;
    uint64_t next_read, next_work, next_write, total;
    atomic_int failed; /* also read outside the lock, by workers */
    int errcode;
    char errmsg[600];
    worker *workers;
    int nworkers;
};

/* ---- small helpers ---- */

static void die_data(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_data(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(EXIT_DATA);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) die_data("out of memory");
    return p;
}

/* Grows an array to hold `need` elements (no-op when it does). */
static void grow(void *pp, size_t *cap, size_t need, size_t size)
{
    void **p = pp;
    if (need <= *cap) return;
    size_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * size);
    if (!q) die_data("out of memory");
    *p = q;
    *cap = n;
}

static void fail(run *R, int code, const char *msg)
{
    pthread_mutex_lock(&R->mu);
    if (!R->failed) {
        R->failed = 1;
        R->errcode = code;
        snprintf(R->errmsg, sizeof R->errmsg, "%s", msg);
    }
    pthread_cond_broadcast(&R->cv_read);
    pthread_cond_broadcast(&R->cv_work);
    pthread_cond_broadcast(&R->cv_write);
    pthread_mutex_unlock(&R->mu);
}

/* Header names compare ignoring case and surrounding blanks. */
static int same_name(const char *a, const char *b)
{
    while (*a == ' ' || *a == '\t') a++;
    size_t n = strlen(a);
    while (n && (a[n - 1] == ' ' || a[n - 1] == '\t')) n--;
    return strlen(b) == n && strncasecmp(a, b, n) == 0;
}

/* A column by name, or by 1-based number when no header name matches;
 * -1 when neither. */
static long find_column(const char *const *names, size_t n, const char *want)
{
    for (size_t i = 0; i < n; i++)
        if (same_name(names[i], want)) return (long)i;
    char *end;
    long k = strtol(want, &end, 10);
    if (*want && !*end && k >= 1 && (size_t)k <= n) return k - 1;
    return -1;
}

/* The first header column with one of these names, or -1. */
static long find_any(const char *const *names, size_t n, const char *const *cands)
{
    for (const char *const *c = cands; *c; c++)
        for (size_t i = 0; i < n; i++)
            if (same_name(names[i], *c)) return (long)i;
    return -1;
}

static const char *plural(uint64_t n) { return n == 1 ? "" : "s"; }

/* A distance in metres to one decimal, without printf: the hot path. */
static size_t fmt_tenths(char *o, double d)
{
    if (!(d >= 0) || d >= 1e15) return (size_t)snprintf(o, 32, "%.1f", d);
    uint64_t v = (uint64_t)(d * 10 + 0.5);
    char t[24];
    size_t n = 0;
    t[n++] = (char)('0' + v % 10);
    t[n++] = '.';
    v /= 10;
    do t[n++] = (char)('0' + v % 10);
    while (v /= 10);
    for (size_t i = 0; i < n; i++) o[i] = t[n - 1 - i];
    return n;
}

/* Copies n bytes 16 at a time (inlined, unlike a memcpy of unknown
 * length): may read up to 15 bytes past s + n and write up to 15 past
 * o + n.  Blocks (FP__PCSV_PAD), group texts and output buffers have that
 * slack. */
static inline char *put(char *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i += 16) memcpy(o + i, s + i, 16);
    return o + n;
}

/* ---- the groups' text ---- */

/* Appends field f of a group to o (CSV-escaped), for footprint k (NULL:
 * none) answered as `kind`; returns the new end.  The distance of a
 * nearest answer is left out: *split marks where it goes. */
static char *put_field(const run *R, char *o, int f, const fp_link *k, int kind,
                       char **split)
{
    const char *s = "";
    switch (f) {
    case F_CODE: s = k ? k->code : ""; break;
    case F_NAME: s = k ? k->name : ""; break;
    case F_ODS: s = k && k->ods_code ? k->ods_code : ""; break;
    case F_STATUS: s = k ? k->status : ""; break;
    case F_EDITION: s = k ? (k->edition ? k->edition->id : "parent") : ""; break;
    case F_MATCH: s = kind_names[kind]; break;
    case F_DISTANCE:
        if (kind == K_CONTAINED) s = "0";
        if (kind == K_NEAREST) *split = o;
        break;
    }
    if (!s) s = "";
    return o + fp__pcsv_escape(o, s, strlen(s), R->delim);
}

/* The text of a whole group (each field preceded by the delimiter);
 * returns its length, *split the offset of the distance (nearest). */
static size_t group_text(const run *R, char *buf, const fp_link *k, int kind,
                         uint32_t *split)
{
    char *o = buf, *sp = NULL;
    for (int i = 0; i < R->nfields; i++) {
        *o++ = R->delim;
        o = put_field(R, o, R->fields[i], k, kind, &sp);
    }
    *split = (uint32_t)((sp ? sp : o) - buf);
    return (size_t)(o - buf);
}

/* Room for one group's text: every field escaped at worst. */
static size_t group_room(const fp_link *k)
{
    size_t n = 64;
    if (k && k->code && k->name) {
        n += 2 * (strlen(k->code) + strlen(k->name) + strlen(k->status)) + 8;
        if (k->ods_code) n += 2 * strlen(k->ods_code);
        if (k->edition) n += 2 * strlen(k->edition->id);
    }
    return 2 * n + 64;
}

static const snip *snip_of(worker *w, size_t col, int32_t entry)
{
    if (entry >= w->ncache[col]) {
        int32_t n = w->ncache[col] ? w->ncache[col] : 64;
        while (n <= entry) n *= 2;
        snip *c = realloc(w->cache[col], (size_t)n * sizeof *c);
        if (!c) die_data("out of memory");
        memset(c + w->ncache[col], 0, (size_t)(n - w->ncache[col]) * sizeof *c);
        w->cache[col] = c;
        w->ncache[col] = n;
    }
    snip *s = &w->cache[col][entry];
    if (!s->contained) {
        const fp_link *k = fp_plan_answer(w->R->plan, col, entry);
        if (k && (!k->code || !k->name)) k = NULL;
        size_t room = group_room(k);
        char *buf = xmalloc(2 * room);
        uint32_t split;
        s->clen = (uint32_t)group_text(w->R, buf, k, K_CONTAINED, &split);
        s->nearest = buf + room;
        s->nlen = (uint32_t)group_text(w->R, s->nearest, k, K_NEAREST, &s->nsplit);
        s->contained = buf;
    }
    return s;
}

/* ---- a block's work ---- */

static int row_kind(const run *R, const rowinfo *ri)
{
    (void)R;
    return ri->state == ROW_UNKNOWNPC ? K_UNKNOWN : K_INVALID;
}

/* Parses the block's records: where each is, and its point. */
static void parse_block(worker *w, slot *s)
{
    run *R = w->R;
    const char *data = s->in.data, *p = data, *end = data + s->in.len;
    uint64_t line = s->in.line;
    size_t n = 0;
    while (p < end) {
        if (n == s->rowcap) grow(&s->rows, &s->rowcap, n + 1, sizeof *s->rows);
        if (n >= s->latcap) {
            size_t c = s->latcap;
            grow(&s->lat, &c, n + 1, sizeof *s->lat);
            c = s->latcap;
            grow(&s->lon, &c, n + 1, sizeof *s->lon);
            s->latcap = c;
        }
        fp__pcsv_rec rec;
        fp__pcsv_record(p, end, R->delim, R->want, R->nwant, &rec);
        rowinfo *ri = &s->rows[n];
        ri->start = (uint32_t)(rec.start - data);
        ri->end = (uint32_t)(rec.end - data);
        ri->next = (uint32_t)(rec.next - data);
        ri->nfields = rec.nfields;
        ri->line = line;
        ri->state = ROW_OK;
        if (R->coord == C_POSTCODE && n >= s->pccap) /* every row has one */
            grow(&s->pcs, &s->pccap, n + 1, sizeof *s->pcs);
        double a = NAN, b = NAN;
        if (rec.start == rec.end) {
            ri->state = ROW_BLANK;
        } else if (R->coord == C_POSTCODE) {
            /* Offsets for now (pcbuf may move while it grows): pointers
             * once the block is parsed. */
            size_t at = 0;
            if (rec.f[0]) {
                size_t len = (size_t)(rec.fe[0] - rec.f[0]);
                at = s->pcbuflen;
                grow(&s->pcbuf, &s->pcbufcap, at + len + 1, 1);
                size_t k = fp__pcsv_unquote(rec.f[0], rec.fe[0], s->pcbuf + at);
                s->pcbuflen += k + 1;
                if (strspn(s->pcbuf + at, " \t") == k) ri->state = ROW_MISSING;
            } else {
                ri->state = ROW_MISSING;
            }
            s->pcs[n] = (const char *)(uintptr_t)at;
        } else {
            int ka = rec.f[0] ? fp__pcsv_number(rec.f[0], rec.fe[0], &a) : FP__PCSV_EMPTY;
            int kb = rec.f[1] ? fp__pcsv_number(rec.f[1], rec.fe[1], &b) : FP__PCSV_EMPTY;
            if (ka == FP__PCSV_EMPTY || kb == FP__PCSV_EMPTY)
                ri->state = ROW_MISSING;
            else if (ka == FP__PCSV_BAD || kb == FP__PCSV_BAD)
                ri->state = ROW_NOTNUM;
            /* Great Britain passes fp_check_latlon: the library judges
             * the rest (range, swapped pairs). */
            else if (R->coord == C_LATLON && !(a >= 49 && a <= 61 && b >= -9 && b <= 2) &&
                     fp_check_latlon(w->ctx, a, b) != FP_OK)
                ri->state = ROW_RANGE;
            if (ri->state != ROW_OK) a = b = NAN;
        }
        if (R->coord == C_XY) { /* x, y until transformed */
            s->lon[n] = a;
            s->lat[n] = b;
        } else {
            s->lat[n] = a;
            s->lon[n] = b;
        }
        line += 1 + rec.newlines;
        p = rec.next;
        n++;
    }
    s->nrows = n;
}

/* The points of the block as latitude/longitude (x/y transformed,
 * postcodes looked up); rows without one get NAN. */
static void points_of_block(worker *w, slot *s)
{
    run *R = w->R;
    size_t n = s->nrows;
    if (R->coord == C_XY) {
#ifndef FP_CLI_LIGHT
        /* x is in lon[], y in lat[]: transformed in place. */
        fp__xy_to_wgs_n(w->xy, s->lon, s->lat, n, s->lat, s->lon);
        for (size_t i = 0; i < n; i++)
            if (s->rows[i].state == ROW_OK && !isfinite(s->lat[i])) s->rows[i].state = ROW_RANGE;
#endif
    } else if (R->coord == C_POSTCODE) {
        static const char none[] = "";
        for (size_t i = 0; i < n; i++)
            s->pcs[i] = s->rows[i].state == ROW_OK ? s->pcbuf + (uintptr_t)s->pcs[i] : none;
        if (n > s->pcstcap) grow(&s->pcst, &s->pcstcap, n, sizeof *s->pcst);
        fp_postcodes_find_n(R->pc, s->pcs, n, s->lat, s->lon, s->pcst);
        for (size_t i = 0; i < n; i++) {
            rowinfo *ri = &s->rows[i];
            if (ri->state != ROW_OK) continue;
            switch (s->pcst[i]) {
            case FP_OK: break;
            case FP_ENOTFOUND: ri->state = ROW_UNKNOWNPC; break;
            case FP_EINVAL: ri->state = ROW_BADPC; break;
            default: {
                char msg[300];
                snprintf(msg, sizeof msg,
                         "%s: line %llu: the postcode index is damaged (district of "
                         "'%s'): import it again",
                         fp__pcsv_reader_name(R->reader), (unsigned long long)ri->line,
                         s->pcs[i]);
                fail(R, EXIT_DATA, msg);
                return;
            }
            }
            if (ri->state != ROW_OK) s->lat[i] = s->lon[i] = NAN;
        }
    }
}

/* Counts a row into the block's summary. */
static void count_row(const run *R, slot *s, const rowinfo *ri, const fp_hit *h)
{
    stats *st = &s->st;
    st->rows++;
    st->state[ri->state]++;
    if (ri->state == ROW_BLANK) {
        st->blank++;
        return;
    }
    if (ri->nfields < R->width) st->shortrows++;
    if (ri->nfields > R->width) st->longrows++;
    if (ri->state != ROW_OK) {
        int k = row_kind(R, ri);
        st->best[k]++;
        uint64_t *first = k == K_UNKNOWN ? &st->first_unknown : &st->first_bad;
        if (!*first) *first = ri->line;
        return;
    }
    int best = K_NONE;
    for (size_t c = 0; c < R->ncols; c++) {
        if (h[c].entry < 0) continue;
        if (h[c].kind == FP_MATCH_CONTAINED) best = K_CONTAINED;
        else if (best == K_NONE) best = K_NEAREST;
    }
    st->best[best]++;
}

/* Room for n more bytes at o in the block's output; returns o in the
 * (possibly moved) buffer. */
static char *reserve(slot *s, char *o, char **oend, size_t n)
{
    size_t at = (size_t)(o - s->out);
    grow(&s->out, &s->outcap, at + n, 1);
    *oend = s->out + s->outcap;
    return s->out + at;
}

/* CSV output: each row as it came, padded to the header's width, the
 * groups appended, its own line ending. */
static void format_csv(worker *w, slot *s)
{
    run *R = w->R;
    const char *data = s->in.data;
    size_t nc = R->ncols;
    s->outlen = 0;
    grow(&s->out, &s->outcap, s->in.len + s->nrows * 64 + 1024, 1);
    char *o = s->out, *oend = s->out + s->outcap;
    for (size_t i = 0; i < s->nrows; i++) {
        const rowinfo *ri = &s->rows[i];
        const fp_hit *h = &s->hits[i * nc];
        count_row(R, s, ri, h);
        size_t clen = ri->end - ri->start, elen = ri->next - ri->end;
        const char *eol = data + ri->end;
        if (elen == 0) eol = R->eol, elen = strlen(R->eol);
        size_t pad = ri->nfields < R->width ? R->width - ri->nfields : 0;
        /* The most a row can need, but for groups longer than 256 bytes
         * (checked below). */
        size_t need = clen + pad + elen + nc * 320 + 32;
        if ((size_t)(oend - o) < need) o = reserve(s, o, &oend, need + (s->nrows - i) * 64);
        o = put(o, data + ri->start, clen);
        if (ri->state != ROW_BLANK) {
            if (pad) {
                memset(o, R->delim, pad);
                o += pad;
            }
            for (size_t c = 0; c < nc; c++) {
                const char *t;
                size_t tl;
                if (ri->state != ROW_OK) {
                    int k = row_kind(R, ri);
                    t = R->empty[c * K_COUNT + k];
                    tl = R->emptylen[c * K_COUNT + k];
                } else if (h[c].entry < 0) {
                    t = R->empty[c * K_COUNT + K_NONE];
                    tl = R->emptylen[c * K_COUNT + K_NONE];
                } else {
                    const snip *sn = snip_of(w, c, h[c].entry);
                    if (h[c].kind == FP_MATCH_NEAREST) {
                        if ((size_t)(oend - o) < sn->nlen + 64 + (nc - c) * 320)
                            o = reserve(s, o, &oend, sn->nlen + 64 + (nc - c) * 320);
                        o = put(o, sn->nearest, sn->nsplit);
                        if (R->has_distance) o += fmt_tenths(o, h[c].distance_m);
                        o = put(o, sn->nearest + sn->nsplit, sn->nlen - sn->nsplit);
                        continue;
                    }
                    t = sn->contained, tl = sn->clen;
                }
                if (tl > 256 && (size_t)(oend - o) < tl + 64 + (nc - c) * 320)
                    o = reserve(s, o, &oend, tl + 64 + (nc - c) * 320);
                o = put(o, t, tl);
            }
        }
        /* The line ending: one or two bytes. */
        o[0] = eol[0];
        if (elen > 1) o[1] = eol[1];
        o += elen;
    }
    s->outlen = (size_t)(o - s->out);
}

/* OGR output: every value as a string in s->out, offsets per row in
 * s->offs: the header's width of input fields, then the groups'. */
static void format_ogr(worker *w, slot *s)
{
    run *R = w->R;
    size_t nc = R->ncols, per = R->width + R->nappend;
    const char *data = s->in.data;
    s->outlen = 0;
    grow(&s->out, &s->outcap, 1, 1);
    s->out[s->outlen++] = '\0'; /* offset 0: the empty string */
    grow(&s->offs, &s->offcap, s->nrows * per + 1, sizeof *s->offs);
    for (size_t i = 0; i < s->nrows; i++) {
        const rowinfo *ri = &s->rows[i];
        const fp_hit *h = &s->hits[i * nc];
        uint32_t *off = &s->offs[i * per];
        count_row(R, s, ri, h);
        if (ri->state == ROW_BLANK) continue;
        size_t clen = ri->end - ri->start;
        size_t nf = ri->nfields;
        grow(&s->out, &s->outcap, s->outlen + clen + 1, 1);
        grow(&w->fptr, &w->fptrcap, nf, sizeof *w->fptr);
        const char **f = w->fptr;
        size_t base = s->outlen;
        fp__pcsv_fields(data + ri->start, data + ri->end, R->delim, s->out + base, f, nf);
        for (size_t k = 0; k < R->width; k++)
            off[k] = k < nf ? (uint32_t)(f[k] - s->out) : 0;
        s->outlen = base + clen + 1;
        for (size_t c = 0; c < nc; c++) {
            const fp_link *k = NULL;
            int kind;
            if (ri->state != ROW_OK)
                kind = row_kind(R, ri);
            else if (h[c].entry < 0)
                kind = K_NONE;
            else {
                k = fp_plan_answer(R->plan, c, h[c].entry);
                if (k && (!k->code || !k->name)) k = NULL;
                kind = h[c].kind == FP_MATCH_NEAREST ? K_NEAREST : K_CONTAINED;
            }
            for (int j = 0; j < R->nfields; j++) {
                const char *v = "";
                char num[40];
                switch (R->fields[j]) {
                case F_CODE: v = k ? k->code : ""; break;
                case F_NAME: v = k ? k->name : ""; break;
                case F_ODS: v = k && k->ods_code ? k->ods_code : ""; break;
                case F_STATUS: v = k ? k->status : ""; break;
                case F_EDITION: v = k ? (k->edition ? k->edition->id : "parent") : ""; break;
                case F_MATCH: v = kind_names[kind]; break;
                case F_DISTANCE:
                    if (kind == K_CONTAINED) v = "0";
                    if (kind == K_NEAREST) {
                        num[fmt_tenths(num, h[c].distance_m)] = '\0';
                        v = num;
                    }
                    break;
                }
                size_t len = strlen(v ? v : "");
                grow(&s->out, &s->outcap, s->outlen + len + 1, 1);
                off[R->width + c * (size_t)R->nfields + (size_t)j] = (uint32_t)s->outlen;
                memcpy(s->out + s->outlen, v ? v : "", len + 1);
                s->outlen += len + 1;
            }
        }
    }
}

static void work_block(worker *w, slot *s)
{
    run *R = w->R;
    memset(&s->st, 0, sizeof s->st);
    s->pcbuflen = 0;
    s->nrows = 0;
    if (s->in.len >= UINT32_MAX) { /* rows are placed with 32-bit offsets */
        char msg[300];
        snprintf(msg, sizeof msg, "%s: line %llu: a record longer than 4 GB",
                 fp__pcsv_reader_name(R->reader), (unsigned long long)s->in.line);
        fail(R, EXIT_DATA, msg);
        return;
    }
    parse_block(w, s);
    points_of_block(w, s);
    if (R->failed) return;
    size_t need = s->nrows * R->ncols;
    grow(&s->hits, &s->hitcap, need ? need : 1, sizeof *s->hits);
    fp_plan_locate_n(R->plan, s->lat, s->lon, s->nrows, R->nearest, s->hits);
    if (R->ogr)
        format_ogr(w, s);
    else
        format_csv(w, s);
}

/* ---- threads ---- */

static void *reader_main(void *arg)
{
    run *R = arg;
    for (uint64_t seq = 1;; seq++) {
        slot *s = &R->slots[seq % R->nslots];
        pthread_mutex_lock(&R->mu);
        while (!R->failed && s->state != S_FREE) pthread_cond_wait(&R->cv_read, &R->mu);
        int stop = R->failed;
        pthread_mutex_unlock(&R->mu);
        if (stop) return NULL;
        int rc = fp__pcsv_reader_next(R->reader, &s->in);
        if (rc < 0) {
            fail(R, EXIT_DATA, fp_ctx_errmsg(R->rctx));
            return NULL;
        }
        pthread_mutex_lock(&R->mu);
        if (rc > 0) {
            s->seq = seq;
            s->state = S_FILLED;
            R->next_read = seq + 1;
            pthread_cond_signal(&R->cv_work);
        } else {
            R->total = seq;
            pthread_cond_broadcast(&R->cv_work);
            pthread_cond_broadcast(&R->cv_write);
        }
        pthread_mutex_unlock(&R->mu);
        if (rc == 0) return NULL;
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    run *R = w->R;
    pthread_mutex_lock(&R->mu);
    for (;;) {
        while (!R->failed && R->next_work >= R->next_read && R->next_work != R->total)
            pthread_cond_wait(&R->cv_work, &R->mu);
        if (R->failed || R->next_work == R->total) break;
        slot *s = &R->slots[R->next_work % R->nslots];
        R->next_work++;
        s->state = S_WORKING;
        pthread_mutex_unlock(&R->mu);
        work_block(w, s);
        pthread_mutex_lock(&R->mu);
        s->state = S_DONE;
        /* The writer waits for the next block in order, no other. */
        if (s->seq == R->next_write) pthread_cond_signal(&R->cv_write);
    }
    pthread_mutex_unlock(&R->mu);
    return NULL;
}

/* ---- output ---- */

typedef struct output {
    int fd;             /* CSV */
    const char *path;   /* --out */
    char *tmp;          /* its temporary file */
#ifndef FP_CLI_LIGHT
    fp__points_out *ogr;
#endif
} output;

/* The temporary file, for the signal handler. */
static char tmp_for_signal[4200];

static void on_signal(int sig)
{
    if (tmp_for_signal[0]) unlink(tmp_for_signal);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Any exit before the output is complete (an error from any thread)
 * removes the temporary file. */
static void remove_tmp_at_exit(void)
{
    if (tmp_for_signal[0]) unlink(tmp_for_signal);
}

static void catch_signals(const char *tmp)
{
    snprintf(tmp_for_signal, sizeof tmp_for_signal, "%s", tmp ? tmp : "");
    if (!tmp) return;
    atexit(remove_tmp_at_exit);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, on_signal);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void output_abort(output *o)
{
    if (o->tmp) {
        close(o->fd);
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
    }
#ifndef FP_CLI_LIGHT
    fp__points_out_abort(o->ogr);
    o->ogr = NULL;
#endif
    tmp_for_signal[0] = '\0';
}

static void output_open_csv(output *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->fd = 1;
    if (!path || !strcmp(path, "-")) return;
    o->path = path;
    size_t n = strlen(path) + 32;
    o->tmp = xmalloc(n);
    snprintf(o->tmp, n, "%s.tmpXXXXXX", path);
    o->fd = mkstemp(o->tmp);
    if (o->fd < 0) {
        int e = errno;
        free(o->tmp);
        o->tmp = NULL;
        die_data("%s: cannot create: %s", path, strerror(e));
    }
    /* mkstemp makes 0600; the output is an ordinary file. */
    mode_t um = umask(0);
    umask(um);
    fchmod(o->fd, 0666 & ~um);
    catch_signals(o->tmp);
}

static int output_finish_csv(output *o)
{
    if (!o->tmp) return 0;
    if (fsync(o->fd) != 0 || close(o->fd) != 0) {
        int e = errno;
        unlink(o->tmp);
        fprintf(stderr, "%s: %s: %s\n", prog, o->path, strerror(e));
        return -1;
    }
    if (rename(o->tmp, o->path) != 0) {
        int e = errno;
        unlink(o->tmp);
        fprintf(stderr, "%s: %s: %s\n", prog, o->path, strerror(e));
        return -1;
    }
    free(o->tmp);
    o->tmp = NULL;
    tmp_for_signal[0] = '\0';
    return 0;
}

/* ---- progress ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress(const run *R, uint64_t rows, double t0, int last)
{
    double t = now_s() - t0;
    char eta[48] = "";
    int64_t size = fp__pcsv_reader_size(R->reader);
    uint64_t done = fp__pcsv_reader_consumed(R->reader);
    if (size > 0 && done > 0 && t > 0.5 && !last) {
        double left = t * ((double)size / (double)done - 1);
        if (left < 0) left = 0;
        snprintf(eta, sizeof eta, "  %3.0f%%  ETA %.0f s", 100.0 * (double)done / (double)size,
                 left);
    }
    fprintf(stderr, "\r%s: %llu rows  %.2f M rows/s%s\033[K", prog,
            (unsigned long long)rows, t > 0 ? rows / t / 1e6 : 0.0, eta);
    if (last) fprintf(stderr, "\r\033[K");
}

/* ---- delegation (light binary) ---- */

#ifdef FP_CLI_LIGHT
/* footprint-geo must see the input from its start.  A file it reopens;
 * a seekable stdin is rewound; anything else is replayed through a pipe
 * by a child process: what was read so far, then the rest. */
static void delegate_replaying(fp__pcsv_reader *r, off_t stdin_start)
{
    if (!fp__pcsv_reader_stdin(r)) delegate();
    if (stdin_start >= 0 && lseek(0, stdin_start, SEEK_SET) == stdin_start) delegate();
    size_t n;
    const char *seen = fp__pcsv_reader_recorded(r, &n);
    int fds[2];
    if (pipe(fds) != 0) die_data("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) die_data("fork: %s", strerror(errno));
    if (pid == 0) {
        /* The child copies; it must not hold the parent's output open. */
        close(fds[0]);
        close(1);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0 && devnull != 2) dup2(devnull, 2);
        signal(SIGPIPE, SIG_IGN);
        if (write_all(fds[1], seen, n) != 0) _exit(0);
        static char buf[1 << 16];
        for (;;) {
            ssize_t k = read(0, buf, sizeof buf);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0 || write_all(fds[1], buf, (size_t)k) != 0) _exit(0);
        }
    }
    close(fds[1]);
    if (dup2(fds[0], 0) < 0) die_data("dup2: %s", strerror(errno));
    close(fds[0]);
    delegate();
}
#endif

/* ---- options ---- */

typedef struct colspec {
    int tier; /* -1: edition */
    const char *edition;
} colspec;

static void add_spec(colspec *specs, int *n, int tier, const char *edition)
{
    for (int i = 0; i < *n; i++)
        if (specs[i].tier == tier && (tier >= 0 || !strcmp(specs[i].edition, edition)))
            die_usage(CMD, "%s '%s' given twice", tier >= 0 ? "tier" : "edition",
                      tier >= 0 ? fp_tier_name(tier) : edition);
    if (*n == 64) die_usage(CMD, "more than 64 column groups");
    specs[*n].tier = tier;
    specs[*n].edition = edition;
    (*n)++;
}

static void parse_tiers(const char *list, colspec *specs, int *n)
{
    const char *p = list;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        int t = -1;
        if (len == 3 && !strncmp(p, "all", 3)) {
            for (int k = 0; k < FP_TIER_COUNT; k++) add_spec(specs, n, k, NULL);
        } else {
            for (int k = 0; k < FP_TIER_COUNT; k++)
                if (strlen(fp_tier_name(k)) == len && !strncmp(p, fp_tier_name(k), len))
                    t = k;
            if (t < 0)
                die_usage(CMD, "--tiers: unknown tier '%.*s' (known: region, system, "
                               "ics, place, sub, la, all)", (int)len, p);
            add_spec(specs, n, t, NULL);
        }
        if (!c) break;
        p = c + 1;
    }
}

static int parse_fields(const char *list, int *fields)
{
    int n = 0;
    const char *p = list;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        int f = -1;
        for (int k = 0; k < F_COUNT; k++)
            if (strlen(field_names[k]) == len && !strncmp(p, field_names[k], len)) f = k;
        if (len == 8 && !strncmp(p, "distance", 8)) f = F_DISTANCE;
        if (f < 0)
            die_usage(CMD, "--fields: unknown field '%.*s' (known: code, name, ods, "
                           "status, edition, match, distance_m)", (int)len, p);
        for (int k = 0; k < n; k++)
            if (fields[k] == f) die_usage(CMD, "--fields: '%s' given twice", field_names[f]);
        fields[n++] = f;
        if (!c) break;
        p = c + 1;
    }
    return n;
}

static int is_wgs84(const char *crs)
{
    static const char *const names[] = {"EPSG:4326", "WGS84", "OGC:CRS84", "CRS84", NULL};
    for (const char *const *n = names; *n; n++)
        if (!strcasecmp(crs, *n)) return 1;
    return 0;
}

/* ---- the command ---- */

int cmd_locate(int argc, char **argv);
int cmd_locate(int argc, char **argv)
{
    const struct option opts[] = {
        {"out", required_argument, 0, O_OUT},
        {"format", required_argument, 0, O_FORMAT},
        {"tiers", required_argument, 0, O_TIERS},
        {"edition", required_argument, 0, O_EDITION},
        {"date", required_argument, 0, O_DATE},
        {"fields", required_argument, 0, O_FIELDS},
        {"nearest", required_argument, 0, O_NEAREST},
        {"lat-column", required_argument, 0, O_LATCOL},
        {"lon-column", required_argument, 0, O_LONCOL},
        {"x-column", required_argument, 0, O_XCOL},
        {"y-column", required_argument, 0, O_YCOL},
        {"crs", required_argument, 0, O_CRS},
        {"postcode-column", required_argument, 0, O_PCCOL},
        {"postcodes", required_argument, 0, O_POSTCODES},
        {"delimiter", required_argument, 0, O_DELIM},
        {"threads", required_argument, 0, O_THREADS},
        {"quiet", no_argument, 0, O_QUIET},
        {"block-size", required_argument, 0, O_BLOCK}, /* tests: block edges */
        common_opts[2], common_opts[3], common_opts[4], common_opts[5],
        {0, 0, 0, 0}};
    common c = {0};
    colspec specs[64];
    int nspecs = 0, fields[F_COUNT], nfields = 0, quiet = 0;
    const char *out_path = NULL, *format = "csv", *latcol = NULL, *loncol = NULL,
               *xcol = NULL, *ycol = NULL, *crs = NULL, *pccol = NULL, *pcfile = NULL;
    char delim = ',';
    double nearest = 0;
    long threads = 0, block = 0;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        /* --edition repeats here: not common_opt's single one. */
        if (o != O_EDITION && common_opt(o, &c)) continue;
        switch (o) {
        case O_OUT: out_path = optarg; break;
        case O_FORMAT:
            if (strcmp(optarg, "csv") && strcmp(optarg, "gpkg") && strcmp(optarg, "geojson") &&
                strcmp(optarg, "fgb"))
                die_usage(CMD, "--format: expected csv, gpkg, geojson or fgb, got '%s'",
                          optarg);
            format = optarg;
            break;
        case O_TIERS: parse_tiers(optarg, specs, &nspecs); break;
        case O_EDITION: add_spec(specs, &nspecs, -1, optarg); break;
        case O_DATE: check_date(CMD, "--date", optarg); c.date = optarg; break;
        case O_FIELDS: nfields = parse_fields(optarg, fields); break;
        case O_NEAREST:
            nearest = parse_number(CMD, "--nearest", optarg);
            if (!(nearest >= 0) || !isfinite(nearest))
                die_usage(CMD, "--nearest: expected a distance in metres >= 0, got '%s'",
                          optarg);
            break;
        case O_LATCOL: latcol = optarg; break;
        case O_LONCOL: loncol = optarg; break;
        case O_XCOL: xcol = optarg; break;
        case O_YCOL: ycol = optarg; break;
        case O_CRS: crs = optarg; break;
        case O_PCCOL: pccol = optarg; break;
        case O_POSTCODES: pcfile = optarg; break;
        case O_DELIM:
            if (!strcmp(optarg, "tab") || !strcmp(optarg, "\\t")) delim = '\t';
            else if (strlen(optarg) == 1 && !strchr("\"\r\n", optarg[0])) delim = optarg[0];
            else die_usage(CMD, "--delimiter: expected one character (or 'tab'), got '%s'",
                           optarg);
            break;
        case O_THREADS: {
            double t = parse_number(CMD, "--threads", optarg);
            if (t < 1 || t > 256 || t != floor(t))
                die_usage(CMD, "--threads: expected a whole number 1..256, got '%s'", optarg);
            threads = (long)t;
            break;
        }
        case O_BLOCK: {
            double b = parse_number(CMD, "--block-size", optarg);
            if (b < 8 || b > (1 << 30) || b != floor(b))
                die_usage(CMD, "--block-size: expected bytes 8..2^30, got '%s'", optarg);
            block = (long)b;
            break;
        }
        case O_QUIET: quiet = 1; break;
        case 'h': fputs(locate_help, stdout); return finish_stdout(EXIT_FOUND);
        default: bad_option(CMD, o, argv);
        }
    }
    const char *in_path = NULL;
    if (optind < argc) in_path = argv[optind++];
    if (optind < argc) die_usage(CMD, "unexpected argument '%s' (one input file)", argv[optind]);
    if (!!latcol != !!loncol) die_usage(CMD, "--lat-column and --lon-column go together");
    if (!!xcol != !!ycol) die_usage(CMD, "--x-column and --y-column go together");
    if ((latcol != NULL) + (xcol != NULL) + (pccol != NULL) > 1)
        die_usage(CMD, "give one of --lat-column/--lon-column, --x-column/--y-column and "
                       "--postcode-column");
    if (pccol && crs) die_usage(CMD, "--crs is for coordinates, not --postcode-column");
    if (pcfile && (latcol || xcol))
        die_usage(CMD, "--postcodes is for postcodes, not coordinate columns");
    int ntiers = 0;
    for (int i = 0; i < nspecs; i++) ntiers += specs[i].tier >= 0;
    if (nspecs == 0)
        for (int t = 0; t < FP_TIER_COUNT; t++) add_spec(specs, &nspecs, t, NULL), ntiers++;
    if (c.date && ntiers == 0)
        die_usage(CMD, "--date picks the editions of tiers; the --edition groups are "
                       "pinned: add --tiers, or drop --date");
    if (nfields == 0) {
        static const int dflt[] = {F_CODE, F_NAME, F_MATCH, F_DISTANCE};
        nfields = 4;
        memcpy(fields, dflt, sizeof dflt);
    }
    int ogr = strcmp(format, "csv") != 0;
    if (ogr && strcmp(format, "geojson") && (!out_path || !strcmp(out_path, "-")))
        die_usage(CMD, "--format %s needs --out FILE", format);
    if (xcol && !crs) crs = "EPSG:27700";
    int crs_proj = crs && !is_wgs84(crs);
#ifdef FP_CLI_LIGHT
    /* OGR and PROJ live in footprint-geo. */
    if (ogr || crs_proj) delegate();
#endif

    fp_ctx *ctx, *rctx;
    if (fp_ctx_new(&ctx) || fp_ctx_new(&rctx)) die_data("out of memory");
    fp_catalogue *cat = load_catalogue(ctx, &c);
    char dbuf[4096];
    const char *dir = data_dir(&c, dbuf, sizeof dbuf);
    fp_atlas *atlas = open_atlas(ctx, cat, &c, dir);
    if (!atlas)
        die_data("no compiled atlas in %s: locate answers from the atlas only; run "
                 "'footprint build' (or give --atlas FILE or --data DIR)", dir);
    char today_s[11];
    if (!c.date) today(today_s);
    const char *date = c.date ? c.date : today_s;

    /* The groups. */
    fp_plan *plan;
    if (fp_plan_new(ctx, atlas, &plan)) die_data("%s", fp_ctx_errmsg(ctx));
    for (int i = 0; i < nspecs; i++) {
        int rc;
        if (specs[i].tier >= 0) {
            rc = fp_plan_add_tier(ctx, plan, specs[i].tier, date);
        } else {
            common one = c;
            one.edition = specs[i].edition;
            pick_edition(CMD, cat, &one); /* exits on an unknown id */
            rc = fp_plan_add_edition(ctx, plan, specs[i].edition);
        }
        if (rc) die_data("%s", fp_ctx_errmsg(ctx));
    }

    run R;
    memset(&R, 0, sizeof R);
    R.plan = plan;
    R.ncols = fp_plan_columns(plan);
    memcpy(R.fields, fields, sizeof fields);
    R.nfields = nfields;
    for (int f = 0; f < nfields; f++) R.has_distance |= fields[f] == F_DISTANCE;
    R.delim = delim;
    R.nearest = nearest;
    R.ogr = ogr;
    R.rctx = rctx;
    R.nappend = R.ncols * (size_t)nfields;

    /* The input and its header. */
    if (fp__pcsv_reader_open(rctx, in_path, &R.reader)) die_data("%s", fp_ctx_errmsg(rctx));
    off_t stdin_start = -1;
    if (fp__pcsv_reader_stdin(R.reader)) stdin_start = lseek(0, 0, SEEK_CUR);
    fp__pcsv_reader_set(R.reader, delim, block ? (size_t)block : FP__PCSV_BLOCK);
#ifdef FP_CLI_LIGHT
    fp__pcsv_reader_record(R.reader, 1);
#endif
    const char *iname = fp__pcsv_reader_name(R.reader);
    int nworkers = threads ? (int)threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nworkers < 1) nworkers = 1;
    R.nworkers = nworkers;
    R.nslots = 2 * (size_t)nworkers + 2;
    R.slots = calloc(R.nslots, sizeof *R.slots);
    if (!R.slots) die_data("out of memory");
    slot *s0 = &R.slots[0];
    int got = fp__pcsv_reader_next(R.reader, &s0->in);
    if (got < 0) die_data("%s", fp_ctx_errmsg(rctx));
    if (got == 0) die_data("%s: empty input: expected a header row", iname);
    fp__pcsv_rec hrec;
    fp__pcsv_record(s0->in.data, s0->in.data + s0->in.len, delim, NULL, 0, &hrec);
    size_t hlen = (size_t)(hrec.end - hrec.start);
    char *hbuf = xmalloc(hlen + 1);
    const char **names = xmalloc(hrec.nfields * sizeof *names);
    size_t width = fp__pcsv_fields(hrec.start, hrec.end, delim, hbuf, names, hrec.nfields);
    R.width = (uint32_t)width;
    /* The header's line ending serves a last record that has none. */
    R.eol = hrec.next > hrec.end && hrec.end[0] == '\r' ? "\r\n" : "\n";

    /* The point columns: ix the x-like one (longitude, easting, x), iy
     * the y-like one. */
    static const char *const lat_names[] = {"lat", "latitude", NULL};
    static const char *const lon_names[] = {"long", "lon", "lng", "longitude", NULL};
    static const char *const east_names[] = {"oseast1m", "easting", "eastings", NULL};
    static const char *const north_names[] = {"osnrth1m", "northing", "northings", NULL};
    static const char *const x_names[] = {"x", NULL}, *const y_names[] = {"y", NULL};
    static const char *const pc_names[] = {"pcds", "pcd", "pcd2", "postcode", NULL};
    long ix = -1, iy = -1, ipc = -1;
    const char *default_crs = NULL; /* NULL: WGS84 */
    if (latcol) {
        iy = find_column(names, width, latcol), ix = find_column(names, width, loncol);
        if (iy < 0 || ix < 0)
            die_usage(CMD, "%s: no column '%s' in the header", iname, iy < 0 ? latcol : loncol);
    } else if (xcol) {
        ix = find_column(names, width, xcol), iy = find_column(names, width, ycol);
        if (ix < 0 || iy < 0)
            die_usage(CMD, "%s: no column '%s' in the header", iname, ix < 0 ? xcol : ycol);
        default_crs = "EPSG:27700";
    } else if (pccol) {
        ipc = find_column(names, width, pccol);
        if (ipc < 0) die_usage(CMD, "%s: no column '%s' in the header", iname, pccol);
    } else {
        iy = find_any(names, width, lat_names);
        ix = find_any(names, width, lon_names);
        if ((iy < 0) != (ix < 0))
            die_usage(CMD, "%s: a %s column but no %s column: name them with --lat-column "
                           "and --lon-column", iname, iy < 0 ? "longitude" : "latitude",
                      iy < 0 ? "latitude" : "longitude");
        if (ix < 0) {
            ix = find_any(names, width, east_names);
            iy = find_any(names, width, north_names);
            default_crs = "EPSG:27700";
        }
        if (ix < 0 || iy < 0) {
            ix = find_any(names, width, x_names);
            iy = find_any(names, width, y_names);
            default_crs = NULL;
            if (ix >= 0 && iy >= 0 && !crs)
                die_usage(CMD, "%s: columns x and y: say which CRS they are in with --crs "
                               "(e.g. EPSG:27700)", iname);
        }
        if (ix < 0 || iy < 0) {
            ix = iy = -1;
            ipc = find_any(names, width, pc_names);
        }
        if (ix < 0 && ipc < 0)
            die_usage(CMD, "%s: no coordinate columns (lat/long, latitude/longitude, "
                           "oseast1m/osnrth1m, easting/northing, x/y) and no postcode "
                           "column (pcds, pcd, postcode): name them with "
                           "--lat-column/--lon-column, --x-column/--y-column or "
                           "--postcode-column", iname);
    }
    if (ipc >= 0) {
        if (crs) die_usage(CMD, "--crs is for coordinates, not postcodes");
        R.coord = C_POSTCODE;
        R.want[0] = R.want[1] = (uint32_t)ipc;
        R.nwant = 1;
    } else {
        if (!crs) crs = default_crs;
        crs_proj = crs && !is_wgs84(crs);
        R.coord = crs_proj ? C_XY : C_LATLON;
        /* Latitude first for the core's check; x first for PROJ. */
        R.want[0] = (uint32_t)(R.coord == C_XY ? ix : iy);
        R.want[1] = (uint32_t)(R.coord == C_XY ? iy : ix);
        R.nwant = 2;
    }
    R.crs = crs;
#ifdef FP_CLI_LIGHT
    if (R.coord == C_XY) delegate_replaying(R.reader, stdin_start);
#else
    (void)stdin_start;
#endif
#ifndef FP_CLI_LIGHT
    if (R.coord == C_XY) { /* a bad --crs is a usage error, before any output */
        fp__xy_to_wgs *probe;
        if (fp__xy_to_wgs_new(ctx, crs, &probe)) die_usage(CMD, "--crs: %s", fp_ctx_errmsg(ctx));
        fp__xy_to_wgs_free(probe);
    }
#endif
    fp__pcsv_reader_record(R.reader, 0);
    fp_postcodes *pc = NULL;
    if (R.coord == C_POSTCODE) {
        if (cli_postcodes_open(ctx, &c, pcfile, &pc)) exit(EXIT_DATA);
        R.pc = pc;
    }

    /* The groups' text where no footprint answers, and the header. */
    size_t hdr_cap = hlen + 64 + R.ncols * (size_t)nfields * 160, hn = 0;
    char *hdr = xmalloc(hdr_cap);
    const char **onames = xmalloc((width + R.nappend) * sizeof *onames);
    char *onamebuf = xmalloc(R.nappend * 160 + 1);
    size_t onb = 0;
    for (size_t col = 0; col < R.ncols; col++) {
        const fp_edition *ed = fp_plan_edition(plan, col);
        int tier = fp_plan_tier(plan, col);
        const char *group = tier >= 0 ? fp_tier_name(tier) : ed ? ed->id : "edition";
        for (int k = 0; k < K_COUNT; k++) {
            char *buf = xmalloc(64 * (size_t)nfields + 64);
            uint32_t split;
            R.empty[col * K_COUNT + (size_t)k] = buf;
            R.emptylen[col * K_COUNT + (size_t)k] =
                (uint32_t)group_text(&R, buf, NULL, k, &split);
        }
        for (int f = 0; f < nfields; f++) {
            char *nm = onamebuf + onb;
            onb += (size_t)snprintf(nm, 160, "%s_%s", group, field_names[fields[f]]) + 1;
            onames[width + col * (size_t)nfields + (size_t)f] = nm;
        }
    }
    if (fp__pcsv_reader_bom(R.reader) && !ogr) {
        memcpy(hdr, "\xEF\xBB\xBF", 3);
        hn = 3;
    }
    memcpy(hdr + hn, hrec.start, hlen);
    hn += hlen;
    for (size_t i = 0; i < R.nappend; i++) {
        hdr[hn++] = delim;
        hn += fp__pcsv_escape(hdr + hn, onames[width + i], strlen(onames[width + i]), delim);
    }
    memcpy(hdr + hn, R.eol, strlen(R.eol));
    hn += strlen(R.eol);

    /* The first block without its header is block 0. */
    {
        size_t skip = (size_t)(hrec.next - s0->in.data);
        memmove(s0->in.data, s0->in.data + skip, s0->in.len - skip + 1);
        s0->in.len -= skip;
        s0->in.line += 1 + hrec.newlines;
        s0->in.offset += skip;
        s0->seq = 0;
        s0->state = s0->in.len ? S_FILLED : S_DONE;
    }

    /* The output. */
    output out;
    memset(&out, 0, sizeof out);
    out.fd = 1;
    if (!ogr) {
        output_open_csv(&out, out_path);
        fflush(stdout);
        if (write_all(out.fd, hdr, hn) != 0) {
            int e = errno;
            output_abort(&out);
            die_data("%s: %s", out_path ? out_path : "writing output", strerror(e));
        }
    } else {
#ifndef FP_CLI_LIGHT
        /* Field names as OGR wants them: non-empty and unique. */
        char *inbuf = xmalloc((width + R.nappend) * 200 + hlen + 1);
        size_t ib = 0;
        int *types = xmalloc((width + R.nappend) * sizeof *types);
        for (size_t i = 0; i < width + R.nappend; i++) {
            const char *nm = i < width ? names[i] : onames[i];
            int dup = !*nm;
            for (size_t j = 0; j < i && !dup; j++) dup = !strcasecmp(onames[j], nm);
            if (dup) {
                char *t = inbuf + ib;
                ib += (size_t)snprintf(t, 200 + strlen(nm), "%s%sfield_%zu", nm,
                                       *nm ? "_" : "", i + 1) + 1;
                nm = t;
            }
            onames[i] = nm;
            types[i] = i >= width && fields[(i - width) % (size_t)nfields] == F_DISTANCE
                           ? FP__FIELD_REAL
                           : FP__FIELD_STRING;
        }
        const char *attribution = NULL;
        for (size_t col = 0; col < R.ncols && !attribution; col++)
            if (fp_plan_edition(plan, col)) attribution = fp_plan_edition(plan, col)->attribution;
        if (fp__points_out_new(ctx, out_path && strcmp(out_path, "-") ? out_path : NULL, format,
                               "points", width + R.nappend, onames, types, attribution,
                               &out.ogr))
            die_data("%s", fp_ctx_errmsg(ctx));
        catch_signals(fp__points_out_tmp(out.ogr));
        free(types);
        free(inbuf); /* OGR has its own copies of the names */
#endif
    }

    /* The workers. */
    R.workers = calloc((size_t)nworkers, sizeof *R.workers);
    if (!R.workers) die_data("out of memory");
    pthread_mutex_init(&R.mu, NULL);
    pthread_cond_init(&R.cv_read, NULL);
    pthread_cond_init(&R.cv_work, NULL);
    pthread_cond_init(&R.cv_write, NULL);
    R.next_read = 1;
    R.next_work = s0->state == S_FILLED ? 0 : 1;
    R.next_write = 0;
    R.total = UINT64_MAX;
    for (int i = 0; i < nworkers; i++) {
        worker *w = &R.workers[i];
        w->R = &R;
        if (fp_ctx_new(&w->ctx)) die_data("out of memory");
        w->cache = calloc(R.ncols ? R.ncols : 1, sizeof *w->cache);
        w->ncache = calloc(R.ncols ? R.ncols : 1, sizeof *w->ncache);
        if (!w->cache || !w->ncache) die_data("out of memory");
#ifndef FP_CLI_LIGHT
        if (R.coord == C_XY && fp__xy_to_wgs_new(w->ctx, crs, &w->xy)) {
            output_abort(&out);
            die_usage(CMD, "--crs: %s", fp_ctx_errmsg(w->ctx));
        }
#endif
    }
    double t0 = now_s(), last_progress = t0;
    int tty = isatty(2) && !quiet;
    if (pthread_create(&R.rtid, NULL, reader_main, &R) != 0) die_data("cannot start a thread");
    for (int i = 0; i < nworkers; i++)
        if (pthread_create(&R.workers[i].tid, NULL, worker_main, &R.workers[i]) != 0)
            die_data("cannot start a thread");

    /* This thread writes the blocks in order. */
    stats total;
    memset(&total, 0, sizeof total);
    int write_failed = 0, write_errno = 0, fgb = !strcmp(format, "fgb");
    uint64_t left_out = 0;
    (void)fgb; /* the light binary writes no FlatGeobuf */
    pthread_mutex_lock(&R.mu);
    for (;;) {
        slot *s = &R.slots[R.next_write % R.nslots];
        while (!R.failed && R.next_write != R.total &&
               !(s->state == S_DONE && s->seq == R.next_write)) {
            if (tty) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 200000000;
                if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
                pthread_cond_timedwait(&R.cv_write, &R.mu, &ts);
                if (now_s() - last_progress > 0.2) {
                    progress(&R, total.rows, t0, 0);
                    last_progress = now_s();
                }
            } else {
                pthread_cond_wait(&R.cv_write, &R.mu);
            }
        }
        if (R.failed || R.next_write == R.total) break;
        pthread_mutex_unlock(&R.mu);
        int bad = 0;
        if (!ogr) {
            bad = write_all(out.fd, s->out, s->outlen) != 0;
            if (bad) write_errno = errno;
        } else {
#ifndef FP_CLI_LIGHT
            size_t per = width + R.nappend;
            const char **vals = xmalloc(per * sizeof *vals);
            for (size_t i = 0; i < s->nrows && !bad; i++) {
                if (s->rows[i].state == ROW_BLANK) continue;
                if (fgb && !isfinite(s->lat[i])) { /* FlatGeobuf cannot hold it */
                    left_out++;
                    continue;
                }
                for (size_t k = 0; k < per; k++) vals[k] = s->out + s->offs[i * per + k];
                bad = fp__points_out_add(out.ogr, s->lat[i], s->lon[i], vals) != FP_OK;
            }
            free(vals);
#endif
        }
        stats *st = &s->st;
        if (!total.first_bad) total.first_bad = st->first_bad;
        if (!total.first_unknown) total.first_unknown = st->first_unknown;
        total.rows += st->rows, total.blank += st->blank;
        total.shortrows += st->shortrows, total.longrows += st->longrows;
        for (int k = 0; k < ROW_COUNT; k++) total.state[k] += st->state[k];
        for (int k = 0; k < K_COUNT; k++) total.best[k] += st->best[k];
        pthread_mutex_lock(&R.mu);
        if (bad) {
            write_failed = 1;
            R.failed = 1;
            pthread_cond_broadcast(&R.cv_read);
            pthread_cond_broadcast(&R.cv_work);
            break;
        }
        s->state = S_FREE;
        R.next_write++;
        pthread_cond_signal(&R.cv_read);
        if (tty && now_s() - last_progress > 0.2) {
            progress(&R, total.rows, t0, 0);
            last_progress = now_s();
        }
    }
    pthread_mutex_unlock(&R.mu);
    pthread_join(R.rtid, NULL);
    for (int i = 0; i < nworkers; i++) pthread_join(R.workers[i].tid, NULL);
    if (tty) progress(&R, total.rows, t0, 1);

    int status = EXIT_FOUND;
    if (write_failed) {
        output_abort(&out);
#ifndef FP_CLI_LIGHT
        if (ogr) {
            fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
        } else
#endif
        fprintf(stderr, "%s: %s: %s\n", prog, out_path ? out_path : "writing output",
                strerror(write_errno));
        status = EXIT_DATA;
    } else if (R.failed) {
        output_abort(&out);
        fprintf(stderr, "%s: %s\n", prog, R.errmsg);
        status = R.errcode ? R.errcode : EXIT_DATA;
    } else if (!ogr) {
        if (output_finish_csv(&out) != 0) status = EXIT_DATA;
    } else {
#ifndef FP_CLI_LIGHT
        if (fp__points_out_finish(out.ogr) != FP_OK) {
            fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
            status = EXIT_DATA;
        }
        out.ogr = NULL;
        tmp_for_signal[0] = '\0';
#endif
    }

    if (status != EXIT_FOUND) exit(status); /* threads may hold what we would free */
    if (!quiet) {
        uint64_t bad = total.best[K_INVALID];
        char why[300] = "", extra[300] = "";
        if (bad && R.coord == C_POSTCODE)
            snprintf(why, sizeof why, " (%llu missing, %llu malformed postcodes; first at "
                                      "line %llu)",
                     (unsigned long long)total.state[ROW_MISSING],
                     (unsigned long long)total.state[ROW_BADPC],
                     (unsigned long long)total.first_bad);
        else if (bad)
            snprintf(why, sizeof why, " (%llu missing, %llu not numbers, %llu out of range "
                                      "or swapped; first at line %llu)",
                     (unsigned long long)total.state[ROW_MISSING],
                     (unsigned long long)total.state[ROW_NOTNUM],
                     (unsigned long long)total.state[ROW_RANGE],
                     (unsigned long long)total.first_bad);
        size_t e = 0;
#define EXTRA(n, ...)                                                                 \
    if (n) e += (size_t)snprintf(extra + e, sizeof extra - e, __VA_ARGS__)
        EXTRA(R.coord == C_POSTCODE, ", %llu unknown postcode%s",
              (unsigned long long)total.best[K_UNKNOWN], plural(total.best[K_UNKNOWN]));
        EXTRA(total.first_unknown, " (first at line %llu)",
              (unsigned long long)total.first_unknown);
        EXTRA(total.blank, ", %llu blank line%s %s", (unsigned long long)total.blank,
              plural(total.blank), ogr ? "skipped" : "kept");
        EXTRA(total.shortrows, ", %llu short row%s padded", (unsigned long long)total.shortrows,
              plural(total.shortrows));
        EXTRA(total.longrows, ", %llu row%s longer than the header%s",
              (unsigned long long)total.longrows, plural(total.longrows),
              ogr ? " (extra fields dropped)" : "");
        EXTRA(left_out, ", %llu row%s without a point left out (FlatGeobuf cannot hold them)",
              (unsigned long long)left_out, plural(left_out));
#undef EXTRA
        fprintf(stderr, "%s: %llu row%s: %llu contained, %llu nearest, %llu none, %llu "
                        "invalid%s%s\n",
                prog, (unsigned long long)(total.rows - total.blank),
                plural(total.rows - total.blank),
                (unsigned long long)total.best[K_CONTAINED],
                (unsigned long long)total.best[K_NEAREST],
                (unsigned long long)total.best[K_NONE], (unsigned long long)bad, why, extra);
    }

    /* Tidy up (leak checkers read this far). */
    for (size_t i = 0; i < R.nslots; i++) {
        slot *s = &R.slots[i];
        fp__pcsv_block_free(R.reader, &s->in);
        free(s->rows), free(s->lat), free(s->lon), free(s->hits), free(s->pcs);
        free(s->pcbuf), free(s->pcst), free(s->out), free(s->offs);
    }
    for (int i = 0; i < nworkers; i++) {
        worker *w = &R.workers[i];
        for (size_t col = 0; col < R.ncols; col++) {
            for (int32_t k = 0; k < w->ncache[col]; k++) free(w->cache[col][k].contained);
            free(w->cache[col]);
        }
        free(w->cache), free(w->ncache), free((void *)w->fptr);
#ifndef FP_CLI_LIGHT
        fp__xy_to_wgs_free(w->xy);
#endif
        fp_ctx_free(w->ctx);
    }
    for (size_t i = 0; i < R.ncols * K_COUNT; i++) free(R.empty[i]);
    free(R.workers), free(R.slots), free(hdr), free(hbuf), free((void *)names);
    free((void *)onames), free(onamebuf);
    fp__pcsv_reader_free(R.reader);
    fp_postcodes_free(pc);
    fp_plan_free(plan);
    fp_atlas_free(atlas);
    fp_catalogue_free(cat);
    fp_ctx_free(rctx);
    fp_ctx_free(ctx);
    return status;
}
