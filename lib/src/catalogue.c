/*
 * The catalogue: the editions footprint knows (geodata/editions.csv), the
 * membership tables that define footprints as unions of member areas
 * (geodata/members/NAME.csv), and the status and parent facts attached to
 * footprints over time (geodata/status.csv, geodata/parents.csv).
 *
 * The files travel together as a bundle ("@@file NAME LENGTH\n" + bytes +
 * "\n" each), which the CLI embeds and the atlas stores, so a catalogue is
 * one text whose checksum says exactly what an atlas was built from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define C_COUNT_ED 13 /* columns of editions.csv (see the enum below) */

/* A CSV table: a header naming the columns, then rows; cells are kept in
 * the caller's column order. */
typedef struct table {
    size_t ncols, nrows;
    const char **cells; /* nrows * ncols, into pool */
    char *pool;
    size_t *line;       /* line of each row, for messages */
} table;

struct fp_catalogue {
    fp_allocator alloc;
    fp_edition *ed;
    size_t n;
    table edt, st, pa, od;
    table *mem;          /* per edition; nrows 0 when none */
    fp_member **members; /* per edition */
    fp_status_fact *status;
    fp_parent *parents;
    fp_ods *ods;
    char *text; /* the bundle parsed, kept for the atlas */
    size_t text_len;
};

static void table_free(const fp_allocator *a, table *t)
{
    fp__free(a, (void *)t->cells);
    fp__free(a, t->pool);
    fp__free(a, t->line);
    memset(t, 0, sizeof *t);
}

void fp__catalogue_text(const fp_catalogue *cat, const char **text, size_t *len)
{
    *text = cat->text;
    *len = cat->text_len;
}

void fp_catalogue_free(fp_catalogue *cat)
{
    if (!cat) return;
    fp_allocator a = cat->alloc;
    for (size_t i = 0; i < cat->n; i++) {
        if (cat->mem) table_free(&a, &cat->mem[i]);
        if (cat->members) fp__free(&a, cat->members[i]);
    }
    fp__free(&a, cat->mem);
    fp__free(&a, cat->members);
    table_free(&a, &cat->edt);
    table_free(&a, &cat->st);
    table_free(&a, &cat->pa);
    table_free(&a, &cat->od);
    fp__free(&a, cat->ed);
    fp__free(&a, cat->status);
    fp__free(&a, cat->parents);
    fp__free(&a, cat->ods);
    fp__free(&a, cat->text);
    fp__free(&a, cat);
}

/* Reads a table whose header must hold every column in `cols` except
 * those marked optional (their cells are "" when absent). */
