/*
 * Web maps: a folder with index.html, the page's script and style,
 * Leaflet (vendored by the build) and data.js, which assigns every layer
 * the page needs (simplified GeoJSON with each footprint's facts) to a
 * global.  Script rather than fetch(): browsers refuse fetch() from
 * file://, and the folder must work opened from disk.
 *
 * The page's layer switcher offers views: an edition shown as on a day
 * (today, or its last day).  A click answers the whole chain on that day
 * from the layers of every tier valid then (chosen here as chains choose
 * them), so the page needs no other data and no server.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "internal.h"
#include "topo.h"

#define MAX_VIEWS 32
#define MAX_LAYERS 48
#define MARKER ".footprint-map"

void fp_webmap_opts_init(fp_webmap_opts *o)
{
    memset(o, 0, sizeof *o);
    o->tolerance_m = 100;
    o->precision = 5;
}

typedef struct view {
    const fp_edition *ed;
    char day[11];
    const fp_edition *tier[FP_TIER_COUNT];
} view;

typedef struct web {
    fp_ctx *ctx;
    const fp_catalogue *cat;
    fp_layer_source get;
    void *arg;
    const fp_webmap_opts *o;
    view views[MAX_VIEWS];
    size_t nviews;
    const fp_edition *layers[MAX_LAYERS];
    size_t nlayers;
} web;

/* The layer of ed when it has geometry of its own; else NULL (and no
 * error when the source lacks it or it has none). */
static int polygon_layer(web *w, const fp_edition *ed, const fp_layer **L)
{
    *L = NULL;
    const fp_layer *lay;
    int rc = w->get(w->arg, w->ctx, ed, &lay);
    if (rc == FP_ENOTFOUND) {
        fp__clear(w->ctx);
        return FP_OK;
    }
    if (rc) return rc;
    if (fp_layer_count(lay) && fp_layer_vertices(lay)) *L = lay;
    return FP_OK;
}

/* The day a view shows: today within the edition's validity and, for a
 * membership edition, within the span its footprints cover. */
static void view_day(web *w, const fp_edition *ed, char day[11])
{
    const char *from = ed->valid_from, *to = ed->valid_to;
    size_t nrows = fp_catalogue_member_count(w->cat, ed);
    if (nrows) {
        const char *last = NULL;
        int open = 0;
        for (size_t i = 0; i < nrows; i++) {
            const fp_member *m = fp_catalogue_member(w->cat, ed, i);
            if (!*m->valid_to) open = 1;
            else if (!last || strcmp(m->valid_to, last) > 0) last = m->valid_to;
        }
        if (!open && last && (!*to || strcmp(last, to) < 0)) to = last;
    }
    fp__clamp_date(w->o->today ? w->o->today : "9999-12-31", from, to, day);
}

static int add_layer(web *w, const fp_edition *ed)
{
    for (size_t i = 0; i < w->nlayers; i++)
        if (w->layers[i] == ed) return FP_OK;
    if (w->nlayers == MAX_LAYERS)
        return fp__error(w->ctx, FP_EINVAL, "a map of more than %d layers", MAX_LAYERS);
    w->layers[w->nlayers++] = ed;
    return FP_OK;
}

static int add_view(web *w, const fp_edition *ed)
{
    if (w->nviews == MAX_VIEWS)
        return fp__error(w->ctx, FP_EINVAL, "more than %d views", MAX_VIEWS);
    for (size_t i = 0; i < w->nviews; i++)
        if (w->views[i].ed == ed) return FP_OK;
    view *v = &w->views[w->nviews];
    memset(v, 0, sizeof *v);
    v->ed = ed;
    view_day(w, ed, v->day);
    for (int t = 0; t < FP_TIER_COUNT; t++) {
        const fp_layer *L;
        int rc = fp__polygon_edition(w->ctx, w->cat, w->get, w->arg, t, v->day, &v->tier[t], &L);
        if (rc) return rc;
    }
    int own = fp__level_tier(ed->level);
    if (own >= 0) v->tier[own] = ed; /* the view's edition answers its tier */
    for (int t = 0; t < FP_TIER_COUNT; t++) {
        int rc = v->tier[t] ? add_layer(w, v->tier[t]) : FP_OK;
        if (rc) return rc;
    }
    int rc = add_layer(w, ed);
    if (!rc) w->nviews++;
    return rc;
}

/* Another edition of the level, listed before it, covers exactly its
 * dates: the same footprints another way (through finer areas, say).
 * Chains pick the first of such twins; a view of it is enough. */
