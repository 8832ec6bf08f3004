/*
 * Export through OGR: one feature per footprint with its facts (ODS code,
 * parents, validity) and the attribution, in any vector format GDAL
 * writes, optionally simplified with shared boundaries kept (topo.c).
 * Files are written under a temporary name beside the target and renamed
 * when complete.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "export.h"
#include "internal.h"
#include "topo.h"

void fp_export_opts_init(fp_export_opts *o)
{
    memset(o, 0, sizeof *o);
    fp_simplify_opts_init(&o->simplify);
}

static pthread_once_t gdal_once = PTHREAD_ONCE_INIT;
static void gdal_init(void) { GDALAllRegister(); }

/* ---- editions, tiers and dates ---- */

/* The levels of each tier, preferred first (as chains pick them). */
static const char *const tier_levels[FP_TIER_COUNT][3] = {
    {"nhser", NULL}, {"icb", "stp", NULL}, {"ics", NULL},
    {"icp", NULL},   {"sicbl", "ccg", NULL}, {"lad", NULL}};

int fp__level_tier(const char *level)
{
    for (int t = 0; t < FP_TIER_COUNT; t++)
        for (int l = 0; tier_levels[t][l]; l++)
            if (strcmp(level, tier_levels[t][l]) == 0) return t;
    /* ICBs built from their members are still ICBs. */
    if (strncmp(level, "icb", 3) == 0 || strncmp(level, "stp", 3) == 0) return FP_TIER_SYSTEM;
    return -1;
}

int fp__polygon_edition(fp_ctx *ctx, const fp_catalogue *cat, fp_layer_source get,
                        void *arg, int tier, const char *date, const fp_edition **ed,
                        const fp_layer **L)
{
    *ed = NULL;
    *L = NULL;
    for (int l = 0; tier_levels[tier][l]; l++) {
        const fp_edition *tried[16];
        size_t ntried = 0;
        while (ntried < sizeof tried / sizeof *tried) {
            const fp_edition *best = NULL;
            for (size_t i = 0; i < fp_catalogue_count(cat); i++) {
                const fp_edition *e = fp_catalogue_get(cat, i);
                if (strcmp(e->level, tier_levels[tier][l]) ||
                    !fp_date_within(date, e->valid_from, e->valid_to))
                    continue;
                int done = 0;
                for (size_t k = 0; k < ntried; k++) done |= tried[k] == e;
                if (!done && (!best || strcmp(e->valid_from, best->valid_from) > 0)) best = e;
            }
            if (!best) break;
            tried[ntried++] = best;
            const fp_layer *lay;
            int rc = get(arg, ctx, best, &lay);
            if (rc == FP_ENOTFOUND) {
                fp__clear(ctx);
                continue;
            }
            if (rc) return rc;
            if (fp_layer_count(lay) && !fp_layer_vertices(lay)) continue; /* via finer areas */
            *ed = best;
            *L = lay;
            return FP_OK;
        }
    }
    return FP_OK;
}

void fp__footprint_span(const fp_catalogue *cat, const fp_edition *ed, const char *code,
                        const char **from, const char **to)
{
    *from = ed->valid_from;
    *to = ed->valid_to;
    if (!*ed->members) return;
    const fp_member *row = fp_catalogue_footprint_row(cat, ed->id, code);
    if (!row) return;
    if (*row->valid_from && (!**from || strcmp(row->valid_from, *from) > 0)) *from = row->valid_from;
    if (*row->valid_to && (!**to || strcmp(row->valid_to, *to) < 0)) *to = row->valid_to;
}

void fp__clamp_date(const char *now, const char *from, const char *to, char out[11])
{
    const char *d = now;
    if (*to && strcmp(d, to) > 0) d = to;
    if (*from && strcmp(d, from) < 0) d = from;
    snprintf(out, 11, "%s", d);
}

/* ---- files and directories ---- */

static unsigned long tmp_counter;

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}


static void split_path(const char *path, char *dir, size_t dsize, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dsize, ".");
        *base = path;
    } else if (slash == path) {
        snprintf(dir, dsize, "/");
        *base = slash + 1;
    } else {
        snprintf(dir, dsize, "%.*s", (int)(slash - path), path);
        *base = slash + 1;
    }
}

