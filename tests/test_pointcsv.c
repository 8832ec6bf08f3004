/* Unit tests for lib/src/pointcsv.c: the streaming CSV reader behind
 * `footprint locate` (blocks of whole records, records, fields, numbers,
 * gzip, files). */
#include "support.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "internal.h"
#include "pointcsv.h"

/* ---- helpers ---- */

/* Every record as "LINE:f1|f2|...\n" (fields unescaped, newlines in them
 * shown as '~'). */
typedef struct dump {
    char *s;
    size_t n, cap;
} dump;

static void dump_put(dump *d, const char *s)
{
    size_t k = strlen(s);
    if (d->n + k + 1 > d->cap) {
        d->cap = 2 * (d->n + k + 1);
        d->s = realloc(d->s, d->cap);
        assert_non_null(d->s);
    }
    memcpy(d->s + d->n, s, k + 1);
    d->n += k;
}

static int dump_row(void *arg, const fp__pcsv_row *row)
{
    dump *d = arg;
    char buf[64];
    snprintf(buf, sizeof buf, "%llu:", (unsigned long long)row->line);
    dump_put(d, buf);
    for (size_t i = 0; i < row->nfields; i++) {
        if (i) dump_put(d, "|");
        for (const char *p = row->fields[i]; *p; p++) {
            char c[2] = {*p == '\n' ? '~' : *p, 0};
            dump_put(d, c);
        }
    }
    dump_put(d, "\n");
    return 0;
}

/* Parses text with the given piece and block sizes; returns the dump
 * (malloc'd) and the status in *rc. */
static char *parse_dump(fp_ctx *ctx, const char *text, size_t len, size_t piece,
                        size_t block, int *rc)
{
    dump d = {0};
    dump_put(&d, "");
    *rc = fp__pcsv_parse(ctx, text, len, piece, block, ',', dump_row, &d);
    return d.s;
}

/* The same records whatever the block and piece sizes. */
static void expect_parse(const char *text, size_t len, const char *want)
{
    fp_ctx *ctx = test_ctx();
    static const size_t blocks[] = {8, 9, 13, 16, 31, 64, 1000, 0};
    static const size_t pieces[] = {1, 2, 7, 0};
    for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++)
        for (size_t p = 0; p < sizeof pieces / sizeof *pieces; p++) {
            int rc;
            char *got = parse_dump(ctx, text, len, pieces[p], blocks[b], &rc);
            if (rc != FP_OK || strcmp(got, want) != 0)
                fail_msg("block %zu piece %zu: status %d (%s)\n got:\n%s want:\n%s",
                         blocks[b], pieces[p], rc, fp_ctx_errmsg(ctx), got, want);
            free(got);
        }
    test_ctx_done(ctx);
}

#define EXPECT(text, want) expect_parse((text), sizeof(text) - 1, (want))

/* gzip (not zlib) framing of len bytes, with zlib itself. */
static unsigned char *gzip_of(const char *text, size_t len, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, len) + 64;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    z.next_in = (unsigned char *)text;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *outlen = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* ---- cutting blocks ---- */

static void test_pointcsv_cut_plain(void **state)
{
    (void)state;
    int open;
    size_t at;
    const char *t = "a,b\n1,2\n3,";
    assert_int_equal(fp__pcsv_cut(t, strlen(t), ',', &open, &at), 8);
    assert_int_equal(open, 0);
    assert_int_equal(fp__pcsv_cut("abc", 3, ',', &open, &at), 0);
    assert_int_equal(fp__pcsv_cut("", 0, ',', &open, &at), 0);
}

static void test_pointcsv_cut_quoted_newline(void **state)
{
    (void)state;
    int open;
    size_t at;
    /* The newline inside quotes is data: the record ends after "y". */
    const char *t = "a,\"x\ny\"\nb,\"p\nq";
    size_t cut = fp__pcsv_cut(t, strlen(t), ',', &open, &at);
    assert_int_equal(cut, 8);
    assert_int_equal(open, 1);
    assert_int_equal(at, 8);
    /* Doubled quotes do not close the field. */
    t = "\"a\"\"\nb\"\nc\n";
    assert_int_equal(fp__pcsv_cut(t, strlen(t), ',', &open, &at), strlen(t));
    assert_int_equal(open, 0);
}

