/*
 * libFuzzer target: the catalogue parser (editions.csv alone, or a bundle
 * of editions.csv, membership tables, status.csv and parents.csv), the
 * CSV reader under it, and the LSOA lookup parser of editions via finer
 * areas (mapped.c), on one input.
 *
 * The input is handed over in a buffer of exactly its length, not
 * NUL-terminated, so any read past the end is caught by AddressSanitizer.
 * Everything a parsed catalogue offers is then read back: a field the
 * parser left dangling shows up here, not in a user's query.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch every byte of a string the catalogue hands out. */
static size_t touch(const char *s)
{
    if (!s) return 0;
    return strlen(s);
}

static void read_back(const fp_catalogue *cat)
{
    volatile size_t sink = 0;
    static const char *const dates[] = {"2016-01-01", "2019-06-01", "2022-07-01",
                                        "2024-02-29", "2026-04-01", "2099-12-31"};
    size_t n = fp_catalogue_count(cat);
    for (size_t i = 0; i < n; i++) {
        const fp_edition *ed = fp_catalogue_get(cat, i);
        if (!ed) abort();
        sink += touch(ed->id) + touch(ed->level) + touch(ed->name) +
                touch(ed->valid_from) + touch(ed->valid_to) + touch(ed->path) +
                touch(ed->layer) + touch(ed->code_field) + touch(ed->name_field) +
                touch(ed->attribution) + touch(ed->members) + touch(ed->via);
        /* An edition is found by its own id. */
        if (fp_catalogue_find(cat, ed->id) == NULL) abort();
        size_t m = fp_catalogue_member_count(cat, ed);
        for (size_t k = 0; k < m; k++) {
            const fp_member *r = fp_catalogue_member(cat, ed, k);
            if (!r) abort();
            sink += touch(r->code) + touch(r->name) + touch(r->ods_code) +
                    touch(r->member_edition) + touch(r->member_code) +
                    touch(r->clip_edition) + touch(r->clip_code) +
                    touch(r->valid_from) + touch(r->valid_to) + touch(r->source);
            if (fp_catalogue_footprint_row(cat, ed->id, r->code) == NULL) abort();
        }
        for (size_t d = 0; d < sizeof dates / sizeof *dates; d++) {
            const fp_edition *v = fp_catalogue_valid_on(cat, ed->level, dates[d]);
            if (v) sink += touch(v->id);
            sink += (size_t)fp_date_within(dates[d], ed->valid_from, ed->valid_to);
        }
        sink += (size_t)fp_date_valid(ed->valid_from) + (size_t)fp_date_valid(ed->valid_to);
    }
    for (size_t i = 0; i < fp_catalogue_status_count(cat); i++) {
        const fp_status_fact *s = fp_catalogue_status_get(cat, i);
        if (!s) abort();
        sink += touch(s->code) + touch(s->edition) + touch(s->status) +
                touch(s->valid_from) + touch(s->valid_to) + touch(s->source);
    }
    for (size_t i = 0; i < fp_catalogue_parent_count(cat); i++) {
        const fp_parent *p = fp_catalogue_parent_get(cat, i);
        if (!p) abort();
        sink += touch(p->child_code) + touch(p->child_edition) + touch(p->parent_code) +
                touch(p->parent_name) + touch(p->parent_level) + touch(p->valid_from) +
                touch(p->valid_to) + touch(p->source);
        for (size_t d = 0; d < sizeof dates / sizeof *dates; d++) {
            const fp_parent *q = fp_catalogue_parent_on(cat, p->child_code, dates[d]);
            if (q) sink += touch(q->parent_code);
        }
    }
    const char *text = NULL;
    size_t len = 0;
    fp__catalogue_text(cat, &text, &len);
    if (len && !text) abort();
    (void)sink;
}

/* The generic CSV reader: every record, every field. */
static void walk_csv(fp_ctx *ctx, const char *text, size_t len)
{
    fp_csv c;
    fp__csv_init(&c, &ctx->alloc, text, len);
    const char *why = NULL;
    size_t last_line = 0;
    volatile size_t sink = 0;
    int got;
    while ((got = fp__csv_next(&c, &why)) == 1) {
        /* Records are numbered by the line they start on: never back. */
        if (c.line < last_line) abort();
        last_line = c.line;
        for (size_t i = 0; i < c.nfields; i++) sink += strlen(c.fields[i]);
    }
    if (got == -1 && !why) abort();
    fp__csv_free(&c);
    (void)sink;
}

/* A base layer of ten LSOAs (unit squares, real codes), for lookups. */
static fp_layer *base_layer(fp_ctx *ctx)
{
    fp_builder *b = NULL;
    if (fp_builder_new(ctx, &b)) abort();
    for (int i = 0; i < 10; i++) {
        char code[16];
        snprintf(code, sizeof code, "E0100000%d", i);
        const double x0 = -2.0 + 0.01 * i, y0 = 52.0;
        const double r[] = {x0, y0, x0 + 0.01, y0, x0 + 0.01, y0 + 0.01, x0, y0 + 0.01};
        if (fp_builder_add_footprint(b, code, code) || fp_builder_add_ring(b, r, 4)) abort();
    }
    fp_layer *L = NULL;
    if (fp_builder_build(b, NULL, &L)) abort();
    fp_builder_free(b);
    return L;
}

static void walk_mapped(fp_ctx *ctx, const fp_layer *base, const char *text, size_t len)
{
    fp_layer *L = NULL;
    int rc = fp__layer_new_mapped(ctx, base, text, len, "fuzz.csv", "LSOA11CD",
                                  "ICB22CD", "ICB22NM", &L);
    if (rc) {
        if (!L && !*fp_ctx_errmsg(ctx)) abort(); /* an error says why */
        return;
    }
    volatile size_t sink = 0;
    for (size_t i = 0; i < fp_layer_count(L); i++)
        sink += strlen(fp_layer_code(L, i)) + strlen(fp_layer_name(L, i));
    for (int i = 0; i < 10; i++) {
        long f = fp_layer_find(L, 52.005, -2.0 + 0.01 * i + 0.005);
        if (f < -1 || f >= (long)fp_layer_count(L)) abort();
    }
    fp_layer_free(L);
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fp_ctx *ctx;
    static fp_layer *base;
    if (!ctx) {
        if (fp_ctx_new(&ctx)) abort();
        base = base_layer(ctx);
    }
    const char *text = (const char *)data;
    fp_catalogue *cat = NULL;
    int rc = fp_catalogue_parse(ctx, text, size, "fuzz", &cat);
    if (rc == FP_OK) {
        if (!cat) abort();
        read_back(cat);
        fp_catalogue_free(cat);
    } else {
        if (cat) abort();
        const char *msg = fp_ctx_errmsg(ctx);
        /* One line naming the input. */
        if (!*msg || strchr(msg, '\n') || strncmp(msg, "fuzz", 4) != 0) abort();
    }
    walk_csv(ctx, text, size);
    walk_mapped(ctx, base, text, size);
    return 0;
}
