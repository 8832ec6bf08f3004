/*
 * footprint postcodes — the postcode directory: import ONS/Code-Point CSVs
 * into an index, look postcodes up, describe the index.  Also the helpers
 * other commands use to turn a postcode into a point (which --postcode,
 * locate --postcode-column).
 *
 * find and info run in the light binary (the index is core); import reads
 * grid references through PROJ, so the light binary hands it over.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "footprint.h"
#include "cli.h"

int cmd_postcodes(int argc, char **argv);
extern const char postcodes_help[];


const char postcodes_help[] =
    "Usage: footprint postcodes import FILE... [--out FILE] [--data DIR]\n"
    "       footprint postcodes find POSTCODE... [--postcodes FILE] [--json]\n"
    "       footprint postcodes info [--postcodes FILE] [--json]\n"
    "\n"
    "The postcode directory: postcode centroids from the ONS Postcode\n"
    "Directory (ONSPD), the National Statistics Postcode Lookup (NSPL),\n"
    "Code-Point Open or any CSV of postcodes with coordinates, compiled into\n"
    "one index file that 'which --postcode' and 'locate --postcode-column'\n"
    "answer from in milliseconds.\n"
    "\n"
    "import   reads the CSV files (plain or .gz) and writes the index\n"
    "         (default: postcodes.fpi in the data directory).  Columns come\n"
    "         from the header: the postcode from pcds (else pcd, pcd2,\n"
    "         postcode, pc), the centroid from lat/long, else from\n"
    "         oseast1m/osnrth1m or easting/northing (British National\n"
    "         Grid); files without a header are read as Code-Point Open\n"
    "         (postcode, quality, easting, northing, ...).  Rows without a\n"
    "         grid reference and malformed postcodes are skipped and\n"
    "         counted; a postcode given twice takes the later row (later\n"
    "         files update earlier ones).  The index is replaced only when\n"
    "         the import succeeds.\n"
    "find     prints each postcode's normal form, latitude and longitude\n"
    "         (WGS84 degrees), tab-separated; '-' reads postcodes from\n"
    "         standard input, one per line.  Case and spacing are free:\n"
    "         's12he', 'S1  2HE' and 'S1 2HE' are the same postcode.\n"
    "info     what the index holds and where it came from (checks the\n"
    "         whole file).\n"
    "\n"
    "  --out FILE        (import) where to write the index\n"
    "  --postcodes FILE  the index to use (default $FOOTPRINT_POSTCODES, else\n"
    "                    postcodes.fpi in the data directory)\n"
    "  --data DIR        data directory (default $FOOTPRINT_DATA)\n"
    "  --json            JSON output\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit status: 0 ok, 1 a postcode not in the index, 2 usage error or a\n"
    "malformed postcode, 3 data error (no index, damaged index, bad input).\n"
    PC_ATTRIBUTION ".\n";

enum { O_PC_INDEX = O_FIRST_FREE + 40 };

/* --postcodes FILE, $FOOTPRINT_POSTCODES, or DATA/postcodes.fpi. */
const char *cli_postcodes_path(const common *c, const char *file, char *buf, size_t size)
{
    if (file) return file;
    const char *env = getenv("FOOTPRINT_POSTCODES");
    if (env && *env) return env;
    char dbuf[4096];
    snprintf(buf, size, "%s/postcodes.fpi", data_dir(c, dbuf, sizeof dbuf));
    return buf;
}

int cli_postcodes_open(fp_ctx *ctx, const common *c, const char *file, fp_postcodes **out)
{
    char buf[4200];
    const char *path = cli_postcodes_path(c, file, buf, sizeof buf);
    *out = NULL;
    if (fp_postcodes_open(ctx, path, out) == FP_OK) return EXIT_FOUND;
    if (fp_ctx_errcode(ctx) == FP_EIO && access(path, F_OK) != 0 && errno == ENOENT)
        fprintf(stderr,
                "%s: no postcode index at %s: make one with 'footprint postcodes import "
                "FILE' (an ONS Postcode Directory, NSPL or Code-Point Open CSV), or give "
                "--postcodes FILE\n", prog, path);
    else
        fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
    return EXIT_DATA;
}

/* One line on stderr for a failed lookup; the exit status it means. */
static int lookup_failed(int st, const char *query, const char *norm, const char *path)
{
    switch (st) {
    case FP_EINVAL:
        fprintf(stderr, "%s: '%s' is not a UK postcode (expected e.g. S1 2HE or SW1A1AA)\n",
                prog, query);
        return EXIT_USAGE;
    case FP_ENOTFOUND:
        fprintf(stderr, "%s: unknown postcode %s (not in %s)\n", prog, norm, path);
        return EXIT_NOMATCH;
    default:
        fprintf(stderr, "%s: %s: damaged postcode index (district of %s): import it again\n",
                prog, path, norm);
        return EXIT_DATA;
    }
}