static void test_pointcsv_cut_quote_mid_field_is_data(void **state)
{
    (void)state;
    int open;
    size_t at;
    /* 5'10" style data: a quote not at a field's start opens nothing. */
    const char *t = "a,5'10\",x\nb,c\n";
    assert_int_equal(fp__pcsv_cut(t, strlen(t), ',', &open, &at), strlen(t));
    assert_int_equal(open, 0);
    /* With ';' as the delimiter, a quote after ',' is data too. */
    t = "a,\"b;c\nd\n";
    assert_int_equal(fp__pcsv_cut(t, strlen(t), ';', &open, &at), strlen(t));
    assert_int_equal(fp__pcsv_cut(t, strlen(t), ',', &open, &at), 0);
    assert_int_equal(open, 1);
}

/* ---- records and fields ---- */

/* A writable copy of s with the block sentinel and padding. */
static char *block_of(const char *s, size_t *len)
{
    *len = strlen(s);
    char *b = calloc(1, *len + 1 + FP__PCSV_PAD);
    assert_non_null(b);
    memcpy(b, s, *len);
    b[*len] = '\n';
    return b;
}

static void test_pointcsv_record_wanted_fields(void **state)
{
    (void)state;
    size_t len;
    char *b = block_of("pc,\"5\",x,-1.5\r\nnext\n", &len);
    uint32_t want[2] = {1, 3};
    fp__pcsv_rec r;
    const char *next = fp__pcsv_record(b, b + len, ',', want, 2, &r);
    assert_int_equal(r.nfields, 4);
    assert_int_equal(r.end - r.start, 13); /* CR not in the content */
    assert_ptr_equal(next, b + 15);
    assert_int_equal(r.fe[0] - r.f[0], 3);
    assert_memory_equal(r.f[0], "\"5\"", 3);
    assert_int_equal(r.fe[1] - r.f[1], 4); /* the CR is not the field's */
    assert_memory_equal(r.f[1], "-1.5", 4);
    next = fp__pcsv_record(next, b + len, ',', want, 2, &r);
    assert_int_equal(r.nfields, 1);
    assert_null(r.f[0]); /* too few fields */
    assert_null(r.f[1]);
    assert_ptr_equal(next, b + len);
    free(b);
}

static void test_pointcsv_record_quoted_newlines_counted(void **state)
{
    (void)state;
    size_t len;
    char *b = block_of("\"a\nb\nc\",\"d,e\"\"\"\nz", &len);
    fp__pcsv_rec r;
    const char *next = fp__pcsv_record(b, b + len, ',', NULL, 0, &r);
    assert_int_equal(r.nfields, 2);
    assert_int_equal(r.newlines, 2);
    assert_string_equal(next, "z\n");
    /* The last record, without a newline, ends at the block's end. */
    next = fp__pcsv_record(next, b + len, ',', NULL, 0, &r);
    assert_ptr_equal(next, b + len);
    assert_ptr_equal(r.end, b + len);
    free(b);
}

static void test_pointcsv_record_blank_line(void **state)
{
    (void)state;
    size_t len;
    char *b = block_of("\r\n\n", &len);
    fp__pcsv_rec r;
    const char *next = fp__pcsv_record(b, b + len, ',', NULL, 0, &r);
    assert_ptr_equal(r.start, r.end);
    assert_int_equal(r.nfields, 1);
    next = fp__pcsv_record(next, b + len, ',', NULL, 0, &r);
    assert_ptr_equal(r.start, r.end);
    assert_ptr_equal(next, b + len);
    free(b);
}

