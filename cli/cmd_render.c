/*
 * footprint render — a map of footprints as PNG, SVG or PDF.
 *
 * Options are checked here in both binaries (usage errors are as quick as
 * any); drawing needs cairo and PROJ, so the light binary then hands over
 * to footprint-geo.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "footprint.h"
#include "cli.h"

int cmd_render(int argc, char **argv);
extern const char render_help[];

const char render_help[] =
    "Usage: footprint render --out FILE.png|.svg|.pdf\n"
    "           [--edition ID | --level L [--date YYYY-MM-DD] | --date YYYY-MM-DD]\n"
    "           [--focus CODE] [--width W] [--height H]\n"
    "           [--projection bng|webmercator] [--title T] [--subtitle S]\n"
    "           [--values FILE.csv --value-column COL [--code-column C]\n"
    "            [--classes N] [--method quantile|equal|jenks]]\n"
    "           [--points FILE.csv [--colour-by COL]] [--inset london]\n"
    "           [--no-labels] [--attribution TEXT]... [--data DIR] [--atlas FILE]\n"
    "           [--catalogue FILE]\n"
    "\n"
    "Draws a map of footprints: filled so that no two neighbours share a\n"
    "colour (colour-blind-safe palette), labelled, with a legend, scale bar,\n"
    "north arrow and the Open Government Licence attribution of the data.\n"
    "The file is written whole or not at all.\n"
    "\n"
    "What is drawn, as in 'which': the ICB (before July 2022, STP) footprints\n"
    "in force on --date (default today), the edition of level L in force then\n"
    "(--level), or one edition (--edition).  --focus CODE zooms to that\n"
    "footprint and draws what lies within it on the date (its places, else\n"
    "its sub-ICB locations or CCGs, else its local authorities), its\n"
    "neighbours in grey.\n"
    "\n"
    "  --out FILE            the map: .png, .svg or .pdf\n"
    "  --edition ID          footprints of this edition (see 'footprint editions')\n"
    "  --level L             footprints of level L (icb, stp, ics, icp, sicbl,\n"
    "                        ccg, nhser, lad) in force on --date\n"
    "  --date YYYY-MM-DD     the day the map shows (default today)\n"
    "  --focus CODE          zoom to this footprint and draw its members\n"
    "  --width W, --height H size in pixels (PNG) or points (SVG, PDF);\n"
    "                        default 1600 px or 595 pt wide, height to fit\n"
    "  --projection P        bng (British National Grid, default) or\n"
    "                        webmercator\n"
    "  --title T             title (default: what is shown); --subtitle S the\n"
    "                        line under it ('' for none)\n"
    "  --values FILE.csv     choropleth: one value per footprint code\n"
    "  --value-column COL    the column of values (required with --values)\n"
    "  --code-column C       the column of codes (default: 'code', else the\n"
    "                        first column)\n"
    "  --classes N           2 to 9 classes (default 5)\n"
    "  --method M            quantile (default), equal (intervals) or jenks\n"
    "                        (natural breaks)\n"
    "  --points FILE.csv     dots at lat/lon (or easting/northing) columns,\n"
    "                        e.g. the output of 'footprint locate'\n"
    "  --colour-by COL       colour the dots by this column (default: by the\n"
    "                        footprint they fall in)\n"
    "  --inset london        an inset of London (maps of England)\n"
    "  --no-labels           no footprint names\n"
    "  --attribution TEXT    a further attribution line, for the values or\n"
    "                        points shown (repeatable; the editions' own are\n"
    "                        always there)\n"
    "  --data DIR            data directory (default $FOOTPRINT_DATA)\n"
    "  --atlas FILE          compiled atlas (default: footprint.atlas in the\n"
    "                        data directory, when there is one)\n"
    "  --catalogue FILE      editions catalogue (default: built in)\n"
    "  -h, --help            this help\n"
    "\n"
    "A value for a code that is not on the map is an error naming it;\n"
    "footprints without a value are hatched and listed as \"no data\".\n"
    "Exit status: 0 written, 2 usage error, 3 data or output error.\n";

enum { R_FOCUS = O_FIRST_FREE, R_WIDTH, R_HEIGHT, R_PROJ, R_TITLE, R_SUBTITLE,
       R_VALUES, R_VALUECOL, R_CODECOL, R_CLASSES, R_METHOD, R_POINTS, R_COLOURBY,
       R_INSET, R_NOLABELS, R_ATTRIB };

typedef struct ropts {
    common c;
    const char *out, *level, *focus, *title, *subtitle, *values, *value_col, *code_col;
    const char *points, *colour_by;
    const char *attrib[8];
    int nattrib;
    double width, height;
    int projection, classes, method, inset, no_labels;
} ropts;

static double parse_size(const char *opt, const char *s)
{
    double v = parse_number("render ", opt, s);
    if (!(v > 0) || !isfinite(v))
        die_usage("render ", "%s: expected a positive size in pixels (PNG) or points "
                             "(SVG, PDF), got '%s'", opt, s);
    if (v < 100 || v > 20000)
        die_usage("render ", "%s: %s is out of range (100 to 20000)", opt, s);
    return v;
}

static const char *ext_of(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    return dot && (!slash || dot > slash) ? dot : "";
}

static void parse(int argc, char **argv, ropts *r)
{
    const struct option opts[] = {
        {"out", required_argument, 0, O_OUT},
        {"level", required_argument, 0, O_LEVEL},
        {"date", required_argument, 0, O_DATE},
        {"focus", required_argument, 0, R_FOCUS},
        {"width", required_argument, 0, R_WIDTH},
        {"height", required_argument, 0, R_HEIGHT},
        {"projection", required_argument, 0, R_PROJ},
        {"title", required_argument, 0, R_TITLE},
        {"subtitle", required_argument, 0, R_SUBTITLE},
        {"values", required_argument, 0, R_VALUES},
        {"value-column", required_argument, 0, R_VALUECOL},
        {"code-column", required_argument, 0, R_CODECOL},
        {"classes", required_argument, 0, R_CLASSES},
        {"method", required_argument, 0, R_METHOD},
        {"points", required_argument, 0, R_POINTS},
        {"colour-by", required_argument, 0, R_COLOURBY},
        {"color-by", required_argument, 0, R_COLOURBY},
        {"inset", required_argument, 0, R_INSET},
        {"no-labels", no_argument, 0, R_NOLABELS},
        {"attribution", required_argument, 0, R_ATTRIB},
        common_opts[0], common_opts[2], common_opts[3], common_opts[4], common_opts[5],
        {0, 0, 0, 0}};
    memset(r, 0, sizeof *r);
    r->classes = 5;
    r->method = FP_MAP_QUANTILE;
    r->projection = FP_MAP_BNG;
    int o, have_classes = 0, have_method = 0;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (common_opt(o, &r->c)) continue;
        switch (o) {
        case O_OUT: r->out = optarg; break;
        case O_LEVEL: r->level = optarg; break;
        case O_DATE:
            check_date("render ", "--date", optarg);
            r->c.date = optarg;
            break;
        case R_FOCUS: r->focus = optarg; break;
        case R_WIDTH: r->width = parse_size("--width", optarg); break;
        case R_HEIGHT: r->height = parse_size("--height", optarg); break;
        case R_PROJ:
            if (!strcmp(optarg, "bng")) r->projection = FP_MAP_BNG;
            else if (!strcmp(optarg, "webmercator")) r->projection = FP_MAP_WEBMERCATOR;
            else die_usage("render ", "--projection: expected bng or webmercator, got '%s'", optarg);
            break;
        case R_TITLE: r->title = optarg; break;
        case R_SUBTITLE: r->subtitle = optarg; break;
        case R_VALUES: r->values = optarg; break;
        case R_VALUECOL: r->value_col = optarg; break;
        case R_CODECOL: r->code_col = optarg; break;
        case R_CLASSES: {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || end == optarg || n < 2 || n > 9)
                die_usage("render ", "--classes: expected 2 to 9, got '%s'", optarg);
            r->classes = (int)n;
            have_classes = 1;
            break;
        }
        case R_METHOD:
            if (!strcmp(optarg, "quantile")) r->method = FP_MAP_QUANTILE;
            else if (!strcmp(optarg, "equal")) r->method = FP_MAP_EQUAL;
            else if (!strcmp(optarg, "jenks") || !strcmp(optarg, "natural")) r->method = FP_MAP_JENKS;
            else die_usage("render ", "--method: expected quantile, equal or jenks, got '%s'", optarg);
            have_method = 1;
            break;
        case R_POINTS: r->points = optarg; break;
        case R_COLOURBY: r->colour_by = optarg; break;
        case R_INSET:
            if (strcmp(optarg, "london"))
                die_usage("render ", "--inset: the one inset is 'london', got '%s'", optarg);
            r->inset = 1;
            break;
        case R_NOLABELS: r->no_labels = 1; break;
        case R_ATTRIB:
            if (r->nattrib == 8) die_usage("render ", "--attribution: at most 8");
            if (!*optarg) die_usage("render ", "--attribution: empty text");
            r->attrib[r->nattrib++] = optarg;
            break;
        case 'h': fputs(render_help, stdout); exit(finish_stdout(EXIT_FOUND));
        default: bad_option("render ", o, argv);
        }
    }
    if (optind < argc) die_usage("render ", "unexpected argument '%s'", argv[optind]);
    if (!r->out) die_usage("render ", "give the map's file: --out FILE.png|.svg|.pdf");
    const char *x = ext_of(r->out);
    if (strcasecmp(x, ".png") && strcasecmp(x, ".svg") && strcasecmp(x, ".pdf"))
        die_usage("render ", "--out %s: the file name must end .png, .svg or .pdf", r->out);
    if (r->c.edition && r->c.date)
        die_usage("render ", "--date picks the editions in force; --edition pins one: "
                             "give one of them");
    if (r->c.edition && r->level) die_usage("render ", "give --edition or --level, not both");
    if (r->values && !r->value_col)
        die_usage("render ", "--values needs --value-column COL");
    if (!r->values && (r->value_col || r->code_col || have_classes || have_method))
        die_usage("render ", "--value-column, --code-column, --classes and --method go "
                             "with --values");
    if (r->colour_by && !r->points) die_usage("render ", "--colour-by goes with --points");
    if (r->focus && !*r->focus) die_usage("render ", "--focus: empty code");
}

#ifdef FP_CLI_LIGHT

int cmd_render(int argc, char **argv)
{
    ropts r;
    parse(argc, argv, &r);
    delegate(); /* cairo and PROJ live in footprint-geo */
}

