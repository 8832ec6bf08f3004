/*
 * Editions via finer areas.  ONS assigns postcodes to ICBs, STPs and CCGs
 * through LSOAs, so the LSOA boundaries (20 m) plus ONS's LSOA lookup
 * answer as ONS does far more often than the 200 m footprint polygons.
 * Such a layer keeps no geometry: a map from the base layer's footprints
 * to its own.  Core code: the lookup is plain CSV.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct group {
    const char *code, *name; /* in the CSV reader's pool copy below */
    size_t first;            /* row that first named the code (for a stable name) */
} group;

static int cmp_group(const void *a, const void *b)
{
    const group *x = a, *y = b;
    int c = strcmp(x->code, y->code);
    return c ? c : (x->first > y->first) - (x->first < y->first);
}

static long column(const fp_csv *c, const char *name)
{
    for (size_t i = 0; i < c->nfields; i++)
        if (strcmp(c->fields[i], name) == 0) return (long)i;
    return -1;
}

int fp__layer_new_mapped(fp_ctx *ctx, const fp_layer *base, const char *text,
                         size_t len, const char *source, const char *key_field,
                         const char *code_field, const char *name_field,
                         fp_layer **out)
{
    *out = NULL;
    const fp_allocator *a = &ctx->alloc;
    fp_csv csv;
    fp__csv_init(&csv, a, text, len);
    const char *why = NULL;
    int rc = FP_OK;
    int got = fp__csv_next(&csv, &why);
    long ck = -1, cc = -1, cn = -1;
    if (got == 1) {
        /* A UTF-8 byte-order mark would hide the first column's name. */
        if (csv.nfields && strncmp(csv.fields[0], "\xEF\xBB\xBF", 3) == 0)
            csv.fields[0] += 3;
        ck = column(&csv, key_field), cc = column(&csv, code_field);
        cn = column(&csv, name_field);
    }
    if (got != 1 || ck < 0 || cc < 0 || cn < 0) {
        fp__csv_free(&csv);
        if (got == -2) return fp__error(ctx, FP_ENOMEM, "out of memory");
        if (got != 1) return fp__error(ctx, FP_EFORMAT, "%s: no header", source);
        return fp__error(ctx, FP_EFIELD, "%s: no column '%s'", source,
                         ck < 0 ? key_field : cc < 0 ? code_field : name_field);
    }
    size_t nb = base->nfeat;
    /* Per base footprint: the row that assigns it (its strings). */
    char **code_of = fp__calloc(a, nb ? nb : 1, sizeof *code_of);
    char **name_of = fp__calloc(a, nb ? nb : 1, sizeof *name_of);
    size_t *row_of = fp__calloc(a, nb ? nb : 1, sizeof *row_of);
    group *g = NULL;
    size_t ng = 0;
    fp_layer *L = NULL;
    if (!code_of || !name_of || !row_of) goto nomem;
    size_t rows = 0;
    while ((got = fp__csv_next(&csv, &why)) == 1) {
        if (csv.nfields == 1 && !*csv.fields[0]) continue; /* blank line */
        size_t need = (size_t)(ck > cc ? (ck > cn ? ck : cn) : (cc > cn ? cc : cn));
        if (csv.nfields <= need) {
            rc = fp__error(ctx, FP_EFORMAT, "%s: line %zu: %zu fields, expected %zu",
                           source, csv.line, csv.nfields, need + 1);
            goto out;
        }
        const char *key = csv.fields[ck], *code = csv.fields[cc], *name = csv.fields[cn];
        long b = fp_layer_find_code(base, key);
        if (b < 0) {
            rc = fp__error(ctx, FP_EFORMAT, "%s: line %zu: %s '%s' is not an area of "
                           "the finer edition", source, csv.line, key_field, key);
            goto out;
        }
        if (!*code) {
            rc = fp__error(ctx, FP_EFORMAT, "%s: line %zu: empty %s for %s", source,
                           csv.line, code_field, key);
            goto out;
        }
        if (code_of[b]) {
            if (strcmp(code_of[b], code) == 0) continue; /* repeated row */
            rc = fp__error(ctx, FP_EFORMAT, "%s: line %zu: %s assigned to both %s "
                           "and %s", source, csv.line, key, code_of[b], code);
            goto out;
        }
        if (!(code_of[b] = fp__strdup(a, code)) || !(name_of[b] = fp__strdup(a, name)))
            goto nomem;
        row_of[b] = rows++;
    }
    if (got < 0) {
        rc = got == -2 ? fp__error(ctx, FP_ENOMEM, "out of memory")
                       : fp__error(ctx, FP_EFORMAT, "%s: line %zu: %s", source,
                                   csv.line, why);
        goto out;
    }
    if (!rows) {
        rc = fp__error(ctx, FP_EFORMAT, "%s: no rows", source);
        goto out;
    }
    /* This edition's footprints: the distinct codes, in code order. */
    g = fp__malloc(a, rows * sizeof *g);
    if (!g) goto nomem;
    for (size_t b = 0; b < nb; b++)
        if (code_of[b]) g[ng++] = (group){code_of[b], name_of[b], row_of[b]};
    qsort(g, ng, sizeof *g, cmp_group);
    size_t nf = 0;
    for (size_t i = 0; i < ng; i++)
        if (!nf || strcmp(g[nf - 1].code, g[i].code)) g[nf++] = g[i];
    L = fp__calloc(a, 1, sizeof *L);
    if (!L) goto nomem;
    L->alloc = *a;
    L->base = base;
    L->kind = FP_INDEX_GRID;
    L->nfeat = nf;
    L->feat = fp__calloc(a, nf, sizeof *L->feat);
    L->map = fp__malloc(a, (nb ? nb : 1) * sizeof *L->map);
    size_t slen = 0;
    for (size_t i = 0; i < nf; i++) slen += strlen(g[i].code) + strlen(g[i].name) + 2;
    L->strings = fp__malloc(a, slen);
    L->ring_start = fp__calloc(a, 1, sizeof *L->ring_start);
    if (!L->feat || !L->map || !L->strings || !L->ring_start) goto nomem;
    L->strings_len = slen;
    size_t off = 0;
    for (size_t i = 0; i < nf; i++) {
        fp_feat *f = &L->feat[i];
        f->code = (uint32_t)off;
        memcpy(L->strings + off, g[i].code, strlen(g[i].code) + 1);
        off += strlen(g[i].code) + 1;
        f->name = (uint32_t)off;
        memcpy(L->strings + off, g[i].name, strlen(g[i].name) + 1);
        off += strlen(g[i].name) + 1;
        f->bbox[0] = f->bbox[1] = 1e300, f->bbox[2] = f->bbox[3] = -1e300;
    }
    L->bbox[0] = L->bbox[1] = 1e300, L->bbox[2] = L->bbox[3] = -1e300;
    for (size_t b = 0; b < nb; b++) {
        L->map[b] = -1;
        if (!code_of[b]) continue;
        size_t lo = 0, hi = nf; /* binary search: codes are sorted */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(L->strings + L->feat[mid].code, code_of[b]) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        L->map[b] = (int32_t)lo;
        fp_feat *f = &L->feat[lo];
        const double *bb = base->feat[b].bbox;
        for (int k = 0; k < 2; k++) {
            if (bb[k] < f->bbox[k]) f->bbox[k] = bb[k];
            if (bb[k + 2] > f->bbox[k + 2]) f->bbox[k + 2] = bb[k + 2];
            if (bb[k] < L->bbox[k]) L->bbox[k] = bb[k];
            if (bb[k + 2] > L->bbox[k + 2]) L->bbox[k + 2] = bb[k + 2];
        }
    }
    *out = L;
    L = NULL;
    goto out;
nomem:
    rc = fp__error(ctx, FP_ENOMEM, "out of memory");
out:
    fp__csv_free(&csv);
    for (size_t b = 0; b < nb && code_of; b++) fp__free(a, code_of[b]);
    for (size_t b = 0; b < nb && name_of; b++) fp__free(a, name_of[b]);
    fp__free(a, code_of);
    fp__free(a, name_of);
    fp__free(a, row_of);
    fp__free(a, g);
    fp_layer_free(L);
    return rc;
}