static void test_pointcsv_fields_unescaped(void **state)
{
    (void)state;
    const char *t = "plain,\"a,b\",\"say \"\"hi\"\"\",\"x\"tail,,";
    char buf[64];
    const char *f[8];
    size_t n = fp__pcsv_fields(t, t + strlen(t), ',', buf, f, 8);
    assert_int_equal(n, 6);
    assert_string_equal(f[0], "plain");
    assert_string_equal(f[1], "a,b");
    assert_string_equal(f[2], "say \"hi\"");
    assert_string_equal(f[3], "xtail"); /* text after the closing quote kept */
    assert_string_equal(f[4], "");
    assert_string_equal(f[5], "");
    /* More fields than pointers: counted, not stored. */
    assert_int_equal(fp__pcsv_fields(t, t + strlen(t), ',', buf, f, 2), 6);
}

static void test_pointcsv_escape_round_trip(void **state)
{
    (void)state;
    static const char *const cases[] = {"plain", "a,b", "say \"hi\"", "two\nlines",
                                        "cr\r", "", "NHS Bath, Swindon"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char esc[64], back[64];
        size_t n = fp__pcsv_escape(esc, cases[i], strlen(cases[i]), ',');
        assert_true(n <= 2 * strlen(cases[i]) + 2);
        const char *f[2];
        assert_int_equal(fp__pcsv_fields(esc, esc + n, ',', back, f, 2), 1);
        assert_string_equal(f[0], cases[i]);
    }
    char esc[16];
    assert_int_equal(fp__pcsv_escape(esc, "a;b", 3, ','), 3); /* not special */
    assert_int_equal(fp__pcsv_escape(esc, "a;b", 3, ';'), 5);
}

/* ---- numbers ---- */

static int num(const char *s, double *v)
{
    *v = -12345;
    return fp__pcsv_number(s, s + strlen(s), v);
}

static void test_pointcsv_number_accepts(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        double v;
    } ok[] = {{"57.10145", 57.10145}, {"-2.24285", -2.24285}, {"+4", 4}, {".5", 0.5},
              {"5.", 5},             {" 1.5\t", 1.5},        {"\"3.25\"", 3.25},
              {" \" 7 \" ", 7},      {"1e3", 1000},          {"1E-2", 0.01},
              {"-0", -0.0},          {"0.000", 0},           {"530000", 530000},
              {"1e-400", 0},         {"12345678901234567890123", 12345678901234567890123.0}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        double v;
        if (num(ok[i].s, &v) != FP__PCSV_NUM || v != ok[i].v)
            fail_msg("'%s': got %.17g, want %.17g", ok[i].s, v, ok[i].v);
    }
    double v;
    assert_int_equal(num("-0", &v), FP__PCSV_NUM);
    assert_true(signbit(v));
}

static void test_pointcsv_number_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {"abc",  "1.2.3", "nan", "NaN", "inf", "-inf",
                                      "0x10", "1,5",   "--1", "1e",  "1e+", "e5",
                                      ".",    "-",     "1 2", "\"1\"x", "\"1",
                                      "1e400", "5m",   "½"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        double v;
        if (num(bad[i], &v) != FP__PCSV_BAD) fail_msg("'%s' accepted as %g", bad[i], v);
    }
    double v;
    assert_int_equal(num("", &v), FP__PCSV_EMPTY);
    assert_int_equal(num("   ", &v), FP__PCSV_EMPTY);
    assert_int_equal(num("\"\"", &v), FP__PCSV_EMPTY);
}

