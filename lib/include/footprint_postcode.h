/*
 * footprint_postcode.h — Postcode directory: normalisation, import, lookup.
 * Part of libfootprint's public API: include footprint.h, which includes
 * this file.
 *
 * A postcode index is one memory-mapped file holding every postcode of
 * the directories it was imported from (ONS Postcode Directory, National
 * Statistics Postcode Lookup, Code-Point Open, or any CSV of postcodes
 * with coordinates) with the centroid the directory gives, in WGS84
 * degrees to 1e-6 (about 0.1 m: the precision ONS publishes).  Opening
 * one costs a mapping and a check of its header and district table;
 * each district's records are checked (checksum, order, ranges) the first
 * time a lookup touches them, so a damaged file is an error, never a
 * wrong answer and never a read past its end.
 *
 * Postcode syntax.  A postcode is an outward code (district) and an
 * inward code, written in the normal form "S1 2HE" / "AB10 1AA": capital
 * letters, one space.  Accepted input: any case, any amount of white space
 * (space, tab, CR, LF, UTF-8 no-break space) before, after, and between
 * the outward and inward codes, or none there ("AB101AA").  The inward
 * code is a digit and two letters; the outward code has one of the Royal
 * Mail shapes A9, A99, AA9, AA99, A9A, AA9A (A a letter, 9 a digit), or
 * is GIR (only "GIR 0AA") or NPT (Newport's pre-1984 codes, which ONS
 * still lists as terminated postcodes).  Anything else — other
 * characters, white space inside a code, too short, too long — is
 * malformed.  Letters are not checked against Royal Mail's per-position
 * lists: a well-shaped code the index lacks is "unknown", not "malformed".
 */
#ifndef FOOTPRINT_POSTCODE_H
#define FOOTPRINT_POSTCODE_H

#include "footprint.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest normal form ("AB10 1AA") plus its NUL. */
#define FP_POSTCODE_MAX 9

/* Writes the normal form of `in` ("s12he" -> "S1 2HE") to out and returns
 * FP_OK, or FP_EINVAL (out set to "") when `in` is not a postcode by the
 * rules above (or NULL).  Needs no context: it cannot fail otherwise. */
int fp_postcode_normalise(const char *in, char out[FP_POSTCODE_MAX]);

/* ------------------------------------------------------------------ */
/* Import: CSV directories -> index file (needs PROJ for grid-only files) */

typedef struct fp_postcodes_import_stats {
    size_t files;      /* input files read */
    size_t rows;       /* data rows read (header lines excluded) */
    size_t no_grid;    /* rows without a grid reference: skipped (NSPL's
                          lat 99.999999, empty coordinates, Code-Point's
                          0,0 of positional quality 90) */
    size_t malformed;  /* rows whose postcode is malformed: skipped */
    size_t duplicates; /* rows whose postcode an earlier row (of the same
                          or an earlier file) also gave: the later wins */
    size_t moved;      /* of those, how many changed the centroid */
    size_t postcodes;  /* distinct postcodes in the index */
    size_t districts;  /* distinct outward codes */
    size_t bytes;      /* size of the index file */
    char first_malformed[160]; /* "FILE line N: 'VALUE'" for the first
                                  malformed row, "" when none */
} fp_postcodes_import_stats;

