/*
 * The compiled atlas: one file, memory-mapped, holding the catalogue and
 * every edition's layer (geometry, stripes, grid) exactly as the queries
 * use them, so opening it costs a mapping, not a parse.
 *
 * Layout (little-endian, native doubles; every section 8-byte aligned):
 *   header   64 bytes: magic "FPATLAS\0", byte-order mark, format version,
 *            file size, section count, checksum of the section table
 *   table    64 bytes per section: name[40], offset, length, checksum
 *   sections "catalogue" (editions.csv text), "sources" (what it was
 *            built from), "layer/<edition>" (a layer, see
 *            fp__atlas_add_layer, or for an edition via finer areas its
 *            map onto the base edition's section: fp__atlas_add_mapped)
 * A section is trusted only after its checksum and (for layers) every
 * offset and count in it have been checked, on first use.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "internal.h"

/* The layouts (format.h), by their short names here. */
typedef fp__atlas_hdr hdr;
typedef fp__atlas_sect sect;
typedef fp__atlas_lhdr lhdr;
typedef fp__atlas_mhdr mhdr;

_Static_assert(sizeof(fp_feat) == 72, "fp_feat layout is part of the format");

/* Eight independent lanes: compilers turn the loop into vector code
 * (about 20 GB/s here, against 6 for four scalar lanes), and a one-shot
 * query checks every section it reads. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
uint64_t fp__hash64(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h[8];
    for (int k = 0; k < 8; k++) h[k] = 0x9e3779b97f4a7c15u * (uint64_t)(k + 1) ^ n;
    while (n >= 64) {
        for (int k = 0; k < 8; k++) {
            uint64_t w;
            memcpy(&w, b + 8 * k, 8);
            h[k] = (h[k] ^ w) * 0xff51afd7ed558ccdu;
            h[k] ^= h[k] >> 32;
        }
        b += 64;
        n -= 64;
    }
    uint64_t x = 0;
    for (int k = 0; k < 8; k++) {
        x = (x ^ h[k]) * 0x100000001b3u;
        x ^= x >> 29;
    }
    while (n) {
        x = (x ^ *b++) * 0x100000001b3u;
        n--;
    }
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53u;
    x ^= x >> 29;
    return x;
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */

enum { S_NEW = 0, S_BUSY, S_OK, S_BAD };

typedef struct slot {
    const sect *s;
    atomic_int state;
    fp_layer layer; /* for layer sections: a view into the mapping */
    char why[160];  /* what was wrong, for S_BAD */
} slot;

struct fp_atlas {
    fp_allocator alloc;
    const unsigned char *map;
    size_t size;
    char path[512];
    uint32_t nsect;
    slot *slots;
    fp_catalogue *cat;
    const char *sources;
    size_t sources_len;
    uint64_t catalogue_hash;
};

void fp_atlas_free(fp_atlas *a)
{
    if (!a) return;
    fp_allocator al = a->alloc;
    if (a->map) munmap((void *)a->map, a->size);
    fp_catalogue_free(a->cat);
    fp__free(&al, a->slots);
    fp__free(&al, a);
}

size_t fp_atlas_size(const fp_atlas *a) { return a->size; }

const fp_catalogue *fp_atlas_catalogue(const fp_atlas *a) { return a->cat; }

static const slot *find_slot(const fp_atlas *a, const char *name)
{
    for (uint32_t i = 0; i < a->nsect; i++)
        if (strncmp(a->slots[i].s->name, name, FP_ATLAS_NAME_LEN) == 0) return &a->slots[i];
    return NULL;
}

/* Takes a counted array off the front of a section, 8-byte aligned. */
typedef struct cursor {
    const unsigned char *p;
    size_t left;
    int bad;
} cursor;

static const void *take(cursor *c, uint64_t count, size_t size)
{
    if (c->bad) return NULL;
    if (size && count > (uint64_t)SIZE_MAX / size) {
        c->bad = 1;
        return NULL;
    }
    size_t n = (size_t)count * size, padded = (n + 7) & ~(size_t)7;
    if (padded < n || padded > c->left) {
        c->bad = 1;
        return NULL;
    }
    const void *p = c->p;
    c->p += padded;
    c->left -= padded;
    return p;
}

