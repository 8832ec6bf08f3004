/* Maps: the fp_map object, its layers, values and points.  Drawing and
 * output are in render_draw.c, labels in render_label.c, geometry in
 * render_geom.c, classes and number formats in render_class.c. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "footprint.h"
#include "render_private.h"

/* The first error sticks to the map (as a cairo surface's status does)
 * and is also left on the context, as every call does. */
int rd_fail(fp_map *m, int code, const char *fmt, ...)
{
    if (m->status) return m->status;
    /* Formatted aside first: the arguments may be the context's own
     * message. */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->msg, sizeof m->msg, fmt, ap);
    va_end(ap);
    m->status = code;
    fp__error(m->ctx, code, "%s", m->msg);
    snprintf(m->msg, sizeof m->msg, "%s", fp_ctx_errmsg(m->ctx)); /* one line */
    return code;
}

/* A call on a map already in error does nothing and says why again. */
static int sticky(fp_map *m)
{
    if (!m) return FP_EINVAL;
    if (m->status) {
        fp__error(m->ctx, m->status, "%s", m->msg);
        return m->status;
    }
    fp__clear(m->ctx);
    return FP_OK;
}

void fp_map_opts_init(fp_map_opts *o)
{
    memset(o, 0, sizeof *o);
    o->projection = FP_MAP_BNG;
    o->labels = 1;
}

void fp_map_layer_opts_init(fp_map_layer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->role = FP_MAP_AREAS;
    o->in_extent = -1;
}

static char *dup_or_null(const fp_allocator *a, const char *s, int *oom)
{
    if (!s) return NULL;
    char *d = fp__strdup(a, s);
    if (!d) *oom = 1;
    return d;
}

int fp_map_new(fp_ctx *ctx, const fp_map_opts *opts, fp_map **out)
{
    *out = NULL;
    fp__clear(ctx);
    fp_map_opts o;
    if (opts)
        o = *opts;
    else
        fp_map_opts_init(&o);
    if (!isfinite(o.width) || o.width < 0 || !isfinite(o.height) || o.height < 0 ||
        (opts && (o.width == 0 && o.height > 0)))
        return fp__error(ctx, FP_EINVAL,
                         "map size %g x %g: width and height must be positive "
                         "(height 0 = from the extent)", o.width, o.height);
    if (o.width > 20000 || o.height > 20000)
        return fp__error(ctx, FP_EINVAL, "map size %g x %g: at most 20000 on a side",
                         o.width, o.height);
    if ((o.width > 0 && o.width < 100) || (o.height > 0 && o.height < 100))
        return fp__error(ctx, FP_EINVAL,
                         "map size %g x %g: too small to draw a map (at least 100)",
                         o.width, o.height);
    if (o.projection != FP_MAP_BNG && o.projection != FP_MAP_WEBMERCATOR)
        return fp__error(ctx, FP_EINVAL, "unknown map projection %d", o.projection);
    fp_map *m = fp__calloc(&ctx->alloc, 1, sizeof *m);
    if (!m) return fp__error(ctx, FP_ENOMEM, "out of memory");
    m->ctx = ctx;
    m->a = ctx->alloc;
    m->o = o;
    m->nclasses = 5;
    m->method = FP_MAP_QUANTILE;
    int oom = 0;
    m->title = dup_or_null(&m->a, o.title && *o.title ? o.title : NULL, &oom);
    m->subtitle = dup_or_null(&m->a, o.subtitle && *o.subtitle ? o.subtitle : NULL, &oom);
    m->o.title = m->title;
    m->o.subtitle = m->subtitle;
    int rc = oom ? fp__error(ctx, FP_ENOMEM, "out of memory") : rd_proj_setup(m);
    if (rc) {
        fp_map_free(m);
        return fp__error(ctx, rc, "%s", fp_ctx_errmsg(ctx));
    }
    *out = m;
    return FP_OK;
}

static void layer_free(const fp_allocator *a, rd_layer *ly)
{
    fp__free(a, ly->legend);
    fp__free(a, ly->f);
    fp__free(a, ly->of_src);
    fp__free(a, ly->rs);
    fp__free(a, ly->xy);
    fp__free(a, ly->node);
    fp__free(a, ly->adj_off);
    fp__free(a, ly->adj);
}

void rd_views_free(fp_map *m)
{
    for (int k = 0; k < 2; k++) {
        rd_view *v = k ? &m->inset : &m->main;
        if (v->g)
            for (size_t i = 0; i < m->nlayers; i++) rd_geom_free(&m->a, &v->g[i]);
        fp__free(&m->a, v->g);
        v->g = NULL;
    }
    for (size_t i = 0; i < m->nlabels; i++) fp__free(&m->a, m->labels[i].text);
    m->nlabels = 0;
    m->ndropped = 0;
    m->drawn = 0;
}