/* Correctly rounded: the same double as strtod, digit for digit. */
static void test_pointcsv_number_matches_strtod(void **state)
{
    (void)state;
    unsigned long seed = 12345;
    for (int i = 0; i < 200000; i++) {
        char s[64];
        seed = seed * 6364136223846793005ul + 1442695040888963407ul;
        int digits = 1 + (int)((seed >> 33) % 21), point = (int)((seed >> 40) % (unsigned)(digits + 1));
        size_t n = 0;
        if ((seed >> 50) & 1) s[n++] = '-';
        for (int d = 0; d < digits; d++) {
            if (d == point && d) s[n++] = '.';
            seed = seed * 6364136223846793005ul + 1442695040888963407ul;
            s[n++] = (char)('0' + (seed >> 35) % 10);
        }
        if ((seed >> 60) & 1) n += (size_t)snprintf(s + n, sizeof s - n, "e%d",
                                                    (int)((seed >> 20) % 60) - 30);
        s[n] = '\0';
        double v, w = strtod(s, NULL);
        assert_int_equal(num(s, &v), FP__PCSV_NUM);
        if (memcmp(&v, &w, sizeof v) != 0) fail_msg("'%s': %.17g, strtod %.17g", s, v, w);
    }
}

/* ---- the whole reader ---- */

static void test_pointcsv_parse_edge_cases(void **state)
{
    (void)state;
    /* BOM, CRLF, quotes with delimiters and newlines, blank lines, a
     * short row, a last line without its newline. */
    EXPECT("\xEF\xBB\xBFpc,lat,long\r\n"
           "\"A, B\",\"5\"\"\",x\r\n"
           "\r\n"
           "\"two\nlines\",1\n"
           "\n"
           "last,2,3",
           "1:pc|lat|long\n"
           "2:A, B|5\"|x\n"
           "3:\n"
           "4:two~lines|1\n"
           "6:\n"
           "7:last|2|3\n");
    EXPECT("", "");
    EXPECT("\xEF\xBB\xBF", "");
    EXPECT("h\n", "1:h\n");
    EXPECT("a,b,c\n,,\n", "1:a|b|c\n2:||\n");
}

static void test_pointcsv_parse_long_records_grow_blocks(void **state)
{
    (void)state;
    /* Records far longer than the block. */
    char text[3000], want[3100];
    size_t n = 0;
    memcpy(text, "h\n", 2);
    n = 2;
    for (int i = 0; i < 1000; i++) text[n++] = (char)('a' + i % 26);
    text[n++] = '\n';
    text[n] = '\0';
    snprintf(want, sizeof want, "1:h\n2:%.*s\n", 1000, text + 2);
    expect_parse(text, n, want);
}

/* What the callback saw of the second record. */
typedef struct seen {
    size_t rows, nfields;
    int kinds[4];
    double nums[4];
} seen;

static int see_row(void *arg, const fp__pcsv_row *row)
{
    seen *s = arg;
    if (++s->rows == 2) {
        s->nfields = row->nfields;
        for (size_t i = 0; i < row->nfields && i < 4; i++) {
            s->kinds[i] = row->kinds[i];
            s->nums[i] = row->numbers[i];
        }
    }
    return 0;
}

static void test_pointcsv_parse_numbers_per_field(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    seen s;
    memset(&s, 0, sizeof s);
    const char text[] = "lat,lon,name,empty\n53.1,\"-1.5\",x,\n";
    assert_int_equal(fp__pcsv_parse(ctx, text, sizeof text - 1, 0, 0, ',', see_row, &s),
                     FP_OK);
    assert_int_equal(s.rows, 2);
    assert_int_equal(s.nfields, 4);
    assert_int_equal(s.kinds[0], FP__PCSV_NUM);
    assert_true(s.nums[0] == 53.1);
    assert_int_equal(s.kinds[1], FP__PCSV_NUM);
    assert_true(s.nums[1] == -1.5);
    assert_int_equal(s.kinds[2], FP__PCSV_BAD);
    assert_true(isnan(s.nums[2]));
    assert_int_equal(s.kinds[3], FP__PCSV_EMPTY);
    test_ctx_done(ctx);
}

static int stop_at_two(void *arg, const fp__pcsv_row *row)
{
    (void)row;
    return ++*(int *)arg == 2 ? 99 : 0;
}