#else

/* Tiers by level, and the levels below a tier where members are sought. */
static int tier_of(const char *level)
{
    static const char *const L[][2] = {{"nhser", "0"}, {"icb", "1"}, {"stp", "1"},
                                       {"ics", "2"}, {"icp", "3"}, {"sicbl", "4"},
                                       {"ccg", "4"}, {"lad", "5"}};
    for (size_t i = 0; i < sizeof L / sizeof *L; i++)
        if (!strcmp(level, L[i][0])) return L[i][1][0] - '0';
    return -1;
}

static const char *what_of(const char *level, int plural)
{
    static const char *const W[][3] = {
        {"icb", "Integrated Care Board", "Integrated Care Boards"},
        {"stp", "STP footprint", "STP footprints"},
        {"ics", "first-wave integrated care system", "first-wave integrated care systems"},
        {"icp", "place", "places"},
        {"sicbl", "sub-ICB location", "sub-ICB locations"},
        {"ccg", "CCG", "CCGs"},
        {"nhser", "NHS region", "NHS regions"},
        {"lad", "local authority district", "local authority districts"}};
    for (size_t i = 0; i < sizeof W / sizeof *W; i++)
        if (!strcmp(level, W[i][0])) return W[i][plural ? 2 : 1];
    return plural ? "footprints" : "footprint";
}

