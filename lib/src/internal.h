/* Private declarations shared by libfootprint's sources. */
#ifndef FP_INTERNAL_H
#define FP_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "footprint.h"

#if defined(__GNUC__)
#define FP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define FP_LIKELY(x) __builtin_expect(!!(x), 1)
#define FP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define FP_PRINTF(f, a)
#define FP_LIKELY(x) (x)
#define FP_UNLIKELY(x) (x)
#endif

#define FP_ERRMSG_MAX 512

struct fp_ctx {
    fp_allocator alloc;
    int errcode;
    char errmsg[FP_ERRMSG_MAX];
    /* Set by crs.c so that this file and the core stay free of PROJ. */
    void *proj;        /* PJ_CONTEXT * */
    void *bng_to_wgs;  /* PJ *, normalised to lon/lat, easting/northing */
    char proj_msg[256];
    void (*proj_release)(struct fp_ctx *ctx);
};

/* Allocation through a copied allocator. */
void *fp__malloc(const fp_allocator *a, size_t n);
void *fp__calloc(const fp_allocator *a, size_t n, size_t size);
void *fp__realloc(const fp_allocator *a, void *p, size_t n);
void fp__free(const fp_allocator *a, void *p);
char *fp__strdup(const fp_allocator *a, const char *s);
/* Grows *p (of *cap elements of `size` bytes) to hold at least `need`. */
int fp__grow(const fp_allocator *a, void **p, size_t *cap, size_t need,
             size_t size);

/* Records an error on ctx (may be NULL) and returns `code`. */
int fp__error(fp_ctx *ctx, int code, const char *fmt, ...) FP_PRINTF(3, 4);
int fp__verror(fp_ctx *ctx, int code, const char *fmt, va_list ap);
void fp__clear(fp_ctx *ctx);

/* ---- geometry predicates (predicate.c) ---- */

/* Sign of the orientation of (a, b, c): > 0 when c lies left of a->b,
 * < 0 right, 0 collinear.  Exact for any finite doubles. */
int fp__orient(double ax, double ay, double bx, double by, double cx,
               double cy);

/* ---- layer internals (layer.c, index.c, locate.c) ---- */

typedef struct fp_feat {
    double bbox[4];      /* west, south, east, north */
    uint32_t ring0;      /* first ring (index into ring_start) */
    uint32_t nrings;
    uint32_t code, name; /* offsets into strings */
    uint32_t stripe0;    /* first entry in stripe_off */
    uint32_t nstripes;
    double sy0, sinv;    /* stripe of y = (y - sy0) * sinv */
} fp_feat;

/* Grid cell encoding: the top two bits say what the low 30 are. */
#define FP_CELL_TAG(c) ((c) >> 30)
#define FP_CELL_VAL(c) ((c) & 0x3fffffffu)
#define FP_TAG_UNIFORM 0u /* value = footprint + 1, 0 = none */
#define FP_TAG_NODE 2u    /* value = offset of a 4 x 4 block of cells */
#define FP_TAG_LEAF 3u    /* value = offset of a candidate list */
#define FP_SUB_BITS 2     /* children per axis = 1 << FP_SUB_BITS */

struct fp_layer {
    fp_allocator alloc;
    int borrowed;         /* arrays live in an atlas mapping: not ours */
    size_t nfeat;
    fp_feat *feat;
    size_t npts;
    double *pts;          /* x, y pairs; every ring closed */
    size_t nrings;
    uint32_t *ring_start; /* nrings + 1 offsets into pts (in points) */
    uint32_t *stripe_off; /* per feature: nstripes + 1 offsets */
    size_t nstripe_off;
    uint32_t *stripe_edges; /* edge = index of its first point */
    size_t nstripe_edges;
    char *strings;
    size_t strings_len;
    double bbox[4];
    /* The grid (FP_INDEX_GRID). */
    int kind;
    int root_bits, total_bits;
    double gx0, gy0, gx1, gy1; /* extent covered */
    double gsx, gsy;           /* finest cells per unit */
    uint32_t gmax;             /* largest finest-cell coordinate */
    uint32_t *cells;
    size_t ncells;
    uint32_t *cands; /* [n, (feature << 1 | whole) ...] */
    size_t ncands;
    /* An edition via finer areas (fp_edition.via): no geometry of its own;
     * a point is located in `base`, whose footprint i belongs to this
     * layer's footprint map[i] (-1: to none).  feat[] holds only codes,
     * names and bounding boxes. */
    const fp_layer *base;
    fp_layer *base_owned; /* base, when this layer owns it */
    int32_t *map;         /* base->nfeat entries */
};

/* ---- editions via finer areas (mapped.c) ---- */

/* Builds the layer of an edition whose footprints are groups of `base`'s
 * footprints, from a lookup CSV (text): column key_field holds base codes,
 * code_field / name_field this edition's.  `base` is borrowed (it must
 * outlive the layer) unless the caller hands it over through base_owned
 * afterwards.  `source` names the lookup in errors. */
int fp__layer_new_mapped(fp_ctx *ctx, const fp_layer *base, const char *text,
                         size_t len, const char *source, const char *key_field,
                         const char *code_field, const char *name_field,
                         fp_layer **out);

/* Exact test of one footprint (stripes + exact predicate). */
int fp__feat_contains(const fp_layer *L, const fp_feat *f, double x,
                      double y);
/* Stripe of y in footprint f (clamped). */
uint32_t fp__stripe_of(const fp_feat *f, double y);
/* Builds L->cells / L->cands.  Needs features, points and stripes. */
int fp__index_build(fp_ctx *ctx, fp_layer *L, const fp_index_opts *o);