static int read_table(fp_ctx *ctx, const char *text, size_t len,
                      const char *source, const char *const *cols,
                      const unsigned char *optional, size_t ncols, table *t)
{
    const fp_allocator *a = &ctx->alloc;
    fp_csv csv;
    const char *why = "";
    int map[32];
    int rc = FP_OK;
    size_t cap = 0, lcap = 0;
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->pool = fp__malloc(a, len + 1); /* cells are never longer than the text */
    if (!t->pool) return fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
    size_t used = 0;
    fp__csv_init(&csv, a, text, len);
    int got = fp__csv_next(&csv, &why);
    if (got <= 0) {
        rc = got == 0 ? fp__error(ctx, FP_EFORMAT, "%s: empty %s", source,
                                  ncols == C_COUNT_ED ? "catalogue" : "table")
                      : fp__error(ctx, got == -2 ? FP_ENOMEM : FP_EFORMAT,
                                  "%s: line %zu: %s", source, csv.line, why);
        goto out;
    }
    for (size_t k = 0; k < ncols; k++) {
        map[k] = -1;
        for (size_t i = 0; i < csv.nfields; i++)
            if (strcmp(csv.fields[i], cols[k]) == 0) map[k] = (int)i;
        if (map[k] < 0 && !(optional && optional[k])) {
            rc = fp__error(ctx, FP_EFORMAT, "%s: header lacks column '%s'", source,
                           cols[k]);
            goto out;
        }
    }
    static const char empty[] = "";
    size_t header_fields = csv.nfields;
    while ((got = fp__csv_next(&csv, &why)) == 1) {
        if (fp__grow(a, (void **)&t->cells, &cap, (t->nrows + 1) * ncols,
                     sizeof *t->cells) ||
            fp__grow(a, (void **)&t->line, &lcap, t->nrows + 1, sizeof *t->line)) {
            rc = fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
            goto out;
        }
        for (size_t k = 0; k < ncols; k++) {
            const char *v = empty;
            if (map[k] >= 0) {
                if ((size_t)map[k] >= csv.nfields) {
                    rc = fp__error(ctx, FP_EFORMAT,
                                   "%s: line %zu: %zu fields, expected %zu (no '%s')",
                                   source, csv.line, csv.nfields, header_fields,
                                   cols[k]);
                    goto out;
                }
                v = csv.fields[map[k]];
            }
            size_t l = strlen(v) + 1;
            if (used + l > len + 1) { /* cannot happen: cells shrink text */
                rc = fp__error(ctx, FP_EFORMAT, "%s: line %zu: malformed", source,
                               csv.line);
                goto out;
            }
            memcpy(t->pool + used, v, l);
            t->cells[t->nrows * ncols + k] = (const char *)(uintptr_t)used;
            used += l;
        }
        t->line[t->nrows++] = csv.line;
    }
    if (got < 0) {
        rc = fp__error(ctx, got == -2 ? FP_ENOMEM : FP_EFORMAT, "%s: line %zu: %s",
                       source, csv.line, why);
        goto out;
    }
    /* Offsets become pointers now that the pool no longer moves. */
    for (size_t i = 0; i < t->nrows * ncols; i++)
        t->cells[i] = t->pool + (uintptr_t)t->cells[i];
out:
    fp__csv_free(&csv);
    if (rc) table_free(a, t);
    return rc;
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

static int safe_path(const char *p) { return !strstr(p, "..") && p[0] != '/'; }

int fp_date_valid(const char *s) { return fp__valid_date(s); }

int fp_date_within(const char *date, const char *from, const char *to)
{
    return (!*from || strcmp(from, date) <= 0) && (!*to || strcmp(date, to) <= 0);
}

/* ---- editions.csv ---- */

enum {
    C_ID, C_LEVEL, C_NAME, C_FROM, C_TO, C_PATH, C_LAYER, C_CODE, C_NAMEF,
    C_VINTAGE, C_ATTR, C_MEMBERS, C_VIA, C_COUNT
};
_Static_assert(C_COUNT == C_COUNT_ED, "editions.csv column count");
static const char *const ed_cols[C_COUNT] = {
    "id", "level", "name", "valid_from", "valid_to", "path", "layer",
    "code_field", "name_field", "vintage", "attribution", "members", "via"};
static const unsigned char ed_optional[C_COUNT] = {[C_MEMBERS] = 1, [C_VIA] = 1};

static int parse_editions(fp_ctx *ctx, fp_catalogue *cat, const char *text,
                          size_t len, const char *source)
{
    int rc = read_table(ctx, text, len, source, ed_cols, ed_optional, C_COUNT,
                        &cat->edt);
    if (rc) return rc;
    const table *t = &cat->edt;
    if (!t->nrows) return fp__error(ctx, FP_EFORMAT, "%s: no editions", source);
    cat->ed = fp__calloc(&ctx->alloc, t->nrows, sizeof *cat->ed);
    if (!cat->ed) return fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
    for (size_t r = 0; r < t->nrows; r++) {
        const char *const *v = t->cells + r * C_COUNT;
        size_t line = t->line[r];
        if (!is_ident(v[C_ID]) || !is_ident(v[C_LEVEL]))
            return fp__error(ctx, FP_EFORMAT,
                             "%s: line %zu: id and level must be lower-case "
                             "identifiers (got '%s', '%s')",
                             source, line, v[C_ID], v[C_LEVEL]);
        if (!fp__valid_date(v[C_FROM]) || (*v[C_TO] && !fp__valid_date(v[C_TO])))
            return fp__error(ctx, FP_EFORMAT,
                             "%s: line %zu: dates must be YYYY-MM-DD "
                             "(valid_from '%s', valid_to '%s')",
                             source, line, v[C_FROM], v[C_TO]);
        if (*v[C_TO] && strcmp(v[C_TO], v[C_FROM]) < 0)
            return fp__error(ctx, FP_EFORMAT,
                             "%s: line %zu: valid_to %s is before valid_from %s",
                             source, line, v[C_TO], v[C_FROM]);
        int by_members = *v[C_MEMBERS] != '\0';
        if ((!by_members && (!*v[C_PATH] || !*v[C_CODE])) || !*v[C_ATTR])
            return fp__error(ctx, FP_EFORMAT,
                             "%s: line %zu: path, code_field and attribution "
                             "are required (or members for a membership "
                             "edition)", source, line);
        if (*v[C_VIA] && (by_members || !*v[C_NAMEF]))
            return fp__error(ctx, FP_EFORMAT,
                             "%s: line %zu: an edition via another needs its "
                             "lookup file as path, code_field and name_field, "
                             "and no members", source, line);
        if (!safe_path(v[C_PATH]))
            return fp__error(ctx, FP_EFORMAT,
                             "%s: line %zu: path '%s' must stay inside the data "
                             "directory", source, line, v[C_PATH]);
        if (!safe_path(v[C_MEMBERS]))
            return fp__error(ctx, FP_EFORMAT,
                             "%s: line %zu: members '%s' must stay inside the "
                             "catalogue directory", source, line, v[C_MEMBERS]);
        char *endp;
        long vintage = strtol(v[C_VINTAGE], &endp, 10);
        if (*endp || endp == v[C_VINTAGE] || vintage < 1900 || vintage > 2999)
            return fp__error(ctx, FP_EFORMAT, "%s: line %zu: bad vintage '%s'",
                             source, line, v[C_VINTAGE]);
        for (size_t j = 0; j < r; j++)
            if (strcmp(cat->ed[j].id, v[C_ID]) == 0)
                return fp__error(ctx, FP_EFORMAT, "%s: line %zu: duplicate id '%s'",
                                 source, line, v[C_ID]);
        fp_edition *e = &cat->ed[r];
        e->id = v[C_ID], e->level = v[C_LEVEL], e->name = v[C_NAME];
        e->valid_from = v[C_FROM], e->valid_to = v[C_TO], e->path = v[C_PATH];
        e->layer = v[C_LAYER], e->code_field = v[C_CODE], e->name_field = v[C_NAMEF];
        e->vintage = (int)vintage, e->attribution = v[C_ATTR];
        e->members = v[C_MEMBERS];
        e->via = v[C_VIA];
        cat->n = r + 1;
    }
    /* A finer edition must be one with boundaries of its own. */
    for (size_t r = 0; r < cat->n; r++) {
        const fp_edition *e = &cat->ed[r];
        if (!*e->via) continue;
        const fp_edition *b = fp_catalogue_find(cat, e->via);
        if (!b || *b->via || *b->members)
            return fp__error(ctx, FP_EFORMAT,
                             "%s: line %zu: edition %s: via '%s' is not an "
                             "edition with a boundary file", source, t->line[r],
                             e->id, e->via);
    }
    return FP_OK;
}

/* ---- members, status, parents ---- */

enum { M_CODE, M_NAME, M_ODS, M_MED, M_MCODE, M_CED, M_CCODE, M_FROM, M_TO,
       M_SOURCE, M_COUNT };
static const char *const mem_cols[M_COUNT] = {
    "code", "name", "ods_code", "member_edition", "member_code", "clip_edition",
    "clip_code", "valid_from", "valid_to", "source"};

static int parse_members(fp_ctx *ctx, fp_catalogue *cat, size_t e,
                         const char *text, size_t len, const char *source)
{
    int rc = read_table(ctx, text, len, source, mem_cols, NULL, M_COUNT, &cat->mem[e]);
    if (rc) return rc;
    const table *t = &cat->mem[e];
    if (!t->nrows) return fp__error(ctx, FP_EFORMAT, "%s: no members", source);
    fp_member *m = fp__calloc(&ctx->alloc, t->nrows, sizeof *m);
    if (!m) return fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
    cat->members[e] = m;
    for (size_t r = 0; r < t->nrows; r++) {
        const char *const *v = t->cells + r * M_COUNT;
        size_t line = t->line[r];
        m[r] = (fp_member){v[M_CODE], v[M_NAME], v[M_ODS], v[M_MED], v[M_MCODE],
                           v[M_CED], v[M_CCODE], v[M_FROM], v[M_TO], v[M_SOURCE]};
        if (!*m[r].code || !*m[r].member_code)
            return fp__error(ctx, FP_EFORMAT, "%s: line %zu: code and member_code "
                                              "are required", source, line);
        const fp_edition *me = fp_catalogue_find(cat, m[r].member_edition);
        const fp_edition *ce = *m[r].clip_edition ? fp_catalogue_find(cat, m[r].clip_edition) : NULL;
        if (!me || *me->members)
            return fp__error(ctx, FP_EFORMAT,
                             "%s: line %zu: member_edition '%s' is not a "
                             "boundary-file edition of the catalogue",
                             source, line, m[r].member_edition);
        if ((*m[r].clip_edition && (!ce || *ce->members)) ||
            (!*m[r].clip_edition != !*m[r].clip_code))
            return fp__error(ctx, FP_EFORMAT,
                             "%s: line %zu: clip_edition '%s' / clip_code '%s' "
                             "must name a boundary-file edition and a code",
                             source, line, m[r].clip_edition, m[r].clip_code);
        if ((*m[r].valid_from && !fp__valid_date(m[r].valid_from)) ||
            (*m[r].valid_to && !fp__valid_date(m[r].valid_to)))
            return fp__error(ctx, FP_EFORMAT,
                             "%s: line %zu: dates must be YYYY-MM-DD", source, line);
        if (!*m[r].source)
            return fp__error(ctx, FP_EFORMAT, "%s: line %zu: every membership "
                                              "fact cites a source", source, line);
    }
    return FP_OK;
}

enum { S_CODE, S_ED, S_STATUS, S_FROM, S_TO, S_SOURCE, S_COUNT };
static const char *const st_cols[S_COUNT] = {"code", "edition", "status",
                                             "valid_from", "valid_to", "source"};
enum { P_CHILD, P_CED, P_PARENT, P_PNAME, P_PLEVEL, P_FROM, P_TO, P_SOURCE,
       P_COUNT };
static const char *const pa_cols[P_COUNT] = {
    "child_code", "child_edition", "parent_code", "parent_name",
    "parent_level", "valid_from", "valid_to", "source"};

static int check_dates(fp_ctx *ctx, const char *source, size_t line,
                       const char *from, const char *to)
{
    if ((*from && !fp__valid_date(from)) || (*to && !fp__valid_date(to)))
        return fp__error(ctx, FP_EFORMAT, "%s: line %zu: dates must be YYYY-MM-DD "
                                          "(got '%s', '%s')", source, line, from, to);
    return FP_OK;
}

static int parse_status(fp_ctx *ctx, fp_catalogue *cat, const char *text,
                        size_t len, const char *source)
{
    int rc = read_table(ctx, text, len, source, st_cols, NULL, S_COUNT, &cat->st);
    if (rc) return rc;
    const table *t = &cat->st;
    cat->status = fp__calloc(&ctx->alloc, t->nrows + 1, sizeof *cat->status);
    if (!cat->status) return fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
    for (size_t r = 0; r < t->nrows; r++) {
        const char *const *v = t->cells + r * S_COUNT;
        cat->status[r] = (fp_status_fact){v[S_CODE], v[S_ED], v[S_STATUS],
                                          v[S_FROM], v[S_TO], v[S_SOURCE]};
        if ((rc = check_dates(ctx, source, t->line[r], v[S_FROM], v[S_TO])))
            return rc;
        if (!*v[S_CODE] || !*v[S_STATUS] || !*v[S_SOURCE])
            return fp__error(ctx, FP_EFORMAT, "%s: line %zu: code, status and "
                                              "source are required", source, t->line[r]);
    }
    return FP_OK;
}

enum { O_CODE, O_ODS, O_FROM, O_TO, O_SOURCE, O_COUNT };
static const char *const od_cols[O_COUNT] = {"code", "ods_code", "valid_from",
                                             "valid_to", "source"};

static int parse_ods(fp_ctx *ctx, fp_catalogue *cat, const char *text, size_t len,
                     const char *source)
{
    int rc = read_table(ctx, text, len, source, od_cols, NULL, O_COUNT, &cat->od);
    if (rc) return rc;
    const table *t = &cat->od;
    cat->ods = fp__calloc(&ctx->alloc, t->nrows + 1, sizeof *cat->ods);
    if (!cat->ods) return fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
    for (size_t r = 0; r < t->nrows; r++) {
        const char *const *v = t->cells + r * O_COUNT;
        cat->ods[r] = (fp_ods){v[O_CODE], v[O_ODS], v[O_FROM], v[O_TO], v[O_SOURCE]};
        if ((rc = check_dates(ctx, source, t->line[r], v[O_FROM], v[O_TO]))) return rc;
        if (!*v[O_CODE] || !*v[O_ODS] || !*v[O_SOURCE])
            return fp__error(ctx, FP_EFORMAT, "%s: line %zu: code, ods_code and "
                                              "source are required", source, t->line[r]);
    }
    return FP_OK;
}

static int parse_parents(fp_ctx *ctx, fp_catalogue *cat, const char *text,
                         size_t len, const char *source)
{
    int rc = read_table(ctx, text, len, source, pa_cols, NULL, P_COUNT, &cat->pa);
    if (rc) return rc;
    const table *t = &cat->pa;
    cat->parents = fp__calloc(&ctx->alloc, t->nrows + 1, sizeof *cat->parents);
    if (!cat->parents) return fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
    for (size_t r = 0; r < t->nrows; r++) {
        const char *const *v = t->cells + r * P_COUNT;
        cat->parents[r] = (fp_parent){v[P_CHILD], v[P_CED], v[P_PARENT], v[P_PNAME],
                                      v[P_PLEVEL], v[P_FROM], v[P_TO], v[P_SOURCE]};
        if ((rc = check_dates(ctx, source, t->line[r], v[P_FROM], v[P_TO])))
            return rc;
        if (!*v[P_CHILD] || !*v[P_PARENT] || !*v[P_SOURCE])
            return fp__error(ctx, FP_EFORMAT, "%s: line %zu: child_code, "
                                              "parent_code and source are required",
                             source, t->line[r]);
    }
    return FP_OK;
}

/* ---- bundles ---- */

typedef struct bfile {
    char name[128];
    const char *text;
    size_t len;
} bfile;

#define BUNDLE_TAG "@@file "

static int split_bundle(fp_ctx *ctx, const char *text, size_t len,
                        const char *source, bfile *files, size_t max, size_t *n)
{
    const char *p = text, *end = text + len;
    *n = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        char name[128];
        unsigned long long flen;
        char head[256];
        size_t hl = nl ? (size_t)(nl - p) : 0;
        if (!nl || hl >= sizeof head || strncmp(p, BUNDLE_TAG, 7) != 0)
            return fp__error(ctx, FP_EFORMAT, "%s: malformed catalogue bundle",
                             source);
        memcpy(head, p, hl);
        head[hl] = '\0';
        if (sscanf(head, "@@file %127s %llu", name, &flen) != 2 ||
            flen > (unsigned long long)(end - nl - 1) || *n == max)
            return fp__error(ctx, FP_EFORMAT, "%s: malformed catalogue bundle",
                             source);
        snprintf(files[*n].name, sizeof files[*n].name, "%s", name);
        files[*n].text = nl + 1;
        files[*n].len = (size_t)flen;
        (*n)++;
        p = nl + 1 + flen;
        if (p < end && *p == '\n') p++;
    }
    return FP_OK;
}