/* "2019-06-01" -> "1 June 2019". */
static void long_date(const char *d, char *buf, size_t size)
{
    static const char *const M[] = {"January", "February", "March", "April", "May", "June",
                                    "July", "August", "September", "October", "November",
                                    "December"};
    int y, mo, da;
    if (sscanf(d, "%d-%d-%d", &y, &mo, &da) == 3 && mo >= 1 && mo <= 12)
        snprintf(buf, size, "%d %s %d", da, M[mo - 1], y);
    else
        snprintf(buf, size, "%s", d);
}

static int row_valid(const fp_catalogue *cat, const fp_edition *ed, const char *code,
                     const char *date)
{
    const fp_member *row = fp_catalogue_footprint_row(cat, ed->id, code);
    return !row || fp_date_within(date, row->valid_from, row->valid_to);
}

typedef struct src {
    fp_ctx *ctx;
    fp_catalogue *cat;
    chain_src cs;
} src;

/* The layer of an edition, or NULL when it has no geometry of its own
 * (*why = 1) or a partial atlas lacks it (*why = 2, message on ctx). */
static const fp_layer *layer_try(src *s, const fp_edition *ed, int *why)
{
    const fp_layer *L;
    int rc = chain_layer(s->ctx, &s->cs, ed, &L);
    *why = 0;
    if (rc == FP_ENOTFOUND && s->cs.atlas) {
        *why = 2;
        return NULL;
    }
    if (rc) {
        fprintf(stderr, "%s: edition %s: %s\n", prog, ed->id, fp_ctx_errmsg(s->ctx));
        exit(EXIT_DATA);
    }
    if (fp_layer_count(L) && fp_layer_vertices(L) == 0) {
        *why = 1;
        return NULL;
    }
    return L;
}