static void test_pointcsv_parse_callback_stops(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    int n = 0;
    const char text[] = "a\nb\nc\nd\n";
    assert_int_equal(fp__pcsv_parse(ctx, text, sizeof text - 1, 0, 0, ',', stop_at_two, &n),
                     99);
    assert_int_equal(n, 2);
    test_ctx_done(ctx);
}

static void test_pointcsv_parse_unterminated_quote(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    const char text[] = "h\n1,ok\n2,\"open\n\nstill open";
    for (size_t block = 8; block <= 64; block += 7) {
        int rc;
        char *got = parse_dump(ctx, text, sizeof text - 1, 3, block, &rc);
        assert_int_equal(rc, FP_EFORMAT);
        /* Named by the line its record starts on. */
        assert_non_null(strstr(fp_ctx_errmsg(ctx), "line 3: unterminated quoted field"));
        free(got);
    }
    test_ctx_done(ctx);
}

static void test_pointcsv_blocks_hold_whole_records(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    const char text[] = "\xEF\xBB\xBFh,x\na,\"b\nc\"\nd,e\n\nf,\"g\"\"\"\nlast";
    for (size_t block = 8; block <= 40; block++) {
        fp__pcsv_reader *r;
        assert_int_equal(fp__pcsv_reader_mem(ctx, text, sizeof text - 1, 5, &r), FP_OK);
        fp__pcsv_reader_set(r, ',', block);
        fp__pcsv_block b = {0};
        char all[128] = "";
        size_t n = 0;
        uint64_t line = 1, off = 0;
        int got;
        while ((got = fp__pcsv_reader_next(r, &b)) > 0) {
            /* Each block: whole records, the sentinel, the right place. */
            assert_int_equal(b.data[b.len], '\n');
            assert_int_equal(b.line, line);
            assert_int_equal(b.offset, off);
            int open;
            size_t at;
            size_t cut = fp__pcsv_cut(b.data, b.len, ',', &open, &at);
            assert_false(open);
            if (b.data[b.len - 1] == '\n') assert_int_equal(cut, b.len);
            for (size_t i = 0; i < b.len; i++) line += b.data[i] == '\n';
            off += b.len;
            memcpy(all + n, b.data, b.len);
            n += b.len;
        }
        assert_int_equal(got, 0);
        assert_int_equal(fp__pcsv_reader_next(r, &b), 0); /* the end is sticky */
        assert_true(fp__pcsv_reader_bom(r));
        assert_false(fp__pcsv_reader_gzip(r));
        assert_int_equal(n, sizeof text - 1 - 3);
        assert_memory_equal(all, text + 3, n);
        fp__pcsv_block_free(r, &b);
        fp__pcsv_reader_free(r);
    }
    test_ctx_done(ctx);
}

/* Random text over the bytes that matter: wherever blocks are cut and
 * however the input arrives, the same records or the same error. */
static void test_pointcsv_parse_random_text_block_independent(void **state)
{
    (void)state;
    static const char alphabet[] = "a1,,\"\"\n\r .-";
    fp_ctx *ctx = test_ctx();
    unsigned long seed = 99;
    int parsed = 0;
    for (int round = 0; round < 300; round++) {
        char text[200];
        seed = seed * 6364136223846793005ul + 1442695040888963407ul;
        size_t len = (size_t)((seed >> 33) % sizeof text);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005ul + 1442695040888963407ul;
            text[i] = alphabet[(seed >> 40) % (sizeof alphabet - 1)];
        }
        int rc0;
        char *want = parse_dump(ctx, text, len, 0, 0, &rc0);
        parsed += rc0 == FP_OK;
        char msg0[FP_ERRMSG_MAX];
        snprintf(msg0, sizeof msg0, "%s", fp_ctx_errmsg(ctx));
        for (size_t block = 8; block < 48; block += 5) {
            int rc;
            char *got = parse_dump(ctx, text, len, 1 + block % 4, block, &rc);
            /* (Records before an error depend on the blocks: only the
             * error itself must agree.) */
            if (rc != rc0 || (!rc && strcmp(got, want) != 0) ||
                (rc && strcmp(fp_ctx_errmsg(ctx), msg0) != 0))
                fail_msg("round %d, block %zu: status %d/%d ('%s' / '%s')\n got:\n%s want:\n%s",
                         round, block, rc, rc0, fp_ctx_errmsg(ctx), msg0, got, want);
            free(got);
        }
        free(want);
    }
    assert_true(parsed > 50); /* not only open quotes */
    test_ctx_done(ctx);
}