int fp_catalogue_parse(fp_ctx *ctx, const char *text, size_t len,
                       const char *source, fp_catalogue **out)
{
    *out = NULL;
    fp__clear(ctx);
    const fp_allocator *a = &ctx->alloc;
    fp_catalogue *cat = fp__calloc(a, 1, sizeof *cat);
    if (!cat) return fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
    cat->alloc = *a;
    bfile files[64];
    size_t nf = 0;
    int rc;
    if (len >= 7 && strncmp(text, BUNDLE_TAG, 7) == 0) {
        rc = split_bundle(ctx, text, len, source, files, 64, &nf);
    } else {
        snprintf(files[0].name, sizeof files[0].name, "editions.csv");
        files[0].text = text;
        files[0].len = len;
        nf = 1;
        rc = FP_OK;
    }
    char where[512];
    const bfile *edf = NULL;
    for (size_t i = 0; i < nf && !rc; i++)
        if (strcmp(files[i].name, "editions.csv") == 0) edf = &files[i];
    if (!rc && !edf) rc = fp__error(ctx, FP_EFORMAT, "%s: no editions.csv", source);
    if (!rc) {
        /* A lone editions.csv is named by its source, a bundle's by both. */
        if (nf == 1 && files[0].text == text)
            snprintf(where, sizeof where, "%s", source);
        else
            snprintf(where, sizeof where, "%s: editions.csv", source);
        rc = parse_editions(ctx, cat, edf->text, edf->len, where);
    }
    if (!rc) {
        cat->mem = fp__calloc(a, cat->n, sizeof *cat->mem);
        cat->members = fp__calloc(a, cat->n, sizeof *cat->members);
        if (!cat->mem || !cat->members)
            rc = fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
    }
    for (size_t e = 0; e < cat->n && !rc; e++) {
        if (!*cat->ed[e].members) continue;
        const bfile *mf = NULL;
        for (size_t i = 0; i < nf; i++)
            if (strcmp(files[i].name, cat->ed[e].members) == 0) mf = &files[i];
        if (!mf) {
            /* A lone editions.csv (not a bundle) can still list and open
             * file editions; a bundle must carry the tables it names. */
            if (nf == 1 && files[0].text == text) continue;
            rc = fp__error(ctx, FP_EFORMAT, "%s: edition %s: membership table %s "
                                            "is missing", source, cat->ed[e].id,
                           cat->ed[e].members);
            break;
        }
        snprintf(where, sizeof where, "%.300s: %.120s", source, mf->name);
        rc = parse_members(ctx, cat, e, mf->text, mf->len, where);
    }
    for (size_t i = 0; i < nf && !rc; i++) {
        snprintf(where, sizeof where, "%.300s: %.120s", source, files[i].name);
        if (strcmp(files[i].name, "status.csv") == 0)
            rc = parse_status(ctx, cat, files[i].text, files[i].len, where);
        else if (strcmp(files[i].name, "parents.csv") == 0)
            rc = parse_parents(ctx, cat, files[i].text, files[i].len, where);
        else if (strcmp(files[i].name, "ods.csv") == 0)
            rc = parse_ods(ctx, cat, files[i].text, files[i].len, where);
    }
    if (!rc) {
        cat->text = fp__malloc(a, len + 1);
        if (!cat->text) rc = fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
    }
    if (rc) {
        fp_catalogue_free(cat);
        return rc;
    }
    memcpy(cat->text, text, len);
    cat->text[len] = '\0';
    cat->text_len = len;
    *out = cat;
    return FP_OK;
}

