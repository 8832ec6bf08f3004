/* Unit tests for lib/src/csv.c: the internal RFC 4180 reader
 * (fp__csv_*), fp__read_file and fp__valid_date. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Reads the next record and asserts it is exactly `want` (n fields). */
static void expect_record(fp_csv *c, size_t n, const char *const *want)
{
    const char *why = NULL;
    assert_int_equal(fp__csv_next(c, &why), 1);
    assert_int_equal(c->nfields, n);
    for (size_t i = 0; i < n; i++) assert_string_equal(c->fields[i], want[i]);
}

static void expect_end(fp_csv *c)
{
    const char *why = NULL;
    assert_int_equal(fp__csv_next(c, &why), 0);
    /* The end is sticky: asking again is still the end, not a record. */
    assert_int_equal(fp__csv_next(c, &why), 0);
}

#define REC(c, ...)                                                        \
    do {                                                                   \
        static const char *const w_[] = {__VA_ARGS__};                     \
        expect_record((c), sizeof w_ / sizeof w_[0], w_);                  \
    } while (0)

/* Opens a reader over a string literal (no NUL counted). */
#define OPEN(c, s) fp__csv_init((c), &test_alloc, (s), sizeof(s) - 1)

static void test_csv_plain_records(void **state)
{
    (void)state;
    fp_csv c;
    OPEN(&c, "a,b,c\n1,22,333\n");
    REC(&c, "a", "b", "c");
    REC(&c, "1", "22", "333");
    expect_end(&c);
    fp__csv_free(&c);
    assert_int_equal(test_alloc_outstanding(), 0);
}

static void test_csv_quoted_comma(void **state)
{
    (void)state;
    fp_csv c;
    /* The comma inside quotes is data, not a separator. */
    OPEN(&c, "x,\"Hull, East Riding\",y\n");
    REC(&c, "x", "Hull, East Riding", "y");
    expect_end(&c);
    fp__csv_free(&c);
    assert_int_equal(test_alloc_outstanding(), 0);
}

static void test_csv_doubled_quotes(void **state)
{
    (void)state;
    fp_csv c;
    OPEN(&c, "\"say \"\"hi\"\"\",\"\"\"\",\"\"\n");
    /* "" inside quotes is one quote; a field of just "" is empty. */
    REC(&c, "say \"hi\"", "\"", "");
    expect_end(&c);
    fp__csv_free(&c);
    assert_int_equal(test_alloc_outstanding(), 0);
}

static void test_csv_embedded_newline(void **state)
{
    (void)state;
    fp_csv c;
    OPEN(&c, "a,\"two\nlines\",b\nnext,row\n");
    REC(&c, "a", "two\nlines", "b");
    REC(&c, "next", "row");
    expect_end(&c);
    fp__csv_free(&c);
    assert_int_equal(test_alloc_outstanding(), 0);
}

/* c->line is documented as "line number where the current record
 * began": after fp__csv_next returns a record, it is that record's line.
 * Embedded newlines and skipped blank lines must be counted. */