int fp__temp_dir_beside(fp_ctx *ctx, const char *target, char *out, size_t size)
{
    char dir[4096];
    const char *base;
    split_path(target, dir, sizeof dir, &base);
    unsigned long n = __atomic_add_fetch(&tmp_counter, 1, __ATOMIC_RELAXED);
    int w = snprintf(out, size, "%s/.%s.tmp-%ld-%lu", dir, base, (long)getpid(), n);
    if (w < 0 || (size_t)w >= size) return fp__error(ctx, FP_EINVAL, "%s: path too long", target);
    if (mkdir(out, 0755) != 0) return fp__error(ctx, FP_EIO, "%s: %s", target, strerror(errno));
    return FP_OK;
}

void fp__rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[4600];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            fp__rm_tree(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Only parts of Shapefiles (what a directory of them holds)? */
static int shapefile_part(const char *name)
{
    static const char *const exts[] = {".shp", ".shx", ".dbf", ".prj", ".cpg",
                                       ".qix", ".sbn", ".sbx", ".qpj"};
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
        if (ends_with(name, exts[i])) return 1;
    return 0;
}

/* May a directory be replaced?  When empty; when it holds `marker`; with
 * marker ":shapefile", when it holds only Shapefile parts. */
static int dir_is_replaceable(const char *path, const char *marker)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    int empty = 1, marked = 0, foreign = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        empty = 0;
        if (marker && !strcmp(e->d_name, marker)) marked = 1;
        if (!shapefile_part(e->d_name)) foreign = 1;
    }
    closedir(d);
    if (marker && !strcmp(marker, ":shapefile")) return !foreign;
    return empty || marked;
}

int fp__replace_dir(fp_ctx *ctx, const char *tmp, const char *target, const char *marker)
{
    struct stat st;
    if (lstat(target, &st) != 0) {
        if (rename(tmp, target) != 0)
            return fp__error(ctx, FP_EIO, "%s: %s", target, strerror(errno));
        return FP_OK;
    }
    if (!S_ISDIR(st.st_mode))
        return fp__error(ctx, FP_EIO, "%s: exists and is not a directory", target);
    if (!dir_is_replaceable(target, marker))
        return fp__error(ctx, FP_EIO, "%s: exists and holds other files%s%s: not "
                                      "replacing it", target,
                         marker && *marker != ':' ? " (no " : "",
                         marker && *marker != ':' ? marker : "");
    char old[4200];
    snprintf(old, sizeof old, "%s.old", tmp);
    if (rename(target, old) != 0) return fp__error(ctx, FP_EIO, "%s: %s", target, strerror(errno));
    if (rename(tmp, target) != 0) {
        int e = errno;
        rename(old, target); /* put it back */
        return fp__error(ctx, FP_EIO, "%s: %s", target, strerror(e));
    }
    fp__rm_tree(old);
    return FP_OK;
}

void fp__json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '<': fputs("\\u003c", f); break;
        case '>': fputs("\\u003e", f); break;
        case '&': fputs("\\u0026", f); break;
        default:
            if (*p < 0x20) {
                fprintf(f, "\\u%04x", *p);
            } else if (*p == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
                fprintf(f, "\\u202%c", p[2] == 0xa8 ? '8' : '9'); /* JS line ends */
                p += 2;
            } else {
                fputc(*p, f);
            }
        }
    }
    fputc('"', f);
}

/* ---- the facts of each footprint ---- */

typedef struct facts {
    const char *from, *to; /* "" = open */
    char day[11];          /* the date its parents are taken on */
    const char *ods;       /* NULL: unknown */
    const char *region_code, *region_name;
    const char *system_code, *system_name;
    int skip;              /* not valid on the date asked */
} facts;

/* Parent layers with their footprints as OGR geometries, made once. */
typedef struct parent_geoms {
    const fp_layer *L;
    OGRGeometryH *g;
    double *area;
} parent_geoms;

typedef struct exporter {
    fp_ctx *ctx;
    const fp_catalogue *cat;
    fp_layer_source get;
    void *arg;
    parent_geoms pg[16];
    size_t npg;
} exporter;

static void exporter_free(exporter *x)
{
    for (size_t i = 0; i < x->npg; i++) {
        for (size_t k = 0; k < fp_layer_count(x->pg[i].L); k++)
            if (x->pg[i].g[k]) OGR_G_DestroyGeometry(x->pg[i].g[k]);
        fp__free(&x->ctx->alloc, x->pg[i].g);
        fp__free(&x->ctx->alloc, x->pg[i].area);
    }
}

/* The footprint of P holding 99 % of g (area ga), or -1: none does (g
 * straddles) or no footprint of P is there. */