int cli_postcode_point(fp_ctx *ctx, const common *c, const char *file, const char *postcode,
                       double *lat, double *lon, char norm[FP_POSTCODE_MAX])
{
    char n[FP_POSTCODE_MAX], buf[4200];
    if (fp_postcode_normalise(postcode, n) != FP_OK)
        return lookup_failed(FP_EINVAL, postcode, "", "");
    if (norm) memcpy(norm, n, sizeof n);
    fp_postcodes *pc;
    int st = cli_postcodes_open(ctx, c, file, &pc);
    if (st) return st;
    int rc = fp_postcodes_find(pc, n, lat, lon);
    if (rc) st = lookup_failed(rc, postcode, n, cli_postcodes_path(c, file, buf, sizeof buf));
    fp_postcodes_free(pc);
    return st;
}

/* ---- find ---- */

typedef struct finder {
    const fp_postcodes *pc;
    const char *path;
    int json;
    size_t shown;
    int status; /* worst so far */
} finder;

static void find_one(finder *f, const char *q)
{
    char norm[FP_POSTCODE_MAX];
    double lat, lon;
    int st = fp_postcode_normalise(q, norm);
    if (st == FP_OK) st = fp_postcodes_find(f->pc, norm, &lat, &lon);
    int ex = st == FP_OK ? EXIT_FOUND : lookup_failed(st, q, norm, f->path);
    if (ex > f->status) f->status = ex;
    if (f->json) {
        printf("%s{\"query\":", f->shown++ ? ",\n " : "");
        json_string(stdout, q);
        printf(",\"postcode\":");
        if (norm[0]) json_string(stdout, norm); else printf("null");
        if (st == FP_OK)
            printf(",\"lat\":%.6f,\"lon\":%.6f}", lat, lon);
        else
            printf(",\"lat\":null,\"lon\":null,\"error\":\"%s\"}",
                   st == FP_EINVAL ? "malformed" : st == FP_ENOTFOUND ? "unknown" : "damaged index");
    } else if (st == FP_OK) {
        printf("%s\t%.6f\t%.6f\n", norm, lat, lon);
    }
}

static int pc_find(int argc, char **argv)
{
    static const struct option opts[] = {{"postcodes", required_argument, 0, O_PC_INDEX},
                                         {"json", no_argument, 0, O_JSON},
                                         {"data", required_argument, 0, O_DATA},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    common c = {0};
    const char *file = NULL;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (common_opt(o, &c)) continue;
        if (o == O_PC_INDEX) {
            file = optarg;
            continue;
        }
        if (o == 'h') {
            fputs(postcodes_help, stdout);
            return finish_stdout(EXIT_FOUND);
        }
        bad_option("postcodes ", o, argv);
    }
    if (optind >= argc) die_usage("postcodes ", "find: give one or more postcodes ('-': read them from standard input)");
    fp_ctx *ctx;
    if (fp_ctx_new(&ctx)) return EXIT_DATA;
    fp_postcodes *pc;
    int st = cli_postcodes_open(ctx, &c, file, &pc);
    if (st) {
        fp_ctx_free(ctx);
        return st;
    }
    char buf[4200];
    finder f = {pc, cli_postcodes_path(&c, file, buf, sizeof buf), c.json, 0, EXIT_FOUND};
    if (c.json) printf("{\"postcodes\":[");
    for (int i = optind; i < argc; i++) {
        if (strcmp(argv[i], "-") != 0) {
            find_one(&f, argv[i]);
            continue;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, stdin)) > 0) {
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
            if (len) find_one(&f, line);
        }
        free(line);
    }
    if (c.json) {
        printf("],\"attribution\":");
        json_string(stdout, PC_ATTRIBUTION);
        printf("}\n");
    }
    fp_postcodes_free(pc);
    fp_ctx_free(ctx);
    return finish_stdout(f.status);
}

/* ---- info ---- */

