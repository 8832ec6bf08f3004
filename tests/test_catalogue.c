/* Unit tests for lib/src/catalogue.c: parsing and loading the editions
 * catalogue (geodata/editions.csv) and looking editions up. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FP_MSG_MAX 1024
#define HEADER                                                             \
    "id,level,name,valid_from,valid_to,path,layer,code_field,name_field,"  \
    "vintage,attribution\n"
#define OGL                                                                \
    "Source: Office for National Statistics licensed under the Open "      \
    "Government Licence v.3.0"
/* A good row, for line 2 of a synthetic catalogue. */
#define ROW_ICB23                                                          \
    "icb2023,icb,Integrated Care Boards (April 2023),2023-04-01,"          \
    "2026-03-31,boundaries/icb_2023_bsc.geojson,,ICB23CD,ICB23NM,2023,"    \
    OGL "\n"
/* Another good row, appended after a bad one so that the bad row ends
 * with a newline as it would in any real file. */
#define ROW_TAIL                                                           \
    "lad2024,lad,Local Authority Districts (May 2024),2024-05-01,,"        \
    "boundaries/lad_2024_bsc.geojson,,LAD24CD,LAD24NM,2024," OGL "\n"

static int parse(fp_ctx *ctx, const char *text, fp_catalogue **out)
{
    *out = (fp_catalogue *)1; /* must be reset to NULL on failure */
    return fp_catalogue_parse(ctx, text, strlen(text), "x.csv", out);
}

/* Asserts a failed parse: status, NULL catalogue, a one-line message that
 * says `what` and starts with `prefix` (source and line).  Frees ctx first
 * so that a failure here cannot leave leaks to fail later tests. */
static void expect_fail(fp_ctx *ctx, int rc, fp_catalogue *cat, int code,
                        const char *prefix, const char *what)
{
    char msg[FP_MSG_MAX];
    int errcode = fp_ctx_errcode(ctx);
    snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
    if (rc == FP_OK) fp_catalogue_free(cat);
    test_ctx_done(ctx);
    assert_int_equal(rc, code);
    assert_null(cat);
    assert_int_equal(errcode, code);
    if (!strstr(msg, what))
        fail_msg("message '%s' does not say '%s'", msg, what);
    assert_null(strchr(msg, '\n'));
    if (strncmp(msg, prefix, strlen(prefix)) != 0)
        fail_msg("message '%s' does not start with '%s'", msg, prefix);
}

/* Parses HEADER + ROW_ICB23 + bad + ROW_TAIL; the bad row is line 3. */
static void expect_bad_row(const char *bad, const char *what)
{
    fp_ctx *ctx = test_ctx();
    size_t n = strlen(HEADER ROW_ICB23) + strlen(bad) + strlen(ROW_TAIL) + 1;
    char *text = malloc(n);
    assert_non_null(text);
    snprintf(text, n, "%s%s%s", HEADER ROW_ICB23, bad, ROW_TAIL);
    fp_catalogue *cat;
    int rc = parse(ctx, text, &cat);
    free(text);
    /* Everything the failed parse allocated is already freed: only the
     * context is left. */
    long left = test_alloc_outstanding();
    expect_fail(ctx, rc, cat, FP_EFORMAT, "x.csv: line 3: ", what);
    assert_int_equal(left, 1);
}

/* ---- the real catalogue ---- */

static void expect_edition(const fp_catalogue *cat, const char *id,
                           const char *level, const char *from,
                           const char *to, int vintage, const char *code)
{
    const fp_edition *e = fp_catalogue_find(cat, id);
    if (!e) fail_msg("edition %s missing", id);
    assert_string_equal(e->id, id);
    assert_string_equal(e->level, level);
    assert_string_equal(e->valid_from, from);
    assert_string_equal(e->valid_to, to);
    assert_int_equal(e->vintage, vintage);
    assert_string_equal(e->code_field, code);
    char year[8];
    snprintf(year, sizeof year, "%d", vintage);
    if (!strstr(e->name, year)) fail_msg("%s: name '%s'", id, e->name);
}