void fp_map_free(fp_map *m)
{
    if (!m) return;
    rd_views_free(m);
    fp__free(&m->a, m->labels);
    fp__free(&m->a, (void *)m->dropped);
    for (size_t i = 0; i < m->nlayers; i++) layer_free(&m->a, &m->layers[i]);
    fp__free(&m->a, m->layers);
    for (size_t i = 0; i < m->ncats; i++) fp__free(&m->a, m->cats[i]);
    fp__free(&m->a, m->cats);
    fp__free(&m->a, m->cathash);
    fp__free(&m->a, m->cat_n);
    fp__free(&m->a, m->pt);
    fp__free(&m->a, m->pt_key);
    fp__free(&m->a, m->pt_legend);
    for (size_t i = 0; i < m->nattrib; i++) fp__free(&m->a, m->attrib[i]);
    fp__free(&m->a, m->attrib);
    fp__free(&m->a, m->values_title);
    fp__free(&m->a, m->title);
    fp__free(&m->a, m->subtitle);
    rd_proj_free(m);
    fp_allocator a = m->a;
    fp__free(&a, m);
}

int fp_map_status(const fp_map *m) { return m ? m->status : FP_EINVAL; }

const char *fp_map_errmsg(const fp_map *m) { return m ? m->msg : "no map"; }

/* ---- layers ---- */

