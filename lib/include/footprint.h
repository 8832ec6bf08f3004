/*
 * footprint.h — NHS England health geography: footprint boundaries and
 * point-in-footprint queries.
 *
 * The one public header of libfootprint.
 *
 * Conventions (after SQLite, PROJ, cairo and tg):
 *   - Objects are opaque handles named fp_<type>; functions are
 *     fp_<type>_<verb>.  Constructors return FP_OK and hand the object back
 *     through an out-parameter; every *_free() accepts NULL.
 *   - Calls that can fail return an int status (enum fp_status) and leave a
 *     one-line message on the fp_ctx they were given (fp_ctx_errmsg).  The
 *     library never prints: GDAL and PROJ messages are captured into it.
 *   - An fp_ctx belongs to one thread at a time (it carries the error
 *     message and the PROJ context).  Create one per thread.
 *   - A built fp_layer is immutable: any number of threads may query it at
 *     once, and queries on it cannot fail.
 *
 * Coordinates.  A layer stores its footprints in WGS84 longitude/latitude
 * (EPSG:4326 in traditional GIS order: x = longitude, y = latitude), whatever
 * the CRS of the source file; sources in other CRSs are transformed with PROJ
 * when opened.  Points given as British National Grid easting/northing
 * (EPSG:27700) are transformed to WGS84 before they are located.
 *
 * Which footprint contains a point (the exact rule):
 *   - Every footprint is the even-odd interior of its rings (all parts and
 *     holes of a MultiPolygon); for valid OGC (Multi)Polygons this is the
 *     usual interior: holes are outside, every part counts.
 *   - A point strictly inside a footprint belongs to it.
 *   - A point exactly on a boundary (an edge or a vertex) belongs to the
 *     footprint that contains the point displaced an infinitesimal step east
 *     and an even smaller step north: p + (d, e) with 0 < e << d.  So a point
 *     on a shared north-south edge goes to the footprint to its east, a point
 *     on a shared east-west edge to the footprint to its north, and a shared
 *     vertex to the footprint immediately north-east of it.  Two footprints
 *     that share an edge (the same vertices) therefore never both claim a
 *     point of it, and never both miss it.
 *   - The predicates are exact (adaptive-precision orientation test): the
 *     answer is the true one for the double-precision coordinates given
 *     (longitudes -180..180, latitudes -90..90; coordinate differences
 *     above 1e-150 degrees, far below any survey's precision), not one
 *     blurred by rounding.
 *   - Where footprints overlap (bad data), the point goes to the footprint
 *     with the smallest code (byte order); footprints are kept in code order.
 *   - A point inside no footprint gets "none", or on request the footprint
 *     whose boundary is nearest within a given distance in metres.
 *     Distances are measured on the sphere of radius 6,371,008.8 m in a local
 *     equirectangular approximation centred on the point (error below 0.1 %
 *     within 20 km).
 */
#ifndef FOOTPRINT_H
#define FOOTPRINT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FP_VERSION_MAJOR 0
#define FP_VERSION_MINOR 1
#define FP_VERSION_PATCH 0
#define FP_VERSION_STRING "0.1.0"
/* One number for comparisons: major * 10000 + minor * 100 + patch. */
#define FP_VERSION_NUMBER \
    (FP_VERSION_MAJOR * 10000 + FP_VERSION_MINOR * 100 + FP_VERSION_PATCH)

/* The version of the library actually linked (may differ from the header). */
const char *fp_version(void);
int fp_version_number(void);

/* ------------------------------------------------------------------ */
/* Status codes                                                         */

enum fp_status {
    FP_OK = 0,
    FP_ENOMEM,    /* out of memory */
    FP_EINVAL,    /* invalid argument: NaN, out of range, swapped, bad option */
    FP_EIO,       /* file missing, unreadable or unwritable */
    FP_EFORMAT,   /* file read but unusable: corrupt, empty, no polygons */
    FP_ECRS,      /* unknown CRS, or coordinates that do not fit it */
    FP_EFIELD,    /* a named or expected attribute field is missing */
    FP_ENOTFOUND  /* unknown edition, code or layer */
};

/* A short constant description of a status code ("out of memory", ...). */
const char *fp_status_str(int status);