static int bundle_add(fp_ctx *ctx, const char *source, char **buf, size_t *n,
                      size_t *cap, const char *name, const char *text, size_t len)
{
    char head[300];
    int h = snprintf(head, sizeof head, BUNDLE_TAG "%s %zu\n", name, len);
    if (fp__grow(&ctx->alloc, (void **)buf, cap, *n + (size_t)h + len + 2, 1))
        return fp__error(ctx, FP_ENOMEM, "%s: out of memory", source);
    memcpy(*buf + *n, head, (size_t)h);
    memcpy(*buf + *n + h, text, len);
    *n += (size_t)h + len;
    (*buf)[(*n)++] = '\n';
    return FP_OK;
}

int fp_catalogue_load(fp_ctx *ctx, const char *path, fp_catalogue **out)
{
    *out = NULL;
    char *text;
    size_t len;
    int rc = fp__read_file(ctx, path, &text, &len);
    if (rc) return rc;
    /* First the editions alone, to learn which tables they use. */
    fp_catalogue *plain;
    rc = fp_catalogue_parse(ctx, text, len, path, &plain);
    if (rc) {
        fp__free(&ctx->alloc, text);
        return rc;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    char *bundle = NULL;
    size_t bn = 0, bcap = 0;
    rc = bundle_add(ctx, path, &bundle, &bn, &bcap, "editions.csv", text, len);
    fp__free(&ctx->alloc, text);
    const char *extra[] = {"status.csv", "parents.csv", "ods.csv"};
    for (size_t i = 0; i < plain->n + 3 && !rc; i++) {
        const char *name = i < plain->n ? plain->ed[i].members : extra[i - plain->n];
        if (!*name) continue;
        int dup = 0;
        for (size_t j = 0; j < i && j < plain->n; j++)
            if (strcmp(plain->ed[j].members, name) == 0) dup = 1;
        if (dup) continue;
        char file[4400];
        snprintf(file, sizeof file, "%s%s", dir, name);
        char *t;
        size_t tl;
        if (i >= plain->n) { /* optional facts: absent is fine */
            FILE *f = fopen(file, "rb");
            if (!f) continue;
            fclose(f);
        }
        rc = fp__read_file(ctx, file, &t, &tl);
        if (rc) { /* name the catalogue first, then the file at fault */
            char msg[FP_ERRMSG_MAX];
            snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
            fp__error(ctx, rc, "%s: %s", path, msg);
            break;
        }
        rc = bundle_add(ctx, path, &bundle, &bn, &bcap, name, t, tl);
        fp__free(&ctx->alloc, t);
    }
    fp_catalogue_free(plain);
    if (!rc) rc = fp_catalogue_parse(ctx, bundle, bn, path, out);
    fp__free(&ctx->alloc, bundle);
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
        if (!fp_date_within(date, e->valid_from, e->valid_to)) continue;
        if (!best || strcmp(e->valid_from, best->valid_from) > 0) best = e;
    }
    return best;
}