/* Returned by a check that ran out of memory: not a verdict on the file. */
static const char oom[] = "out of memory";

/* Every index the queries follow, checked, so a crafted or damaged file
 * can never make them read outside the mapping. */
static const char *validate_layer(const fp_layer *L)
{
    if (L->nfeat == 0 || L->nfeat >= (1u << 29)) return "footprint count";
    if (L->npts < 4 || L->npts > UINT32_MAX / 2) return "vertex count";
    /* First: codes below are compared as strings. */
    if (L->strings_len == 0 || L->strings[L->strings_len - 1] != '\0')
        return "string table";
    if (L->ring_start[0] != 0 || L->ring_start[L->nrings] != L->npts)
        return "ring table";
    for (size_t r = 0; r < L->nrings; r++)
        if ((uint64_t)L->ring_start[r] + 2 > L->ring_start[r + 1]) return "ring table";
    uint32_t next_ring = 0;
    for (size_t i = 0; i < L->nfeat; i++) {
        const fp_feat *f = &L->feat[i];
        if (f->ring0 != next_ring || f->nrings == 0 ||
            (uint64_t)f->ring0 + f->nrings > L->nrings)
            return "footprint rings";
        next_ring = f->ring0 + f->nrings;
        if (f->code >= L->strings_len || f->name >= L->strings_len)
            return "footprint strings";
        if (!L->nstripe_off && (f->nstripes || f->stripe0)) return "footprint stripes";
        if (L->nstripe_off) {
            if (f->nstripes == 0 || (uint64_t)f->stripe0 + f->nstripes + 1 > L->nstripe_off)
                return "footprint stripes";
            const uint32_t *off = L->stripe_off + f->stripe0;
            for (uint32_t s = 0; s < f->nstripes; s++)
                if (off[s] > off[s + 1] || off[s + 1] > L->nstripe_edges)
                    return "stripe table";
        }
        if (i && strcmp(L->strings + L->feat[i - 1].code, L->strings + f->code) >= 0)
            return "footprint order";
    }
    if (next_ring != L->nrings) return "footprint rings";
    for (size_t i = 0; i < L->nstripe_edges; i++)
        if ((uint64_t)L->stripe_edges[i] + 1 >= L->npts) return "stripe edges";
    if (L->kind == FP_INDEX_NONE) return L->nstripe_off ? NULL : "stripes missing";
    if (L->kind != FP_INDEX_GRID) return "index kind";
    if (L->root_bits < 4 || L->root_bits > 12 || L->total_bits < L->root_bits ||
        L->total_bits > 31 || (L->total_bits - L->root_bits) % FP_SUB_BITS ||
        L->gmax != (uint32_t)((1ull << L->total_bits) - 1))
        return "grid parameters";
    /* The mapping from coordinates to cells: finite, positive, ordered
     * (a cast of an out-of-range double to an integer is undefined). */
    if (!(L->gx0 < L->gx1) || !(L->gy0 < L->gy1) || !isfinite(L->gx0) ||
        !isfinite(L->gx1) || !isfinite(L->gy0) || !isfinite(L->gy1) ||
        !(L->gsx > 0) || !(L->gsy > 0) || !isfinite(L->gsx) || !isfinite(L->gsy) ||
        (L->gx1 - L->gx0) * L->gsx > 4294967296.0 ||
        (L->gy1 - L->gy0) * L->gsy > 4294967296.0)
        return "grid extent";
    size_t ntop = (size_t)1 << (2 * L->root_bits);
    if (L->ncells < ntop || (L->ncells - ntop) % 16) return "grid cells";
    /* Nodes refer forward only, so walks end; every block sits at one
     * depth, never below the deepest the grid's bits allow (a query shifts
     * by two bits a level); leaves are well formed. */
    int max_depth = (L->total_bits - L->root_bits) / FP_SUB_BITS;
    size_t nblocks = (L->ncells - ntop) / 16;
    /* Leaf records lie end to end in cands: one pass in memory order
     * checks them all and marks where each starts; cells may then point
     * only at a start.  (Following each cell to its record instead jumps
     * about a mapping not yet read in: several times slower.) */
    unsigned char *start = fp__calloc(&L->alloc, L->ncands / 8 + 1, 1);
    unsigned char *depth = fp__calloc(&L->alloc, nblocks + 1, 1); /* depth + 1 */
    const char *bad = NULL;
    if (!start || !depth) {
        bad = oom;
        goto done;
    }
    /* The largest footprint and edge numbers are gathered and checked once
     * at the end: no branch per word in this, the open's hottest loop. */
    uint32_t fmax = 0, emax = 0;
    for (size_t v = 0; v < L->ncands && !bad;) {
        const uint32_t *r = L->cands + v;
        size_t left = L->ncands - v, k = 5;
        if (left < 5) {
            bad = "grid leaf";
            break;
        }
        start[v / 8] |= (unsigned char)(1u << (v % 8));
        for (uint32_t j = 0, n = r[0]; j < n; j++) {
            if (k >= left) {
                bad = "grid leaf";
                break;
            }
            uint32_t w = r[k++];
            fmax = w >> 2 > fmax ? w >> 2 : fmax;
            if (w & 1) continue;
            if (k >= left || r[k] > left - k - 1) {
                bad = "grid leaf";
                break;
            }
            uint32_t ne = r[k++];
            for (uint32_t e = 0; e < ne; e++) emax = r[k + e] > emax ? r[k + e] : emax;
            k += ne;
        }
        v += k;
    }
    if (!bad && L->ncands && fmax >= L->nfeat) bad = "grid leaf footprint";
    if (!bad && L->ncands && (uint64_t)emax + 1 >= L->npts) bad = "grid leaf edge";
    for (size_t i = 0; i < L->ncells && !bad; i++) {
        uint32_t c = L->cells[i], v = FP_CELL_VAL(c);
        int here = i < ntop ? 0 : depth[(i - ntop) / 16] - 1;
        if (here < 0) {
            bad = "grid block unreachable";
            break;
        }
        switch (FP_CELL_TAG(c)) {
        case FP_TAG_UNIFORM:
            if (v > L->nfeat) bad = "grid cell";
            break;
        case FP_TAG_NODE: {
            if (v < ntop || v <= i || (v - ntop) % 16 || (size_t)v + 16 > L->ncells ||
                here >= max_depth) {
                bad = "grid node";
                break;
            }
            unsigned char *d = &depth[(v - ntop) / 16];
            if (*d && *d != here + 2) bad = "grid node";
            *d = (unsigned char)(here + 2);
            break;
        }
        case FP_TAG_LEAF:
            if (v >= L->ncands || !(start[v / 8] >> (v % 8) & 1)) bad = "grid leaf";
            break;
        default:
            bad = "grid cell";
        }
    }
done:
    fp__free(&L->alloc, start);
    fp__free(&L->alloc, depth);
    return bad;
}

