/*
 * The on-disk layouts of footprint's two binary files, the compiled atlas
 * (atlas.c) and the postcode index (postcode.c): one definition, shared by
 * the library, its tests and the fuzzers, which craft and reseal files.
 * Little-endian, native doubles; the sizes are part of the formats.
 */
#ifndef FP_FORMAT_H
#define FP_FORMAT_H

#include <stdint.h>

/* ---- the atlas ---- */

#define FP_ATLAS_MAGIC "FPATLAS"
#define FP_ATLAS_VERSION 2u
#define FP_ATLAS_BOM 0x01020304u
#define FP_ATLAS_LAYER_MAGIC 0x594c5046u  /* "FPLY" */
#define FP_ATLAS_MAPPED_MAGIC 0x504d5046u /* "FPMP" */
#define FP_ATLAS_NAME_LEN 40

typedef struct fp__atlas_hdr {
    char magic[8];
    uint32_t bom, version;
    uint64_t file_size;
    uint32_t nsect, reserved;
    uint64_t table_hash; /* of the section table */
    uint64_t created;
    char fp_version[16];
} fp__atlas_hdr;

typedef struct fp__atlas_sect {
    char name[FP_ATLAS_NAME_LEN];
    uint64_t offset, length, hash;
} fp__atlas_sect;

/* A layer section ("FPLY") starts with this. */
typedef struct fp__atlas_lhdr {
    uint32_t magic, kind, root_bits, total_bits, gmax, reserved;
    uint64_t nfeat, npts, nrings, nstripe_off, nstripe_edges, strings_len,
        ncells, ncands;
    double bbox[4], gx0, gy0, gx1, gy1, gsx, gsy;
} fp__atlas_lhdr;

/* A section of an edition via finer areas ("FPMP"): a map onto `base`. */
typedef struct fp__atlas_mhdr {
    uint32_t magic, reserved;
    uint64_t nfeat, nbase, strings_len;
    double bbox[4];
    char base[FP_ATLAS_NAME_LEN];
} fp__atlas_mhdr;

_Static_assert(sizeof(fp__atlas_hdr) == 64, "atlas header");
_Static_assert(sizeof(fp__atlas_sect) == 64, "atlas section entry");
_Static_assert(sizeof(fp__atlas_lhdr) == 168, "atlas layer header");
_Static_assert(sizeof(fp__atlas_mhdr) == 104, "atlas mapped header");

/* ---- the postcode index ---- */

#define FP_PC_MAGIC "FPPCODE"
#define FP_PC_VERSION 1u
#define FP_PC_BOM 0x01020304u
#define FP_PC_INWARD_CODES 6760u /* 10 digits x 26 x 26 letters */
#define FP_PC_MAX_COUNT (1u << 30)
#define FP_PC_MAX_DIST (1u << 24)

typedef struct fp__pc_hdr {
    char magic[8];
    uint32_t bom, version;
    uint64_t file_size;
    uint64_t count;
    uint32_t ndist, reserved;
    uint64_t dist_off, keys_off, coords_off, sources_off, sources_len;
    int64_t created;
    char fp_version[16];
    uint64_t dist_hash, sources_hash;
    uint64_t header_hash; /* of the 120 bytes before it */
} fp__pc_hdr;

/* One outward code (district): its postcodes' run in keys/coords. */
typedef struct fp__pc_dist {
    char code[4];
    uint32_t first, n, reserved;
    uint64_t hash;
} fp__pc_dist;

_Static_assert(sizeof(fp__pc_hdr) == 128, "postcode index header");
_Static_assert(sizeof(fp__pc_dist) == 24, "postcode district entry");

#endif