/* ---- gzip ---- */

static void test_pointcsv_gzip_input(void **state)
{
    (void)state;
    const char text[] = "pc,lat\n\"S1 2HE\",53.38\nX,1\n";
    size_t zn;
    unsigned char *z = gzip_of(text, sizeof text - 1, &zn);
    expect_parse((const char *)z, zn, "1:pc|lat\n2:S1 2HE|53.38\n3:X|1\n");
    /* Two members are one stream, as gzip -d has it. */
    unsigned char *two = malloc(2 * zn);
    memcpy(two, z, zn);
    memcpy(two + zn, z, zn);
    expect_parse((const char *)two, 2 * zn,
                 "1:pc|lat\n2:S1 2HE|53.38\n3:X|1\n4:pc|lat\n5:S1 2HE|53.38\n6:X|1\n");
    fp_ctx *ctx = test_ctx();
    fp__pcsv_reader *r;
    assert_int_equal(fp__pcsv_reader_mem(ctx, (const char *)z, zn, 0, &r), FP_OK);
    fp__pcsv_block b = {0};
    assert_int_equal(fp__pcsv_reader_next(r, &b), 1);
    assert_true(fp__pcsv_reader_gzip(r));
    assert_int_equal(fp__pcsv_reader_consumed(r), zn);
    fp__pcsv_block_free(r, &b);
    fp__pcsv_reader_free(r);
    test_ctx_done(ctx);
    free(two);
    free(z);
}

static void test_pointcsv_gzip_truncated_or_corrupt(void **state)
{
    (void)state;
    char text[4000];
    size_t n = 0;
    n += (size_t)snprintf(text, sizeof text, "pc,lat\n");
    while (n < sizeof text - 40) n += (size_t)snprintf(text + n, sizeof text - n, "row%zu,%zu\n", n, n);
    size_t zn;
    unsigned char *z = gzip_of(text, n, &zn);
    fp_ctx *ctx = test_ctx();
    int rc;
    /* Cut anywhere: an error naming the problem, never a silent end. */
    for (size_t cut = 2; cut < zn; cut += 1 + cut / 8) {
        char *got = parse_dump(ctx, (const char *)z, cut, 0, 64, &rc);
        if (rc != FP_EFORMAT) fail_msg("cut at %zu of %zu: status %d", cut, zn, rc);
        assert_non_null(strstr(fp_ctx_errmsg(ctx), "gzip"));
        free(got);
    }
    /* Damaged inside. */
    z[zn / 2] ^= 0x55;
    z[zn / 2 + 1] ^= 0xaa;
    free(parse_dump(ctx, (const char *)z, zn, 0, 64, &rc));
    assert_int_equal(rc, FP_EFORMAT);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "gzip"));
    z[zn / 2] ^= 0x55;
    z[zn / 2 + 1] ^= 0xaa;
    /* Something else after the stream. */
    unsigned char *more = malloc(zn + 4);
    memcpy(more, z, zn);
    memcpy(more + zn, "junk", 4);
    free(parse_dump(ctx, (const char *)more, zn + 4, 0, 64, &rc));
    assert_int_equal(rc, FP_EFORMAT);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "after the end of the gzip stream"));
    test_ctx_done(ctx);
    free(more);
    free(z);
}

/* ---- files ---- */

