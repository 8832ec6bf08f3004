/* Test support: a leak-counting allocator and the shared data mirror. */
#ifndef FP_TEST_SUPPORT_H
#define FP_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "footprint.h"

/* Counts every allocation; can be told to fail the Nth one from now. */
extern const fp_allocator test_alloc;
long test_alloc_outstanding(void);
void test_alloc_fail_after(long n); /* -1: never fail */

/* A context using test_alloc; fails the test if it cannot be made. */
fp_ctx *test_ctx(void);
/* Frees ctx and asserts that nothing allocated through test_alloc is
 * still outstanding. */
void test_ctx_done(fp_ctx *ctx);

/* The ONS mirror ($FOOTPRINT_TEST_DATA, else ../shared/geodata), or NULL. */
const char *test_data_dir(void);
/* Skips the calling test when the mirror is absent (fails under CI). */
const char *test_require_data(void);
/* test_data_dir() + "/" + rel, in a static buffer per call slot. */
const char *test_data_path(const char *rel);

/* The repository's own editions catalogue, parsed. */
fp_catalogue *test_catalogue(fp_ctx *ctx);

/* Adds the closed axis-aligned rectangle (x0,y0)-(x1,y1) as a ring. */
void test_add_rect(fp_builder *b, double x0, double y0, double x1, double y1);
/* Builds (opts NULL = defaults), failing the test with the context's
 * message on error; frees the builder. */
fp_layer *test_build(fp_ctx *ctx, fp_builder *b, const fp_index_opts *o);
/* Code of the footprint containing lon x, lat y, or "none". */
const char *test_code_at(const fp_layer *L, double x, double y);

/* Removes a file or a directory tree (making directories writable first,
 * so trees left unreadable by a test go too). */
void test_rm_tree(const char *path);

/* The whole of a file (malloc'd; free it), or the test fails. */
unsigned char *test_read_file(const char *path, size_t *len);
/* Writes len bytes to path (replacing it), or the test fails. */
void test_write_file(const char *path, const void *data, size_t len);

#endif
