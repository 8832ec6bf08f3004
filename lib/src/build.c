/* Compiling an atlas from the catalogue and the boundary files (GDAL). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

static int listed(const char *id, const char *const *only)
{
    for (; *only; only++)
        if (strcmp(*only, id) == 0) return 1;
    return 0;
}

/* Is the edition asked for, or the finer edition of one that is? */
static int wanted(const fp_catalogue *cat, const fp_edition *ed, const char *const *only)
{
    if (!only || listed(ed->id, only)) return 1;
    for (size_t i = 0; i < fp_catalogue_count(cat); i++) {
        const fp_edition *e = fp_catalogue_get(cat, i);
        if (*e->via && strcmp(e->via, ed->id) == 0 && listed(e->id, only)) return 1;
    }
    return 0;
}

/* Layers kept while building because editions via them need them. */
typedef struct kept {
    const fp_edition *ed;
    fp_layer *layer;
} kept;

int fp_atlas_build(fp_ctx *ctx, const fp_catalogue *cat, const char *data_dir,
                   const char *const *only, const fp_index_opts *index,
                   const char *out_path)
{
    fp__clear(ctx);
    if (only)
        for (const char *const *o = only; *o; o++)
            if (!fp_catalogue_find(cat, *o))
                return fp__error(ctx, FP_ENOTFOUND, "no edition '%s' in the catalogue", *o);
    fp_atlas_writer *w;
    int rc = fp__atlas_writer_new(ctx, out_path, &w);
    if (rc) return rc;
    char *sources = NULL;
    const char *text;
    size_t tlen, slen = 0, scap = 0;
    /* The catalogue's own text: the atlas describes itself, and a later
     * check compares it byte for byte with the catalogue in use. */
    fp__catalogue_text(cat, &text, &tlen);
    rc = fp__atlas_add_text(w, "catalogue", text, tlen);
    size_t n = 0, nkept = 0;
    kept keep[16];
    for (size_t i = 0; i < fp_catalogue_count(cat) && !rc; i++) {
        const fp_edition *ed = fp_catalogue_get(cat, i);
        if (!wanted(cat, ed, only)) continue;
        /* The files this edition is read from: its own, or its members'. */
        const fp_edition *src[16];
        size_t nsrc = 0;
        if (*ed->via) {
            src[nsrc++] = ed; /* the lookup; the base is recorded as itself */
        } else if (!*ed->members) {
            src[nsrc++] = ed;
        } else {
            for (size_t r = 0; r < fp_catalogue_member_count(cat, ed); r++) {
                const fp_member *m = fp_catalogue_member(cat, ed, r);
                const char *ids[2] = {m->member_edition, m->clip_edition};
                for (int k = 0; k < 2; k++) {
                    const fp_edition *se = *ids[k] ? fp_catalogue_find(cat, ids[k]) : NULL;
                    int dup = 0;
                    for (size_t q = 0; q < nsrc; q++) dup |= src[q] == se;
                    if (se && !dup && nsrc < 16) src[nsrc++] = se;
                }
            }
        }
        for (size_t q = 0; q < nsrc && !rc; q++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", data_dir, src[q]->path);
            struct stat st;
            if (stat(path, &st) != 0) {
                rc = fp__error(ctx, FP_EIO, "edition %s: %s: %s", ed->id, path,
                               strerror(errno));
                break;
            }
            /* What it was built from: path, size, mtime (ns). */
            char line[4400];
            int k = snprintf(line, sizeof line, "%s\t%lld\t%llu\n", src[q]->path,
                             (long long)st.st_size,
                             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                                 (unsigned long long)st.st_mtim.tv_nsec);
            if (fp__grow(&ctx->alloc, (void **)&sources, &scap, slen + (size_t)k + 1, 1)) {
                rc = fp__error(ctx, FP_ENOMEM, "out of memory");
                break;
            }
            memcpy(sources + slen, line, (size_t)k);
            slen += (size_t)k;
        }
        if (rc) break;
        fp_layer *L;
        if (*ed->via) {
            /* Finer editions come first in the catalogue's order of need:
             * open the base once and keep it for every edition via it. */
            const fp_layer *base = NULL;
            for (size_t k = 0; k < nkept; k++)
                if (strcmp(keep[k].ed->id, ed->via) == 0) base = keep[k].layer;
            if (!base) {
                rc = fp__error(ctx, FP_EFORMAT, "edition %s: its finer edition %s "
                               "must come before it in the catalogue", ed->id, ed->via);
                break;
            }
            rc = fp__open_via(ctx, cat, ed, data_dir, base, &L);
            if (rc) break;
            rc = fp__atlas_add_mapped(w, ed->id, ed->via, L);
            fp_layer_free(L);
            n++;
            continue;
        }
        rc = fp_catalogue_open(ctx, cat, ed->id, data_dir, index, &L);
        if (rc) break;
        rc = fp__atlas_add_layer(w, ed->id, L);
        int needed = 0;
        for (size_t k = 0; k < fp_catalogue_count(cat); k++) {
            const fp_edition *e = fp_catalogue_get(cat, k);
            needed |= *e->via && strcmp(e->via, ed->id) == 0 && wanted(cat, e, only);
        }
        if (!rc && needed && nkept < sizeof keep / sizeof *keep)
            keep[nkept++] = (kept){ed, L};
        else
            fp_layer_free(L);
        n++;
    }
    for (size_t k = 0; k < nkept; k++) fp_layer_free(keep[k].layer);
    if (!rc && n == 0) rc = fp__error(ctx, FP_EINVAL, "no editions to build");
    if (!rc) rc = fp__atlas_add_text(w, "sources", sources ? sources : "", slen);
    fp__free(&ctx->alloc, sources);
    if (rc) {
        fp__atlas_writer_abort(w);
        return rc;
    }
    return fp__atlas_writer_finish(w);
}
