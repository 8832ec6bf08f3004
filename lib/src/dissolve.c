/*
 * Footprints defined by membership: each footprint is the union of its
 * member areas (a member edition's footprint, optionally intersected with
 * another's), computed by GEOS through OGR.  Members from one boundary
 * file share their edges vertex for vertex, so the union dissolves them
 * cleanly and sibling footprints keep exactly the same shared edges.
 */
#include <stdio.h>
#include <string.h>

#include <ogr_api.h>

#include "internal.h"

typedef struct geo {
    char *code;
    OGRGeometryH g;
} geo;

typedef struct geoset {
    const fp_edition *ed;
    const fp_allocator *a;
    geo *v;
    size_t n, cap;
} geoset;

/* Polygons of g (any type) appended to the MultiPolygon mp. */
static void add_polygons(OGRGeometryH mp, OGRGeometryH g);

static int collect(void *arg, const char *code, const char *name, void *g)
{
    (void)name;
    geoset *s = arg;
    /* A code over several features is one area: union them, as opening a
     * layer does. */
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i].code, code) != 0) continue;
        OGRGeometryH mp = OGR_G_CreateGeometry(wkbMultiPolygon);
        add_polygons(mp, s->v[i].g);
        add_polygons(mp, (OGRGeometryH)g);
        OGRGeometryH u = OGR_G_UnionCascaded(mp);
        OGR_G_DestroyGeometry(mp);
        if (!u) return FP_EFORMAT;
        OGR_G_DestroyGeometry(s->v[i].g);
        s->v[i].g = u;
        return FP_OK;
    }
    if (fp__grow(s->a, (void **)&s->v, &s->cap, s->n + 1, sizeof *s->v)) return FP_ENOMEM;
    s->v[s->n].code = fp__strdup(s->a, code);
    s->v[s->n].g = OGR_G_Clone((OGRGeometryH)g);
    if (!s->v[s->n].code || !s->v[s->n].g) {
        fp__free(s->a, s->v[s->n].code);
        if (s->v[s->n].g) OGR_G_DestroyGeometry(s->v[s->n].g);
        return FP_ENOMEM;
    }
    s->n++;
    return FP_OK;
}

static OGRGeometryH lookup(const geoset *s, const char *code)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].code, code) == 0) return s->v[i].g;
    return NULL;
}

static void free_set(geoset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        fp__free(s->a, s->v[i].code);
        OGR_G_DestroyGeometry(s->v[i].g);
    }
    fp__free(s->a, s->v);
}

/* Polygons of g (any type) appended to the MultiPolygon mp. */
static void add_polygons(OGRGeometryH mp, OGRGeometryH g)
{
    OGRwkbGeometryType t = wkbFlatten(OGR_G_GetGeometryType(g));
    if (t == wkbPolygon) {
        OGR_G_AddGeometry(mp, g);
    } else if (t == wkbMultiPolygon || t == wkbGeometryCollection) {
        for (int k = 0; k < OGR_G_GetGeometryCount(g); k++)
            add_polygons(mp, OGR_G_GetGeometryRef(g, k));
    }
}

static geoset *set_for(fp_ctx *ctx, geoset *sets, size_t *nsets, size_t max,
                       const fp_catalogue *cat, const char *id, const char *data_dir,
                       int *rc)
{
    for (size_t i = 0; i < *nsets; i++)
        if (strcmp(sets[i].ed->id, id) == 0) return &sets[i];
    const fp_edition *ed = fp_catalogue_find(cat, id);
    if (!ed || *nsets == max) {
        *rc = fp__error(ctx, FP_EFORMAT, "member edition '%s' cannot be read", id);
        return NULL;
    }
    geoset *s = &sets[(*nsets)++];
    memset(s, 0, sizeof *s);
    s->ed = ed;
    s->a = &ctx->alloc;
    *rc = fp__edition_geometries(ctx, ed, data_dir, collect, s);
    if (*rc == FP_ENOMEM) fp__error(ctx, FP_ENOMEM, "out of memory");
    if (*rc == FP_EFORMAT && !fp_ctx_errmsg(ctx)[0])
        fp__error(ctx, FP_EFORMAT, "edition %s: parts of one code could not be merged", id);
    return *rc ? NULL : s;
}