static const char *view_layer(const fp_atlas *a, const sect *s, fp_layer *L)
{
    cursor c = {a->map + s->offset, (size_t)s->length, 0};
    const lhdr *h = take(&c, 1, sizeof(lhdr));
    if (!h || h->magic != FP_ATLAS_LAYER_MAGIC) return "not a layer";
    memset(L, 0, sizeof *L);
    L->alloc = a->alloc;
    L->borrowed = 1;
    L->kind = (int)h->kind;
    L->root_bits = (int)h->root_bits;
    L->total_bits = (int)h->total_bits;
    L->gmax = h->gmax;
    L->nfeat = (size_t)h->nfeat;
    L->npts = (size_t)h->npts;
    L->nrings = (size_t)h->nrings;
    L->nstripe_off = (size_t)h->nstripe_off;
    L->nstripe_edges = (size_t)h->nstripe_edges;
    L->strings_len = (size_t)h->strings_len;
    L->ncells = (size_t)h->ncells;
    L->ncands = (size_t)h->ncands;
    memcpy(L->bbox, h->bbox, sizeof L->bbox);
    L->gx0 = h->gx0, L->gy0 = h->gy0, L->gx1 = h->gx1, L->gy1 = h->gy1;
    L->gsx = h->gsx, L->gsy = h->gsy;
    if (h->nrings >= UINT32_MAX) return "ring count";
    L->feat = (fp_feat *)take(&c, h->nfeat, sizeof(fp_feat));
    L->pts = (double *)take(&c, h->npts, 2 * sizeof(double));
    L->ring_start = (uint32_t *)take(&c, h->nrings + 1, sizeof(uint32_t));
    L->stripe_off = (uint32_t *)take(&c, h->nstripe_off, sizeof(uint32_t));
    L->stripe_edges = (uint32_t *)take(&c, h->nstripe_edges, sizeof(uint32_t));
    L->strings = (char *)take(&c, h->strings_len, 1);
    L->cells = (uint32_t *)take(&c, h->ncells, sizeof(uint32_t));
    L->cands = (uint32_t *)take(&c, h->ncands, sizeof(uint32_t));
    if (c.bad) return "section shorter than its counts";
    if (!L->nstripe_off) L->stripe_off = L->stripe_edges = NULL;
    return validate_layer(L);
}