static long holder(exporter *x, const fp_layer *P, OGRGeometryH g, double ga)
{
    parent_geoms *pg = NULL;
    for (size_t i = 0; i < x->npg && !pg; i++)
        if (x->pg[i].L == P) pg = &x->pg[i];
    if (!pg) {
        if (x->npg == sizeof x->pg / sizeof *x->pg) return -1;
        pg = &x->pg[x->npg];
        pg->L = P;
        pg->g = fp__calloc(&x->ctx->alloc, fp_layer_count(P) + 1, sizeof *pg->g);
        pg->area = fp__calloc(&x->ctx->alloc, fp_layer_count(P) + 1, sizeof *pg->area);
        if (!pg->g || !pg->area) {
            fp__free(&x->ctx->alloc, pg->g);
            fp__free(&x->ctx->alloc, pg->area);
            return -2;
        }
        x->npg++;
    }
    OGRGeometryH pt = OGR_G_PointOnSurface(g);
    if (!pt) return -1;
    long i = fp_layer_find(P, OGR_G_GetY(pt, 0), OGR_G_GetX(pt, 0));
    OGR_G_DestroyGeometry(pt);
    if (i < 0) return -1;
    if (!pg->g[i]) {
        pg->g[i] = fp__feature_ogr(x->ctx, P, (size_t)i);
        if (!pg->g[i]) return -2;
    }
    OGRGeometryH in = OGR_G_Intersection(g, pg->g[i]);
    double a = in ? OGR_G_Area(in) : 0;
    if (in) OGR_G_DestroyGeometry(in);
    return a >= 0.99 * ga ? i : -1;
}

static const char *ods_of(const fp_catalogue *cat, const char *code)
{
    for (size_t e = 0; e < fp_catalogue_count(cat); e++) {
        const fp_edition *ed = fp_catalogue_get(cat, e);
        if (!*ed->members) continue;
        const fp_member *m = fp_catalogue_footprint_row(cat, ed->id, code);
        if (m && *m->ods_code) return m->ods_code;
    }
    return NULL;
}

static int gather_facts(exporter *x, const fp_edition *ed, const fp_layer *L,
                        const fp_export_opts *o, facts *fa)
{
    fp_ctx *ctx = x->ctx;
    int tier = fp__level_tier(ed->level);
    const char *now = o->today ? o->today : "9999-12-31";
    fp__gdal_msgs cap;
    fp__gdal_capture_push(&cap);
    int rc = FP_OK;
    for (size_t i = 0; i < fp_layer_count(L) && !rc; i++) {
        facts *f = &fa[i];
        const char *code = fp_layer_code(L, i);
        memset(f, 0, sizeof *f);
        fp__footprint_span(x->cat, ed, code, &f->from, &f->to);
        if (o->date) {
            if (!fp_date_within(o->date, f->from, f->to)) {
                f->skip = 1;
                continue;
            }
            snprintf(f->day, sizeof f->day, "%s", o->date);
        } else {
            fp__clamp_date(now, f->from, f->to, f->day);
        }
        f->ods = ods_of(x->cat, code);
        if (tier == FP_TIER_REGION || tier < 0) continue;
        OGRGeometryH g = NULL;
        double ga = 0;
        if (tier == FP_TIER_ICS || tier == FP_TIER_PLACE || tier == FP_TIER_SUB) {
            const fp_edition *sed;
            const fp_layer *S;
            rc = fp__polygon_edition(ctx, x->cat, x->get, x->arg, FP_TIER_SYSTEM, f->day, &sed, &S);
            if (rc) break;
            if (S) {
                g = fp__feature_ogr(ctx, L, i);
                if (!g) {
                    rc = FP_ENOMEM;
                    break;
                }
                ga = OGR_G_Area(g);
                long s = holder(x, S, g, ga);
                if (s == -2) rc = fp__error(ctx, FP_ENOMEM, "out of memory");
                if (s >= 0) {
                    f->system_code = fp_layer_code(S, (size_t)s);
                    f->system_name = fp_layer_name(S, (size_t)s);
                }
            }
        }
        /* The region: the parent facts of the system (or of the footprint
         * itself), else the region polygons of the day. */
        const fp_parent *p = NULL;
        if (tier == FP_TIER_SYSTEM) p = fp_catalogue_parent_on(x->cat, code, f->day);
        else if (f->system_code) p = fp_catalogue_parent_on(x->cat, f->system_code, f->day);
        if (p) {
            f->region_code = p->parent_code;
            f->region_name = p->parent_name;
        } else if (!rc) {
            const fp_edition *red;
            const fp_layer *R;
            rc = fp__polygon_edition(ctx, x->cat, x->get, x->arg, FP_TIER_REGION, f->day, &red, &R);
            if (!rc && R) {
                if (!g) g = fp__feature_ogr(ctx, L, i);
                if (!g) {
                    rc = FP_ENOMEM;
                } else {
                    if (ga == 0) ga = OGR_G_Area(g);
                    long r = holder(x, R, g, ga);
                    if (r == -2) rc = fp__error(ctx, FP_ENOMEM, "out of memory");
                    if (r >= 0) {
                        f->region_code = fp_layer_code(R, (size_t)r);
                        f->region_name = fp_layer_name(R, (size_t)r);
                    }
                }
            }
        }
        if (g) OGR_G_DestroyGeometry(g);
    }
    fp__gdal_capture_pop();
    return rc;
}