static void test_csv_line_numbers(void **state)
{
    (void)state;
    fp_csv c;
    const char *why = NULL;
    char first[4][8];
    size_t line[4];
    int rc[5];
    OPEN(&c, "h1,h2\n"              /* line 1 */
             "\"multi\nline\",x\n"  /* lines 2-3 */
             "\n"                   /* line 4: blank */
             "after,blank\n"        /* line 5 */
             "last,one");           /* line 6, no newline */
    for (int i = 0; i < 4; i++) {
        rc[i] = fp__csv_next(&c, &why);
        line[i] = c.line;
        snprintf(first[i], sizeof first[i], "%s", rc[i] == 1 ? c.fields[0] : "");
    }
    rc[4] = fp__csv_next(&c, &why);
    /* Free first so that a failure below does not leak into later tests. */
    fp__csv_free(&c);
    assert_int_equal(test_alloc_outstanding(), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(rc[i], 1);
    assert_int_equal(rc[4], 0);
    assert_string_equal(first[1], "multi\nl");
    assert_string_equal(first[2], "after");
    assert_string_equal(first[3], "last");
    assert_int_equal(line[0], 1);
    assert_int_equal(line[1], 2);
    assert_int_equal(line[2], 5);
    assert_int_equal(line[3], 6);
}

static void test_csv_crlf(void **state)
{
    (void)state;
    fp_csv c;
    /* CR before LF is part of the line ending, also after a quoted field;
     * a CR inside quotes is data. */
    OPEN(&c, "a,b\r\n\"q\",\"in\r\nside\"\r\nlast,x\r\n");
    REC(&c, "a", "b");
    REC(&c, "q", "in\r\nside");
    REC(&c, "last", "x");
    expect_end(&c);
    fp__csv_free(&c);
    assert_int_equal(test_alloc_outstanding(), 0);
}

static void test_csv_crlf_without_final_lf(void **state)
{
    (void)state;
    fp_csv c;
    /* A lone CR at the very end is still a line ending, not data. */
    OPEN(&c, "a,b\r");
    REC(&c, "a", "b");
    expect_end(&c);
    fp__csv_free(&c);
}

static void test_csv_bom_skipped(void **state)
{
    (void)state;
    fp_csv c;
    /* Excel writes a UTF-8 BOM; it must not become part of the first
     * column name. */
    OPEN(&c, "\xEF\xBB\xBFid,level\nx,y\n");
    REC(&c, "id", "level");
    REC(&c, "x", "y");
    expect_end(&c);
    fp__csv_free(&c);
}

static void test_csv_bom_only_in_first_position(void **state)
{
    (void)state;
    fp_csv c;
    /* A BOM later in the text is data (only the leading one is a mark). */
    OPEN(&c, "a\n\xEF\xBB\xBF" "b\n");
    REC(&c, "a");
    REC(&c, "\xEF\xBB\xBF" "b");
    expect_end(&c);
    fp__csv_free(&c);
}

static void test_csv_blank_lines_skipped(void **state)
{
    (void)state;
    fp_csv c;
    OPEN(&c, "\n\r\n\na\n\n\r\nb\n\n");
    REC(&c, "a");
    REC(&c, "b");
    expect_end(&c);
    fp__csv_free(&c);
}

static void test_csv_empty_fields(void **state)
{
    (void)state;
    fp_csv c;
    OPEN(&c, ",,\na,,b\n");
    REC(&c, "", "", "");
    REC(&c, "a", "", "b");
    expect_end(&c);
    fp__csv_free(&c);
}

static void test_csv_trailing_empty_field(void **state)
{
    (void)state;
    fp_csv c;
    /* A trailing comma means one more, empty, field: with a newline, with
     * CRLF, and at the very end of the text. */
    OPEN(&c, "a,b,\nc,d,\r\ne,f,");
    REC(&c, "a", "b", "");
    REC(&c, "c", "d", "");
    REC(&c, "e", "f", "");
    expect_end(&c);
    fp__csv_free(&c);
}

static void test_csv_last_line_without_newline(void **state)
{
    (void)state;
    fp_csv c;
    OPEN(&c, "a,b\nc,\"d\"");
    REC(&c, "a", "b");
    REC(&c, "c", "d");
    expect_end(&c);
    fp__csv_free(&c);
}

static void test_csv_text_after_closing_quote_kept(void **state)
{
    (void)state;
    fp_csv c;
    /* Documented leniency: text after a closing quote is kept. */
    OPEN(&c, "\"ab\"cd,e\n");
    REC(&c, "abcd", "e");
    expect_end(&c);
    fp__csv_free(&c);
}

static void test_csv_unterminated_quote(void **state)
{
    (void)state;
    fp_csv c;
    const char *why = NULL;
    OPEN(&c, "ok,row\n\nx,\"never\nclosed,y\n");
    REC(&c, "ok", "row");
    assert_int_equal(fp__csv_next(&c, &why), -1);
    assert_non_null(why);
    assert_non_null(strstr(why, "unterminated"));
    /* The error names the line the quote opened on (3), not where the
     * text ran out. */
    assert_int_equal(c.line, 3);
    fp__csv_free(&c);
    assert_int_equal(test_alloc_outstanding(), 0);
}

static void test_csv_empty_text(void **state)
{
    (void)state;
    fp_csv c;
    fp__csv_init(&c, &test_alloc, "", 0);
    expect_end(&c);
    fp__csv_free(&c);
    /* Only a BOM is empty too. */
    OPEN(&c, "\xEF\xBB\xBF");
    expect_end(&c);
    fp__csv_free(&c);
    assert_int_equal(test_alloc_outstanding(), 0);
}

static void test_csv_respects_length(void **state)
{
    (void)state;
    fp_csv c;
    /* The reader stops at len even when the buffer goes on (no NUL). */
    const char text[] = "a,b\nc,d\nNOT,READ";
    fp__csv_init(&c, &test_alloc, text, 8);
    REC(&c, "a", "b");
    REC(&c, "c", "d");
    expect_end(&c);
    fp__csv_free(&c);
}

static void test_csv_embedded_nul_is_data(void **state)
{
    (void)state;
    fp_csv c;
    /* Length-delimited: a NUL byte does not end the text early. */
    static const char text[] = {'a', ',', 'b', '\n', 'c', '\0', 'd', '\n'};
    fp__csv_init(&c, &test_alloc, text, sizeof text);
    REC(&c, "a", "b");
    const char *why = NULL;
    assert_int_equal(fp__csv_next(&c, &why), 1);
    assert_int_equal(c.nfields, 1);
    /* The field's bytes are all there: c, NUL, d. */
    assert_int_equal(c.fields[0][0], 'c');
    assert_int_equal(c.fields[0][1], '\0');
    assert_int_equal(c.fields[0][2], 'd');
    expect_end(&c);
    fp__csv_free(&c);
}

static void test_csv_long_fields_grow_buffer(void **state)
{
    (void)state;
    /* Fields far longer than the initial buffer, and many of them. */
    size_t nf = 300, fl = 1000;
    size_t len = nf * (fl + 1);
    char *text = malloc(len);
    assert_non_null(text);
    for (size_t i = 0; i < nf; i++) {
        memset(text + i * (fl + 1), 'a' + (char)(i % 26), fl);
        text[i * (fl + 1) + fl] = i + 1 < nf ? ',' : '\n';
    }
    fp_csv c;
    const char *why = NULL;
    fp__csv_init(&c, &test_alloc, text, len);
    assert_int_equal(fp__csv_next(&c, &why), 1);
    assert_int_equal(c.nfields, nf);
    for (size_t i = 0; i < nf; i++) {
        assert_int_equal(strlen(c.fields[i]), fl);
        assert_int_equal(c.fields[i][0], 'a' + (char)(i % 26));
        assert_int_equal(c.fields[i][fl - 1], 'a' + (char)(i % 26));
    }
    expect_end(&c);
    fp__csv_free(&c);
    free(text);
    assert_int_equal(test_alloc_outstanding(), 0);
}

static void test_csv_out_of_memory(void **state)
{
    (void)state;
    /* Fail each allocation in turn: -2 with a reason, nothing leaked,
     * and once memory suffices the record comes out whole. */
    static const char text[] = "alpha,\"be,ta\",gamma\n";
    for (long n = 0;; n++) {
        fp_csv c;
        const char *why = NULL;
        fp__csv_init(&c, &test_alloc, text, sizeof text - 1);
        test_alloc_fail_after(n);
        int rc = fp__csv_next(&c, &why);
        test_alloc_fail_after(-1);
        if (rc == 1) {
            assert_int_equal(c.nfields, 3);
            assert_string_equal(c.fields[1], "be,ta");
            fp__csv_free(&c);
            assert_int_equal(test_alloc_outstanding(), 0);
            assert_true(n > 0);
            break;
        }
        assert_int_equal(rc, -2);
        assert_non_null(why);
        assert_string_equal(why, "out of memory");
        fp__csv_free(&c);
        assert_int_equal(test_alloc_outstanding(), 0);
        assert_true(n < 100);
    }
}

static void test_csv_free_twice_is_safe(void **state)
{
    (void)state;
    fp_csv c;
    OPEN(&c, "a\n");
    REC(&c, "a");
    fp__csv_free(&c);
    fp__csv_free(&c); /* pointers were reset */
    assert_null(c.buf);
    assert_null(c.fields);
    assert_int_equal(test_alloc_outstanding(), 0);
}

/* ---- fp__valid_date ---- */

static void test_csv_valid_date_accepts(void **state)
{
    (void)state;
    assert_true(fp__valid_date("2023-04-01"));
    assert_true(fp__valid_date("2023-01-31"));
    assert_true(fp__valid_date("2023-12-31"));
    assert_true(fp__valid_date("2024-02-29")); /* leap year */
    assert_true(fp__valid_date("2000-02-29")); /* divisible by 400 */
    assert_true(fp__valid_date("2023-04-30"));
}

static void test_csv_valid_date_rejects(void **state)
{
    (void)state;
    assert_false(fp__valid_date("2023-02-29")); /* not a leap year */
    assert_false(fp__valid_date("1900-02-29")); /* century, not leap */
    assert_false(fp__valid_date("2023-02-30"));
    assert_false(fp__valid_date("2023-04-31"));
    assert_false(fp__valid_date("2023-13-01"));
    assert_false(fp__valid_date("2023-00-10"));
    assert_false(fp__valid_date("2023-01-00"));
    assert_false(fp__valid_date("2023-01-32"));
    assert_false(fp__valid_date("2023/01/01"));
    assert_false(fp__valid_date("2023-1-01"));
    assert_false(fp__valid_date("2023-01-1"));
    assert_false(fp__valid_date("23-01-01"));
    assert_false(fp__valid_date("2023-01-01 "));
    assert_false(fp__valid_date("2023-01-01T00"));
    assert_false(fp__valid_date(" 2023-01-01"));
    assert_false(fp__valid_date("+023-01-01"));
    assert_false(fp__valid_date("2023-+1-01"));
    assert_false(fp__valid_date("2023-01--1"));
    assert_false(fp__valid_date("abcd-ef-gh"));
    assert_false(fp__valid_date(""));
}

/* ---- fp__read_file ---- */

static char *write_temp(const void *data, size_t len)
{
    char *path = strdup("/tmp/fp_test_csv_XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    if (len) assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_csv_read_file_whole(void **state)
{
    (void)state;
    /* Bigger than the 64 KiB read chunk, with NUL bytes inside: the
     * length, not strlen, says how much was read. */
    size_t len = 200000;
    char *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++) data[i] = (char)(i * 7 % 251);
    char *path = write_temp(data, len);
    fp_ctx *ctx = test_ctx();
    char *buf = NULL;
    size_t got = 0;
    assert_int_equal(fp__read_file(ctx, path, &buf, &got), FP_OK);
    assert_non_null(buf);
    assert_int_equal(got, len);
    assert_memory_equal(buf, data, len);
    assert_int_equal(buf[len], '\0'); /* NUL-terminated */
    fp__free(&test_alloc, buf);
    test_ctx_done(ctx);
    unlink(path);
    free(path);
    free(data);
}

static void test_csv_read_file_exact_chunk(void **state)
{
    (void)state;
    /* Exactly one chunk (65536 bytes): the loop must stop cleanly. */
    size_t len = 65536;
    char *data = malloc(len);
    assert_non_null(data);
    memset(data, 'z', len);
    char *path = write_temp(data, len);
    fp_ctx *ctx = test_ctx();
    char *buf = NULL;
    size_t got = 0;
    assert_int_equal(fp__read_file(ctx, path, &buf, &got), FP_OK);
    assert_int_equal(got, len);
    assert_memory_equal(buf, data, len);
    assert_int_equal(buf[len], '\0');
    fp__free(&test_alloc, buf);
    test_ctx_done(ctx);
    unlink(path);
    free(path);
    free(data);
}

static void test_csv_read_file_empty(void **state)
{
    (void)state;
    char *path = write_temp("", 0);
    fp_ctx *ctx = test_ctx();
    char *buf = NULL;
    size_t got = 99;
    assert_int_equal(fp__read_file(ctx, path, &buf, &got), FP_OK);
    assert_non_null(buf);
    assert_int_equal(got, 0);
    assert_int_equal(buf[0], '\0');
    fp__free(&test_alloc, buf);
    test_ctx_done(ctx);
    unlink(path);
    free(path);
}

static void test_csv_read_file_missing(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    char *buf = (char *)1;
    size_t got = 99;
    const char *path = "/nonexistent/fp-test/none.csv";
    assert_int_equal(fp__read_file(ctx, path, &buf, &got), FP_EIO);
    assert_null(buf);
    assert_int_equal(got, 0);
    assert_int_equal(fp_ctx_errcode(ctx), FP_EIO);
    /* "path: strerror" */
    assert_string_equal(fp_ctx_errmsg(ctx),
                        "/nonexistent/fp-test/none.csv: No such file or "
                        "directory");
    test_ctx_done(ctx);
}

static void test_csv_read_file_directory(void **state)
{
    (void)state;
    /* A directory opens on Linux but cannot be read: FP_EIO, no leak. */
    fp_ctx *ctx = test_ctx();
    char *buf = (char *)1;
    size_t got = 99;
    assert_int_equal(fp__read_file(ctx, "/tmp", &buf, &got), FP_EIO);
    assert_null(buf);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "/tmp"));
    test_ctx_done(ctx);
}