static size_t ed_index(const fp_catalogue *cat, const fp_edition *ed)
{
    return (size_t)(ed - cat->ed);
}

size_t fp_catalogue_member_count(const fp_catalogue *cat, const fp_edition *ed)
{
    size_t e = ed_index(cat, ed);
    return e < cat->n ? cat->mem[e].nrows : 0;
}

const fp_member *fp_catalogue_member(const fp_catalogue *cat,
                                     const fp_edition *ed, size_t i)
{
    size_t e = ed_index(cat, ed);
    return e < cat->n && i < cat->mem[e].nrows ? &cat->members[e][i] : NULL;
}

const fp_member *fp_catalogue_footprint_row(const fp_catalogue *cat,
                                            const char *edition, const char *code)
{
    const fp_edition *ed = fp_catalogue_find(cat, edition);
    if (!ed) return NULL;
    size_t e = ed_index(cat, ed);
    for (size_t i = 0; i < cat->mem[e].nrows; i++)
        if (strcmp(cat->members[e][i].code, code) == 0) return &cat->members[e][i];
    return NULL;
}

size_t fp_catalogue_status_count(const fp_catalogue *cat) { return cat->st.nrows; }

const fp_status_fact *fp_catalogue_status_get(const fp_catalogue *cat, size_t i)
{
    return i < cat->st.nrows ? &cat->status[i] : NULL;
}