/* The edition of `level` in force on `date` that has boundaries to draw
 * (an edition drawn from another's boundaries is skipped). */
static const fp_edition *pick_level(src *s, const char *level, const char *date,
                                    const fp_layer **L)
{
    for (size_t i = 0; i < fp_catalogue_count(s->cat); i++) {
        const fp_edition *ed = fp_catalogue_get(s->cat, i);
        if (strcmp(ed->level, level) || !fp_date_within(date, ed->valid_from, ed->valid_to))
            continue;
        int why;
        if ((*L = layer_try(s, ed, &why)) != NULL) return ed;
    }
    return NULL;
}

/* The codes of an edition in force on the date (membership rows have
 * their own dates: Bassetlaw's place ends 2022-06-30). */
static const char **codes_on(src *s, const fp_edition *ed, const fp_layer *L,
                             const char *date, const size_t *only, size_t nonly,
                             long skip, size_t *n)
{
    size_t cnt = only ? nonly : fp_layer_count(L);
    const char **codes = malloc((cnt ? cnt : 1) * sizeof *codes);
    if (!codes) {
        fprintf(stderr, "%s: out of memory\n", prog);
        exit(EXIT_DATA);
    }
    *n = 0;
    for (size_t k = 0; k < cnt; k++) {
        size_t i = only ? only[k] : k;
        if ((long)i == skip) continue;
        const char *code = fp_layer_code(L, i);
        if (date && !row_valid(s->cat, ed, code, date)) continue;
        codes[(*n)++] = code;
    }
    return codes;
}

/* A map that could not be made or drawn: a bad option value (FP_EINVAL)
 * is a usage error, anything else a data or output error. */
static void new_error(fp_ctx *ctx) __attribute__((noreturn));
static void new_error(fp_ctx *ctx)
{
    if (fp_ctx_errcode(ctx) == FP_EINVAL) die_usage("render ", "%s", fp_ctx_errmsg(ctx));
    fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
    exit(EXIT_DATA);
}

static int map_error(fp_map *m)
{
    if (fp_map_status(m) == FP_EINVAL) die_usage("render ", "%s", fp_map_errmsg(m));
    fprintf(stderr, "%s: %s\n", prog, fp_map_errmsg(m));
    return EXIT_DATA;
}

