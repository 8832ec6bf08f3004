/*
 * What the footprint commands share: option parsing, diagnostics, where
 * data comes from.  Each command lives in cli/cmd_NAME.c (or, for the
 * first ones, cli/footprint.c) and defines
 *     int cmd_NAME(int argc, char **argv);   argv[0] is "NAME"
 *     extern const char NAME_help[];         its --help text
 * The Makefile lists cli/cmd_*.c into a generated table (commands.h), so a
 * new command needs no edit elsewhere.  Every file is compiled twice: with
 * FP_CLI_LIGHT for `footprint` (libfootprint's core only: no GDAL, PROJ or
 * cairo; a command needing them calls delegate()), and without it for
 * `footprint-geo`.
 */
#ifndef FP_CLI_H
#define FP_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "footprint.h"

enum { EXIT_FOUND = 0, EXIT_NOMATCH = 1, EXIT_USAGE = 2, EXIT_DATA = 3 };

/* Long-option codes shared by the commands (commands may add their own
 * from O_FIRST_FREE up). */
enum { O_LAT = 256, O_LON, O_EAST, O_NORTH, O_EDITION, O_NEAREST, O_JSON,
       O_DATA, O_CATALOGUE, O_ATLAS, O_OUT, O_DATE, O_SINCE, O_UNTIL, O_LEVEL,
       O_FIRST_FREE = 400 };

/* Options every data command takes: edition, json, data, catalogue, help,
 * atlas (in that order). */
extern const struct option common_opts[6];

/* What those options set. */
typedef struct common {
    const char *data;
    const char *catalogue;
    const char *edition;
    const char *atlas;
    const char *date;
    int json;
} common;

/* Handles one of common_opts; 0 when o is not one of them. */
int common_opt(int o, common *c);

extern const char *prog;   /* "footprint" */
extern char **orig_argv;   /* the whole command line, for delegate() */

/* The catalogue compiled in (geodata bundle). */
extern const unsigned char fp_cli_catalogue[];
extern const unsigned long fp_cli_catalogue_len;

/* "footprint: <message>\nTry 'footprint CMD --help'." and exit 2. */
void die_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* getopt_long's verdict ('?' or ':') in our words; exits 2. */
void bad_option(const char *cmd, int o, char **argv) __attribute__((noreturn));
/* A number, or exit 2 naming the option. */
double parse_number(const char *cmd, const char *opt, const char *s);
/* Flushes stdout; EXIT_DATA with a message when that failed, else status. */
int finish_stdout(int status);
/* s as a JSON string literal. */
void json_string(FILE *f, const char *s);
/* Exits 2 unless d is a calendar date YYYY-MM-DD. */
void check_date(const char *cmd, const char *opt, const char *d);
/* Today in England (Europe/London), YYYY-MM-DD. */
void today(char out[11]);

/* --catalogue FILE, $FOOTPRINT_CATALOGUE or the built-in one; exits 3 on
 * error. */
fp_catalogue *load_catalogue(fp_ctx *ctx, const common *c);
/* --data, $FOOTPRINT_DATA, ~/.local/share/footprint or the installed
 * data directory. */
const char *data_dir(const common *c, char *buf, size_t size);
/* --edition, or the ICB edition valid today; exits on an unknown id. */
const fp_edition *pick_edition(const char *cmd, const fp_catalogue *cat,
                               const common *c);
/* --atlas FILE or DATA/footprint.atlas (checked); NULL when there is none;
 * exits 3 when it is stale or damaged. */
fp_atlas *open_atlas(fp_ctx *ctx, const fp_catalogue *cat, const common *c,
                     const char *dir);

#ifdef FP_CLI_LIGHT
/* Becomes footprint-geo with the same command line (never returns). */
void delegate(void) __attribute__((noreturn));
#endif

/* One edition's footprints: from the atlas when there is one, else read
 * from the boundary files (footprint-geo; the light binary delegates). */
typedef struct footprints {
    fp_atlas *atlas;
    fp_layer *owned;
    const fp_layer *layer;
} footprints;
const fp_layer *open_footprints(fp_ctx *ctx, const fp_catalogue *cat,
                                const fp_edition *ed, const common *c,
                                footprints *f);
void close_footprints(footprints *f);

/* The chain over layers the CLI supplies (lib/src/chain.c). */
typedef int (*cli_layer_fn)(void *arg, fp_ctx *ctx, const fp_edition *ed,
                            const fp_layer **out);
int fp__chain(fp_ctx *ctx, const fp_catalogue *cat, cli_layer_fn get, void *arg,
              double lat, double lon, const char *date, double nearest_m,
              fp_link links[FP_TIER_COUNT]);
int fp__timeline(fp_ctx *ctx, const fp_catalogue *cat, cli_layer_fn get, void *arg,
                 double lat, double lon, const char *since, const char *until,
                 double nearest_m, fp_period *out, size_t max, size_t *n);

/* Layers for chains: the atlas's, or each edition read once from files. */
typedef struct chain_src {
    fp_atlas *atlas;
    fp_catalogue *cat;
    const char *dir;
    struct {
        const fp_edition *ed;
        fp_layer *layer;
    } cache[32];
    size_t ncache;
} chain_src;
void open_chain_src(fp_ctx *ctx, fp_catalogue *cat, const common *c,
                    chain_src *cs, char *buf, size_t size);
void close_chain_src(chain_src *cs);
int chain_at(fp_ctx *ctx, chain_src *cs, double lat, double lon,
             const char *date, double nearest, fp_link *links);
/* The layer of an edition from a chain source (atlas or files). */
int chain_layer(fp_ctx *ctx, chain_src *cs, const fp_edition *ed,
                const fp_layer **out);

/* ---- postcodes (cli/cmd_postcodes.c) ---- */
/* What every output showing postcode centroids must carry (ONSPD/NSPL). */
#define PC_ATTRIBUTION                                                              \
    "Postcode centroids: Source: Office for National Statistics licensed under "    \
    "the Open Government Licence v.3.0; Contains OS data (c) Crown copyright and "  \
    "database right; Contains Royal Mail data (c) Royal Mail copyright and "        \
    "database right"

/* The postcode index: file (--postcodes FILE) when given, else
 * $FOOTPRINT_POSTCODES, else postcodes.fpi in the data directory (in buf). */
const char *cli_postcodes_path(const common *c, const char *file, char *buf, size_t size);
/* Opens it: EXIT_FOUND, or one line on stderr (no index: how to make one;
 * damaged) and EXIT_DATA. */
int cli_postcodes_open(fp_ctx *ctx, const common *c, const char *file, fp_postcodes **out);
/* A postcode's centroid (opens and closes the index): EXIT_FOUND with lat,
 * lon and the normal form in norm ("S1 2HE"; may be NULL); or one line on
 * stderr and EXIT_USAGE (malformed), EXIT_NOMATCH (unknown) or EXIT_DATA. */
int cli_postcode_point(fp_ctx *ctx, const common *c, const char *file,
                       const char *postcode, double *lat, double *lon,
                       char norm[FP_POSTCODE_MAX]);

#endif