static int twin(const fp_catalogue *cat, const fp_edition *ed)
{
    for (size_t i = 0; i < fp_catalogue_count(cat); i++) {
        const fp_edition *e = fp_catalogue_get(cat, i);
        if (e == ed) return 0;
        if (!strcmp(e->level, ed->level) && !strcmp(e->valid_from, ed->valid_from) &&
            !strcmp(e->valid_to, ed->valid_to))
            return 1;
    }
    return 0;
}

/* Every polygon edition of the NHS tiers: systems (newest first), ICSs,
 * places, sub-ICB locations and CCGs, regions. */
static int default_views(web *w)
{
    static const int order[] = {FP_TIER_SYSTEM, FP_TIER_PLACE, FP_TIER_ICS, FP_TIER_SUB,
                                FP_TIER_REGION};
    for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
        const fp_edition *done[64];
        size_t ndone = 0;
        for (;;) { /* by level preference, then newest first */
            const fp_edition *best = NULL;
            int best_rank = 0;
            for (size_t i = 0; i < fp_catalogue_count(w->cat); i++) {
                const fp_edition *e = fp_catalogue_get(w->cat, i);
                if (fp__level_tier(e->level) != order[k]) continue;
                int seen = 0;
                for (size_t d = 0; d < ndone; d++) seen |= done[d] == e;
                if (seen) continue;
                /* icb before stp, sicbl before ccg: the level's rank. */
                int rank = strncmp(e->level, "stp", 3) == 0 || strcmp(e->level, "ccg") == 0;
                if (!best || rank < best_rank ||
                    (rank == best_rank && strcmp(e->valid_from, best->valid_from) > 0))
                    best = e, best_rank = rank;
            }
            if (!best || ndone == sizeof done / sizeof *done) break;
            done[ndone++] = best;
            if (twin(w->cat, best)) continue;
            if (*best->members && fp__level_tier(best->level) == FP_TIER_SYSTEM &&
                strcmp(best->level, "icb") && strcmp(best->level, "stp"))
                continue; /* ICBs rebuilt from members: the boundary file's twin */
            const fp_layer *L;
            int rc = polygon_layer(w, best, &L);
            if (rc) return rc;
            if (L && (rc = add_view(w, best))) return rc;
        }
    }
    if (!w->nviews)
        return fp__error(w->ctx, FP_ENOTFOUND, "no edition with boundaries to map: "
                                               "is the data directory prepared?");
    return FP_OK;
}

/* ---- writing ---- */

static int copy_file(fp_ctx *ctx, const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in) return fp__error(ctx, FP_EIO, "%s: %s", from, strerror(errno));
    FILE *out = fopen(to, "wb");
    if (!out) {
        int e = errno;
        fclose(in);
        return fp__error(ctx, FP_EIO, "%s: %s", to, strerror(e));
    }
    char buf[65536];
    size_t n;
    int bad = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) bad = 1;
    bad |= ferror(in);
    int e = errno;
    fclose(in);
    if (fclose(out) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    return bad ? fp__error(ctx, FP_EIO, "%s: %s", to, strerror(e)) : FP_OK;
}

static int copy_tree(fp_ctx *ctx, const char *from, const char *to)
{
    DIR *d = opendir(from);
    if (!d) return fp__error(ctx, FP_EIO, "%s: %s", from, strerror(errno));
    if (mkdir(to, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        closedir(d);
        return fp__error(ctx, FP_EIO, "%s: %s", to, strerror(e));
    }
    struct dirent *e;
    int rc = FP_OK;
    while (!rc && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char a[4600], b[4600];
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        struct stat st;
        if (stat(a, &st) != 0) rc = fp__error(ctx, FP_EIO, "%s: %s", a, strerror(errno));
        else if (S_ISDIR(st.st_mode)) rc = copy_tree(ctx, a, b);
        else rc = copy_file(ctx, a, b);
    }
    closedir(d);
    return rc;
}

/* Neighbours get different colours (greedy, most neighbours first). */
static int colours(web *w, FILE *f, const fp_layer *L)
{
    uint32_t *pairs;
    size_t np;
    int rc = fp__layer_neighbours(w->ctx, L, &pairs, &np);
    if (rc) return rc;
    size_t n = fp_layer_count(L);
    unsigned char *col = fp__malloc(&w->ctx->alloc, n + 1);
    size_t *deg = fp__calloc(&w->ctx->alloc, n + 1, sizeof *deg);
    size_t *order = fp__malloc(&w->ctx->alloc, (n + 1) * sizeof *order);
    if (!col || !deg || !order) {
        rc = fp__error(w->ctx, FP_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < np; i++) deg[pairs[2 * i]]++, deg[pairs[2 * i + 1]]++;
    for (size_t i = 0; i < n; i++) order[i] = i, col[i] = 255;
    for (size_t i = 1; i < n; i++) { /* insertion sort by degree, stable */
        size_t v = order[i], j = i;
        while (j && deg[order[j - 1]] < deg[v]) order[j] = order[j - 1], j--;
        order[j] = v;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        unsigned used = 0;
        for (size_t p = 0; p < np; p++) {
            size_t o = pairs[2 * p] == i ? pairs[2 * p + 1] : pairs[2 * p + 1] == i ? pairs[2 * p] : n;
            if (o < n && col[o] < 8) used |= 1u << col[o];
        }
        unsigned c = 0;
        while (c < 7 && (used >> c & 1)) c++;
        col[i] = (unsigned char)c;
    }
    fputs("{", f);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? "," : "", f);
        fp__json_string(f, fp_layer_code(L, i));
        fprintf(f, ":%u", col[i]);
    }
    fputs("}", f);
out:
    fp__free(&w->ctx->alloc, pairs);
    fp__free(&w->ctx->alloc, col);
    fp__free(&w->ctx->alloc, deg);
    fp__free(&w->ctx->alloc, order);
    return rc;
}