/* Reads n CSV files (plain or gzip-compressed, told apart by content) and
 * writes the index to out_path: to a temporary file beside it, flushed to
 * disk and renamed into place when complete, so a failed or interrupted
 * import leaves whatever was at out_path before (or nothing) and no
 * partial file.
 *
 * Columns are found from the header row (names compared ignoring case and
 * surrounding spaces):
 *   postcode   pcds, else pcd, pcd2, postcode, post_code, pc
 *   latitude   lat, latitude         longitude  long, lon, lng, longitude
 *   easting    oseast1m, easting, eastings, ea
 *   northing   osnrth1m, northing, northings, no
 * A row's latitude/longitude are used when the file has them; otherwise
 * its easting/northing (British National Grid, transformed with PROJ as
 * fp_bng_to_latlon does).  A file whose first row is not a header but a
 * record of Code-Point Open's header-less layout (postcode, positional
 * quality, easting, northing, ...) is read as such.  Quoted fields, CRLF
 * line ends and a UTF-8 byte-order mark are fine.
 *
 * Rows without a grid reference and rows with malformed postcodes are
 * skipped and counted; when a postcode occurs more than once (within a
 * file or across files) the last occurrence wins, so later files update
 * earlier ones.  Fails with FP_EIO (unreadable input, unwritable output),
 * FP_EFORMAT (no header or recognisable layout, a row with too few fields,
 * a number that is not one or out of range, a truncated file: a last line
 * without a line end, or a gzip stream cut short; no postcode at all),
 * FP_EFIELD (a header without a postcode or coordinate column), FP_ECRS,
 * FP_EINVAL (n == 0) or FP_ENOMEM; messages name the file and line.
 * stats may be NULL; it is filled as far as the import got. */
int fp_postcodes_import(fp_ctx *ctx, const char *const *paths, size_t n,
                        const char *out_path, fp_postcodes_import_stats *stats);

/* ------------------------------------------------------------------ */
/* Lookup (core: no GDAL, no PROJ)                                      */

typedef struct fp_postcodes fp_postcodes;

/* Maps an index.  Fails with FP_EIO (missing, unreadable, not a regular
 * file) or FP_EFORMAT (not a postcode index, another format version or
 * byte order, truncated or extended, header or district table damaged). */
int fp_postcodes_open(fp_ctx *ctx, const char *path, fp_postcodes **out);
void fp_postcodes_free(fp_postcodes *pc);

/* Number of postcodes; number of districts (outward codes). */
size_t fp_postcodes_count(const fp_postcodes *pc);
size_t fp_postcodes_districts(const fp_postcodes *pc);
/* Bytes of the index file. */
size_t fp_postcodes_size(const fp_postcodes *pc);
/* When it was imported (seconds since 1970-01-01 UTC). */
long long fp_postcodes_created(const fp_postcodes *pc);
/* What it was imported from, owned by pc: one line per input file, fields
 * separated by tabs: path as given, bytes, data rows, rows kept, rows
 * without a grid reference, rows with malformed postcodes. */
const char *fp_postcodes_sources(const fp_postcodes *pc);

/* The centroid of a postcode written in any accepted form.  Returns FP_OK
 * (lat, lon set; either pointer may be NULL), FP_ENOTFOUND (well-formed
 * but not in the index), FP_EINVAL (malformed) or FP_EFORMAT (the part of
 * the file holding the postcode's district is damaged).  Thread-safe;
 * needs no context. */
int fp_postcodes_find(const fp_postcodes *pc, const char *postcode,
                      double *lat, double *lon);

/* Batch form: for each i, status[i] as fp_postcodes_find returns it and
 * lat[i], lon[i] (NAN unless found).  Returns how many were found.
 * Thread-safe; split the arrays across threads for more speed. */
size_t fp_postcodes_find_n(const fp_postcodes *pc, const char *const *postcodes,
                           size_t n, double *lat, double *lon, int *status);

/* The i-th postcode in index order (districts in byte order of their
 * outward codes, then inward codes): normal form, lat, lon.  FP_OK,
 * FP_EINVAL (i >= count) or FP_EFORMAT (damaged district). */
int fp_postcodes_get(const fp_postcodes *pc, size_t i,
                     char postcode[FP_POSTCODE_MAX], double *lat, double *lon);

/* Checks every district now (checksums, order, ranges: the whole file).
 * FP_OK or FP_EFORMAT with a message naming the file and district. */
int fp_postcodes_verify(fp_ctx *ctx, const fp_postcodes *pc);

#ifdef __cplusplus
}
#endif

#endif /* FOOTPRINT_POSTCODE_H */