/* ---- catalogue (catalogue.c) ---- */

/* The exact text a catalogue was parsed from (owned by it). */
void fp__catalogue_text(const fp_catalogue *cat, const char **text, size_t *len);

/* ---- import side (open.c) ---- */

/* GDAL's messages, captured instead of printed: the first failure's text.
 * Push before calling GDAL/OGR on this thread, pop after (thread-local in
 * GDAL).  No GDAL types here, so the core's header stays GDAL-free. */
typedef struct fp__gdal_msgs {
    char msg[256];
} fp__gdal_msgs;
void fp__gdal_capture_push(fp__gdal_msgs *m);
void fp__gdal_capture_pop(void);

/* Calls fn with each polygon feature of an edition's file: code, name and
 * an OGRGeometryH in WGS84 (borrowed: clone it to keep it). */
int fp__edition_geometries(fp_ctx *ctx, const fp_edition *ed, const char *data_dir,
                           int (*fn)(void *arg, const char *code, const char *name,
                                     void *ogr_geom),
                           void *arg);
/* The layer of edition `ed` via its finer edition, whose layer `base` is
 * borrowed: reads the lookup file below data_dir. */
int fp__open_via(fp_ctx *ctx, const fp_catalogue *cat, const fp_edition *ed,
                 const char *data_dir, const fp_layer *base, fp_layer **out);
/* Adds an OGR (Multi)Polygon's rings (WGS84) to the current footprint. */
int fp__builder_add_ogr(fp_builder *b, fp_ctx *ctx, const char *what, void *ogr_geom);

/* ---- chains (chain.c) ---- */

/* Hands over the layer of an edition (owned by the provider). */
typedef int (*fp__layer_provider)(void *arg, fp_ctx *ctx, const fp_edition *ed,
                                  const fp_layer **out);
/* The edition and layer answering `tier` on `date` (ed NULL: none). */
int fp__tier_layer(fp_ctx *ctx, const fp_catalogue *cat, fp__layer_provider get,
                   void *arg, int tier, const char *date, const fp_edition **ed,
                   const fp_layer **layer);
void fp__link_init(fp_link *k, int tier);
/* Fills code, name, ODS code and status of footprint `index` of L (of
 * edition ed) on date; 0 when its membership dates exclude the date.
 * date NULL: any date (no membership dates, no statuses). */
int fp__link_fill(const fp_catalogue *cat, const fp_edition *ed, const fp_layer *L,
                  size_t index, const char *date, fp_link *k);
/* The region of a system footprint by the parent facts; 0 when none. */
int fp__link_parent(const fp_catalogue *cat, const char *system_code, const char *date,
                    fp_link *region);
int fp__chain(fp_ctx *ctx, const fp_catalogue *cat, fp__layer_provider get,
              void *arg, double lat, double lon, const char *date,
              double nearest_m, fp_link links[FP_TIER_COUNT]);
int fp__timeline(fp_ctx *ctx, const fp_catalogue *cat, fp__layer_provider get,
                 void *arg, double lat, double lon, const char *since,
                 const char *until, double nearest_m, fp_period *out, size_t max,
                 size_t *n);

/* ---- atlas (atlas.c) ---- */

/* A 64-bit checksum (not cryptographic: it catches corruption). */
uint64_t fp__hash64(const void *p, size_t n);

typedef struct fp_atlas_writer fp_atlas_writer;
int fp__atlas_writer_new(fp_ctx *ctx, const char *path, fp_atlas_writer **out);
int fp__atlas_add_text(fp_atlas_writer *w, const char *name, const char *text,
                       size_t len);
int fp__atlas_add_layer(fp_atlas_writer *w, const char *edition,
                        const fp_layer *L);
/* A layer via finer areas: stored as its map onto the base edition's
 * section (which the atlas must also hold). */
int fp__atlas_add_mapped(fp_atlas_writer *w, const char *edition,
                         const char *base_edition, const fp_layer *L);
/* Writes the file (temporary name, fsync, rename) and frees the writer. */
int fp__atlas_writer_finish(fp_atlas_writer *w);
void fp__atlas_writer_abort(fp_atlas_writer *w);

/* ---- postcodes (postcode.c) ---- */

/* The packed key of a postcode: 1, or 0 when it is malformed. */
int fp__postcode_key(const char *in, uint64_t *key);
/* Writes an index of n sorted keys and their lat/lon (1e-6 degrees). */
int fp__postcodes_write(fp_ctx *ctx, const char *path, const uint64_t *keys,
                        const int32_t *latlon, size_t n, const char *sources,
                        size_t *bytes, size_t *districts);

/* ---- small text helpers (csv.c) ---- */

typedef struct fp_csv {
    const char *p, *end;
    size_t line;          /* line number where the current record began */
    size_t cur;           /* line number the reader is on */
    char *buf;            /* unescaped fields, NUL-separated */
    size_t bufcap;
    const char **fields;
    size_t nfields, fieldcap;
    const fp_allocator *alloc;
} fp_csv;

void fp__csv_init(fp_csv *c, const fp_allocator *a, const char *text,
                  size_t len);
/* Next record: returns 1 and fills fields, 0 at end, -1 on error
 * (unterminated quote: *why set), -2 out of memory. */
int fp__csv_next(fp_csv *c, const char **why);
void fp__csv_free(fp_csv *c);

/* Reads a whole file into memory (NUL-terminated). */
int fp__read_file(fp_ctx *ctx, const char *path, char **out, size_t *len);

/* Valid calendar date "YYYY-MM-DD"? */
int fp__valid_date(const char *s);

#endif