static void json_or_null(FILE *f, const char *s)
{
    if (s && *s) fp__json_string(f, s);
    else fputs("null", f);
}

/* layers/N.js: the edition's footprints (simplified GeoJSON from the
 * exporter) handed to the page as a string for JSON.parse, which browsers
 * read several times faster than the same object as a script literal. */
static int write_layer(web *w, const fp_edition *ed, const char *tmp, size_t l)
{
    fp_ctx *ctx = w->ctx;
    char gj[4600], js[4600];
    snprintf(gj, sizeof gj, "%s/layers/.%zu.geojson", tmp, l);
    snprintf(js, sizeof js, "%s/layers/%zu.js", tmp, l);
    fp_export_opts eo;
    fp_export_opts_init(&eo);
    eo.format = "GeoJSON";
    eo.today = w->o->today;
    eo.simplify.tolerance_m = w->o->tolerance_m;
    eo.simplify.precision = w->o->precision;
    int rc = fp_export(ctx, w->cat, ed->id, w->get, w->arg, gj, &eo, NULL);
    if (rc) {
        char msg[FP_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
        return fp__error(ctx, rc, "edition %s: %s", ed->id, msg);
    }
    FILE *in = fopen(gj, "rb"), *out = in ? fopen(js, "wb") : NULL;
    if (!in || !out) {
        rc = fp__error(ctx, FP_EIO, "%s: %s", in ? js : gj, strerror(errno));
        if (in) fclose(in);
        unlink(gj);
        return rc;
    }
    fputs("FOOTPRINT_LAYER(", out);
    fp__json_string(out, ed->id);
    fputs(", JSON.parse('", out);
    int c;
    while ((c = getc(in)) != EOF) {
        switch (c) { /* a JS string: quote, backslash and line ends escaped */
        case '\\': fputs("\\\\", out); break;
        case '\'': fputs("\\'", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case 0xe2: { /* U+2028 and U+2029 end lines in older JS */
            int c1 = getc(in), c2 = c1 == 0x80 ? getc(in) : EOF;
            if (c1 == 0x80 && (c2 == 0xa8 || c2 == 0xa9)) {
                fprintf(out, "\\u202%c", c2 == 0xa8 ? '8' : '9');
                break;
            }
            putc(c, out);
            if (c1 != EOF) putc(c1, out);
            if (c2 != EOF) putc(c2, out);
            break;
        }
        default: putc(c, out);
        }
    }
    fputs("'));\n", out);
    int bad = ferror(in) || ferror(out);
    fclose(in);
    if (fclose(out) != 0) bad = 1;
    unlink(gj);
    return bad ? fp__error(ctx, FP_EIO, "%s: write error", js) : FP_OK;
}

static int write_data(web *w, const char *tmp)
{
    fp_ctx *ctx = w->ctx;
    char path[4600];
    snprintf(path, sizeof path, "%s/data.js", tmp);
    FILE *f = fopen(path, "wb");
    if (!f) return fp__error(ctx, FP_EIO, "%s: %s", path, strerror(errno));
    int rc = FP_OK;
    fputs("/* footprint web map data: generated by footprint " FP_VERSION_STRING
          "; boundaries under the Open Government Licence v3.0 (see attribution). */\n",
          f);
    fputs("window.FOOTPRINT_MAP = {\n\"title\":", f);
    fp__json_string(f, w->o->title ? w->o->title : "NHS footprints");
    fputs(",\n\"today\":", f);
    json_or_null(f, w->o->today);
    fprintf(f, ",\n\"tolerance_m\":%g,\n\"tiers\":[", w->o->tolerance_m);
    for (int t = 0; t < FP_TIER_COUNT; t++) {
        fputs(t ? "," : "", f);
        fp__json_string(f, fp_tier_name(t));
    }
    fputs("],\n\"views\":[", f);
    for (size_t i = 0; i < w->nviews; i++) {
        const view *v = &w->views[i];
        fputs(i ? ",\n" : "\n", f);
        fputs("{\"edition\":", f);
        fp__json_string(f, v->ed->id);
        fputs(",\"name\":", f);
        fp__json_string(f, v->ed->name);
        fputs(",\"level\":", f);
        fp__json_string(f, v->ed->level);
        fputs(",\"day\":", f);
        fp__json_string(f, v->day);
        fputs(",\"tiers\":{", f);
        int first = 1;
        for (int t = 0; t < FP_TIER_COUNT; t++) {
            if (!v->tier[t]) continue;
            fputs(first ? "" : ",", f);
            first = 0;
            fp__json_string(f, fp_tier_name(t));
            fputc(':', f);
            fp__json_string(f, v->tier[t]->id);
        }
        fputs("}}", f);
    }
    /* Region parents of every system footprint: a chain's region is its
     * system footprint's parent, the region polygons only where none. */
    fputs("],\n\"parents\":{", f);
    int firstp = 1;
    for (size_t l = 0; l < w->nlayers && !rc; l++) {
        if (fp__level_tier(w->layers[l]->level) != FP_TIER_SYSTEM) continue;
        const fp_layer *L;
        rc = w->get(w->arg, ctx, w->layers[l], &L);
        for (size_t i = 0; i < (rc ? 0 : fp_layer_count(L)); i++) {
            const char *code = fp_layer_code(L, i);
            int seen = 0; /* codes repeat across editions: once each */
            for (size_t m = 0; m < l && !seen; m++) {
                const fp_layer *M;
                if (fp__level_tier(w->layers[m]->level) == FP_TIER_SYSTEM &&
                    w->get(w->arg, ctx, w->layers[m], &M) == FP_OK)
                    seen = fp_layer_find_code(M, code) >= 0;
            }
            if (seen) continue;
            int any = 0;
            for (size_t p = 0; p < fp_catalogue_parent_count(w->cat); p++) {
                const fp_parent *pa = fp_catalogue_parent_get(w->cat, p);
                if (strcmp(pa->child_code, code)) continue;
                if (!any) {
                    fputs(firstp ? "\n" : ",\n", f);
                    firstp = 0;
                    fp__json_string(f, code);
                    fputs(":[", f);
                } else {
                    fputc(',', f);
                }
                any = 1;
                fputs("{\"code\":", f);
                fp__json_string(f, pa->parent_code);
                fputs(",\"name\":", f);
                fp__json_string(f, pa->parent_name);
                fputs(",\"from\":", f);
                json_or_null(f, pa->valid_from);
                fputs(",\"to\":", f);
                json_or_null(f, pa->valid_to);
                fputs("}", f);
            }
            if (any) fputs("]", f);
        }
    }
    fputs("},\n\"layers\":{", f);
    char dir[4600];
    snprintf(dir, sizeof dir, "%s/layers", tmp);
    if (!rc && mkdir(dir, 0755) != 0) rc = fp__error(ctx, FP_EIO, "%s: %s", dir, strerror(errno));
    for (size_t l = 0; l < w->nlayers && !rc; l++) {
        const fp_edition *ed = w->layers[l];
        const fp_layer *L;
        rc = w->get(w->arg, ctx, ed, &L);
        if (rc) break;
        fputs(l ? ",\n" : "\n", f);
        fp__json_string(f, ed->id);
        fputs(":{\"name\":", f);
        fp__json_string(f, ed->name);
        fputs(",\"level\":", f);
        fp__json_string(f, ed->level);
        fputs(",\"tier\":", f);
        int t = fp__level_tier(ed->level);
        json_or_null(f, t >= 0 ? fp_tier_name(t) : NULL);
        fputs(",\"valid_from\":", f);
        json_or_null(f, ed->valid_from);
        fputs(",\"valid_to\":", f);
        json_or_null(f, ed->valid_to);
        fputs(",\"attribution\":", f);
        fp__json_string(f, ed->attribution);
        fprintf(f, ",\"file\":\"layers/%zu.js\",\"colours\":", l);
        rc = colours(w, f, L);
        fputs("}", f);
        if (!rc) rc = write_layer(w, ed, tmp, l);
    }
    fputs("}\n};\n", f);
    int bad = ferror(f);
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!rc && bad) rc = fp__error(ctx, FP_EIO, "%s: %s", path, strerror(e));
    return rc;
}

int fp_webmap_write(fp_ctx *ctx, const fp_catalogue *cat, fp_layer_source get, void *arg,
                    const char *dir, const fp_webmap_opts *opts)
{
    fp__clear(ctx);
    fp_webmap_opts o;
    if (opts) o = *opts;
    else fp_webmap_opts_init(&o);
    if (!dir || !*dir) return fp__error(ctx, FP_EINVAL, "no output folder given");
    if (!o.assets || !*o.assets)
        return fp__error(ctx, FP_EINVAL, "no web assets folder given");
    if (o.today && !fp_date_valid(o.today))
        return fp__error(ctx, FP_EINVAL, "date '%s' is not a valid YYYY-MM-DD date", o.today);
    if (!(o.tolerance_m >= 0) || o.tolerance_m > 1e6)
        return fp__error(ctx, FP_EINVAL, "simplification tolerance: expected metres >= 0");
    if (o.precision < 0 || o.precision > 15)
        return fp__error(ctx, FP_EINVAL, "precision %d: expected 0..15 decimals", o.precision);
    static const char *const need[] = {"index.html", "footprint.js", "footprint.css",
                                       "leaflet/leaflet.js", "leaflet/leaflet.css"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++) {
        char p[4600];
        snprintf(p, sizeof p, "%s/%s", o.assets, need[i]);
        if (access(p, R_OK) != 0)
            return fp__error(ctx, FP_EIO, "%s: %s (the web map's files, with Leaflet, are "
                                           "installed by 'make' / 'make install')",
                             p, strerror(errno));
    }
    web w;
    memset(&w, 0, sizeof w);
    w.ctx = ctx;
    w.cat = cat;
    w.get = get;
    w.arg = arg;
    w.o = &o;
    int rc = FP_OK;
    if (o.views) {
        for (size_t i = 0; o.views[i] && !rc; i++) {
            const fp_edition *ed = fp_catalogue_find(cat, o.views[i]);
            if (!ed) return fp__error(ctx, FP_ENOTFOUND, "no edition '%s' in the catalogue", o.views[i]);
            const fp_layer *L;
            rc = polygon_layer(&w, ed, &L);
            if (!rc && !L)
                rc = fp__error(ctx, FP_EINVAL, "edition %s has no boundaries of its own to "
                                               "map (or none in the data)", ed->id);
            if (!rc) rc = add_view(&w, ed);
        }
    } else {
        rc = default_views(&w);
    }
    if (rc) return rc;
    /* Built beside the target, renamed into place when complete. */
    char tmp[4400];
    rc = fp__temp_dir_beside(ctx, dir, tmp, sizeof tmp);
    if (rc) return rc;
    static const char *const files[] = {"index.html", "footprint.js", "footprint.css"};
    for (size_t i = 0; i < sizeof files / sizeof *files && !rc; i++) {
        char a[4600], b[4600];
        snprintf(a, sizeof a, "%s/%s", o.assets, files[i]);
        snprintf(b, sizeof b, "%s/%s", tmp, files[i]);
        rc = copy_file(ctx, a, b);
    }
    if (!rc) {
        char a[4600], b[4600];
        snprintf(a, sizeof a, "%s/leaflet", o.assets);
        snprintf(b, sizeof b, "%s/leaflet", tmp);
        rc = copy_tree(ctx, a, b);
    }
    if (!rc) rc = write_data(&w, tmp);
    if (!rc) {
        char m[4600];
        snprintf(m, sizeof m, "%s/" MARKER, tmp);
        FILE *f = fopen(m, "wb");
        int bad = !f;
        if (f) {
            bad = fprintf(f, "footprint %s web map\n", FP_VERSION_STRING) < 0;
            bad |= fclose(f) != 0;
        }
        if (bad) rc = fp__error(ctx, FP_EIO, "%s: %s", m, strerror(errno));
    }
    if (!rc) rc = fp__replace_dir(ctx, tmp, dir, MARKER);
    if (rc) fp__rm_tree(tmp);
    return rc;
}