int fp_map_add_layer(fp_map *m, const fp_layer *L, const fp_edition *ed,
                     const fp_map_layer_opts *opts)
{
    int rc = sticky(m);
    if (rc) return rc;
    fp_map_layer_opts o;
    if (opts)
        o = *opts;
    else
        fp_map_layer_opts_init(&o);
    const char *what = ed ? ed->id : "layer";
    if (!L) return rd_fail(m, FP_EINVAL, "map layer: no layer given");
    if (o.role < FP_MAP_AREAS || o.role > FP_MAP_OUTLINE)
        return rd_fail(m, FP_EINVAL, "map layer %s: unknown role %d", what, o.role);
    if (o.codes && !o.ncodes)
        return rd_fail(m, FP_EINVAL, "map layer %s: an empty list of codes", what);
    size_t n = fp_layer_count(L);
    if (n && fp_layer_vertices(L) == 0)
        return rd_fail(m, FP_EFORMAT,
                       "%s has no boundaries of its own (its footprints are "
                       "drawn from another edition): choose an edition with "
                       "geometry", what);
    if (!n) return rd_fail(m, FP_EFORMAT, "%s: no footprints to draw", what);
    rd_layer ly;
    memset(&ly, 0, sizeof ly);
    ly.L = L;
    ly.ed = ed;
    ly.role = o.role;
    ly.in_extent = o.in_extent < 0 ? o.role != FP_MAP_CONTEXT : o.in_extent != 0;
    ly.of_src = fp__malloc(&m->a, n * sizeof *ly.of_src);
    ly.f = fp__calloc(&m->a, o.codes ? o.ncodes : n, sizeof *ly.f);
    const char *legend = o.legend ? o.legend : ed ? ed->name : "";
    ly.legend = fp__strdup(&m->a, legend);
    if (!ly.of_src || !ly.f || !ly.legend) goto oom;
    for (size_t i = 0; i < n; i++) ly.of_src[i] = -1;
    /* Footprints in layer (code) order, whatever order codes came in. */
    if (o.codes) {
        for (size_t k = 0; k < o.ncodes; k++) {
            long i = o.codes[k] ? fp_layer_find_code(L, o.codes[k]) : -1;
            if (i < 0) {
                layer_free(&m->a, &ly);
                return rd_fail(m, FP_ENOTFOUND, "%s: no footprint with this code in %s",
                               o.codes[k] ? o.codes[k] : "(null)", what);
            }
            ly.of_src[i] = 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (o.codes && ly.of_src[i] < 0) continue;
        ly.of_src[i] = (long)ly.nf;
        ly.f[ly.nf++].src = i;
    }
    for (size_t k = 0; k < ly.nf; k++) {
        const fp_feat *ft = &L->feat[ly.f[k].src];
        ly.nrings += ft->nrings;
        for (uint32_t r = ft->ring0; r < ft->ring0 + ft->nrings; r++)
            ly.npts += L->ring_start[r + 1] - L->ring_start[r];
    }
    if (ly.npts > UINT32_MAX / 2) {
        layer_free(&m->a, &ly);
        return rd_fail(m, FP_EINVAL, "%s: too many vertices to draw", what);
    }
    ly.rs = fp__malloc(&m->a, (ly.nrings + 1) * sizeof *ly.rs);
    ly.xy = fp__malloc(&m->a, (ly.npts ? ly.npts : 1) * 2 * sizeof *ly.xy);
    if (!ly.rs || !ly.xy) goto oom;
    size_t r_out = 0, p_out = 0;
    for (size_t k = 0; k < ly.nf; k++) {
        const fp_feat *ft = &L->feat[ly.f[k].src];
        ly.f[k].ring0 = (uint32_t)r_out;
        ly.f[k].nrings = ft->nrings;
        ly.f[k].value = NAN;
        ly.f[k].cls = -1;
        for (uint32_t r = ft->ring0; r < ft->ring0 + ft->nrings; r++) {
            uint32_t s = L->ring_start[r], e = L->ring_start[r + 1];
            ly.rs[r_out++] = (uint32_t)p_out;
            memcpy(ly.xy + 2 * p_out, L->pts + 2 * (size_t)s, (e - s) * 2 * sizeof(double));
            p_out += e - s;
        }
    }
    ly.rs[r_out] = (uint32_t)p_out;
    if ((rc = rd_project(m, ly.xy, ly.npts))) {
        layer_free(&m->a, &ly);
        return rc;
    }
    for (size_t k = 0; k < ly.nf; k++) {
        rd_feat *f = &ly.f[k];
        f->bbox[0] = f->bbox[1] = INFINITY;
        f->bbox[2] = f->bbox[3] = -INFINITY;
        for (uint32_t i = ly.rs[f->ring0]; i < ly.rs[f->ring0 + f->nrings]; i++) {
            f->bbox[0] = fmin(f->bbox[0], ly.xy[2 * i]);
            f->bbox[1] = fmin(f->bbox[1], ly.xy[2 * i + 1]);
            f->bbox[2] = fmax(f->bbox[2], ly.xy[2 * i]);
            f->bbox[3] = fmax(f->bbox[3], ly.xy[2 * i + 1]);
        }
    }
    if (rd_mark_nodes(&m->a, &ly)) goto oom;
    if (fp__grow(&m->a, (void **)&m->layers, &m->caplayers, m->nlayers + 1,
                 sizeof *m->layers))
        goto oom;
    /* The views (per layer) of an earlier write no longer fit. */
    rd_views_free(m);
    m->layers[m->nlayers++] = ly;
    return FP_OK;
oom:
    layer_free(&m->a, &ly);
    return rd_fail(m, FP_ENOMEM, "out of memory");
}

int fp_map_add_attribution(fp_map *m, const char *text)
{
    int rc = sticky(m);
    if (rc) return rc;
    if (!text || !*text) return rd_fail(m, FP_EINVAL, "attribution: empty text");
    if (fp__grow(&m->a, (void **)&m->attrib, &m->capattrib, m->nattrib + 1,
                 sizeof *m->attrib) ||
        !(m->attrib[m->nattrib] = fp__strdup(&m->a, text)))
        return rd_fail(m, FP_ENOMEM, "out of memory");
    m->nattrib++;
    return FP_OK;
}

/* ---- values ---- */

/* The area footprint with this code: layer and feature, or -1. */
static int find_area(const fp_map *m, const char *code, size_t *li, size_t *fi)
{
    for (size_t l = 0; l < m->nlayers; l++) {
        const rd_layer *ly = &m->layers[l];
        if (ly->role != FP_MAP_AREAS) continue;
        long s = fp_layer_find_code(ly->L, code);
        if (s >= 0 && ly->of_src[s] >= 0) {
            *li = l;
            *fi = (size_t)ly->of_src[s];
            return 0;
        }
    }
    return -1;
}

static const char *areas_name(const fp_map *m)
{
    for (size_t l = 0; l < m->nlayers; l++)
        if (m->layers[l].role == FP_MAP_AREAS)
            return m->layers[l].ed ? m->layers[l].ed->id : "the map's layer";
    return "the map";
}

static int have_areas(const fp_map *m)
{
    for (size_t l = 0; l < m->nlayers; l++)
        if (m->layers[l].role == FP_MAP_AREAS) return 1;
    return 0;
}

static void clear_values(fp_map *m)
{
    for (size_t l = 0; l < m->nlayers; l++)
        for (size_t i = 0; i < m->layers[l].nf; i++) {
            m->layers[l].f[i].value = NAN;
            m->layers[l].f[i].cls = -1;
        }
    m->has_values = 0;
}

/* source/line name where codes came from, for messages (NULL: arrays). */
static int set_values(fp_map *m, size_t n, const char *const *codes, const double *v,
                      const char *title, const char *source, const size_t *lines)
{
    if (!have_areas(m))
        return rd_fail(m, FP_EINVAL, "values: add the footprints (an area layer) first");
    /* Bad content: a bad argument in arrays, a bad file from a file. */
    int bad = source ? FP_EFORMAT : FP_EINVAL;
    clear_values(m);
    size_t nvalid = 0;
    for (size_t k = 0; k < n; k++) {
        char where[600] = "";
        if (source) snprintf(where, sizeof where, "%s: line %zu: ", source, lines[k]);
        size_t li, fi;
        if (!codes[k] || find_area(m, codes[k], &li, &fi)) {
            clear_values(m);
            return rd_fail(m, FP_ENOTFOUND,
                           "%scode %s is not a footprint of %s: its value cannot "
                           "be drawn", where, codes[k] ? codes[k] : "(null)",
                           areas_name(m));
        }
        rd_feat *f = &m->layers[li].f[fi];
        if (f->cls == -2 || (!isnan(f->value))) {
            clear_values(m);
            return rd_fail(m, bad, "%scode %s has a value already", where, codes[k]);
        }
        if (isinf(v[k])) {
            clear_values(m);
            return rd_fail(m, bad, "%scode %s: the value is infinite", where, codes[k]);
        }
        f->value = v[k];
        if (isnan(v[k])) f->cls = -2; /* seen, no data (until classified) */
        else nvalid++;
    }
    for (size_t l = 0; l < m->nlayers; l++)
        for (size_t i = 0; i < m->layers[l].nf; i++) m->layers[l].f[i].cls = -1;
    if (!nvalid) {
        clear_values(m);
        return rd_fail(m, bad, "%s%sno footprint has a value to draw",
                       source ? source : "", source ? ": " : "");
    }
    char *t = fp__strdup(&m->a, title ? title : "");
    if (!t) return rd_fail(m, FP_ENOMEM, "out of memory");
    fp__free(&m->a, m->values_title);
    m->values_title = t;
    m->has_values = 1;
    return FP_OK;
}

int fp_map_set_values(fp_map *m, size_t n, const char *const *codes, const double *values,
                      const char *title)
{
    int rc = sticky(m);
    if (rc) return rc;
    if (n && (!codes || !values)) return rd_fail(m, FP_EINVAL, "values: no arrays given");
    return set_values(m, n, codes, values, title, NULL, NULL);
}

int fp_map_set_classes(fp_map *m, int nclasses, int method)
{
    int rc = sticky(m);
    if (rc) return rc;
    if (nclasses < 2 || nclasses > RD_MAXCLASS)
        return rd_fail(m, FP_EINVAL, "classes: %d; give 2 to %d", nclasses, RD_MAXCLASS);
    if (method < FP_MAP_QUANTILE || method > FP_MAP_JENKS)
        return rd_fail(m, FP_EINVAL, "classes: unknown method %d", method);
    m->nclasses = nclasses;
    m->method = method;
    return FP_OK;
}

/* The columns of a CSV header, for "no such column" messages. */
static void list_columns(const fp_csv *c, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->nfields && n + 8 < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", c->fields[i]);
}

static int strcasecmp_ascii(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = tolower((unsigned char)*a), y = tolower((unsigned char)*b);
        if (x != y || !x) return x - y;
    }
}