static void test_pointcsv_reader_file(void **state)
{
    (void)state;
    char path[] = "/tmp/fp-pointcsv-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "a,b\n1,2\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    fp_ctx *ctx = test_ctx();
    fp__pcsv_reader *r;
    assert_int_equal(fp__pcsv_reader_open(ctx, path, &r), FP_OK);
    assert_string_equal(fp__pcsv_reader_name(r), path);
    assert_false(fp__pcsv_reader_stdin(r));
    assert_int_equal(fp__pcsv_reader_size(r), (int64_t)(sizeof text - 1));
    fp__pcsv_reader_record(r, 1);
    fp__pcsv_block b = {0};
    assert_int_equal(fp__pcsv_reader_next(r, &b), 1);
    assert_int_equal(b.len, sizeof text - 1);
    assert_memory_equal(b.data, text, b.len);
    size_t rn;
    const char *rec = fp__pcsv_reader_recorded(r, &rn);
    assert_int_equal(rn, sizeof text - 1); /* the raw bytes, for a replay */
    assert_memory_equal(rec, text, rn);
    assert_int_equal(fp__pcsv_reader_next(r, &b), 0);
    assert_int_equal(fp__pcsv_reader_consumed(r), sizeof text - 1);
    fp__pcsv_block_free(r, &b);
    fp__pcsv_reader_free(r);
    unlink(path);

    assert_int_equal(fp__pcsv_reader_open(ctx, path, &r), FP_EIO);
    assert_null(r);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), path));
    assert_int_equal(fp__pcsv_reader_open(ctx, "/tmp", &r), FP_EIO);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "/tmp: is a directory"));
    test_ctx_done(ctx);
}

static void test_pointcsv_out_of_memory(void **state)
{
    (void)state;
    const char text[] = "h,x\n\"a\nb\",1\nc,2\n";
    fp_ctx *ctx = test_ctx();
    /* Fail each allocation in turn: an error or success, never a leak. */
    for (long k = 0; k < 40; k++) {
        int rc;
        dump d = {0};
        dump_put(&d, "");
        test_alloc_fail_after(k);
        rc = fp__pcsv_parse(ctx, text, sizeof text - 1, 3, 8, ',', dump_row, &d);
        test_alloc_fail_after(-1);
        assert_true(rc == FP_OK || rc == FP_ENOMEM);
        if (rc == FP_OK) assert_string_equal(d.s, "1:h|x\n2:a~b|1\n4:c|2\n");
        free(d.s);
    }
    test_ctx_done(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pointcsv_cut_plain),
        cmocka_unit_test(test_pointcsv_cut_quoted_newline),
        cmocka_unit_test(test_pointcsv_cut_quote_mid_field_is_data),
        cmocka_unit_test(test_pointcsv_record_wanted_fields),
        cmocka_unit_test(test_pointcsv_record_quoted_newlines_counted),
        cmocka_unit_test(test_pointcsv_record_blank_line),
        cmocka_unit_test(test_pointcsv_fields_unescaped),
        cmocka_unit_test(test_pointcsv_escape_round_trip),
        cmocka_unit_test(test_pointcsv_number_accepts),
        cmocka_unit_test(test_pointcsv_number_rejects),
        cmocka_unit_test(test_pointcsv_number_matches_strtod),
        cmocka_unit_test(test_pointcsv_parse_edge_cases),
        cmocka_unit_test(test_pointcsv_parse_long_records_grow_blocks),
        cmocka_unit_test(test_pointcsv_parse_numbers_per_field),
        cmocka_unit_test(test_pointcsv_parse_callback_stops),
        cmocka_unit_test(test_pointcsv_parse_unterminated_quote),
        cmocka_unit_test(test_pointcsv_blocks_hold_whole_records),
        cmocka_unit_test(test_pointcsv_parse_random_text_block_independent),
        cmocka_unit_test(test_pointcsv_gzip_input),
        cmocka_unit_test(test_pointcsv_gzip_truncated_or_corrupt),
        cmocka_unit_test(test_pointcsv_reader_file),
        cmocka_unit_test(test_pointcsv_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