static void test_catalogue_real_file_parses(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    assert_non_null(cat);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_true(fp_catalogue_count(cat) >= 5);
    expect_edition(cat, "icb2026", "icb", "2026-04-01", "", 2026, "ICB26CD");
    expect_edition(cat, "icb2023", "icb", "2023-04-01", "2026-03-31", 2023,
                   "ICB23CD");
    expect_edition(cat, "icb2022", "icb", "2022-07-01", "2023-03-31", 2022,
                   "ICB22CD");
    expect_edition(cat, "stp2021", "stp", "2021-04-01", "2022-06-30", 2021,
                   "STP21CD");
    expect_edition(cat, "stp2017", "stp", "2017-02-01", "2021-03-31", 2017,
                   "STP17CD");
    const fp_edition *e = fp_catalogue_find(cat, "icb2026");
    assert_string_equal(e->name, "Integrated Care Boards (April 2026)");
    assert_string_equal(e->path, "boundaries/icb_2026_bsc.geojson");
    assert_string_equal(e->layer, "");
    assert_string_equal(e->name_field, "ICB26NM");
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

static void test_catalogue_real_attributions(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    size_t n = fp_catalogue_count(cat);
    for (size_t i = 0; i < n; i++) {
        const fp_edition *e = fp_catalogue_get(cat, i);
        assert_non_null(e);
        /* The licence requires the OGL notice and the copyright year. */
        char year[8];
        snprintf(year, sizeof year, "%d", e->vintage);
        if (!strstr(e->attribution, "Open Government Licence"))
            fail_msg("%s: attribution lacks the OGL: %s", e->id,
                     e->attribution);
        if (!strstr(e->attribution, year))
            fail_msg("%s: attribution lacks %s: %s", e->id, year,
                     e->attribution);
        assert_ptr_equal(fp_catalogue_find(cat, e->id), e);
    }
    assert_null(fp_catalogue_get(cat, n));
    assert_null(fp_catalogue_get(cat, (size_t)-1));
    assert_null(fp_catalogue_find(cat, "icb2099"));
    assert_null(fp_catalogue_find(cat, "ICB2026")); /* ids are exact */
    assert_null(fp_catalogue_find(cat, ""));
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

static void expect_valid_on(const fp_catalogue *cat, const char *level,
                            const char *date, const char *want)
{
    const fp_edition *e = fp_catalogue_valid_on(cat, level, date);
    if (!want) {
        if (e) fail_msg("%s on %s: got %s, want none", level, date, e->id);
        return;
    }
    if (!e) fail_msg("%s on %s: got none, want %s", level, date, want);
    if (strcmp(e->id, want) != 0)
        fail_msg("%s on %s: got %s, want %s", level, date, e->id, want);
}

static void test_catalogue_valid_on_real(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    expect_valid_on(cat, "icb", "2026-11-24", "icb2026");
    expect_valid_on(cat, "icb", "2024-06-01", "icb2023");
    expect_valid_on(cat, "icb", "2022-07-01", "icb2022");
    expect_valid_on(cat, "stp", "2019-06-01", "stp2017");
    expect_valid_on(cat, "stp", "2021-06-01", "stp2021");
    expect_valid_on(cat, "icb", "2020-01-01", NULL); /* before ICBs */
    /* Both ends of each range are inclusive. */
    expect_valid_on(cat, "icb", "2023-03-31", "icb2022");
    expect_valid_on(cat, "icb", "2023-04-01", "icb2023");
    expect_valid_on(cat, "icb", "2026-03-31", "icb2023");
    expect_valid_on(cat, "icb", "2026-04-01", "icb2026");
    expect_valid_on(cat, "icb", "2022-06-30", NULL);
    expect_valid_on(cat, "stp", "2017-01-31", NULL);
    expect_valid_on(cat, "stp", "2017-02-01", "stp2017");
    expect_valid_on(cat, "stp", "2021-03-31", "stp2017");
    expect_valid_on(cat, "stp", "2021-04-01", "stp2021");
    expect_valid_on(cat, "stp", "2022-06-30", "stp2021");
    expect_valid_on(cat, "stp", "2022-07-01", NULL); /* STPs became ICBs */
    /* An open-ended edition stays valid. */
    expect_valid_on(cat, "icb", "2999-12-31", "icb2026");
    /* Unknown level. */
    expect_valid_on(cat, "pct", "2024-06-01", NULL);
    expect_valid_on(cat, "", "2024-06-01", NULL);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

static void test_catalogue_valid_on_prefers_latest_start(void **state)
{
    (void)state;
    /* Overlapping editions of a level: the latest-starting one that covers
     * the date wins, whatever the row order. */
    static const char *const texts[] = {
        HEADER
        "a1,lvl,A,2020-01-01,,a.geojson,,C,N,2020," OGL "\n"
        "b1,lvl,B,2022-01-01,2022-12-31,b.geojson,,C,N,2022," OGL "\n",
        HEADER
        "b1,lvl,B,2022-01-01,2022-12-31,b.geojson,,C,N,2022," OGL "\n"
        "a1,lvl,A,2020-01-01,,a.geojson,,C,N,2020," OGL "\n",
    };
    for (size_t t = 0; t < 2; t++) {
        fp_ctx *ctx = test_ctx();
        fp_catalogue *cat;
        assert_int_equal(parse(ctx, texts[t], &cat), FP_OK);
        expect_valid_on(cat, "lvl", "2019-12-31", NULL);
        expect_valid_on(cat, "lvl", "2021-06-01", "a1");
        expect_valid_on(cat, "lvl", "2022-01-01", "b1");
        expect_valid_on(cat, "lvl", "2022-12-31", "b1");
        expect_valid_on(cat, "lvl", "2023-01-01", "a1");
        fp_catalogue_free(cat);
        test_ctx_done(ctx);
    }
}

/* ---- parsing details ---- */

static void test_catalogue_parses_quoted_and_reordered(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    /* Columns are found by name, in any order, extra ones ignored; quoted
     * fields carry commas, quotes and newlines. */
    const char *text =
        "attribution,extra,vintage,name_field,code_field,layer,path,"
        "valid_to,valid_from,name,level,id\n"
        "\"" OGL ", \"\"quoted\"\"\nsecond line\",ignored,2021,NM,CD,lyr,"
        "dir/f.gpkg,,2021-12-01,\"Name, with comma\",lad,lad2021\n";
    fp_catalogue *cat;
    assert_int_equal(parse(ctx, text, &cat), FP_OK);
    assert_int_equal(fp_catalogue_count(cat), 1);
    const fp_edition *e = fp_catalogue_get(cat, 0);
    assert_string_equal(e->id, "lad2021");
    assert_string_equal(e->level, "lad");
    assert_string_equal(e->name, "Name, with comma");
    assert_string_equal(e->valid_from, "2021-12-01");
    assert_string_equal(e->valid_to, "");
    assert_string_equal(e->path, "dir/f.gpkg");
    assert_string_equal(e->layer, "lyr");
    assert_string_equal(e->code_field, "CD");
    assert_string_equal(e->name_field, "NM");
    assert_int_equal(e->vintage, 2021);
    assert_string_equal(e->attribution,
                        OGL ", \"quoted\"\nsecond line");
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* Compares every field of two catalogues. */
static void expect_same(const fp_catalogue *a, const fp_catalogue *b)
{
    assert_int_equal(fp_catalogue_count(a), fp_catalogue_count(b));
    for (size_t i = 0; i < fp_catalogue_count(a); i++) {
        const fp_edition *x = fp_catalogue_get(a, i), *y = fp_catalogue_get(b, i);
        assert_string_equal(x->id, y->id);
        assert_string_equal(x->level, y->level);
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->valid_from, y->valid_from);
        assert_string_equal(x->valid_to, y->valid_to);
        assert_string_equal(x->path, y->path);
        assert_string_equal(x->layer, y->layer);
        assert_string_equal(x->code_field, y->code_field);
        assert_string_equal(x->name_field, y->name_field);
        assert_int_equal(x->vintage, y->vintage);
        assert_string_equal(x->attribution, y->attribution);
    }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void test_catalogue_crlf_and_bom(void **state)
{
    (void)state;
    /* The same catalogue saved by a Windows editor (BOM, CRLF) must read
     * exactly the same: no "\r" at the end of attributions, no BOM in
     * front of "id". */
    size_t len;
    char *lf = slurp("geodata/editions.csv", &len);
    char *win = malloc(2 * len + 4);
    assert_non_null(win);
    size_t n = 0;
    memcpy(win, "\xEF\xBB\xBF", 3);
    n = 3;
    for (size_t i = 0; i < len; i++) {
        if (lf[i] == '\n') win[n++] = '\r';
        win[n++] = lf[i];
    }
    fp_ctx *ctx = test_ctx();
    fp_catalogue *a, *b, *c;
    assert_int_equal(fp_catalogue_parse(ctx, lf, len, "lf.csv", &a), FP_OK);
    assert_int_equal(fp_catalogue_parse(ctx, win, n, "win.csv", &b), FP_OK);
    /* CRLF without the BOM, and the BOM without CRLF. */
    assert_int_equal(fp_catalogue_parse(ctx, win + 3, n - 3, "crlf.csv", &c),
                     FP_OK);
    expect_same(a, b);
    expect_same(a, c);
    fp_catalogue_free(c);
    memcpy(win + 3, lf, len);
    assert_int_equal(fp_catalogue_parse(ctx, win, len + 3, "bom.csv", &c),
                     FP_OK);
    expect_same(a, c);
    for (size_t i = 0; i < fp_catalogue_count(b); i++)
        assert_null(strchr(fp_catalogue_get(b, i)->attribution, '\r'));
    assert_non_null(fp_catalogue_find(b, "icb2026"));
    fp_catalogue_free(a);
    fp_catalogue_free(b);
    fp_catalogue_free(c);
    test_ctx_done(ctx);
    free(lf);
    free(win);
}

static void test_catalogue_last_row_without_newline(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat;
    const char *text = HEADER ROW_ICB23
        "x,y,Z,2020-01-01,2020-12-31,p.shp,,C,,2020,attr";
    assert_int_equal(parse(ctx, text, &cat), FP_OK);
    assert_int_equal(fp_catalogue_count(cat), 2);
    assert_string_equal(fp_catalogue_get(cat, 1)->attribution, "attr");
    assert_string_equal(fp_catalogue_get(cat, 1)->name_field, "");
    /* A one-day edition (valid_to == valid_from) is allowed. */
    fp_catalogue_free(cat);
    text = HEADER "x,y,Z,2020-01-01,2020-01-01,p.shp,,C,,2020,attr\n";
    assert_int_equal(parse(ctx, text, &cat), FP_OK);
    expect_valid_on(cat, "y", "2020-01-01", "x");
    expect_valid_on(cat, "y", "2020-01-02", NULL);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

static void test_catalogue_errmsg_cleared_on_success(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat;
    assert_int_equal(parse(ctx, "", &cat), FP_EFORMAT);
    assert_string_not_equal(fp_ctx_errmsg(ctx), "");
    assert_int_equal(parse(ctx, HEADER ROW_ICB23, &cat), FP_OK);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    fp_catalogue_free(cat);
    fp_catalogue_free(NULL); /* accepted */
    test_ctx_done(ctx);
}

/* ---- errors ---- */

static void test_catalogue_rejects_empty_text(void **state)
{
    (void)state;
    static const char *const empties[] = {"", "\n\n", "\r\n", "\xEF\xBB\xBF"};
    for (size_t i = 0; i < 4; i++) {
        fp_ctx *ctx = test_ctx();
        fp_catalogue *cat;
        int rc = parse(ctx, empties[i], &cat);
        expect_fail(ctx, rc, cat, FP_EFORMAT, "x.csv: ", "empty catalogue");
    }
}

static void test_catalogue_rejects_header_only(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat;
    int rc = parse(ctx, HEADER, &cat);
    expect_fail(ctx, rc, cat, FP_EFORMAT, "x.csv: ", "no editions");
}

static void test_catalogue_rejects_missing_header_column(void **state)
{
    (void)state;
    static const char *const cols[] = {
        "id", "level", "name", "valid_from", "valid_to", "path", "layer",
        "code_field", "name_field", "vintage", "attribution"};
    /* Drop each column in turn; the message names the missing one. */
    for (size_t drop = 0; drop < 11; drop++) {
        char text[512] = "", what[64];
        for (size_t k = 0; k < 11; k++) {
            if (k == drop) continue;
            if (*text) strcat(text, ",");
            strcat(text, cols[k]);
        }
        strcat(text, "\n");
        strcat(text, ROW_ICB23);
        snprintf(what, sizeof what, "header lacks column '%s'", cols[drop]);
        fp_ctx *ctx = test_ctx();
        fp_catalogue *cat;
        int rc = parse(ctx, text, &cat);
        expect_fail(ctx, rc, cat, FP_EFORMAT, "x.csv: ", what);
    }
    /* Names are exact: "ID" is not "id". */
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat;
    int rc = parse(ctx,
                   "ID,level,name,valid_from,valid_to,path,layer,code_field,"
                   "name_field,vintage,attribution\n" ROW_ICB23,
                   &cat);
    expect_fail(ctx, rc, cat, FP_EFORMAT, "x.csv: ",
                "header lacks column 'id'");
}

static void test_catalogue_rejects_bad_date(void **state)
{
    (void)state;
    expect_bad_row("bad,icb,B,2023-02-30,,p.geojson,,C,N,2023,a\n",
                   "valid_from '2023-02-30'");
    expect_bad_row("bad,icb,B,2023-13-01,,p.geojson,,C,N,2023,a\n",
                   "valid_from '2023-13-01'");
    expect_bad_row("bad,icb,B,2023/01/01,,p.geojson,,C,N,2023,a\n",
                   "valid_from '2023/01/01'");
    expect_bad_row("bad,icb,B,,,p.geojson,,C,N,2023,a\n",
                   "dates must be YYYY-MM-DD");
    /* valid_to is checked too when present. */
    expect_bad_row("bad,icb,B,2023-01-01,2024-02-30,p.geojson,,C,N,2023,a\n",
                   "valid_to '2024-02-30'");
    expect_bad_row("bad,icb,B,2023-01-01,open,p.geojson,,C,N,2023,a\n",
                   "valid_to 'open'");
}

static void test_catalogue_rejects_valid_to_before_valid_from(void **state)
{
    (void)state;
    expect_bad_row("bad,icb,B,2023-04-01,2023-03-31,p.geojson,,C,N,2023,a\n",
                   "valid_to 2023-03-31 is before valid_from 2023-04-01");
}

static void test_catalogue_rejects_duplicate_id(void **state)
{
    (void)state;
    expect_bad_row("icb2023,icb,Again,2024-04-01,,p.geojson,,C,N,2024,a\n",
                   "duplicate id 'icb2023'");
}

static void test_catalogue_rejects_path_outside_data_dir(void **state)
{
    (void)state;
    expect_bad_row("bad,icb,B,2023-01-01,,../secret.geojson,,C,N,2023,a\n",
                   "path '../secret.geojson' must stay inside");
    expect_bad_row("bad,icb,B,2023-01-01,,boundaries/../../etc/x,,C,N,2023,a\n",
                   "path 'boundaries/../../etc/x' must stay inside");
    expect_bad_row("bad,icb,B,2023-01-01,,/etc/passwd,,C,N,2023,a\n",
                   "path '/etc/passwd' must stay inside");
    expect_bad_row("bad,icb,B,2023-01-01,,boundaries/..,,C,N,2023,a\n",
                   "must stay inside the data directory");
}

static void test_catalogue_rejects_bad_vintage(void **state)
{
    (void)state;
    expect_bad_row("bad,icb,B,2023-01-01,,p.geojson,,C,N,abc,a\n",
                   "bad vintage 'abc'");
    expect_bad_row("bad,icb,B,2023-01-01,,p.geojson,,C,N,,a\n",
                   "bad vintage ''");
    expect_bad_row("bad,icb,B,2023-01-01,,p.geojson,,C,N,2023x,a\n",
                   "bad vintage '2023x'");
    expect_bad_row("bad,icb,B,2023-01-01,,p.geojson,,C,N,1899,a\n",
                   "bad vintage '1899'");
    expect_bad_row("bad,icb,B,2023-01-01,,p.geojson,,C,N,3000,a\n",
                   "bad vintage '3000'");
    expect_bad_row("bad,icb,B,2023-01-01,,p.geojson,,C,N,20.5,a\n",
                   "bad vintage '20.5'");
}

static void test_catalogue_rejects_bad_identifiers(void **state)
{
    (void)state;
    expect_bad_row("ICB2024,icb,B,2023-01-01,,p.geojson,,C,N,2023,a\n",
                   "got 'ICB2024', 'icb'");
    expect_bad_row("icb 2024,icb,B,2023-01-01,,p.geojson,,C,N,2023,a\n",
                   "lower-case identifiers");
    expect_bad_row(",icb,B,2023-01-01,,p.geojson,,C,N,2023,a\n",
                   "lower-case identifiers");
    expect_bad_row("x,,B,2023-01-01,,p.geojson,,C,N,2023,a\n",
                   "got 'x', ''");
}

static void test_catalogue_rejects_missing_required(void **state)
{
    (void)state;
    expect_bad_row("bad,icb,B,2023-01-01,,,,C,N,2023,a\n",
                   "path, code_field and attribution are required");
    expect_bad_row("bad,icb,B,2023-01-01,,p.geojson,,,N,2023,a\n",
                   "path, code_field and attribution are required");
    expect_bad_row("bad,icb,B,2023-01-01,,p.geojson,,C,N,2023,\n",
                   "path, code_field and attribution are required");
}

static void test_catalogue_rejects_unterminated_quote(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat;
    int rc = parse(ctx,
                   HEADER ROW_ICB23
                   "bad,icb,\"open quote,2023-01-01,,p.geojson,,C,N,2023,a\n"
                   ROW_TAIL,
                   &cat);
    expect_fail(ctx, rc, cat, FP_EFORMAT, "x.csv: line 3: ",
                "unterminated quoted field");
}

static void test_catalogue_rejects_fewer_fields(void **state)
{
    (void)state;
    expect_bad_row("bad,icb,B,2023-01-01,,p.geojson,,C,N,2023\n",
                   "10 fields, expected 11");
    expect_bad_row("bad\n", "1 fields, expected 11");
}

static void test_catalogue_error_line_counts_embedded_newlines(void **state)
{
    (void)state;
    /* Line 2's name spans two lines, so the bad row starts on line 4. */
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat;
    int rc = parse(ctx,
                   HEADER
                   "ok,icb,\"Two\nlines\",2023-01-01,,p.geojson,,C,N,2023,a\n"
                   "bad,icb,B,2023-01-01,,p.geojson,,C,N,1,a\n" ROW_TAIL,
                   &cat);
    expect_fail(ctx, rc, cat, FP_EFORMAT, "x.csv: line 4: ",
                "bad vintage '1'");
}

static void test_catalogue_error_on_last_line(void **state)
{
    (void)state;
    /* The last row, with and without its final newline: line 3 both ways. */
    static const char *const texts[] = {
        HEADER ROW_ICB23 "bad,icb,B,2023-01-01,,p.geojson,,C,N,1,a\n",
        HEADER ROW_ICB23 "bad,icb,B,2023-01-01,,p.geojson,,C,N,1,a",
    };
    for (size_t i = 0; i < 2; i++) {
        fp_ctx *ctx = test_ctx();
        fp_catalogue *cat;
        int rc = parse(ctx, texts[i], &cat);
        expect_fail(ctx, rc, cat, FP_EFORMAT, "x.csv: line 3: ",
                    "bad vintage '1'");
    }
}

static void test_catalogue_source_with_newline_stays_one_line(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = (fp_catalogue *)1;
    int rc = fp_catalogue_parse(ctx, "", 0, "odd\nname.csv", &cat);
    assert_int_equal(rc, FP_EFORMAT);
    assert_null(cat);
    assert_string_equal(fp_ctx_errmsg(ctx), "odd name.csv: empty catalogue");
    test_ctx_done(ctx);
}

/* ---- loading ---- */

static void test_catalogue_load_missing_file(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = (fp_catalogue *)1;
    int rc = fp_catalogue_load(ctx, "no/such/dir/editions.csv", &cat);
    assert_int_equal(rc, FP_EIO);
    assert_null(cat);
    assert_int_equal(fp_ctx_errcode(ctx), FP_EIO);
    assert_string_equal(fp_ctx_errmsg(ctx),
                        "no/such/dir/editions.csv: No such file or directory");
    test_ctx_done(ctx);
}

static void test_catalogue_load_names_file_in_errors(void **state)
{
    (void)state;
    /* fp_catalogue_load passes its path as the source of messages. */
    char path[] = "/tmp/fp_test_cat_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] =
        HEADER ROW_ICB23 "bad,icb,B,2023-01-01,,p.geojson,,C,N,2023\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)sizeof text - 1);
    close(fd);
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = (fp_catalogue *)1;
    int rc = fp_catalogue_load(ctx, path, &cat);
    unlink(path);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s: line 3: ", path);
    expect_fail(ctx, rc, cat, FP_EFORMAT, prefix, "10 fields, expected 11");
}

static void test_catalogue_load_out_of_memory(void **state)
{
    (void)state;
    /* Fail every allocation in turn, through reading and parsing: each
     * attempt is FP_ENOMEM with nothing leaked, until one succeeds. */
    long n;
    for (n = 0; n < 1000; n++) {
        fp_ctx *ctx = test_ctx();
        fp_catalogue *cat = (fp_catalogue *)1;
        test_alloc_fail_after(n);
        int rc = fp_catalogue_load(ctx, "geodata/editions.csv", &cat);
        test_alloc_fail_after(-1);
        if (rc == FP_OK) {
            assert_non_null(cat);
            assert_non_null(fp_catalogue_find(cat, "icb2026"));
            fp_catalogue_free(cat);
            test_ctx_done(ctx);
            break;
        }
        expect_fail(ctx, rc, cat, FP_ENOMEM, "geodata/editions.csv: ",
                    "out of memory");
    }
    assert_true(n > 2 && n < 1000); /* several steps were exercised */
}

static void test_catalogue_parse_out_of_memory(void **state)
{
    (void)state;
    /* Many rows, so the edition array and the CSV buffers must grow. */
    char *text = malloc(64 * 1024);
    assert_non_null(text);
    size_t len = (size_t)sprintf(text, "%s", HEADER);
    for (int i = 0; i < 40; i++)
        len += (size_t)sprintf(text + len,
                               "e%d,lvl,\"Edition, %d\",2020-01-01,,f%d.shp,,C,"
                               "N,2020," OGL "\n",
                               i, i, i);
    long n;
    for (n = 0; n < 1000; n++) {
        fp_ctx *ctx = test_ctx();
        fp_catalogue *cat = (fp_catalogue *)1;
        test_alloc_fail_after(n);
        int rc = fp_catalogue_parse(ctx, text, len, "big.csv", &cat);
        test_alloc_fail_after(-1);
        if (rc == FP_OK) {
            assert_int_equal(fp_catalogue_count(cat), 40);
            assert_string_equal(fp_catalogue_get(cat, 39)->name, "Edition, 39");
            fp_catalogue_free(cat);
            test_ctx_done(ctx);
            break;
        }
        expect_fail(ctx, rc, cat, FP_ENOMEM, "big.csv: ", "out of memory");
    }
    free(text);
    assert_true(n > 2 && n < 1000);
}


/* ODS facts in a bundle: found by code and date, absent outside their
 * period; a row without its source is refused naming file and line. */
static void test_catalogue_ods_by_date(void **state)
{
    (void)state;
    static const char eds[] = HEADER ROW_ICB23;
    static const char ods[] = "code,ods_code,valid_from,valid_to,source\n"
                              "E54000061,QF7,2022-07-01,,ODS\n"
                              "E38000146,03N,2022-07-01,2026-03-31,ODS\n";
    char bundle[2048];
    snprintf(bundle, sizeof bundle, "@@file editions.csv %zu\n%s\n@@file ods.csv %zu\n%s\n",
             strlen(eds), eds, strlen(ods), ods);
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat;
    assert_int_equal(parse(ctx, bundle, &cat), FP_OK);
    assert_int_equal(fp_catalogue_ods_count(cat), 2);
    assert_string_equal(fp_catalogue_ods_on(cat, "E54000061", "2030-01-01"), "QF7");
    assert_string_equal(fp_catalogue_ods_on(cat, "E38000146", "2026-03-31"), "03N");
    assert_null(fp_catalogue_ods_on(cat, "E38000146", "2026-04-01"));
    assert_null(fp_catalogue_ods_on(cat, "E38000146", "2022-06-30"));
    assert_string_equal(fp_catalogue_ods_on(cat, "E38000146", NULL), "03N");
    assert_null(fp_catalogue_ods_on(cat, "E99999999", NULL));
    assert_string_equal(fp_catalogue_ods_get(cat, 1)->source, "ODS");
    assert_null(fp_catalogue_ods_get(cat, 2));
    fp_catalogue_free(cat);
    static const char bad[] = "code,ods_code,valid_from,valid_to,source\n"
                              "E54000061,QF7,2022-07-01,,\n";
    snprintf(bundle, sizeof bundle, "@@file editions.csv %zu\n%s\n@@file ods.csv %zu\n%s\n",
             strlen(eds), eds, strlen(bad), bad);
    int rc = parse(ctx, bundle, &cat);
    expect_fail(ctx, rc, cat, FP_EFORMAT, "x.csv: ods.csv: line 2", "source");
}

static void test_catalogue_outlives_context(void **state)
{
    (void)state;
    /* Objects keep a copy of the allocator, so may outlive the context. */
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    fp_ctx_free(ctx);
    assert_non_null(fp_catalogue_find(cat, "stp2017"));
    fp_catalogue_free(cat);
    assert_int_equal(test_alloc_outstanding(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalogue_real_file_parses),
        cmocka_unit_test(test_catalogue_real_attributions),
        cmocka_unit_test(test_catalogue_valid_on_real),
        cmocka_unit_test(test_catalogue_valid_on_prefers_latest_start),
        cmocka_unit_test(test_catalogue_parses_quoted_and_reordered),
        cmocka_unit_test(test_catalogue_crlf_and_bom),
        cmocka_unit_test(test_catalogue_last_row_without_newline),
        cmocka_unit_test(test_catalogue_errmsg_cleared_on_success),
        cmocka_unit_test(test_catalogue_rejects_empty_text),
        cmocka_unit_test(test_catalogue_rejects_header_only),
        cmocka_unit_test(test_catalogue_rejects_missing_header_column),
        cmocka_unit_test(test_catalogue_rejects_bad_date),
        cmocka_unit_test(test_catalogue_rejects_valid_to_before_valid_from),
        cmocka_unit_test(test_catalogue_rejects_duplicate_id),
        cmocka_unit_test(test_catalogue_rejects_path_outside_data_dir),
        cmocka_unit_test(test_catalogue_rejects_bad_vintage),
        cmocka_unit_test(test_catalogue_rejects_bad_identifiers),
        cmocka_unit_test(test_catalogue_rejects_missing_required),
        cmocka_unit_test(test_catalogue_rejects_unterminated_quote),
        cmocka_unit_test(test_catalogue_rejects_fewer_fields),
        cmocka_unit_test(test_catalogue_error_line_counts_embedded_newlines),
        cmocka_unit_test(test_catalogue_error_on_last_line),
        cmocka_unit_test(test_catalogue_source_with_newline_stays_one_line),
        cmocka_unit_test(test_catalogue_load_missing_file),
        cmocka_unit_test(test_catalogue_load_names_file_in_errors),
        cmocka_unit_test(test_catalogue_load_out_of_memory),
        cmocka_unit_test(test_catalogue_parse_out_of_memory),
        cmocka_unit_test(test_catalogue_outlives_context),
        cmocka_unit_test(test_catalogue_ods_by_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