/* ---- formats ---- */

static int creates_vectors(GDALDriverH d)
{
    return d && GDALGetMetadataItem(d, GDAL_DCAP_VECTOR, NULL) &&
           GDALGetMetadataItem(d, GDAL_DCAP_CREATE, NULL);
}

static GDALDriverH pick_driver(fp_ctx *ctx, const char *path, const char *format)
{
    static const struct {
        const char *alias, *driver;
    } aliases[] = {{"geojson", "GeoJSON"},       {"json", "GeoJSON"},
                   {"gpkg", "GPKG"},             {"geopackage", "GPKG"},
                   {"fgb", "FlatGeobuf"},        {"flatgeobuf", "FlatGeobuf"},
                   {"shp", "ESRI Shapefile"},    {"shapefile", "ESRI Shapefile"},
                   {"esri shapefile", "ESRI Shapefile"}};
    if (format && *format) {
        const char *name = format;
        for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
            if (strcasecmp(format, aliases[i].alias) == 0) name = aliases[i].driver;
        GDALDriverH d = GDALGetDriverByName(name);
        if (!creates_vectors(d)) {
            fp__error(ctx, FP_EINVAL, "format '%s': not a vector format GDAL can write "
                                      "(try GeoJSON, GPKG, FlatGeobuf, ESRI Shapefile)", format);
            return NULL;
        }
        return d;
    }
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) {
        fp__error(ctx, FP_EINVAL, "%s: no file extension to tell the format by: name "
                                  "one (GeoJSON, GPKG, FlatGeobuf, ESRI Shapefile)", path);
        return NULL;
    }
    const char *ext = dot + 1;
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
        if (strcasecmp(ext, aliases[i].alias) == 0) return GDALGetDriverByName(aliases[i].driver);
    /* GDAL's own list: the first vector driver that creates files of it. */
    for (int i = 0; i < GDALGetDriverCount(); i++) {
        GDALDriverH d = GDALGetDriver(i);
        if (!creates_vectors(d)) continue;
        const char *exts = GDALGetMetadataItem(d, GDAL_DMD_EXTENSIONS, NULL);
        if (!exts) exts = GDALGetMetadataItem(d, GDAL_DMD_EXTENSION, NULL);
        char **list = exts ? CSLTokenizeString(exts) : NULL;
        int hit = 0;
        for (char **l = list; l && *l && !hit; l++) hit = strcasecmp(*l, ext) == 0;
        CSLDestroy(list);
        if (hit) return d;
    }
    fp__error(ctx, FP_EINVAL, "%s: no vector format GDAL can write has the extension "
                              ".%s: name one", path, ext);
    return NULL;
}

/* ---- writing ---- */

static void set_str(OGRFeatureH f, int i, const char *s)
{
    if (i < 0) return;
    if (s && *s) OGR_F_SetFieldString(f, i, s);
    else OGR_F_SetFieldNull(f, i);
}

typedef struct outfile {
    const char *path;     /* the target */
    char dir[4096];
    const char *base;
    char mem[600];        /* where GDAL writes: a /vsimem/ folder */
    char tmp[4800];       /* the file or file name on disk */
    char tmpdir[4500];    /* Shapefile: the directory holding its parts */
    char prefix[320];     /* names of every temporary beside the target */
    int shp;
} outfile;

static void cleanup_temps(outfile *of)
{
    if (of->tmpdir[0]) fp__rm_tree(of->tmpdir);
    DIR *d = opendir(of->dir);
    struct dirent *e;
    size_t n = strlen(of->prefix);
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, of->prefix, n) != 0) continue;
        char p[4600];
        snprintf(p, sizeof p, "%s/%s", of->dir, e->d_name);
        fp__rm_tree(p);
    }
    if (d) closedir(d);
}

/* GDAL's writers do not all report a failed write (a full disk), so
 * they write to memory and this puts the bytes on disk, checked and
 * synced. */