static int pc_info(int argc, char **argv)
{
    static const struct option opts[] = {{"postcodes", required_argument, 0, O_PC_INDEX},
                                         {"json", no_argument, 0, O_JSON},
                                         {"data", required_argument, 0, O_DATA},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    common c = {0};
    const char *file = NULL;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (common_opt(o, &c)) continue;
        if (o == O_PC_INDEX) {
            file = optarg;
            continue;
        }
        if (o == 'h') {
            fputs(postcodes_help, stdout);
            return finish_stdout(EXIT_FOUND);
        }
        bad_option("postcodes ", o, argv);
    }
    if (optind < argc) die_usage("postcodes ", "info: unexpected argument '%s'", argv[optind]);
    fp_ctx *ctx;
    if (fp_ctx_new(&ctx)) return EXIT_DATA;
    fp_postcodes *pc;
    int st = cli_postcodes_open(ctx, &c, file, &pc);
    if (st) {
        fp_ctx_free(ctx);
        return st;
    }
    if (fp_postcodes_verify(ctx, pc)) {
        fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
        fp_postcodes_free(pc);
        fp_ctx_free(ctx);
        return EXIT_DATA;
    }
    char buf[4200], when[32];
    const char *path = cli_postcodes_path(&c, file, buf, sizeof buf);
    time_t t = (time_t)fp_postcodes_created(pc);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (c.json) {
        printf("{\"path\":");
        json_string(stdout, path);
        printf(",\"postcodes\":%zu,\"districts\":%zu,\"bytes\":%zu,\"imported\":\"%s\","
               "\"sources\":[",
               fp_postcodes_count(pc), fp_postcodes_districts(pc), fp_postcodes_size(pc), when);
    } else {
        printf("path\t%s\npostcodes\t%zu\ndistricts\t%zu\nbytes\t%zu\nimported\t%s\n", path,
               fp_postcodes_count(pc), fp_postcodes_districts(pc), fp_postcodes_size(pc), when);
    }
    /* One line per source: path, bytes, rows, kept, no grid, malformed. */
    const char *s = fp_postcodes_sources(pc);
    for (size_t k = 0; *s; k++) {
        const char *eol = strchr(s, '\n');
        size_t len = eol ? (size_t)(eol - s) : strlen(s);
        char line[4400], *fld[6] = {0};
        snprintf(line, sizeof line, "%.*s", (int)len, s);
        s += len + (eol != NULL);
        char *p = line;
        for (int i = 0; i < 6 && p; i++) {
            fld[i] = p;
            p = strchr(p, '\t');
            if (p) *p++ = '\0';
        }
        for (int i = 1; i < 6; i++)
            if (!fld[i]) fld[i] = "0";
        if (c.json) {
            printf("%s{\"file\":", k ? "," : "");
            json_string(stdout, fld[0]);
            printf(",\"bytes\":%s,\"rows\":%s,\"kept\":%s,\"no_grid\":%s,\"malformed\":%s}",
                   fld[1], fld[2], fld[3], fld[4], fld[5]);
        } else {
            printf("source\t%s\tbytes=%s\trows=%s\tkept=%s\tno_grid=%s\tmalformed=%s\n", fld[0],
                   fld[1], fld[2], fld[3], fld[4], fld[5]);
        }
    }
    if (c.json) {
        printf("],\"attribution\":");
        json_string(stdout, PC_ATTRIBUTION);
        printf("}\n");
    }
    fp_postcodes_free(pc);
    fp_ctx_free(ctx);
    return finish_stdout(EXIT_FOUND);
}

/* ---- import ---- */

static int pc_import(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, O_OUT},
                                         {"data", required_argument, 0, O_DATA},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    common c = {0};
    const char *out = NULL;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (common_opt(o, &c)) continue;
        if (o == O_OUT) {
            out = optarg;
            continue;
        }
        if (o == 'h') {
            fputs(postcodes_help, stdout);
            return finish_stdout(EXIT_FOUND);
        }
        bad_option("postcodes ", o, argv);
    }
    if (optind >= argc) die_usage("postcodes ", "import: give one or more CSV files");
#ifdef FP_CLI_LIGHT
    (void)out;
    delegate(); /* grid references need PROJ */
    return EXIT_DATA;
#else
    char buf[4200];
    const char *path = out ? out : cli_postcodes_path(&c, NULL, buf, sizeof buf);
    fp_ctx *ctx;
    if (fp_ctx_new(&ctx)) return EXIT_DATA;
    fp_postcodes_import_stats s;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = fp_postcodes_import(ctx, (const char *const *)argv + optind, (size_t)(argc - optind),
                                 path, &s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
        if (rc == FP_EIO && !out) {
            struct stat st;
            char dir[4200];
            snprintf(dir, sizeof dir, "%s", path);
            char *slash = strrchr(dir, '/');
            if (slash) *slash = '\0';
            if (slash && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
                fprintf(stderr, "%s: no data directory %s: give --out FILE or --data DIR\n",
                        prog, dir);
        }
        fp_ctx_free(ctx);
        return rc == FP_EINVAL ? EXIT_USAGE : EXIT_DATA;
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    fprintf(stderr, "%s: imported %zu postcodes in %zu districts into %s (%.1f MB, %.1f s)\n",
            prog, s.postcodes, s.districts, path, s.bytes / 1e6, secs);
    fprintf(stderr, "%s: %zu rows from %zu file%s; skipped %zu without a grid reference, %zu "
                    "malformed; %zu duplicate%s (the later row kept; %zu moved)\n",
            prog, s.rows, s.files, s.files == 1 ? "" : "s", s.no_grid, s.malformed,
            s.duplicates, s.duplicates == 1 ? "" : "s", s.moved);
    if (s.malformed) fprintf(stderr, "%s: first malformed postcode: %s\n", prog, s.first_malformed);
    fp_ctx_free(ctx);
    return EXIT_FOUND;
#endif
}

int cmd_postcodes(int argc, char **argv)
{
    if (argc < 2) die_usage("postcodes ", "give a subcommand: import, find or info");
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
        fputs(postcodes_help, stdout);
        return finish_stdout(EXIT_FOUND);
    }
    if (!strcmp(sub, "import")) return pc_import(argc - 1, argv + 1);
    if (!strcmp(sub, "find")) return pc_find(argc - 1, argv + 1);
    if (!strcmp(sub, "info")) return pc_info(argc - 1, argv + 1);
    die_usage("postcodes ", "unknown subcommand '%s' (import, find or info)", sub);
}