static int verify(fp_ctx *ctx, const fp_atlas *a, slot *sl);

/* An edition via finer areas: its base section first, then every map
 * entry and string offset. */
static const char *view_mapped(fp_ctx *ctx, const fp_atlas *a, const sect *s,
                               fp_layer *L)
{
    cursor c = {a->map + s->offset, (size_t)s->length, 0};
    const mhdr *h = take(&c, 1, sizeof(mhdr));
    if (!h) return "not a layer";
    if (memchr(h->base, '\0', FP_ATLAS_NAME_LEN - 6) == NULL) return "base name";
    char name[FP_ATLAS_NAME_LEN + 8];
    snprintf(name, sizeof name, "layer/%s", h->base);
    slot *bs = (slot *)find_slot(a, name);
    if (!bs || strncmp(bs->s->name, s->name, FP_ATLAS_NAME_LEN) == 0) return "base section missing";
    const unsigned char *bm = a->map + bs->s->offset;
    uint32_t bmagic;
    if (bs->s->length < 4) return "base section";
    memcpy(&bmagic, bm, 4);
    if (bmagic != FP_ATLAS_LAYER_MAGIC) return "base is not a layer with geometry";
    int brc = verify(ctx, a, bs);
    if (brc == FP_ENOMEM) return oom;
    if (brc) return "base section corrupt";
    fp__clear(ctx);
    const fp_layer *B = &bs->layer;
    memset(L, 0, sizeof *L);
    L->alloc = a->alloc;
    L->borrowed = 1;
    L->kind = FP_INDEX_GRID;
    L->base = B;
    L->nfeat = (size_t)h->nfeat;
    L->strings_len = (size_t)h->strings_len;
    memcpy(L->bbox, h->bbox, sizeof L->bbox);
    if (h->nbase != B->nfeat) return "map size";
    if (L->nfeat == 0 || L->nfeat >= (1u << 29)) return "footprint count";
    L->feat = (fp_feat *)take(&c, h->nfeat, sizeof(fp_feat));
    L->map = (int32_t *)take(&c, h->nbase, sizeof(int32_t));
    L->strings = (char *)take(&c, h->strings_len, 1);
    if (c.bad) return "section shorter than its counts";
    if (L->strings_len == 0 || L->strings[L->strings_len - 1] != '\0')
        return "string table";
    for (size_t i = 0; i < L->nfeat; i++) {
        const fp_feat *f = &L->feat[i];
        if (f->nrings || f->ring0 || f->nstripes || f->stripe0) return "footprint rings";
        if (f->code >= L->strings_len || f->name >= L->strings_len)
            return "footprint strings";
        if (i && strcmp(L->strings + L->feat[i - 1].code, L->strings + f->code) >= 0)
            return "footprint order";
    }
    for (size_t b = 0; b < B->nfeat; b++)
        if (L->map[b] < -1 || L->map[b] >= (int32_t)L->nfeat) return "map entry";
    return NULL;
}