static long find_column(const fp_csv *c, const char *name)
{
    for (size_t i = 0; i < c->nfields; i++)
        if (!strcasecmp_ascii(c->fields[i], name)) return (long)i;
    return -1;
}

/* A whole number or decimal, nothing else (spaces around allowed). */
static int parse_double(const char *s, double *out)
{
    char *end;
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) return -1;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ' || *end == '\t' || *end == '\r') end++;
    if (end == s || *end || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int blank(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    return !*s;
}

typedef struct csvfile {
    char *text;
    size_t len;
    fp_csv c;
} csvfile;

static int csv_open(fp_map *m, const char *path, csvfile *f)
{
    memset(f, 0, sizeof *f);
    if (!path) return rd_fail(m, FP_EINVAL, "no CSV file given");
    int rc = fp__read_file(m->ctx, path, &f->text, &f->len);
    if (rc) return rd_fail(m, rc, "%s", fp_ctx_errmsg(m->ctx));
    fp__csv_init(&f->c, &m->a, f->text, f->len);
    const char *why = NULL;
    int r = fp__csv_next(&f->c, &why);
    if (r == 1) return FP_OK;
    fp__csv_free(&f->c);
    fp__free(&m->a, f->text);
    f->text = NULL;
    if (r == 0) return rd_fail(m, FP_EFORMAT, "%s: empty file (a header line is needed)", path);
    if (r == -2) return rd_fail(m, FP_ENOMEM, "out of memory");
    return rd_fail(m, FP_EFORMAT, "%s: line %zu: %s", path, f->c.line, why);
}

static void csv_close(fp_map *m, csvfile *f)
{
    fp__csv_free(&f->c);
    fp__free(&m->a, f->text);
}

int fp_map_read_values(fp_map *m, const char *path, const char *code_column,
                       const char *value_column)
{
    int rc = sticky(m);
    if (rc) return rc;
    if (!value_column || !*value_column)
        return rd_fail(m, FP_EINVAL, "%s: no value column given", path ? path : "values");
    csvfile f;
    if ((rc = csv_open(m, path, &f))) return rc;
    char cols[400];
    list_columns(&f.c, cols, sizeof cols);
    long cc = code_column ? find_column(&f.c, code_column) : find_column(&f.c, "code");
    if (!code_column && cc < 0) cc = 0;
    long vc = find_column(&f.c, value_column);
    if (cc < 0 || vc < 0) {
        csv_close(m, &f);
        return rd_fail(m, FP_EFIELD, "%s: no column '%s' (columns: %s)", path,
                       cc < 0 ? code_column : value_column, cols);
    }
    char **codes = NULL;
    double *vals = NULL;
    size_t *lines = NULL, n = 0, cap = 0, cap2 = 0, cap3 = 0;
    const char *why = NULL;
    int r;
    while ((r = fp__csv_next(&f.c, &why)) == 1) {
        if ((size_t)(cc > vc ? cc : vc) >= f.c.nfields) {
            rc = rd_fail(m, FP_EFORMAT, "%s: line %zu: %zu fields, the header has %s",
                         path, f.c.line, f.c.nfields, cols);
            break;
        }
        const char *code = f.c.fields[cc], *sv = f.c.fields[vc];
        double v = NAN;
        if (!blank(sv) && parse_double(sv, &v)) {
            rc = rd_fail(m, FP_EFORMAT, "%s: line %zu: %s '%s' is not a number", path,
                         f.c.line, value_column, sv);
            break;
        }
        if (fp__grow(&m->a, (void **)&codes, &cap, n + 1, sizeof *codes) ||
            fp__grow(&m->a, (void **)&vals, &cap2, n + 1, sizeof *vals) ||
            fp__grow(&m->a, (void **)&lines, &cap3, n + 1, sizeof *lines) ||
            !(codes[n] = fp__strdup(&m->a, code))) {
            rc = rd_fail(m, FP_ENOMEM, "out of memory");
            break;
        }
        /* Codes as written, less surrounding spaces. */
        char *c0 = codes[n];
        while (*c0 == ' ') memmove(c0, c0 + 1, strlen(c0));
        for (size_t L = strlen(c0); L && (c0[L - 1] == ' ' || c0[L - 1] == '\r'); L--)
            c0[L - 1] = '\0';
        vals[n] = v;
        lines[n++] = f.c.line;
    }
    if (!rc && r == -1) rc = rd_fail(m, FP_EFORMAT, "%s: line %zu: %s", path, f.c.line, why);
    if (!rc && r == -2) rc = rd_fail(m, FP_ENOMEM, "out of memory");
    if (!rc && !n) rc = rd_fail(m, FP_EFORMAT, "%s: no values (only a header)", path);
    if (!rc)
        rc = set_values(m, n, (const char *const *)codes, vals, value_column, path, lines);
    for (size_t i = 0; i < n; i++) fp__free(&m->a, codes[i]);
    fp__free(&m->a, codes);
    fp__free(&m->a, vals);
    fp__free(&m->a, lines);
    csv_close(m, &f);
    return rc;
}

/* ---- points ---- */

static uint32_t cat_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The index of category s, added when new (a hash of indices + 1: a
 * column may hold thousands of distinct values). */
static long cat_index(fp_map *m, const char *s)
{
    if (m->ncats * 2 + 2 > m->catslots) { /* rehash at half full */
        size_t cap = m->catslots ? m->catslots * 2 : 64;
        uint32_t *t = fp__calloc(&m->a, cap, sizeof *t);
        if (!t) return -1;
        for (size_t i = 0; i < m->ncats; i++) {
            size_t h = cat_hash(m->cats[i]) & (cap - 1);
            while (t[h]) h = (h + 1) & (cap - 1);
            t[h] = (uint32_t)i + 1;
        }
        fp__free(&m->a, m->cathash);
        m->cathash = t;
        m->catslots = cap;
    }
    size_t h = cat_hash(s) & (m->catslots - 1);
    for (; m->cathash[h]; h = (h + 1) & (m->catslots - 1))
        if (!strcmp(m->cats[m->cathash[h] - 1], s)) return (long)m->cathash[h] - 1;
    if (m->ncats >= INT32_MAX ||
        fp__grow(&m->a, (void **)&m->cats, &m->capcats, m->ncats + 1, sizeof *m->cats) ||
        fp__grow(&m->a, (void **)&m->cat_n, &m->capcatn, m->ncats + 1, sizeof *m->cat_n))
        return -1;
    if (!(m->cats[m->ncats] = fp__strdup(&m->a, s))) return -1;
    m->cat_n[m->ncats] = 0;
    m->cathash[h] = (uint32_t)m->ncats + 1;
    return (long)m->ncats++;
}

int fp_map_add_points(fp_map *m, size_t n, const double *lat, const double *lon,
                      const char *const *category, const char *legend)
{
    int rc = sticky(m);
    if (rc) return rc;
    if (n && (!lat || !lon)) return rd_fail(m, FP_EINVAL, "points: no arrays given");
    int by_feat = category == NULL;
    if (m->npt && by_feat != m->pt_by_feat)
        return rd_fail(m, FP_EINVAL, "points are coloured either by footprint or by "
                                     "category, not both");
    if (by_feat && !have_areas(m))
        return rd_fail(m, FP_EINVAL, "points coloured by footprint: add the "
                                     "footprints (an area layer) first");
    for (size_t i = 0; i < n; i++)
        if (!isfinite(lat[i]) || !isfinite(lon[i]) || lat[i] < -90 || lat[i] > 90 ||
            lon[i] < -180 || lon[i] > 180)
            return rd_fail(m, FP_EINVAL, "point %zu: latitude %g, longitude %g out of range",
                           i + 1, lat[i], lon[i]);
    if (fp__grow(&m->a, (void **)&m->pt, &m->ptcap, 2 * (m->npt + n), sizeof *m->pt))
        return rd_fail(m, FP_ENOMEM, "out of memory");
    size_t keycap = m->ptcap / 2;
    int32_t *nk = fp__realloc(&m->a, m->pt_key, (keycap ? keycap : 1) * sizeof *nk);
    if (!nk) return rd_fail(m, FP_ENOMEM, "out of memory");
    m->pt_key = nk;
    double *xy = m->pt + 2 * m->npt;
    for (size_t i = 0; i < n; i++) xy[2 * i] = lon[i], xy[2 * i + 1] = lat[i];
    if ((rc = rd_project(m, xy, n))) return rc;
    for (size_t i = 0; i < n; i++) {
        int32_t key = -1;
        if (by_feat) {
            for (size_t l = 0; l < m->nlayers && key < 0 && l < 127; l++) {
                const rd_layer *ly = &m->layers[l];
                if (ly->role != FP_MAP_AREAS) continue;
                long s = fp_layer_find(ly->L, lat[i], lon[i]);
                if (s >= 0 && ly->of_src[s] >= 0 && ly->of_src[s] < (1 << 24))
                    key = (int32_t)(l << 24 | (size_t)ly->of_src[s]);
            }
        } else {
            long c = cat_index(m, category[i] ? category[i] : "");
            if (c < 0) return rd_fail(m, FP_ENOMEM, "out of memory");
            m->cat_n[c]++;
            key = (int32_t)c;
        }
        m->pt_key[m->npt + i] = key;
    }
    m->npt += n;
    m->pt_by_feat = by_feat;
    if (legend || !m->pt_legend) {
        char *lg = fp__strdup(&m->a, legend ? legend : "Points");
        if (!lg) return rd_fail(m, FP_ENOMEM, "out of memory");
        fp__free(&m->a, m->pt_legend);
        m->pt_legend = lg;
    }
    return FP_OK;
}

static long find_any(const fp_csv *c, const char *const *names)
{
    for (; *names; names++) {
        long i = find_column(c, *names);
        if (i >= 0) return i;
    }
    return -1;
}

int fp_map_read_points(fp_map *m, const char *path, const char *colour_column)
{
    static const char *const LAT[] = {"lat", "latitude", NULL};
    static const char *const LON[] = {"lon", "long", "lng", "longitude", NULL};
    static const char *const EAST[] = {"easting", "oseast1m", "east", NULL};
    static const char *const NORTH[] = {"northing", "osnrth1m", "north", NULL};
    int rc = sticky(m);
    if (rc) return rc;
    csvfile f;
    if ((rc = csv_open(m, path, &f))) return rc;
    char cols[400];
    list_columns(&f.c, cols, sizeof cols);
    long la = find_any(&f.c, LAT), lo = find_any(&f.c, LON);
    long ea = find_any(&f.c, EAST), no = find_any(&f.c, NORTH);
    int bng = !(la >= 0 && lo >= 0);
    if (bng && !(ea >= 0 && no >= 0)) {
        csv_close(m, &f);
        return rd_fail(m, FP_EFIELD,
                       "%s: no coordinates: want lat/lon (or latitude/longitude) or "
                       "easting/northing columns (columns: %s)", path, cols);
    }
    long cc = -1;
    if (colour_column && (cc = find_column(&f.c, colour_column)) < 0) {
        csv_close(m, &f);
        return rd_fail(m, FP_EFIELD, "%s: no column '%s' (columns: %s)", path,
                       colour_column, cols);
    }
    long c1 = bng ? ea : la, c2 = bng ? no : lo;
    size_t need = (size_t)(c1 > c2 ? c1 : c2);
    if (cc >= 0 && (size_t)cc > need) need = (size_t)cc;
    double *lat = NULL, *lon = NULL;
    char **cat = NULL;
    size_t n = 0, cap1 = 0, cap2 = 0, cap3 = 0, nblank = 0;
    const char *why = NULL;
    int r;
    while ((r = fp__csv_next(&f.c, &why)) == 1) {
        if (need >= f.c.nfields) {
            rc = rd_fail(m, FP_EFORMAT, "%s: line %zu: %zu fields, the header has %s",
                         path, f.c.line, f.c.nfields, cols);
            break;
        }
        double a, b;
        /* A row without a point (locate keeps such rows) is not drawn,
         * and counted in the legend; a malformed one is an error. */
        if (blank(f.c.fields[c1]) && blank(f.c.fields[c2])) {
            nblank++;
            continue;
        }
        if (parse_double(f.c.fields[c1], &a) || parse_double(f.c.fields[c2], &b)) {
            rc = rd_fail(m, FP_EFORMAT, "%s: line %zu: coordinates '%s', '%s' are not numbers",
                         path, f.c.line, f.c.fields[c1], f.c.fields[c2]);
            break;
        }
        if (fp__grow(&m->a, (void **)&lat, &cap1, n + 1, sizeof *lat) ||
            fp__grow(&m->a, (void **)&lon, &cap2, n + 1, sizeof *lon) ||
            (cc >= 0 && fp__grow(&m->a, (void **)&cat, &cap3, n + 1, sizeof *cat))) {
            rc = rd_fail(m, FP_ENOMEM, "out of memory");
            break;
        }
        if (bng) {
            int e = fp_bng_to_latlon(m->ctx, a, b, &lat[n], &lon[n]);
            if (e) {
                rc = rd_fail(m, e == FP_EINVAL ? FP_EFORMAT : e, "%s: line %zu: %s", path,
                             f.c.line, fp_ctx_errmsg(m->ctx));
                break;
            }
        } else {
            if (fp_check_latlon(m->ctx, a, b)) {
                rc = rd_fail(m, FP_EFORMAT, "%s: line %zu: %s", path, f.c.line,
                             fp_ctx_errmsg(m->ctx));
                break;
            }
            lat[n] = a, lon[n] = b;
        }
        if (cc >= 0 && !(cat[n] = fp__strdup(&m->a, f.c.fields[cc]))) {
            rc = rd_fail(m, FP_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    if (!rc && r == -1) rc = rd_fail(m, FP_EFORMAT, "%s: line %zu: %s", path, f.c.line, why);
    if (!rc && r == -2) rc = rd_fail(m, FP_ENOMEM, "out of memory");
    if (!rc) {
        char legend[300], skipped[80] = "";
        if (nblank)
            snprintf(skipped, sizeof skipped, "; %zu row%s without a point", nblank,
                     nblank == 1 ? "" : "s");
        if (cc >= 0)
            snprintf(legend, sizeof legend, "%s%s%s%s", colour_column, nblank ? " (" : "",
                     skipped + (nblank ? 2 : 0), nblank ? ")" : "");
        else
            snprintf(legend, sizeof legend, "Points (%zu%s)", n, skipped);
        rc = fp_map_add_points(m, n, lat, lon, cc >= 0 ? (const char *const *)cat : NULL,
                               legend);
    }
    if (cat)
        for (size_t i = 0; i < n; i++) fp__free(&m->a, cat[i]);
    fp__free(&m->a, cat);
    fp__free(&m->a, lat);
    fp__free(&m->a, lon);
    csv_close(m, &f);
    return rc;
}

/* ---- output and what was drawn ---- */

int fp_map_write(fp_map *m, const char *path)
{
    int rc = sticky(m);
    if (rc) return rc;
    if (!path || !*path) return rd_fail(m, FP_EINVAL, "no output file given");
    if (!m->nlayers) return rd_fail(m, FP_EINVAL, "%s: nothing to draw (add a layer)", path);
    return rd_write(m, path);
}

size_t fp_map_label_count(const fp_map *m) { return m && m->drawn ? m->nlabels : 0; }

const fp_map_label *fp_map_label_get(const fp_map *m, size_t i)
{
    return m && m->drawn && i < m->nlabels ? &m->labels[i].pub : NULL;
}

size_t fp_map_dropped_count(const fp_map *m) { return m && m->drawn ? m->ndropped : 0; }

const char *fp_map_dropped_code(const fp_map *m, size_t i)
{
    return m && m->drawn && i < m->ndropped ? m->dropped[i] : NULL;
}

long fp_map_fill_of(const fp_map *m, const char *code)
{
    size_t li, fi;
    if (!m || !m->drawn || !code || find_area(m, code, &li, &fi)) return -1;
    return (long)m->layers[li].f[fi].fill;
}

int fp_map_locate(const fp_map *m, double lat, double lon, double *x, double *y)
{
    if (!m || !m->drawn) return FP_EINVAL;
    double px = lon, py = lat;
    if (rd_project1(m, &px, &py)) return FP_ECRS;
    *x = m->main.fx + (px - m->main.mx0) * m->main.s;
    *y = m->main.fy + (m->main.my1 - py) * m->main.s;
    return FP_OK;
}

/* ---- labels' names ---- */

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

/* "NHS Cheshire and Merseyside Integrated Care Board" -> "Cheshire and
 * Merseyside"; "NHS South Yorkshire ICB - 02P" -> "South Yorkshire 02P". */
const char *rd_short_name(const char *name, char *buf, size_t size)
{
    if (!strncmp(name, "NHS ", 4)) name += 4;
    snprintf(buf, size, "%s", name);
    char *icb = strstr(buf, " ICB - ");
    if (icb) memmove(icb + 1, icb + 7, strlen(icb + 7) + 1);
    static const char *const SUFFIX[] = {
        " Integrated Care Board", " Clinical Commissioning Group", " CCG",
        " Integrated Care System", " Sustainability and Transformation Partnership",
        " ICB", NULL};
    size_t n = strlen(buf);
    for (const char *const *s = SUFFIX; *s; s++)
        if (ends_with(buf, n, *s) && n > strlen(*s)) {
            buf[n - strlen(*s)] = '\0';
            break;
        }
    return buf;
}

/* ---- members within a footprint ---- */

int fp_map_members_within(fp_ctx *ctx, const fp_layer *outer, size_t index,
                          const fp_layer *inner, size_t *out, size_t max, size_t *n)
{
    fp__clear(ctx);
    *n = 0;
    if (!outer || !inner || index >= fp_layer_count(outer))
        return fp__error(ctx, FP_EINVAL, "members: no such footprint");
    const fp_allocator *a = &ctx->alloc;
    double box[4];
    fp_layer_bbox(outer, index, box);
    for (size_t i = 0; i < fp_layer_count(inner); i++) {
        double ib[4];
        fp_layer_bbox(inner, i, ib);
        if (ib[2] < box[0] || ib[0] > box[2] || ib[3] < box[1] || ib[1] > box[3]) continue;
        const fp_feat *ft = &inner->feat[i];
        if (!ft->nrings) continue;
        /* Pole in a local equirectangular frame (x scaled by cos lat). */
        double k = cos((ib[1] + ib[3]) / 2 * 3.14159265358979323846 / 180);
        uint32_t s0 = inner->ring_start[ft->ring0], e0 = inner->ring_start[ft->ring0 + ft->nrings];
        double *xy = fp__malloc(a, (size_t)(e0 - s0) * 2 * sizeof *xy);
        uint32_t *rs = fp__malloc(a, (ft->nrings + 1) * sizeof *rs);
        if (!xy || !rs) {
            fp__free(a, xy);
            fp__free(a, rs);
            return fp__error(ctx, FP_ENOMEM, "out of memory");
        }
        for (uint32_t p = s0; p < e0; p++) {
            xy[2 * (p - s0)] = inner->pts[2 * (size_t)p] * k;
            xy[2 * (p - s0) + 1] = inner->pts[2 * (size_t)p + 1];
        }
        for (uint32_t r = 0; r <= ft->nrings; r++) rs[r] = inner->ring_start[ft->ring0 + r] - s0;
        double px, py, d;
        rd_polylabel(a, xy, rs, 0, ft->nrings, 1e-4, &px, &py, &d);
        fp__free(a, xy);
        fp__free(a, rs);
        if (!isfinite(px) || !(d > 0)) continue;
        if (fp_layer_find(outer, py, px / k) != (long)index) continue;
        if (*n < max) out[*n] = i;
        ++*n;
    }
    return FP_OK;
}