int cmd_render(int argc, char **argv)
{
    ropts r;
    parse(argc, argv, &r);
    src s;
    memset(&s, 0, sizeof s);
    if (fp_ctx_new(&s.ctx)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_DATA;
    }
    s.cat = load_catalogue(s.ctx, &r.c);
    char dbuf[4096], date[11], when[80];
    open_chain_src(s.ctx, s.cat, &r.c, &s.cs, dbuf, sizeof dbuf);

    /* The edition, and the day the map shows. */
    const fp_edition *ed = NULL;
    const fp_layer *L = NULL;
    int explicit_ed = r.c.edition || r.level;
    if (r.c.edition) {
        ed = pick_edition("render ", s.cat, &r.c);
        /* Its own period: today when in force, else its last (or first) day. */
        today(date);
        if (*ed->valid_to && strcmp(date, ed->valid_to) > 0)
            snprintf(date, sizeof date, "%s", ed->valid_to);
        if (strcmp(date, ed->valid_from) < 0)
            snprintf(date, sizeof date, "%s", ed->valid_from);
        int why;
        if (!(L = layer_try(&s, ed, &why))) {
            if (why == 1)
                die_usage("render ", "edition %s has no boundaries of its own: choose the "
                                     "edition whose boundaries it uses", ed->id);
            fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(s.ctx));
            return EXIT_DATA;
        }
    } else {
        if (r.c.date)
            snprintf(date, sizeof date, "%s", r.c.date);
        else
            today(date);
        if (r.level) {
            if (tier_of(r.level) < 0 && !fp_catalogue_valid_on(s.cat, r.level, date))
                die_usage("render ", "--level: no level '%s' (icb, stp, ics, icp, sicbl, "
                                     "ccg, nhser, lad)", r.level);
            if (!(ed = pick_level(&s, r.level, date, &L)))
                die_usage("render ", "no edition of level '%s' with boundaries in force on %s",
                          r.level, date);
        } else if (!(ed = pick_level(&s, "icb", date, &L)) &&
                   !(ed = pick_level(&s, "stp", date, &L))) {
            die_usage("render ", "no ICB or STP footprints in force on %s", date);
        }
    }
    long_date(date, when + 3, sizeof when - 3);
    memcpy(when, "on ", 3);

    fp_map_opts mo;
    fp_map_opts_init(&mo);
    mo.width = r.width;
    mo.height = r.height;
    mo.projection = r.projection;
    mo.labels = !r.no_labels;
    mo.london_inset = r.inset;
    char title[512], subtitle[512];
    const char **codes = NULL;
    size_t ncodes = 0;
    fp_map *map = NULL;

    if (r.focus) {
        /* The focus: in the edition chosen, else in any tier on the date. */
        long fi = fp_layer_find_code(L, r.focus);
        if (fi < 0 && !explicit_ed) {
            static const char *const LEVELS[] = {"icb", "stp", "nhser", "ics", "icp",
                                                 "sicbl", "ccg", "lad"};
            for (size_t i = 0; i < sizeof LEVELS / sizeof *LEVELS && fi < 0; i++) {
                const fp_layer *L2;
                const fp_edition *e2 = pick_level(&s, LEVELS[i], date, &L2);
                if (e2 && (fi = fp_layer_find_code(L2, r.focus)) >= 0) ed = e2, L = L2;
            }
        }
        if (fi < 0)
            die_usage("render ", "--focus %s: no footprint with this code in %s%s%s", r.focus,
                      ed->id, explicit_ed ? "" : " or any other edition in force on ",
                      explicit_ed ? "" : date);
        if (!row_valid(s.cat, ed, r.focus, date)) {
            const fp_member *row = fp_catalogue_footprint_row(s.cat, ed->id, r.focus);
            die_usage("render ", "--focus %s: not in force on %s (from %s to %s)", r.focus,
                      date, *row->valid_from ? row->valid_from : "the start",
                      *row->valid_to ? row->valid_to : "now");
        }
        /* Its members: the first tier below it with footprints inside. */
        static const char *const BELOW[][4] = {
            {"icb", "stp", NULL, NULL}, {"icp", "sicbl", "ccg", "lad"},
            {"icp", "sicbl", "ccg", NULL}, {"sicbl", "ccg", "lad", NULL},
            {"lad", NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}};
        int t = tier_of(ed->level);
        const fp_edition *med = NULL;
        const fp_layer *ML = NULL;
        size_t *idx = NULL, nidx = 0;
        for (int k = 0; t >= 0 && k < 4 && BELOW[t][k] && !ncodes; k++) {
            const fp_layer *L2;
            const fp_edition *e2 = pick_level(&s, BELOW[t][k], date, &L2);
            if (!e2) continue;
            size_t cnt = fp_layer_count(L2), n;
            free(idx);
            idx = malloc((cnt ? cnt : 1) * sizeof *idx);
            if (!idx || fp_map_members_within(s.ctx, L, (size_t)fi, L2, idx, cnt, &n)) {
                fprintf(stderr, "%s: %s\n", prog, idx ? fp_ctx_errmsg(s.ctx) : "out of memory");
                return EXIT_DATA;
            }
            nidx = n;
            codes = codes_on(&s, e2, L2, date, idx, nidx, -1, &ncodes);
            if (ncodes) med = e2, ML = L2;
            else free(codes), codes = NULL;
        }
        free(idx);
        const char *fname = fp_layer_name(L, (size_t)fi);
        snprintf(title, sizeof title, "%s", fname);
        if (med)
            snprintf(subtitle, sizeof subtitle, "%s with its %zu %s, %s", what_of(ed->level, 0),
                     ncodes, what_of(med->level, ncodes != 1), when);
        else
            snprintf(subtitle, sizeof subtitle, "%s, %s", what_of(ed->level, 0), when);
        mo.title = r.title ? r.title : title;
        mo.subtitle = r.subtitle ? r.subtitle : subtitle;
        if (fp_map_new(s.ctx, &mo, &map)) new_error(s.ctx);
        fp_map_layer_opts lo;
        size_t nctx;
        const char **ctxc = codes_on(&s, ed, L, date, NULL, 0, fi, &nctx);
        char legend[600], legend2[600];
        if (nctx) {
            fp_map_layer_opts_init(&lo);
            lo.role = FP_MAP_CONTEXT;
            lo.codes = ctxc;
            lo.ncodes = nctx;
            snprintf(legend, sizeof legend, "Neighbouring %s", what_of(ed->level, 1));
            lo.legend = legend;
            fp_map_add_layer(map, L, ed, &lo);
        }
        free(ctxc);
        const char *self[1] = {r.focus};
        if (med) {
            fp_map_layer_opts_init(&lo);
            lo.codes = codes;
            lo.ncodes = ncodes;
            snprintf(legend, sizeof legend, "%s", what_of(med->level, 1));
            legend[0] = (char)(legend[0] >= 'a' && legend[0] <= 'z' ? legend[0] - 32 : legend[0]);
            lo.legend = legend;
            fp_map_add_layer(map, ML, med, &lo);
            fp_map_layer_opts_init(&lo);
            lo.role = FP_MAP_OUTLINE;
            lo.codes = self;
            lo.ncodes = 1;
            /* "South Yorkshire and Bassetlaw (STP footprint)"; a name that
             * says what it is stays as it is. */
            if (strstr(fname, what_of(ed->level, 0)))
                snprintf(legend2, sizeof legend2, "%s", fname);
            else
                snprintf(legend2, sizeof legend2, "%s (%s)", fname, what_of(ed->level, 0));
            lo.legend = legend2;
            fp_map_add_layer(map, L, ed, &lo);
        } else {
            fp_map_layer_opts_init(&lo);
            lo.codes = self;
            lo.ncodes = 1;
            fp_map_add_layer(map, L, ed, &lo);
        }
    } else {
        codes = codes_on(&s, ed, L, date, NULL, 0, -1, &ncodes);
        if (!ncodes)
            die_usage("render ", "%s has no footprints in force on %s", ed->id, date);
        snprintf(title, sizeof title, "%s", ed->name);
        if (r.c.edition) {
            char a[40], b[40];
            long_date(ed->valid_from, a, sizeof a);
            long_date(ed->valid_to, b, sizeof b);
            if (*ed->valid_to)
                snprintf(subtitle, sizeof subtitle, "%zu %s, in force from %s to %s", ncodes,
                         what_of(ed->level, ncodes != 1), a, b);
            else
                snprintf(subtitle, sizeof subtitle, "%zu %s, in force since %s", ncodes,
                         what_of(ed->level, ncodes != 1), a);
        } else {
            snprintf(subtitle, sizeof subtitle, "%zu %s, %s", ncodes,
                     what_of(ed->level, ncodes != 1), when);
        }
        mo.title = r.title ? r.title : title;
        mo.subtitle = r.subtitle ? r.subtitle : subtitle;
        if (fp_map_new(s.ctx, &mo, &map)) new_error(s.ctx);
        fp_map_layer_opts lo;
        fp_map_layer_opts_init(&lo);
        if (ncodes < fp_layer_count(L)) {
            lo.codes = codes;
            lo.ncodes = ncodes;
        }
        fp_map_add_layer(map, L, ed, &lo);
    }
    for (int i = 0; i < r.nattrib; i++) fp_map_add_attribution(map, r.attrib[i]);
    if (r.values) {
        fp_map_read_values(map, r.values, r.code_col, r.value_col);
        fp_map_set_classes(map, r.classes, r.method);
    }
    if (r.points) fp_map_read_points(map, r.points, r.colour_by);
    int status = EXIT_FOUND;
    if (fp_map_write(map, r.out)) {
        status = map_error(map);
    } else {
        size_t nd = fp_map_dropped_count(map);
        if (nd) {
            fprintf(stderr, "%s: %zu label%s did not fit:", prog, nd, nd == 1 ? "" : "s");
            for (size_t i = 0; i < nd && i < 10; i++)
                fprintf(stderr, "%s %s", i ? "," : "", fp_map_dropped_code(map, i));
            fprintf(stderr, "%s\n", nd > 10 ? ", ..." : "");
        }
    }
    fp_map_free(map);
    free(codes);
    close_chain_src(&s.cs);
    fp_catalogue_free(s.cat);
    fp_ctx_free(s.ctx);
    return status;
}

#endif