/* Checks a section once (checksum, and bounds for layers); thread-safe. */
static int verify(fp_ctx *ctx, const fp_atlas *a, slot *sl)
{
    int st = atomic_load(&sl->state);
    while (st != S_OK && st != S_BAD) {
        int expect = S_NEW;
        if (atomic_compare_exchange_strong(&sl->state, &expect, S_BUSY)) {
            const sect *s = sl->s;
            const char *why = NULL;
            if (fp__hash64(a->map + s->offset, (size_t)s->length) != s->hash)
                why = "checksum mismatch";
            else if (strncmp(s->name, "layer/", 6) == 0) {
                uint32_t magic = 0;
                if (s->length >= 4) memcpy(&magic, a->map + s->offset, 4);
                why = magic == FP_ATLAS_MAPPED_MAGIC ? view_mapped(ctx, a, s, &sl->layer)
                                            : view_layer(a, s, &sl->layer);
            }
            if (why == oom) { /* try again next time */
                atomic_store(&sl->state, S_NEW);
                return fp__error(ctx, FP_ENOMEM, "out of memory");
            }
            if (why) snprintf(sl->why, sizeof sl->why, "%s", why);
            atomic_store(&sl->state, why ? S_BAD : S_OK);
        } else {
            sched_yield(); /* another thread is verifying this section */
        }
        st = atomic_load(&sl->state);
    }
    if (st == S_BAD)
        return fp__error(ctx, FP_EFORMAT,
                         "%s: section %.40s is corrupt (%s): rebuild the atlas",
                         a->path, sl->s->name, sl->why);
    return FP_OK;
}

int fp_atlas_open(fp_ctx *ctx, const char *path, fp_atlas **out)
{
    *out = NULL;
    fp__clear(ctx);
    /* O_NONBLOCK: a FIFO must not hang us waiting for a writer; only
     * regular files are accepted below anyway. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return fp__error(ctx, FP_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fp__error(ctx, FP_EIO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fp__error(ctx, FP_EIO, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (size < sizeof(hdr)) {
        close(fd);
        return fp__error(ctx, FP_EFORMAT, "%s: not a footprint atlas (%zu bytes)",
                         path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return fp__error(ctx, FP_EIO, "%s: cannot map: %s", path, strerror(e));
    fp_atlas *a = fp__calloc(&ctx->alloc, 1, sizeof *a);
    if (!a) {
        munmap(map, size);
        return fp__error(ctx, FP_ENOMEM, "out of memory");
    }
    a->alloc = ctx->alloc;
    a->map = map;
    a->size = size;
    snprintf(a->path, sizeof a->path, "%s", path);
    int rc = FP_EFORMAT;
    hdr h;
    memcpy(&h, map, sizeof h);
    if (memcmp(h.magic, FP_ATLAS_MAGIC, 8) != 0) {
        fp__error(ctx, rc, "%s: not a footprint atlas", path);
        goto fail;
    }
    if (h.bom != FP_ATLAS_BOM) {
        fp__error(ctx, rc, "%s: atlas written on a machine of other byte order", path);
        goto fail;
    }
    if (h.version != FP_ATLAS_VERSION) {
        fp__error(ctx, rc,
                  "%s: atlas format %u, this footprint reads format %u: rebuild "
                  "it with 'footprint build'", path, h.version, FP_ATLAS_VERSION);
        goto fail;
    }
    if (h.file_size != size) {
        fp__error(ctx, rc, "%s: truncated or extended atlas (%zu bytes, header "
                           "says %llu)", path, size, (unsigned long long)h.file_size);
        goto fail;
    }
    if (h.nsect == 0 || h.nsect > 4096 ||
        sizeof(hdr) + (size_t)h.nsect * sizeof(sect) > size) {
        fp__error(ctx, rc, "%s: corrupt atlas header", path);
        goto fail;
    }
    const sect *table = (const sect *)((const unsigned char *)map + sizeof(hdr));
    if (fp__hash64(table, h.nsect * sizeof(sect)) != h.table_hash) {
        fp__error(ctx, rc, "%s: corrupt atlas (section table checksum)", path);
        goto fail;
    }
    a->nsect = h.nsect;
    a->slots = fp__calloc(&ctx->alloc, h.nsect, sizeof *a->slots);
    if (!a->slots) {
        rc = fp__error(ctx, FP_ENOMEM, "out of memory");
        goto fail;
    }
    size_t table_end = sizeof(hdr) + h.nsect * sizeof(sect);
    for (uint32_t i = 0; i < h.nsect; i++) {
        const sect *s = &table[i];
        if (s->offset < table_end || s->offset % 8 || s->offset > size ||
            s->length > size - s->offset || memchr(s->name, '\0', FP_ATLAS_NAME_LEN) == NULL) {
            fp__error(ctx, rc, "%s: corrupt atlas (section %u out of bounds)", path, i);
            goto fail;
        }
        a->slots[i].s = s;
        atomic_init(&a->slots[i].state, S_NEW);
    }
    /* The catalogue and the sources stamp are small: check them now. */
    slot *cs = (slot *)find_slot(a, "catalogue"), *ss = (slot *)find_slot(a, "sources");
    if (!cs || !ss) {
        fp__error(ctx, rc, "%s: atlas lacks its catalogue", path);
        goto fail;
    }
    if ((rc = verify(ctx, a, cs)) || (rc = verify(ctx, a, ss))) goto fail;
    rc = fp_catalogue_parse(ctx, (const char *)map + cs->s->offset,
                            (size_t)cs->s->length, path, &a->cat);
    if (rc) goto fail;
    a->catalogue_hash = cs->s->hash;
    a->sources = (const char *)map + ss->s->offset;
    a->sources_len = (size_t)ss->s->length;
    *out = a;
    return FP_OK;
fail:
    fp_atlas_free(a);
    return rc;
}