static int mem_to_disk(fp_ctx *ctx, const char *mem, const char *disk, const char *target)
{
    vsi_l_offset len = 0;
    GByte *buf = VSIGetMemFileBuffer(mem, &len, FALSE);
    if (!buf && len) return fp__error(ctx, FP_EIO, "%s: GDAL wrote nothing", target);
    int fd = open(disk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fp__error(ctx, FP_EIO, "%s: %s", target, strerror(errno));
    const GByte *p = buf;
    size_t left = (size_t)len;
    int bad = 0;
    while (left && !bad) {
        ssize_t k = write(fd, p, left);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            bad = 1;
            break;
        }
        p += k;
        left -= (size_t)k;
    }
    if (!bad && fsync(fd) != 0) bad = 1;
    int e = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    return bad ? fp__error(ctx, FP_EIO, "%s: %s", target, strerror(e ? e : EIO)) : FP_OK;
}

/* Puts the finished output (in memory) on disk and in place. */
static int commit(fp_ctx *ctx, outfile *of)
{
    char **names = VSIReadDir(of->mem);
    int rc = FP_OK;
    if (!of->shp) {
        char mem[900];
        snprintf(mem, sizeof mem, "%s/%s", of->mem, of->base);
        rc = mem_to_disk(ctx, mem, of->tmp, of->path);
        if (!rc && rename(of->tmp, of->path) != 0)
            rc = fp__error(ctx, FP_EIO, "%s: %s", of->path, strerror(errno));
        CSLDestroy(names);
        return rc;
    }
    /* A Shapefile's parts: into a folder beside the target first. */
    if (mkdir(of->tmpdir, 0755) != 0) {
        rc = fp__error(ctx, FP_EIO, "%s: %s", of->path, strerror(errno));
        of->tmpdir[0] = '\0';
    }
    for (char **n = names; n && *n && !rc; n++) {
        if ((*n)[0] == '.') continue;
        char mem[900], disk[5000];
        snprintf(mem, sizeof mem, "%s/%s", of->mem, *n);
        snprintf(disk, sizeof disk, "%s/%s", of->tmpdir, *n);
        rc = mem_to_disk(ctx, mem, disk, of->path);
    }
    CSLDestroy(names);
    if (rc) return rc;
    if (!ends_with(of->path, ".shp")) /* a folder of Shapefiles */
        return fp__replace_dir(ctx, of->tmpdir, of->path, ":shapefile");
    /* FOO.shp: its parts go beside it, each renamed into place; stale
     * parts of an older FOO (indexes) go. */
    size_t bl = strlen(of->base) - 4;
    static const char *const stale[] = {"qix", "sbn", "sbx", "qpj", "cpg", "prj"};
    for (size_t i = 0; i < sizeof stale / sizeof *stale; i++) {
        char p[4600];
        snprintf(p, sizeof p, "%s/%.*s.%s", of->dir, (int)bl, of->base, stale[i]);
        unlink(p);
    }
    DIR *d = opendir(of->tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && !rc) {
        if (e->d_name[0] == '.') continue;
        char from[4800], to[4800];
        snprintf(from, sizeof from, "%s/%s", of->tmpdir, e->d_name);
        snprintf(to, sizeof to, "%s/%s", of->dir, e->d_name);
        if (rename(from, to) != 0) rc = fp__error(ctx, FP_EIO, "%s: %s", to, strerror(errno));
    }
    if (d) closedir(d);
    else rc = fp__error(ctx, FP_EIO, "%s: %s", of->tmpdir, strerror(errno));
    return rc;
}