size_t fp_catalogue_parent_count(const fp_catalogue *cat) { return cat->pa.nrows; }

const fp_parent *fp_catalogue_parent_get(const fp_catalogue *cat, size_t i)
{
    return i < cat->pa.nrows ? &cat->parents[i] : NULL;
}

size_t fp_catalogue_ods_count(const fp_catalogue *cat) { return cat->od.nrows; }

const fp_ods *fp_catalogue_ods_get(const fp_catalogue *cat, size_t i)
{
    return i < cat->od.nrows ? &cat->ods[i] : NULL;
}

const char *fp_catalogue_ods_on(const fp_catalogue *cat, const char *code,
                                const char *date)
{
    for (size_t i = 0; i < cat->od.nrows; i++) {
        const fp_ods *o = &cat->ods[i];
        if (strcmp(o->code, code) == 0 &&
            (!date || fp_date_within(date, o->valid_from, o->valid_to)))
            return o->ods_code;
    }
    return NULL;
}

const fp_parent *fp_catalogue_parent_on(const fp_catalogue *cat, const char *code,
                                        const char *date)
{
    const fp_parent *best = NULL;
    for (size_t i = 0; i < cat->pa.nrows; i++) {
        const fp_parent *p = &cat->parents[i];
        if (strcmp(p->child_code, code) != 0) continue;
        if (!fp_date_within(date, p->valid_from, p->valid_to)) continue;
        if (!best || strcmp(p->valid_from, best->valid_from) > 0) best = p;
    }
    return best;
}