int fp_atlas_layer(fp_ctx *ctx, const fp_atlas *a, const char *edition,
                   const fp_layer **out)
{
    char name[FP_ATLAS_NAME_LEN + 8];
    *out = NULL;
    fp__clear(ctx);
    snprintf(name, sizeof name, "layer/%s", edition);
    slot *sl = (slot *)find_slot(a, name);
    if (!sl)
        return fp__error(ctx, FP_ENOTFOUND, "%s: no edition '%s' in the atlas",
                         a->path, edition);
    int rc = verify(ctx, a, sl);
    if (rc) return rc;
    *out = &sl->layer;
    return FP_OK;
}

int fp_atlas_check(fp_ctx *ctx, const fp_atlas *a, const fp_catalogue *cat,
                   const char *data_dir)
{
    fp__clear(ctx);
    const char *text = NULL;
    size_t tlen = 0;
    if (cat) fp__catalogue_text(cat, &text, &tlen);
    if (text && fp__hash64(text, tlen) != a->catalogue_hash)
        return fp__error(ctx, FP_EFORMAT,
                         "%s: stale atlas: built from another catalogue; rebuild "
                         "it with 'footprint build'", a->path);
    if (!data_dir) return FP_OK;
    /* Lines: path \t size \t mtime_ns */
    const char *p = a->sources, *end = a->sources + a->sources_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        char line[1024], file[4096];
        size_t n = (size_t)(nl - p) < sizeof line - 1 ? (size_t)(nl - p) : sizeof line - 1;
        memcpy(line, p, n);
        line[n] = '\0';
        p = nl + 1;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) continue;
        *t1 = *t2 = '\0';
        unsigned long long want_size = strtoull(t1 + 1, NULL, 10);
        unsigned long long want_mtime = strtoull(t2 + 1, NULL, 10);
        snprintf(file, sizeof file, "%s/%s", data_dir, line);
        struct stat st;
        if (stat(file, &st) != 0)
            return fp__error(ctx, FP_EFORMAT,
                             "%s: stale atlas: its source %s is gone; rebuild it "
                             "with 'footprint build'", a->path, file);
        unsigned long long mt = (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                                (unsigned long long)st.st_mtim.tv_nsec;
        if ((unsigned long long)st.st_size != want_size || mt != want_mtime)
            return fp__error(ctx, FP_EFORMAT,
                             "%s: stale atlas: %s changed since it was built; "
                             "rebuild it with 'footprint build'", a->path, file);
    }
    return FP_OK;
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */

typedef struct wsect {
    char name[FP_ATLAS_NAME_LEN];
    unsigned char *data;
    size_t len;
} wsect;

struct fp_atlas_writer {
    fp_ctx *ctx;
    fp_allocator alloc;
    char path[4096];
    wsect *s;
    size_t n, cap;
};

int fp__atlas_writer_new(fp_ctx *ctx, const char *path, fp_atlas_writer **out)
{
    *out = NULL;
    if (strlen(path) + 32 > sizeof((fp_atlas_writer *)0)->path)
        return fp__error(ctx, FP_EINVAL, "%s: path too long", path);
    fp_atlas_writer *w = fp__calloc(&ctx->alloc, 1, sizeof *w);
    if (!w) return fp__error(ctx, FP_ENOMEM, "out of memory");
    w->ctx = ctx;
    w->alloc = ctx->alloc;
    snprintf(w->path, sizeof w->path, "%s", path);
    *out = w;
    return FP_OK;
}

