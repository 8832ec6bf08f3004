/* The catalogue of editions (geodata/editions.csv). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct fp_catalogue {
    fp_allocator alloc;
    fp_edition *ed;
    size_t n;
    char *strings; /* every string of every edition, NUL-separated */
    char *text;    /* the text parsed, kept for the atlas */
    size_t text_len;
};

void fp__catalogue_text(const fp_catalogue *cat, const char **text, size_t *len)
{
    *text = cat->text;
    *len = cat->text_len;
}

enum {
    C_ID, C_LEVEL, C_NAME, C_FROM, C_TO, C_PATH, C_LAYER, C_CODE, C_NAMEF,
    C_VINTAGE, C_ATTR, C_COUNT
};
static const char *const columns[C_COUNT] = {
    "id", "level", "name", "valid_from", "valid_to", "path", "layer",
    "code_field", "name_field", "vintage", "attribution"};

void fp_catalogue_free(fp_catalogue *cat)
{
    if (!cat) return;
    fp_allocator a = cat->alloc;
    fp__free(&a, cat->ed);
    fp__free(&a, cat->strings);
    fp__free(&a, cat->text);
    fp__free(&a, cat);
}

static int is_ident(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

int fp_catalogue_parse(fp_ctx *ctx, const char *text, size_t len,
                       const char *source, fp_catalogue **out)
{
    *out = NULL;
    fp__clear(ctx);
    const fp_allocator *a = &ctx->alloc;
    fp_csv csv;
    const char *why = NULL;
    int col[C_COUNT];
    int rc;
    fp_catalogue *cat = fp__calloc(a, 1, sizeof *cat);
    /* Strings are copied into one block no larger than the text. */
    char *strings = fp__malloc(a, len + 1);
    size_t sn = 0, edcap = 0;
    if (!cat || !strings) {
        fp__free(a, cat);
        fp__free(a, strings);
        return fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
    }
    cat->alloc = *a;
    cat->strings = strings;
    fp__csv_init(&csv, a, text, len);
    rc = fp__csv_next(&csv, &why);
    if (rc <= 0) {
        rc = rc == 0 ? fp__error(ctx, FP_EFORMAT, "%s: empty catalogue", source)
                     : fp__error(ctx, rc == -2 ? FP_ENOMEM : FP_EFORMAT,
                                 "%s: line %zu: %s", source, csv.line, why);
        goto fail;
    }
    for (int k = 0; k < C_COUNT; k++) {
        col[k] = -1;
        for (size_t i = 0; i < csv.nfields; i++)
            if (strcmp(csv.fields[i], columns[k]) == 0) col[k] = (int)i;
        if (col[k] < 0) {
            rc = fp__error(ctx, FP_EFORMAT, "%s: header lacks column '%s'",
                           source, columns[k]);
            goto fail;
        }
    }
    for (;;) {
        size_t line;
        rc = fp__csv_next(&csv, &why);
        line = csv.line;
        if (rc == 0) break;
        if (rc < 0) {
            rc = fp__error(ctx, rc == -2 ? FP_ENOMEM : FP_EFORMAT,
                           "%s: line %zu: %s", source, line, why);
            goto fail;
        }
        if (csv.nfields != (size_t)C_COUNT && csv.nfields < (size_t)C_COUNT) {
            rc = fp__error(ctx, FP_EFORMAT,
                           "%s: line %zu: %zu fields, expected %d", source, line,
                           csv.nfields, C_COUNT);
            goto fail;
        }
        const char *v[C_COUNT];
        for (int k = 0; k < C_COUNT; k++) {
            if ((size_t)col[k] >= csv.nfields) {
                rc = fp__error(ctx, FP_EFORMAT, "%s: line %zu: missing '%s'",
                               source, line, columns[k]);
                goto fail;
            }
            v[k] = csv.fields[col[k]];
        }
        if (!is_ident(v[C_ID]) || !is_ident(v[C_LEVEL])) {
            rc = fp__error(ctx, FP_EFORMAT,
                           "%s: line %zu: id and level must be lower-case "
                           "identifiers (got '%s', '%s')",
                           source, line, v[C_ID], v[C_LEVEL]);
            goto fail;
        }
        if (!fp__valid_date(v[C_FROM]) || (*v[C_TO] && !fp__valid_date(v[C_TO]))) {
            rc = fp__error(ctx, FP_EFORMAT,
                           "%s: line %zu: dates must be YYYY-MM-DD "
                           "(valid_from '%s', valid_to '%s')",
                           source, line, v[C_FROM], v[C_TO]);
            goto fail;
        }
        if (*v[C_TO] && strcmp(v[C_TO], v[C_FROM]) < 0) {
            rc = fp__error(ctx, FP_EFORMAT,
                           "%s: line %zu: valid_to %s is before valid_from %s",
                           source, line, v[C_TO], v[C_FROM]);
            goto fail;
        }
        if (!*v[C_PATH] || !*v[C_CODE] || !*v[C_ATTR]) {
            rc = fp__error(ctx, FP_EFORMAT,
                           "%s: line %zu: path, code_field and attribution "
                           "are required", source, line);
            goto fail;
        }
        if (strstr(v[C_PATH], "..") || v[C_PATH][0] == '/') {
            rc = fp__error(ctx, FP_EFORMAT,
                           "%s: line %zu: path '%s' must stay inside the data "
                           "directory", source, line, v[C_PATH]);
            goto fail;
        }
        char *endp;
        long vintage = strtol(v[C_VINTAGE], &endp, 10);
        if (*endp || endp == v[C_VINTAGE] || vintage < 1900 || vintage > 2999) {
            rc = fp__error(ctx, FP_EFORMAT, "%s: line %zu: bad vintage '%s'",
                           source, line, v[C_VINTAGE]);
            goto fail;
        }
        if (fp_catalogue_find(cat, v[C_ID])) {
            rc = fp__error(ctx, FP_EFORMAT, "%s: line %zu: duplicate id '%s'",
                           source, line, v[C_ID]);
            goto fail;
        }
        if (fp__grow(a, (void **)&cat->ed, &edcap, cat->n + 1, sizeof *cat->ed)) {
            rc = fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
            goto fail;
        }
        /* Store offsets now; they become pointers once all rows are in. */
        const char **dst[C_COUNT] = {
            &cat->ed[cat->n].id, &cat->ed[cat->n].level, &cat->ed[cat->n].name,
            &cat->ed[cat->n].valid_from, &cat->ed[cat->n].valid_to,
            &cat->ed[cat->n].path, &cat->ed[cat->n].layer,
            &cat->ed[cat->n].code_field, &cat->ed[cat->n].name_field, NULL,
            &cat->ed[cat->n].attribution};
        for (int k = 0; k < C_COUNT; k++) {
            if (!dst[k]) continue;
            size_t l = strlen(v[k]) + 1;
            memcpy(strings + sn, v[k], l);
            *dst[k] = strings + sn;
            sn += l;
        }
        cat->ed[cat->n].vintage = (int)vintage;
        cat->n++;
    }
    fp__csv_free(&csv);
    if (!cat->n) {
        fp_catalogue_free(cat);
        return fp__error(ctx, FP_EFORMAT, "%s: no editions", source);
    }
    cat->text = fp__malloc(a, len + 1);
    if (!cat->text) {
        fp_catalogue_free(cat);
        return fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
    }
    memcpy(cat->text, text, len);
    cat->text[len] = '\0';
    cat->text_len = len;
    *out = cat;
    return FP_OK;
fail:
    fp__csv_free(&csv);
    fp_catalogue_free(cat);
    return rc;
}

int fp_catalogue_load(fp_ctx *ctx, const char *path, fp_catalogue **out)
{
    char *text;
    size_t len;
    *out = NULL;
    int rc = fp__read_file(ctx, path, &text, &len);
    if (rc) return rc;
    rc = fp_catalogue_parse(ctx, text, len, path, out);
    fp__free(&ctx->alloc, text);
    return rc;
}

size_t fp_catalogue_count(const fp_catalogue *cat) { return cat->n; }

const fp_edition *fp_catalogue_get(const fp_catalogue *cat, size_t i)
{
    return i < cat->n ? &cat->ed[i] : NULL;
}

const fp_edition *fp_catalogue_find(const fp_catalogue *cat, const char *id)
{
    for (size_t i = 0; i < cat->n; i++)
        if (strcmp(cat->ed[i].id, id) == 0) return &cat->ed[i];
    return NULL;
}

const fp_edition *fp_catalogue_valid_on(const fp_catalogue *cat,
                                        const char *level, const char *date)
{
    /* The latest-starting edition of the level that covers the date. */
    const fp_edition *best = NULL;
    for (size_t i = 0; i < cat->n; i++) {
        const fp_edition *e = &cat->ed[i];
        if (strcmp(e->level, level) != 0) continue;
        if (strcmp(e->valid_from, date) > 0) continue;
        if (*e->valid_to && strcmp(e->valid_to, date) < 0) continue;
        if (!best || strcmp(e->valid_from, best->valid_from) > 0) best = e;
    }
    return best;
}