int fp__open_via(fp_ctx *ctx, const fp_catalogue *cat, const fp_edition *ed,
                 const char *data_dir, const fp_layer *base, fp_layer **out)
{
    *out = NULL;
    const fp_edition *be = fp_catalogue_find(cat, ed->via);
    if (!be) return fp__error(ctx, FP_ENOTFOUND, "edition %s: no edition '%s'", ed->id, ed->via);
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", data_dir, ed->path);
    if (n < 0 || (size_t)n >= sizeof path)
        return fp__error(ctx, FP_EINVAL, "edition %s: path too long", ed->id);
    char *text;
    size_t len;
    int rc = fp__read_file(ctx, path, &text, &len);
    if (rc) return rc;
    rc = fp__layer_new_mapped(ctx, base, text, len, path, be->code_field, ed->code_field,
                              ed->name_field, out);
    fp__free(&ctx->alloc, text);
    return rc;
}

int fp_catalogue_open(fp_ctx *ctx, const fp_catalogue *cat, const char *id,
                      const char *data_dir, const fp_index_opts *index,
                      fp_layer **out)
{
    *out = NULL;
    fp__clear(ctx);
    const fp_edition *ed = fp_catalogue_find(cat, id);
    if (!ed) return fp__error(ctx, FP_ENOTFOUND, "no edition '%s' in the catalogue", id);
    if (*ed->via) {
        fp_layer *base;
        int rc = fp_catalogue_open(ctx, cat, ed->via, data_dir, index, &base);
        if (rc) return rc;
        rc = fp__open_via(ctx, cat, ed, data_dir, base, out);
        if (rc)
            fp_layer_free(base);
        else
            (*out)->base_owned = base;
        return rc;
    }
    if (!ed->members || !*ed->members) return fp_edition_open(ctx, ed, data_dir, index, out);
    size_t nrows = fp_catalogue_member_count(cat, ed);
    if (!nrows)
        return fp__error(ctx, FP_EFORMAT,
                         "edition %s: its membership table %s was not loaded with "
                         "the catalogue", id, ed->members);
    enum { MAXSETS = 8 };
    geoset sets[MAXSETS];
    size_t nsets = 0;
    int rc = FP_OK;
    fp_builder *b = NULL;
    fp__gdal_msgs cap;
    struct kept {
        const char *code;
        OGRGeometryH g;
        OGREnvelope env;
        double area;
    } *kept = NULL;
    size_t nkept = 0, keptcap = 0;
    fp__gdal_capture_push(&cap);
    for (size_t r = 0; r < nrows && !rc; r++) {
        const fp_member *m = fp_catalogue_member(cat, ed, r);
        if (!set_for(ctx, sets, &nsets, MAXSETS, cat, m->member_edition, data_dir, &rc))
            break;
        if (*m->clip_edition &&
            !set_for(ctx, sets, &nsets, MAXSETS, cat, m->clip_edition, data_dir, &rc))
            break;
    }
    if (!rc) rc = fp_builder_new(ctx, &b);
    /* Footprints in the order their first row appears. */
    for (size_t r = 0; r < nrows && !rc; r++) {
        const fp_member *first = fp_catalogue_member(cat, ed, r);
        int seen = 0;
        for (size_t q = 0; q < r && !seen; q++)
            seen = strcmp(fp_catalogue_member(cat, ed, q)->code, first->code) == 0;
        if (seen) continue;
        OGRGeometryH mp = OGR_G_CreateGeometry(wkbMultiPolygon);
        size_t parts = 0;
        for (size_t q = r; q < nrows && !rc; q++) {
            const fp_member *m = fp_catalogue_member(cat, ed, q);
            if (strcmp(m->code, first->code) != 0) continue;
            geoset *ms = set_for(ctx, sets, &nsets, MAXSETS, cat, m->member_edition,
                                 data_dir, &rc);
            OGRGeometryH g = ms ? lookup(ms, m->member_code) : NULL;
            if (!g) {
                rc = fp__error(ctx, FP_EFORMAT,
                               "%s: footprint %s: member %s is not in edition %s",
                               ed->members, m->code, m->member_code, m->member_edition);
                break;
            }
            OGRGeometryH part = NULL;
            if (*m->clip_edition) {
                geoset *cs = set_for(ctx, sets, &nsets, MAXSETS, cat, m->clip_edition,
                                     data_dir, &rc);
                OGRGeometryH c = cs ? lookup(cs, m->clip_code) : NULL;
                if (!c) {
                    rc = fp__error(ctx, FP_EFORMAT,
                                   "%s: footprint %s: clip %s is not in edition %s",
                                   ed->members, m->code, m->clip_code, m->clip_edition);
                    break;
                }
                part = OGR_G_Intersection(g, c);
                if (!part) {
                    rc = fp__error(ctx, FP_EFORMAT,
                                   "%s: footprint %s: GEOS could not intersect %s "
                                   "with %s%s%s", ed->members, m->code, m->member_code,
                                   m->clip_code, cap.msg[0] ? ": " : "", cap.msg);
                    break;
                }
                add_polygons(mp, part);
                OGR_G_DestroyGeometry(part);
            } else {
                add_polygons(mp, g);
            }
            parts++;
        }
        if (rc) {
            OGR_G_DestroyGeometry(mp);
            break;
        }
        /* One whole member needs no union: keep its vertices as they are. */
        OGRGeometryH u = parts == 1 && !*first->clip_edition ? mp : OGR_G_UnionCascaded(mp);
        if (!u) {
            rc = fp__error(ctx, FP_EFORMAT, "%s: footprint %s: GEOS union failed%s%s",
                           ed->members, first->code, cap.msg[0] ? ": " : "", cap.msg);
            OGR_G_DestroyGeometry(mp);
            break;
        }
        if (OGR_G_IsEmpty(u) || OGR_G_Area(u) <= 0) {
            /* A clip that misses its member leaves nothing: say so rather
             * than drop the footprint. */
            rc = fp__error(ctx, FP_EFORMAT, "%s: footprint %s has no area (do its "
                                            "members and clips meet?)",
                           ed->members, first->code);
        }
        if (!rc) rc = fp_builder_add_footprint(b, first->code, first->name);
        if (!rc) rc = fp__builder_add_ogr(b, ctx, ed->members, u);
        if (!rc && fp__grow(&ctx->alloc, (void **)&kept, &keptcap, nkept + 1, sizeof *kept))
            rc = fp__error(ctx, FP_ENOMEM, "out of memory");
        if (!rc) {
            kept[nkept].code = first->code;
            kept[nkept].g = u == mp ? OGR_G_Clone(u) : u;
            OGR_G_GetEnvelope(kept[nkept].g, &kept[nkept].env);
            kept[nkept].area = OGR_G_Area(kept[nkept].g);
            nkept++;
        } else if (u != mp) {
            OGR_G_DestroyGeometry(u);
        }
        OGR_G_DestroyGeometry(mp);
    }
    /* Siblings must not overlap: a point would then belong to two places.
     * Members from differently generalised files leave slivers, so only an
     * overlap above 1 % of the smaller footprint counts (measured: 0.12 %
     * between Buckinghamshire from CCGs 2021 and Frimley from STPs 2017). */
    for (size_t i = 0; i < nkept && !rc; i++)
        for (size_t j = i + 1; j < nkept && !rc; j++) {
            const OGREnvelope *a = &kept[i].env, *c = &kept[j].env;
            if (a->MaxX <= c->MinX || c->MaxX <= a->MinX || a->MaxY <= c->MinY ||
                c->MaxY <= a->MinY)
                continue;
            OGRGeometryH x = OGR_G_Intersection(kept[i].g, kept[j].g);
            if (!x) {
                rc = fp__error(ctx, FP_EFORMAT, "%s: GEOS could not intersect %s "
                                                "with %s%s%s", ed->members, kept[i].code,
                               kept[j].code, cap.msg[0] ? ": " : "", cap.msg);
                break;
            }
            double area = OGR_G_Area(x);
            OGR_G_DestroyGeometry(x);
            double smaller = kept[i].area < kept[j].area ? kept[i].area : kept[j].area;
            if (smaller > 0 && area > 1e-2 * smaller)
                rc = fp__error(ctx, FP_EFORMAT,
                               "%s: footprints %s and %s overlap (%.2f %% of the "
                               "smaller): siblings must not share ground",
                               ed->members, kept[i].code, kept[j].code,
                               100 * area / smaller);
        }
    for (size_t i = 0; i < nkept; i++) OGR_G_DestroyGeometry(kept[i].g);
    fp__free(&ctx->alloc, kept);
    if (!rc) rc = fp_builder_build(b, index, out);
    fp_builder_free(b);
    for (size_t i = 0; i < nsets; i++) free_set(&sets[i]);
    fp__gdal_capture_pop();
    return rc;
}