void fp__atlas_writer_abort(fp_atlas_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) fp__free(&w->alloc, w->s[i].data);
    fp__free(&w->alloc, w->s);
    fp__free(&w->alloc, w);
}

static int add_section(fp_atlas_writer *w, const char *name, unsigned char *data,
                       size_t len)
{
    if (strlen(name) >= FP_ATLAS_NAME_LEN) {
        fp__free(&w->alloc, data);
        return fp__error(w->ctx, FP_EINVAL, "section name too long: %s", name);
    }
    if (fp__grow(&w->alloc, (void **)&w->s, &w->cap, w->n + 1, sizeof *w->s)) {
        fp__free(&w->alloc, data);
        return fp__error(w->ctx, FP_ENOMEM, "out of memory");
    }
    memset(w->s[w->n].name, 0, FP_ATLAS_NAME_LEN);
    memcpy(w->s[w->n].name, name, strlen(name));
    w->s[w->n].data = data;
    w->s[w->n].len = len;
    w->n++;
    return FP_OK;
}

int fp__atlas_add_text(fp_atlas_writer *w, const char *name, const char *text,
                       size_t len)
{
    unsigned char *d = fp__malloc(&w->alloc, len + 1);
    if (!d) return fp__error(w->ctx, FP_ENOMEM, "out of memory");
    memcpy(d, text, len);
    return add_section(w, name, d, len);
}

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

int fp__atlas_add_layer(fp_atlas_writer *w, const char *edition, const fp_layer *L)
{
    char name[FP_ATLAS_NAME_LEN + 16];
    snprintf(name, sizeof name, "layer/%s", edition);
    /* A grid layer's queries never need the stripes (leaves carry their
     * own edges; nearest scans rings without them): leave them out. */
    int stripes = L->kind != FP_INDEX_GRID;
    size_t nstripe_off = stripes ? L->nstripe_off : 0;
    size_t nstripe_edges = stripes ? L->nstripe_edges : 0;
    const struct {
        const void *p;
        size_t n;
    } parts[] = {
        {L->feat, L->nfeat * sizeof(fp_feat)},
        {L->pts, L->npts * 2 * sizeof(double)},
        {L->ring_start, (L->nrings + 1) * sizeof(uint32_t)},
        {L->stripe_off, nstripe_off * sizeof(uint32_t)},
        {L->stripe_edges, nstripe_edges * sizeof(uint32_t)},
        {L->strings, L->strings_len},
        {L->cells, L->ncells * sizeof(uint32_t)},
        {L->cands, L->ncands * sizeof(uint32_t)},
    };
    size_t len = pad8(sizeof(lhdr));
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) len += pad8(parts[i].n);
    unsigned char *d = fp__calloc(&w->alloc, 1, len);
    if (!d) return fp__error(w->ctx, FP_ENOMEM, "out of memory");
    fp_feat *feat = NULL;
    if (!stripes) { /* footprints without stripes say so: zero fields */
        feat = fp__malloc(&w->alloc, (L->nfeat + 1) * sizeof *feat);
        if (!feat) {
            fp__free(&w->alloc, d);
            return fp__error(w->ctx, FP_ENOMEM, "out of memory");
        }
        memcpy(feat, L->feat, L->nfeat * sizeof *feat);
        for (size_t i = 0; i < L->nfeat; i++)
            feat[i].stripe0 = feat[i].nstripes = 0, feat[i].sy0 = feat[i].sinv = 0;
    }
    lhdr h;
    memset(&h, 0, sizeof h);
    h.magic = FP_ATLAS_LAYER_MAGIC;
    h.kind = (uint32_t)L->kind;
    h.root_bits = (uint32_t)L->root_bits;
    h.total_bits = (uint32_t)L->total_bits;
    h.gmax = L->gmax;
    h.nfeat = L->nfeat, h.npts = L->npts, h.nrings = L->nrings;
    h.nstripe_off = nstripe_off, h.nstripe_edges = nstripe_edges;
    h.strings_len = L->strings_len, h.ncells = L->ncells, h.ncands = L->ncands;
    memcpy(h.bbox, L->bbox, sizeof h.bbox);
    h.gx0 = L->gx0, h.gy0 = L->gy0, h.gx1 = L->gx1, h.gy1 = L->gy1;
    h.gsx = L->gsx, h.gsy = L->gsy;
    memcpy(d, &h, sizeof h);
    size_t off = pad8(sizeof h);
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        const void *src = i == 0 && feat ? (const void *)feat : parts[i].p;
        if (parts[i].n) memcpy(d + off, src, parts[i].n);
        off += pad8(parts[i].n);
    }
    fp__free(&w->alloc, feat);
    return add_section(w, name, d, len);
}