/* ------------------------------------------------------------------ */
/* Context: errors, allocator, PROJ context.  One per thread.           */

typedef struct fp_ctx fp_ctx;

typedef struct fp_allocator {
    void *(*malloc)(size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
} fp_allocator;

int fp_ctx_new(fp_ctx **out);
/* Objects made through this context use the allocator and keep a copy of
 * it, so they may outlive the context.  NULL means the C library's. */
int fp_ctx_new_with_allocator(const fp_allocator *allocator, fp_ctx **out);
void fp_ctx_free(fp_ctx *ctx);

/* The status and one-line message of the last failed call on this context;
 * FP_OK and "" when the last call succeeded. */
int fp_ctx_errcode(const fp_ctx *ctx);
const char *fp_ctx_errmsg(const fp_ctx *ctx);

/* ------------------------------------------------------------------ */
/* Coordinates                                                          */

/* Checks a WGS84 latitude/longitude pair: finite, within range, and not
 * obviously swapped for England (a latitude that looks like a British
 * longitude and a longitude that looks like a British latitude).  Returns
 * FP_OK or FP_EINVAL with a message. */
int fp_check_latlon(fp_ctx *ctx, double lat, double lon);

/* British National Grid (EPSG:27700) <-> WGS84, through PROJ.  Easting and
 * northing must be finite and on the grid (0..700000, 0..1300000 m).
 * Returns FP_OK, FP_EINVAL (off the grid) or FP_ECRS (PROJ failed). */
int fp_bng_to_latlon(fp_ctx *ctx, double easting, double northing,
                     double *lat, double *lon);
int fp_latlon_to_bng(fp_ctx *ctx, double lat, double lon,
                     double *easting, double *northing);

/* ------------------------------------------------------------------ */
/* Layers: one set of footprints (one edition at one level)             */

typedef struct fp_layer fp_layer;

/* How the layer finds the footprint of a point.  FP_INDEX_GRID (default) is
 * an adaptive grid: cells wholly inside one footprint answer at once and
 * only cells crossed by boundaries run exact edge tests.  FP_INDEX_NONE
 * tests every footprint's rings (with bounding-box rejection and per-
 * footprint y-stripes): slower, smaller, and the reference the grid is
 * checked against.  Both give identical answers. */
enum fp_index_kind { FP_INDEX_GRID = 0, FP_INDEX_NONE = 1 };

typedef struct fp_index_opts {
    int kind;        /* enum fp_index_kind */
    int root_bits;   /* top grid is 2^root_bits cells square (4..12); 0 =
                        choose all three from the layer's size (default) */
    int max_depth;   /* levels of 4 x 4 refinement below it (0..10) */
    int leaf_edges;  /* stop refining a cell crossed by this few edges */
} fp_index_opts;

void fp_index_opts_init(fp_index_opts *opts);

typedef struct fp_open_opts {
    const char *layer;       /* OGR layer name; NULL = the first layer */
    const char *code_field;  /* NULL = detect the ONS "...CD" field */
    const char *name_field;  /* NULL = detect the ONS "...NM" field */
    const char *crs;         /* source CRS override ("EPSG:27700");
                                NULL = the CRS the file declares */
    fp_index_opts index;
} fp_open_opts;

void fp_open_opts_init(fp_open_opts *opts);

/* Opens footprints from any OGR vector source (GeoJSON, GeoPackage,
 * Shapefile, FlatGeobuf, CSV with WKT, ...) in any CRS PROJ knows.  Every
 * feature with a polygonal geometry (curves are linearised) and a
 * non-empty code becomes a footprint; features sharing a code are merged
 * (unioned with GEOS).  Fails with FP_EIO,
 * FP_EFORMAT (no polygons, corrupt), FP_EFIELD, FP_ECRS or FP_ENOTFOUND. */
int fp_layer_open(fp_ctx *ctx, const char *path, const fp_open_opts *opts,
                  fp_layer **out);
void fp_layer_free(fp_layer *layer);

/* Building a layer from coordinates in memory (no GDAL involved). */
typedef struct fp_builder fp_builder;

int fp_builder_new(fp_ctx *ctx, fp_builder **out);
void fp_builder_free(fp_builder *b);
/* Starts (or, for a code already added, continues) a footprint. */
int fp_builder_add_footprint(fp_builder *b, const char *code,
                             const char *name);
/* Adds a ring to the current footprint: n points as lon,lat pairs (within
 * -180..180, -90..90).  The ring is closed if it is not already; rings with
 * fewer than three distinct points are dropped (they enclose nothing).
 * Orientation is free.  A footprint is the even-odd interior of all its
 * rings: rings added under one code must not overlap (fp_layer_open
 * unions such parts first). */
int fp_builder_add_ring(fp_builder *b, const double *lonlat, size_t n);
/* Builds the layer (opts NULL = defaults).  The builder may be freed
 * afterwards; it is spent either way. */
int fp_builder_build(fp_builder *b, const fp_index_opts *opts,
                     fp_layer **out);

size_t fp_layer_count(const fp_layer *layer);
const char *fp_layer_code(const fp_layer *layer, size_t i);
const char *fp_layer_name(const fp_layer *layer, size_t i);
/* Bounding box of footprint i, or of the whole layer with i = SIZE_MAX:
 * box[0..3] = west, south, east, north (degrees). */
void fp_layer_bbox(const fp_layer *layer, size_t i, double box[4]);
/* Index of the footprint with this code, or -1. */
long fp_layer_find_code(const fp_layer *layer, const char *code);
/* Bytes of memory the layer holds (geometry, index, strings). */
size_t fp_layer_memory(const fp_layer *layer);
/* Number of vertices kept (rings closed). */
size_t fp_layer_vertices(const fp_layer *layer);

/* ------------------------------------------------------------------ */
/* Queries: cannot fail.  Non-finite or out-of-range input finds none.  */

enum fp_match_kind {
    FP_MATCH_NONE = 0,      /* inside no footprint, none near enough */
    FP_MATCH_CONTAINED = 1, /* inside (or on the boundary of, by the rule) */
    FP_MATCH_NEAREST = 2    /* outside all; nearest boundary within reach */
};

typedef struct fp_match {
    long index;         /* footprint index, -1 with FP_MATCH_NONE */
    int kind;           /* enum fp_match_kind */
    double distance_m;  /* 0 when contained; metres to the boundary when
                           nearest; NAN when none */
} fp_match;

/* The footprint containing (lat, lon), or -1.  The hot path. */
long fp_layer_find(const fp_layer *layer, double lat, double lon);

/* As fp_layer_find, and when no footprint contains the point and
 * nearest_m > 0, the footprint whose boundary is nearest within nearest_m
 * metres (ties to the smaller index). */
fp_match fp_layer_locate(const fp_layer *layer, double lat, double lon,
                         double nearest_m);

/* Batch form of fp_layer_find: out[i] = footprint of (lat[i], lon[i]) or
 * -1.  Thread-safe; split the arrays across threads for more speed. */
void fp_layer_find_n(const fp_layer *layer, const double *lat,
                     const double *lon, size_t n, int32_t *out);

/* Locates a British National Grid point: transforms it (which can fail:
 * off the grid) and then behaves as fp_layer_locate. */
int fp_layer_locate_bng(fp_ctx *ctx, const fp_layer *layer, double easting,
                        double northing, double nearest_m, fp_match *out);

/* ------------------------------------------------------------------ */
/* Catalogue: the editions footprint knows (geodata/editions.csv)        */

typedef struct fp_catalogue fp_catalogue;

typedef struct fp_edition {
    const char *id;          /* "icb2026" */
    const char *level;       /* "icb", "stp", "sicbl", "ccg", "nhser", ... */
    const char *name;        /* "Integrated Care Boards (April 2026)" */
    const char *valid_from;  /* "YYYY-MM-DD" */
    const char *valid_to;    /* "YYYY-MM-DD", "" = still valid */
    const char *path;        /* boundary file, relative to the data dir */
    const char *layer;       /* OGR layer name, "" = first */
    const char *code_field;
    const char *name_field;
    int vintage;             /* OS/ONS copyright year */
    const char *attribution; /* the Open Government Licence attribution
                                every output showing these boundaries
                                must carry */
    const char *members;     /* "" for a boundary file; else the membership
                                table ("members/icp.csv") whose rows define
                                each footprint as a union of member areas */
    const char *via;         /* "" or the id of a finer edition ("lsoa2011")
                                whose areas `path`, an ONS lookup CSV, assigns
                                to this edition's footprints: the lookup's
                                column named as the finer edition's code
                                field (LSOA11CD) gives the area, code_field
                                and name_field the footprint.  A point is
                                located in the finer areas, then looked up:
                                exactly how ONS assigns postcodes.  Such an
                                edition has no geometry of its own
                                (fp_layer_vertices() is 0). */
} fp_edition;

/* A row of a membership table: footprint `code` includes the area of
 * footprint `member_code` of edition `member_edition`, intersected with
 * `clip_code` of `clip_edition` when those are not empty.  Dates are the
 * footprint's own validity ("" = unbounded); `source` cites the fact. */
typedef struct fp_member {
    const char *code, *name, *ods_code;
    const char *member_edition, *member_code;
    const char *clip_edition, *clip_code;
    const char *valid_from, *valid_to;
    const char *source;
} fp_member;

/* A status a footprint held over a period: "stp", "acs-candidate", "ics",
 * "icb" (geodata/status.csv). */
typedef struct fp_status_fact {
    const char *code, *edition, *status, *valid_from, *valid_to, *source;
} fp_status_fact;

/* The parent (an NHS region) of a system footprint over a period
 * (geodata/parents.csv). */
typedef struct fp_parent {
    const char *child_code, *child_edition, *parent_code, *parent_name;
    const char *parent_level, *valid_from, *valid_to, *source;
} fp_parent;

/* Parses a catalogue from text: editions.csv alone, or a bundle of files
 * ("@@file NAME LENGTH\n" + LENGTH bytes + "\n", repeated) holding
 * editions.csv and the membership tables, status.csv and parents.csv it
 * uses.  `source` names it in error messages ("editions.csv: line 4: ..."). */
int fp_catalogue_parse(fp_ctx *ctx, const char *text, size_t len,
                       const char *source, fp_catalogue **out);
/* Loads editions.csv and, from the same directory, the membership tables
 * it names and status.csv / parents.csv / ods.csv when present. */
int fp_catalogue_load(fp_ctx *ctx, const char *path, fp_catalogue **out);
void fp_catalogue_free(fp_catalogue *cat);
size_t fp_catalogue_count(const fp_catalogue *cat);
const fp_edition *fp_catalogue_get(const fp_catalogue *cat, size_t i);
/* The edition with this id, or NULL. */
const fp_edition *fp_catalogue_find(const fp_catalogue *cat, const char *id);
/* The edition of `level` valid on `date` (YYYY-MM-DD), or NULL. */
const fp_edition *fp_catalogue_valid_on(const fp_catalogue *cat,
                                        const char *level, const char *date);

/* Membership rows of an edition of this catalogue (0 for boundary-file
 * editions; `ed` must come from `cat`). */
size_t fp_catalogue_member_count(const fp_catalogue *cat, const fp_edition *ed);
const fp_member *fp_catalogue_member(const fp_catalogue *cat,
                                     const fp_edition *ed, size_t i);
/* The first membership row of footprint `code` in membership edition
 * `edition`, or NULL. */
const fp_member *fp_catalogue_footprint_row(const fp_catalogue *cat,
                                            const char *edition,
                                            const char *code);

size_t fp_catalogue_status_count(const fp_catalogue *cat);
const fp_status_fact *fp_catalogue_status_get(const fp_catalogue *cat, size_t i);
size_t fp_catalogue_parent_count(const fp_catalogue *cat);
const fp_parent *fp_catalogue_parent_get(const fp_catalogue *cat, size_t i);
/* The parent of `code` valid on `date`, or NULL. */
const fp_parent *fp_catalogue_parent_on(const fp_catalogue *cat,
                                        const char *code, const char *date);
/* An ODS (NHS organisation) code a footprint held over a period
 * (geodata/ods.csv). */
typedef struct fp_ods {
    const char *code, *ods_code, *valid_from, *valid_to, *source;
} fp_ods;
size_t fp_catalogue_ods_count(const fp_catalogue *cat);
const fp_ods *fp_catalogue_ods_get(const fp_catalogue *cat, size_t i);
/* The ODS code of `code` on `date` (NULL date: any), or NULL. */
const char *fp_catalogue_ods_on(const fp_catalogue *cat, const char *code,
                                const char *date);
/* Is s a real calendar date written YYYY-MM-DD? */
int fp_date_valid(const char *s);
/* Is `date` within [from, to] ("" bounds are open)? */
int fp_date_within(const char *date, const char *from, const char *to);

/* Opens an edition's boundary file below data_dir (boundary-file editions
 * only; membership editions need their catalogue: fp_catalogue_open). */
int fp_edition_open(fp_ctx *ctx, const fp_edition *ed, const char *data_dir,
                    const fp_index_opts *index, fp_layer **out);
/* Opens any edition of `cat`: a boundary file, or for a membership
 * edition the union (GEOS) of each footprint's member areas, read from
 * their editions' files below data_dir. */
int fp_catalogue_open(fp_ctx *ctx, const fp_catalogue *cat, const char *id,
                      const char *data_dir, const fp_index_opts *index,
                      fp_layer **out);

/* ------------------------------------------------------------------ */
/* Atlas: every edition compiled into one memory-mapped file            */

/*
 * An atlas holds the catalogue it was built from and every edition's
 * footprints with their index, ready to query the moment the file is
 * mapped: no GDAL, no PROJ, no parsing.  The file is versioned and every
 * section carries a checksum; a section is verified (checksum and bounds)
 * the first time it is used, so a query touches only what it needs.
 */
typedef struct fp_atlas fp_atlas;

/* Compiles every edition of `cat` whose boundary file is in data_dir into
 * an atlas at out_path (written to a temporary file, renamed when
 * complete: an interrupted build leaves the old atlas or none).  `only`
 * is a NULL-terminated list of edition ids to include, or NULL for all.
 * Needs GDAL (it reads the boundary files). */
int fp_atlas_build(fp_ctx *ctx, const fp_catalogue *cat, const char *data_dir,
                   const char *const *only, const fp_index_opts *index,
                   const char *out_path);

/* Maps an atlas.  Fails with FP_EIO (missing, unreadable) or FP_EFORMAT
 * (not an atlas, another format version, truncated, corrupt). */
int fp_atlas_open(fp_ctx *ctx, const char *path, fp_atlas **out);
void fp_atlas_free(fp_atlas *atlas);

/* The catalogue the atlas was built from (owned by the atlas). */
const fp_catalogue *fp_atlas_catalogue(const fp_atlas *atlas);

/* The layer of an edition, owned by the atlas and valid until it is freed.
 * Verifies the edition's section on first use: FP_ENOTFOUND (not in the
 * atlas) or FP_EFORMAT (corrupt).  Thread-safe. */
int fp_atlas_layer(fp_ctx *ctx, const fp_atlas *atlas, const char *edition,
                   const fp_layer **out);

/* Is the atlas current?  FP_OK when it was built from a catalogue with
 * exactly the text of `cat` (NULL skips that check) and every source file
 * below data_dir (NULL skips) still has the size and modification time it
 * had; else FP_EFORMAT with a message saying what changed. */
int fp_atlas_check(fp_ctx *ctx, const fp_atlas *atlas, const fp_catalogue *cat,
                   const char *data_dir);

/* Bytes of the atlas file. */
size_t fp_atlas_size(const fp_atlas *atlas);

/* ------------------------------------------------------------------ */
/* Chains: every footprint covering a point on a date                   */

/* Tiers from the top: NHS region, system (STP before 1 July 2022, ICB
 * after), first-wave ICS (2017-2022, where one existed), place (ICP),
 * sub-ICB location or CCG, local authority district. */
enum fp_tier {
    FP_TIER_REGION, FP_TIER_SYSTEM, FP_TIER_ICS, FP_TIER_PLACE, FP_TIER_SUB,
    FP_TIER_LA, FP_TIER_COUNT
};
const char *fp_tier_name(int tier); /* "region", "system", ... */

typedef struct fp_link {
    int tier;                  /* enum fp_tier */
    const fp_edition *edition; /* where the answer came from (NULL when
                                  derived from a parent fact) */
    const char *code, *name;   /* NULL when nothing covers the point */
    const char *ods_code;      /* "" when unknown */
    char status[48];           /* statuses on the date, comma-separated */
    int kind;                  /* enum fp_match_kind */
    double distance_m;
} fp_link;

/* The chain valid on `date` (YYYY-MM-DD) at (lat, lon): one link per tier,
 * code NULL where no footprint of that tier covers the point (or the atlas
 * was built without that tier's edition).  The region is the parent of the
 * system footprint (regions are made of whole STPs and ICBs; edition
 * NULL), the region boundaries answering only where no parent is known.
 * nearest_m as in fp_layer_locate.  Fails only on a bad date or a corrupt
 * atlas. */
int fp_atlas_chain(fp_ctx *ctx, const fp_atlas *atlas, double lat, double lon,
                   const char *date, double nearest_m,
                   fp_link links[FP_TIER_COUNT]);

/* One period of a timeline: from..to (inclusive; to "" = still) with the
 * chain that held throughout it. */
typedef struct fp_period {
    char from[11], to[11];
    fp_link links[FP_TIER_COUNT];
} fp_period;

/* Every distinct chain covering (lat, lon) from `since` to `until`:
 * periods in date order, written to out (up to max); *n gets the count. */
int fp_atlas_timeline(fp_ctx *ctx, const fp_atlas *atlas, double lat,
                      double lon, const char *since, const char *until,
                      double nearest_m, fp_period *out, size_t max, size_t *n);

/* ------------------------------------------------------------------ */
/* Batch: many points against one atlas (arrays in, arrays out)         */

/*
 * A plan fixes once the columns a batch of points is answered with: tiers
 * of the chain on a date (the editions valid that day, as fp_atlas_chain
 * picks them) and/or pinned editions.  Editions, membership dates,
 * statuses, ODS codes and parent regions are resolved when a column is
 * added, so a point costs only its index lookups (one per distinct layer:
 * columns sharing a layer, or LSOA-based editions sharing their LSOAs,
 * share the lookup).  Once its columns are added a plan is immutable: any
 * number of threads may call fp_plan_locate_n on it at once.  The plan
 * borrows the atlas, which must outlive it.
 */
typedef struct fp_plan fp_plan;

/* One point's answer in one column. */
typedef struct fp_hit {
    int32_t entry;     /* the footprint (fp_plan_answer), -1 for none */
    int32_t kind;      /* enum fp_match_kind */
    double distance_m; /* as in fp_match */
} fp_hit;

int fp_plan_new(fp_ctx *ctx, const fp_atlas *atlas, fp_plan **out);
void fp_plan_free(fp_plan *plan);
/* Adds a column: the footprint of `tier` (enum fp_tier) in force on `date`
 * (YYYY-MM-DD).  A tier with no edition on that date (or none in the
 * atlas) is still a column; it answers none.  FP_EINVAL on a bad tier or
 * date, FP_EFORMAT on a corrupt atlas. */
int fp_plan_add_tier(fp_ctx *ctx, fp_plan *plan, int tier, const char *date);
/* Adds a column: the footprint of one edition, whatever the date (as
 * `which --edition`).  FP_ENOTFOUND when the atlas lacks it. */
int fp_plan_add_edition(fp_ctx *ctx, fp_plan *plan, const char *edition);
size_t fp_plan_columns(const fp_plan *plan);
/* The edition a column answers from (NULL when none covers its date). */
const fp_edition *fp_plan_edition(const fp_plan *plan, size_t col);
/* The tier of a column (enum fp_tier), or -1 for a pinned edition. */
int fp_plan_tier(const fp_plan *plan, size_t col);
/* What an entry of a column means: tier, edition, code, name, ODS code
 * and status on the date (kind and distance are per point: fp_hit).
 * entry must be one fp_plan_locate_n gave for that column. */
const fp_link *fp_plan_answer(const fp_plan *plan, size_t col, int32_t entry);
/* Locates n points: out[i * fp_plan_columns(plan) + col].  nearest_m as
 * in fp_layer_locate.  Thread-safe; cannot fail (bad coordinates find
 * none). */
void fp_plan_locate_n(const fp_plan *plan, const double *lat, const double *lon,
                      size_t n, double nearest_m, fp_hit *out);

#ifdef __cplusplus
}
#endif

/* The rest of the API, by subject. */
#include "footprint_postcode.h"
#include "footprint_render.h"
#include "footprint_export.h"

#endif /* FOOTPRINT_H */
