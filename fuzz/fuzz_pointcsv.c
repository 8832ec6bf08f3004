/*
 * libFuzzer target: the point-CSV reader behind `footprint locate`
 * (lib/src/pointcsv.h): gzip detection, byte-order mark, block cutting,
 * record and field splitting, unescaping and numbers.
 *
 * The first two bytes of an input choose the dialect and how the input is
 * fed (delimiter; piece and block sizes), the rest is the CSV text.  The
 * text is read twice, whole and in small pieces with small blocks, and
 * the records must come out identical: where blocks are cut must never
 * change what is read.  Every field is also escaped and split again (the
 * writer's escaping must round-trip), and every number is checked against
 * strtod.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pointcsv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct sink {
    unsigned char *p;
    size_t n, cap;
    char delim;
} sink;

static void put(sink *s, const void *p, size_t n)
{
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->n + n) cap *= 2;
        s->p = realloc(s->p, cap);
        if (!s->p) abort();
        s->cap = cap;
    }
    memcpy(s->p + s->n, p, n);
    s->n += n;
}

/* Escaping a field and splitting it back gives the field. */
static void round_trip(const char *f, char delim)
{
    size_t len = strlen(f);
    char *esc = malloc(2 * len + 3);
    if (!esc) abort();
    size_t n = fp__pcsv_escape(esc, f, len, delim);
    if (n > 2 * len + 2) abort();
    char *buf = malloc(n + 1);
    const char *fields[2];
    if (!buf) abort();
    size_t nf = fp__pcsv_fields(esc, esc + n, delim, buf, fields, 2);
    if (nf != 1 || strcmp(fields[0], f) != 0) abort();
    free(buf);
    free(esc);
}

static int blank(char c) { return c == ' ' || c == '\t'; }

/* A number it accepts is the one strtod reads from the same digits. */
static void check_number(const char *f, double v)
{
    const char *s = f, *e = f + strlen(f);
    while (s < e && blank(*s)) s++;
    while (e > s && blank(e[-1])) e--;
    if (s < e && *s == '"') s++, e--;
    while (s < e && blank(*s)) s++;
    while (e > s && blank(e[-1])) e--;
    char tmp[600];
    size_t len = (size_t)(e - s);
    if (len >= sizeof tmp) return;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789+-.eE", tmp[i])) abort(); /* only plain decimals */
    char *end = NULL;
    double w = strtod(tmp, &end);
    if (end != tmp + len || !isfinite(v) || w != v) abort();
}

static int on_row(void *arg, const fp__pcsv_row *row)
{
    sink *s = arg;
    put(s, &row->line, sizeof row->line);
    put(s, &row->nfields, sizeof row->nfields);
    for (size_t i = 0; i < row->nfields; i++) {
        const char *f = row->fields[i];
        put(s, f, strlen(f) + 1);
        put(s, &row->kinds[i], sizeof row->kinds[i]);
        if (row->kinds[i] == FP__PCSV_NUM) {
            put(s, &row->numbers[i], sizeof row->numbers[i]);
            check_number(f, row->numbers[i]);
        } else if (row->kinds[i] != FP__PCSV_EMPTY && row->kinds[i] != FP__PCSV_BAD) {
            abort();
        }
        if (s->delim) round_trip(f, s->delim);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fp_ctx *ctx;
    if (!ctx && fp_ctx_new(&ctx)) abort();
    if (size < 2) return 0;
    static const char delims[4] = {',', ';', '\t', '|'};
    char delim = delims[data[0] & 3];
    size_t piece = 1 + (data[0] >> 2);        /* 1..64 bytes at a time */
    size_t block = 1 + (size_t)data[1] * 4;  /* 1..1021-byte blocks */
    const char *text = (const char *)data + 2;
    size_t len = size - 2;

    sink whole = {NULL, 0, 0, delim}, pieces = {NULL, 0, 0, 0};
    /* 64 KB blocks: whole for any input libFuzzer makes here, and cheaper
     * than the default megabyte per run. */
    int rc1 = fp__pcsv_parse(ctx, text, len, 0, 65536, delim, on_row, &whole);
    char msg1[FP_ERRMSG_MAX];
    snprintf(msg1, sizeof msg1, "%s", fp_ctx_errmsg(ctx));
    int rc2 = fp__pcsv_parse(ctx, text, len, piece, block, delim, on_row, &pieces);
    if (rc1 != rc2) abort();
    if (rc1 == FP_OK) {
        if (whole.n != pieces.n || (whole.n && memcmp(whole.p, pieces.p, whole.n))) abort();
    } else {
        /* The same error, one line, naming the line. */
        if (!*msg1 || strchr(msg1, '\n') || strcmp(msg1, fp_ctx_errmsg(ctx))) abort();
    }
    free(whole.p);
    free(pieces.p);

    /* The cutter alone: whole records only, never past the end. */
    int open;
    size_t open_at;
    size_t cut = fp__pcsv_cut(text, len, delim, &open, &open_at);
    if (cut > len || (cut && text[cut - 1] != '\n') || (open && open_at > len)) abort();
    return 0;
}