int fp__atlas_add_mapped(fp_atlas_writer *w, const char *edition,
                         const char *base_edition, const fp_layer *L)
{
    char name[FP_ATLAS_NAME_LEN + 16];
    snprintf(name, sizeof name, "layer/%s", edition);
    mhdr h;
    memset(&h, 0, sizeof h);
    if (strlen(base_edition) >= FP_ATLAS_NAME_LEN - 6)
        return fp__error(w->ctx, FP_EINVAL, "edition id too long: %s", base_edition);
    h.magic = FP_ATLAS_MAPPED_MAGIC;
    h.nfeat = L->nfeat, h.nbase = L->base->nfeat, h.strings_len = L->strings_len;
    memcpy(h.bbox, L->bbox, sizeof h.bbox);
    memcpy(h.base, base_edition, strlen(base_edition));
    size_t nf = L->nfeat * sizeof(fp_feat), nm = L->base->nfeat * sizeof(int32_t);
    size_t len = pad8(sizeof h) + pad8(nf) + pad8(nm) + pad8(L->strings_len);
    unsigned char *d = fp__calloc(&w->alloc, 1, len);
    if (!d) return fp__error(w->ctx, FP_ENOMEM, "out of memory");
    size_t off = 0;
    memcpy(d, &h, sizeof h);
    off += pad8(sizeof h);
    memcpy(d + off, L->feat, nf);
    off += pad8(nf);
    memcpy(d + off, L->map, nm);
    off += pad8(nm);
    memcpy(d + off, L->strings, L->strings_len);
    return add_section(w, name, d, len);
}

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t k = write(fd, b, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

int fp__atlas_writer_finish(fp_atlas_writer *w)
{
    fp_ctx *ctx = w->ctx;
    size_t table_len = w->n * sizeof(sect), off = sizeof(hdr) + table_len;
    sect *table = fp__calloc(&w->alloc, w->n ? w->n : 1, sizeof *table);
    if (!table) {
        fp__atlas_writer_abort(w);
        return fp__error(ctx, FP_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < w->n; i++) {
        memcpy(table[i].name, w->s[i].name, FP_ATLAS_NAME_LEN);
        table[i].offset = off;
        table[i].length = w->s[i].len;
        table[i].hash = fp__hash64(w->s[i].data, w->s[i].len);
        off += pad8(w->s[i].len);
    }
    hdr h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, FP_ATLAS_MAGIC, 8);
    h.bom = FP_ATLAS_BOM;
    h.version = FP_ATLAS_VERSION;
    h.file_size = off;
    h.nsect = (uint32_t)w->n;
    h.table_hash = fp__hash64(table, table_len);
    h.created = (uint64_t)time(NULL);
    snprintf(h.fp_version, sizeof h.fp_version, "%s", FP_VERSION_STRING);

    /* Temporary file beside the target, renamed into place when whole. */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", w->path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = FP_OK;
    if (fd < 0) {
        rc = fp__error(ctx, FP_EIO, "%s: %s", w->path, strerror(errno));
        goto out;
    }
    static const unsigned char zeros[8] = {0};
    int bad = write_all(fd, &h, sizeof h) || write_all(fd, table, table_len);
    for (size_t i = 0; i < w->n && !bad; i++)
        bad = write_all(fd, w->s[i].data, w->s[i].len) ||
              write_all(fd, zeros, pad8(w->s[i].len) - w->s[i].len);
    if (!bad) bad = fsync(fd) != 0;
    int e = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && rename(tmp, w->path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlink(tmp);
        rc = fp__error(ctx, FP_EIO, "%s: %s", w->path, strerror(e));
    }
out:
    fp__free(&w->alloc, table);
    fp__atlas_writer_abort(w);
    return rc;
}