static void test_csv_read_file_out_of_memory(void **state)
{
    (void)state;
    char *path = write_temp("hello", 5);
    fp_ctx *ctx = test_ctx();
    char *buf = (char *)1;
    size_t got = 99;
    test_alloc_fail_after(0);
    assert_int_equal(fp__read_file(ctx, path, &buf, &got), FP_ENOMEM);
    test_alloc_fail_after(-1);
    assert_null(buf);
    assert_int_equal(got, 0);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), path));
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "out of memory"));
    test_ctx_done(ctx);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_plain_records),
        cmocka_unit_test(test_csv_quoted_comma),
        cmocka_unit_test(test_csv_doubled_quotes),
        cmocka_unit_test(test_csv_embedded_newline),
        cmocka_unit_test(test_csv_line_numbers),
        cmocka_unit_test(test_csv_crlf),
        cmocka_unit_test(test_csv_crlf_without_final_lf),
        cmocka_unit_test(test_csv_bom_skipped),
        cmocka_unit_test(test_csv_bom_only_in_first_position),
        cmocka_unit_test(test_csv_blank_lines_skipped),
        cmocka_unit_test(test_csv_empty_fields),
        cmocka_unit_test(test_csv_trailing_empty_field),
        cmocka_unit_test(test_csv_last_line_without_newline),
        cmocka_unit_test(test_csv_text_after_closing_quote_kept),
        cmocka_unit_test(test_csv_unterminated_quote),
        cmocka_unit_test(test_csv_empty_text),
        cmocka_unit_test(test_csv_respects_length),
        cmocka_unit_test(test_csv_embedded_nul_is_data),
        cmocka_unit_test(test_csv_long_fields_grow_buffer),
        cmocka_unit_test(test_csv_out_of_memory),
        cmocka_unit_test(test_csv_free_twice_is_safe),
        cmocka_unit_test(test_csv_valid_date_accepts),
        cmocka_unit_test(test_csv_valid_date_rejects),
        cmocka_unit_test(test_csv_read_file_whole),
        cmocka_unit_test(test_csv_read_file_exact_chunk),
        cmocka_unit_test(test_csv_read_file_empty),
        cmocka_unit_test(test_csv_read_file_missing),
        cmocka_unit_test(test_csv_read_file_directory),
        cmocka_unit_test(test_csv_read_file_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