static int write_layer(fp_ctx *ctx, GDALDriverH drv, outfile *of, const fp_edition *ed,
                       const char *layer_name, const fp_layer *G, const fp_layer *L,
                       const facts *fa, int precision, fp__gdal_msgs *cap)
{
    const char *dname = GDALGetDriverShortName(drv);
    int geojson = strcmp(dname, "GeoJSON") == 0, gpkg = strcmp(dname, "GPKG") == 0;
    char **dso = NULL, **lco = NULL;
    char *native = NULL;
    if (geojson) {
        lco = CSLSetNameValue(lco, "RFC7946", "YES");
        char prec[16];
        snprintf(prec, sizeof prec, "%d", precision < 0 ? 7 : precision);
        lco = CSLSetNameValue(lco, "COORDINATE_PRECISION", prec);
        lco = CSLSetNameValue(lco, "DESCRIPTION", ed->name);
        /* The attribution as a foreign member of the collection. */
        size_t sz = 0;
        FILE *m = open_memstream(&native, &sz);
        if (m) {
            fputs("{\"attribution\":", m);
            fp__json_string(m, ed->attribution);
            fputs(",\"edition\":", m);
            fp__json_string(m, ed->id);
            fputs(",\"level\":", m);
            fp__json_string(m, ed->level);
            fputs("}", m);
            fclose(m);
            lco = CSLSetNameValue(lco, "NATIVE_DATA", native);
            lco = CSLSetNameValue(lco, "NATIVE_MEDIA_TYPE", "application/vnd.geo+json");
        }
    } else if (gpkg) {
        lco = CSLSetNameValue(lco, "IDENTIFIER", ed->name);
        lco = CSLSetNameValue(lco, "DESCRIPTION", ed->attribution);
    } else if (of->shp) {
        lco = CSLSetNameValue(lco, "ENCODING", "UTF-8");
    }
    int rc = FP_OK;
    char gpath[900];
    snprintf(gpath, sizeof gpath, "%s/%s", of->mem, of->shp && !ends_with(of->path, ".shp")
                                                         ? layer_name : of->base);
    if (of->shp && !ends_with(gpath, ".shp")) strncat(gpath, ".shp", sizeof gpath - strlen(gpath) - 1);
    GDALDatasetH ds = GDALCreate(drv, gpath, 0, 0, 0, GDT_Unknown, dso);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    if (srs && OSRImportFromEPSG(srs, 4326) == OGRERR_NONE)
        OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
    OGRLayerH lyr = ds ? GDALDatasetCreateLayer(ds, layer_name, srs, wkbMultiPolygon, lco) : NULL;
    if (!ds || !lyr) {
        rc = fp__error(ctx, FP_EIO, "%s: cannot create it as %s%s%s", of->path, dname,
                       cap->msg[0] ? ": " : "", cap->msg);
        goto out;
    }
    /* Shapefile field names have 10 characters at most. */
    static const char *const names[2][12] = {
        {"code", "ods_code", "name", "level", "edition", "region_code", "region_name",
         "system_code", "system_name", "valid_from", "valid_to", "attribution"},
        {"code", "ods_code", "name", "level", "edition", "regioncode", "regionname",
         "systemcode", "systemname", "valid_from", "valid_to", "attributn"}};
    int nf = geojson ? 11 : 12, idx[12];
    for (int k = 0; k < nf; k++) {
        OGRFieldDefnH fd = OGR_Fld_Create(names[of->shp][k], OFTString);
        if (of->shp) OGR_Fld_SetWidth(fd, k == 11 ? 254 : 100);
        OGRErr e = OGR_L_CreateField(lyr, fd, TRUE);
        OGR_Fld_Destroy(fd);
        if (e != OGRERR_NONE) {
            rc = fp__error(ctx, FP_EIO, "%s: cannot add field %s%s%s", of->path, names[of->shp][k],
                           cap->msg[0] ? ": " : "", cap->msg);
            goto out;
        }
    }
    OGRFeatureDefnH defn = OGR_L_GetLayerDefn(lyr);
    for (int k = 0; k < nf; k++) idx[k] = OGR_FD_GetFieldIndex(defn, names[of->shp][k]);
    int txn = OGR_L_TestCapability(lyr, OLCTransactions) &&
              OGR_L_StartTransaction(lyr) == OGRERR_NONE;
    for (size_t i = 0; i < fp_layer_count(L) && !rc; i++) {
        if (fa[i].skip) continue;
        const char *code = fp_layer_code(L, i);
        long gi = (long)i;
        if (i >= fp_layer_count(G) || strcmp(fp_layer_code(G, i), code) != 0)
            gi = fp_layer_find_code(G, code);
        OGRGeometryH g = gi >= 0 ? fp__feature_ogr(ctx, G, (size_t)gi) : NULL;
        OGRFeatureH f = OGR_F_Create(defn);
        if (!f || !g) {
            if (g) OGR_G_DestroyGeometry(g);
            if (f) OGR_F_Destroy(f);
            rc = gi < 0 ? fp__error(ctx, FP_EFORMAT, "%s: footprint %s lost its geometry", of->path, code)
                        : fp__error(ctx, FP_ENOMEM, "out of memory");
            break;
        }
        const char *vals[12] = {code, fa[i].ods, fp_layer_name(L, i), ed->level, ed->id,
                                fa[i].region_code, fa[i].region_name, fa[i].system_code,
                                fa[i].system_name, fa[i].from, fa[i].to, ed->attribution};
        for (int k = 0; k < nf; k++) set_str(f, idx[k], vals[k]);
        OGR_F_SetGeometryDirectly(f, g);
        if (OGR_L_CreateFeature(lyr, f) != OGRERR_NONE)
            rc = fp__error(ctx, FP_EIO, "%s: cannot write footprint %s%s%s", of->path, code,
                           cap->msg[0] ? ": " : "", cap->msg);
        OGR_F_Destroy(f);
    }
    if (!rc && txn && OGR_L_CommitTransaction(lyr) != OGRERR_NONE)
        rc = fp__error(ctx, FP_EIO, "%s: %s", of->path, cap->msg[0] ? cap->msg : "commit failed");
out:
    if (ds) {
        cap->msg[0] = '\0';
        GDALClose(ds); /* flushes: a full disk shows here */
        if (!rc && cap->msg[0]) rc = fp__error(ctx, FP_EIO, "%s: %s", of->path, cap->msg);
    }
    if (srs) OSRDestroySpatialReference(srs);
    CSLDestroy(lco);
    CSLDestroy(dso);
    free(native);
    return rc;
}

/* A polygon edition of the same level whose validity overlaps ed's, for
 * the message refusing an edition without geometry. */
static const char *polygon_sibling(fp_ctx *ctx, const fp_catalogue *cat, const fp_edition *ed,
                                   fp_layer_source get, void *arg)
{
    for (size_t i = 0; i < fp_catalogue_count(cat); i++) {
        const fp_edition *e = fp_catalogue_get(cat, i);
        if (e == ed || strcmp(e->level, ed->level)) continue;
        if (*e->valid_to && *ed->valid_from && strcmp(e->valid_to, ed->valid_from) < 0) continue;
        if (*ed->valid_to && *e->valid_from && strcmp(ed->valid_to, e->valid_from) < 0) continue;
        const fp_layer *L;
        if (get(arg, ctx, e, &L) == FP_OK && fp_layer_vertices(L)) return e->id;
    }
    return NULL;
}

int fp_export(fp_ctx *ctx, const fp_catalogue *cat, const char *edition, fp_layer_source get,
              void *arg, const char *path, const fp_export_opts *opts, fp_simplify_stats *stats)
{
    fp__clear(ctx);
    fp_export_opts o;
    if (opts) o = *opts;
    else fp_export_opts_init(&o);
    if (stats) memset(stats, 0, sizeof *stats);
    if (!path || !*path) return fp__error(ctx, FP_EINVAL, "no output file given");
    const fp_edition *ed = fp_catalogue_find(cat, edition);
    if (!ed) return fp__error(ctx, FP_ENOTFOUND, "no edition '%s' in the catalogue", edition);
    if (o.date && !fp_date_valid(o.date))
        return fp__error(ctx, FP_EINVAL, "date '%s' is not a valid YYYY-MM-DD date", o.date);
    if (o.today && !fp_date_valid(o.today))
        return fp__error(ctx, FP_EINVAL, "date '%s' is not a valid YYYY-MM-DD date", o.today);
    if (o.date && !fp_date_within(o.date, ed->valid_from, ed->valid_to))
        return fp__error(ctx, FP_EINVAL, "edition %s is valid from %s to %s, not on %s", ed->id,
                         *ed->valid_from ? ed->valid_from : "the start",
                         *ed->valid_to ? ed->valid_to : "now", o.date);
    if (!isfinite(o.simplify.tolerance_m) || o.simplify.tolerance_m < 0)
        return fp__error(ctx, FP_EINVAL, "simplification tolerance: expected metres >= 0");
    if (o.simplify.precision < -1 || o.simplify.precision > 15)
        return fp__error(ctx, FP_EINVAL, "precision %d: expected 0..15 decimals",
                         o.simplify.precision);
    pthread_once(&gdal_once, gdal_init);
    fp__gdal_msgs cap;
    fp__gdal_capture_push(&cap);
    exporter x = {ctx, cat, get, arg, {{0}}, 0};
    outfile of;
    memset(&of, 0, sizeof of);
    facts *fa = NULL;
    fp_layer *simple = NULL;
    fp_simplify_stats sst;
    memset(&sst, 0, sizeof sst);
    int rc = FP_OK;
    GDALDriverH drv = pick_driver(ctx, path, o.format);
    if (!drv) {
        rc = fp_ctx_errcode(ctx);
        goto out;
    }
    const fp_layer *L;
    rc = get(arg, ctx, ed, &L);
    if (rc) goto out;
    if (fp_layer_count(L) && !fp_layer_vertices(L)) {
        const char *alt = polygon_sibling(ctx, cat, ed, get, arg);
        rc = fp__error(ctx, FP_EINVAL, "edition %s has no boundaries of its own (its footprints "
                                       "are groups of finer areas): export %s%s instead", ed->id,
                       alt ? "the polygon edition " : "a polygon edition of level ",
                       alt ? alt : ed->level);
        goto out;
    }
    fa = fp__calloc(&ctx->alloc, fp_layer_count(L) + 1, sizeof *fa);
    if (!fa) {
        rc = fp__error(ctx, FP_ENOMEM, "out of memory");
        goto out;
    }
    rc = gather_facts(&x, ed, L, &o, fa);
    if (rc) goto out;
    size_t nout = 0;
    for (size_t i = 0; i < fp_layer_count(L); i++) nout += !fa[i].skip;
    if (!nout) {
        rc = fp__error(ctx, FP_ENOTFOUND, "edition %s has no footprint valid on %s", ed->id,
                       o.date ? o.date : "any date");
        goto out;
    }
    int geojson = strcmp(GDALGetDriverShortName(drv), "GeoJSON") == 0;
    int precision = o.simplify.precision;
    if (geojson && precision < 0) precision = 7; /* RFC 7946's, checked below */
    const fp_layer *G = L;
    if (o.simplify.tolerance_m > 0 || o.simplify.precision >= 0) {
        fp_simplify_opts so = o.simplify;
        so.precision = precision;
        rc = fp_layer_simplify(ctx, L, &so, &simple, &sst);
        if (stats) *stats = sst;
        if (rc) goto out;
        G = simple;
    } else if (stats) {
        stats->vertices_in = stats->vertices_out = fp_layer_vertices(L);
    }
    /* Temporaries beside the target, so the final rename stays on one
     * file system. */
    split_path(path, of.dir, sizeof of.dir, &of.base);
    of.path = path;
    of.shp = strcmp(GDALGetDriverShortName(drv), "ESRI Shapefile") == 0;
    struct stat st;
    if (stat(of.dir, &st) != 0) {
        rc = fp__error(ctx, FP_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISDIR(st.st_mode)) {
        rc = fp__error(ctx, FP_EIO, "%s: %s", path, strerror(ENOTDIR));
        goto out;
    }
    if (!*of.base) {
        rc = fp__error(ctx, FP_EINVAL, "%s: no file name", path);
        goto out;
    }
    if (strlen(of.base) > 200 || strlen(of.dir) > 4000) {
        rc = fp__error(ctx, FP_EINVAL, "%s: %s", path, strerror(ENAMETOOLONG));
        goto out;
    }
    unsigned long n = __atomic_add_fetch(&tmp_counter, 1, __ATOMIC_RELAXED);
    snprintf(of.prefix, sizeof of.prefix, ".%.200s.tmp-%ld-%lu", of.base, (long)getpid(), n);
    const char *ext = strrchr(of.base, '.');
    snprintf(of.mem, sizeof of.mem, "/vsimem/footprint-%ld-%lu", (long)getpid(), n);
    if (of.shp) {
        snprintf(of.tmpdir, sizeof of.tmpdir, "%.4000s/%s", of.dir, of.prefix);
    } else {
        /* Keep the extension: some drivers insist on theirs. */
        snprintf(of.tmp, sizeof of.tmp, "%.4000s/%s%.200s", of.dir, of.prefix, ext ? ext : "");
    }
    /* Nothing goes into memory for a target that cannot be written. */
    if (access(of.dir, W_OK) != 0) {
        rc = fp__error(ctx, FP_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    /* Vertices that needed more decimals keep them (shorter numbers are
     * still written short). */
    int written = simple && sst.precision_used > precision ? sst.precision_used : precision;
    rc = write_layer(ctx, drv, &of, ed, o.layer_name ? o.layer_name : ed->id, G, L, fa,
                     written, &cap);
    if (!rc) rc = commit(ctx, &of);
    if (rc) cleanup_temps(&of);
    else if (of.tmpdir[0]) fp__rm_tree(of.tmpdir);
    VSIRmdirRecursive(of.mem);
out:
    fp__gdal_capture_pop();
    exporter_free(&x);
    fp__free(&ctx->alloc, fa);
    fp_layer_free(simple);
    return rc;
}

static int atlas_source(void *arg, fp_ctx *ctx, const fp_edition *ed, const fp_layer **out)
{
    return fp_atlas_layer(ctx, arg, ed->id, out);
}

int fp_atlas_export(fp_ctx *ctx, const fp_atlas *atlas, const char *edition, const char *path,
                    const fp_export_opts *opts, fp_simplify_stats *stats)
{
    return fp_export(ctx, fp_atlas_catalogue(atlas), edition, atlas_source, (void *)atlas, path,
                     opts, stats);
}
