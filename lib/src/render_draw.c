/* Drawing a map: page layout, colours, the views (main and London inset),
 * legend, scale bar, north arrow, title and attribution, and the output
 * file (PNG, SVG or PDF through cairo, written to a temporary file and
 * renamed when complete). */
/* mmap's MAP_ANONYMOUS and madvise's MADV_HUGEPAGE (see img_alloc). */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>
#include <zlib.h>

#include "footprint.h"
#include "render_private.h"

enum { FMT_PNG, FMT_SVG, FMT_PDF };

/* Paul Tol's "light" qualitative scheme, made for filled areas carrying
 * labels, distinct under the common colour-vision deficiencies. */
static const uint32_t QUAL[RD_NQUAL] = {0x77AADD, 0xEE8866, 0xEEDD88, 0xFFAABB,
                                        0x99DDFF, 0x44BB99, 0xBBCC33, 0xAAAA00};
/* Pairs of it closest to each other (CIELAB distance under 25: light blue
 * and light cyan, pear and olive) are kept apart where they can be. */
static const unsigned QUAL_LIKE[RD_NQUAL] = {1u << 4, 0, 0, 0, 1u << 0, 0, 1u << 7, 1u << 6};
/* Paul Tol's YlOrBr sequential scheme (colour-blind safe, prints in grey
 * in order). */
static const uint32_t SEQ[9] = {0xFFFFE5, 0xFFF7BC, 0xFEE391, 0xFEC44F, 0xFB9A29,
                                0xEC7014, 0xCC4C02, 0x993404, 0x662506};
/* Okabe-Ito (less black) for point categories; then grey for "other". */
static const uint32_t CAT[RD_NCAT] = {0xE69F00, 0x56B4E9, 0x009E73, 0xF0E442,
                                      0x0072B2, 0xD55E00, 0xCC79A7};
#define OTHER_CAT 0x999999
#define CONTEXT_FILL 0xEEEEEE
#define CONTEXT_LINE 0xBBBBBB
#define AREA_LINE 0x4D4D4D
#define OUTLINE_LINE 0x1A1A1A
#define NODATA_FILL 0xF4F4F4
#define NODATA_HATCH 0x8C8C8C

/* London, for the inset: Greater London and a margin (lon/lat). */
static const double LONDON[4] = {-0.53, 51.27, 0.35, 51.71};

static void rgb(cairo_t *cr, uint32_t c)
{
    cairo_set_source_rgb(cr, (c >> 16 & 255) / 255.0, (c >> 8 & 255) / 255.0,
                         (c & 255) / 255.0);
}

static uint32_t mix(uint32_t c, uint32_t with, double t)
{
    uint32_t o = 0;
    for (int s = 0; s <= 16; s += 8) {
        double a = c >> s & 255, b = with >> s & 255;
        o |= (uint32_t)lround(a + (b - a) * t) << s;
    }
    return o;
}

void rd_font(cairo_t *cr, int bold, int condensed, double size)
{
    cairo_select_font_face(cr, condensed ? "DejaVu Sans Condensed" : "DejaVu Sans",
                           CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_w(cairo_t *cr, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* dst (holding n bytes of cap) += src[0..k), truncated, NUL-terminated. */
static size_t append(char *dst, size_t n, size_t cap, const char *src, size_t k)
{
    if (n + k >= cap) k = n + 1 < cap ? cap - n - 1 : 0;
    memcpy(dst + n, src, k);
    dst[n + k] = '\0';
    return n + k;
}

/* Greedy word wrap of s to maxw: lines separated by '\n' in out. */
static int wrap(cairo_t *cr, const char *s, double maxw, char *out, size_t size, double *widest)
{
    size_t o = 0, nl = 0;
    int lines = 1;
    char line[1024] = "";
    *widest = 0;
    out[0] = '\0';
    const char *p = s;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        size_t wl = strcspn(p, " ");
        char cand[1024];
        size_t nc = append(cand, 0, sizeof cand, line, nl);
        if (nl) nc = append(cand, nc, sizeof cand, " ", 1);
        nc = append(cand, nc, sizeof cand, p, wl);
        if (nl && text_w(cr, cand) > maxw) {
            *widest = fmax(*widest, text_w(cr, line));
            o = append(out, o, size, line, nl);
            o = append(out, o, size, "\n", 1);
            lines++;
            nl = append(line, 0, sizeof line, p, wl);
        } else {
            nl = append(line, 0, sizeof line, cand, nc);
        }
        p += wl;
    }
    *widest = fmax(*widest, text_w(cr, line));
    append(out, o, size, line, nl);
    return lines;
}

/* Lines of text (separated by '\n'), first baseline at y; align 0 left
 * of x, 1 centred on x. */
static void show_lines(cairo_t *cr, const char *s, double x, double y, double lh, int align)
{
    char line[1024];
    while (*s) {
        size_t n = strcspn(s, "\n");
        snprintf(line, sizeof line, "%.*s", (int)n, s);
        double w = align ? text_w(cr, line) : 0;
        cairo_move_to(cr, x - w / 2 * align, y);
        cairo_show_text(cr, line);
        y += lh;
        s += n;
        if (*s) s++;
    }
}

/* ---- the output file ---- */

typedef struct out {
    FILE *f;
    int err;
    int fmt;
    size_t written;
    /* Text put in the file beside what cairo writes: SVG <title>/<desc>
     * after the root element's start tag; PNG iTXt chunks after IHDR. */
    const unsigned char *extra;
    size_t extra_len;
    int injected, match, in_tag;
} out;

static void put(out *o, const void *p, size_t n)
{
    if (o->err || !n) return;
    if (fwrite(p, 1, n, o->f) != n) o->err = errno ? errno : EIO;
    o->written += n;
}

static cairo_status_t write_cb(void *closure, const unsigned char *data, unsigned int len)
{
    out *o = closure;
    size_t i = 0;
    if (!o->injected && o->extra && o->fmt == FMT_SVG) {
        {
            static const char pat[] = "<svg";
            for (; i < len && !o->injected; i++) {
                if (!o->in_tag) {
                    o->match = data[i] == (unsigned char)pat[o->match] ? o->match + 1
                               : data[i] == '<'                         ? 1
                                                                        : 0;
                    if (o->match == 4) o->in_tag = 1;
                } else if (data[i] == '>') {
                    put(o, data, i + 1);
                    put(o, o->extra, o->extra_len);
                    o->injected = 1;
                }
            }
            if (!o->injected) i = 0; /* all of it below */
        }
    }
    put(o, data + i, len - i);
    return o->err ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

static void xml_escape(const char *s, char *buf, size_t size)
{
    size_t o = 0;
    for (; *s && o + 8 < size; s++) {
        const char *e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;"
                        : *s == '"' ? "&quot;" : NULL;
        if (e) {
            memcpy(buf + o, e, strlen(e));
            o += strlen(e);
        } else if ((unsigned char)*s >= 0x20 || *s == '\n') {
            buf[o++] = *s;
        }
    }
    buf[o] = '\0';
}

/* A PNG iTXt chunk: keyword, uncompressed UTF-8 text. */
static size_t itxt(unsigned char *buf, size_t size, const char *key, const char *text)
{
    size_t kl = strlen(key), tl = strlen(text), dl = kl + 5 + tl;
    if (dl + 12 > size) return 0;
    unsigned char *p = buf;
    p[0] = (unsigned char)(dl >> 24), p[1] = (unsigned char)(dl >> 16);
    p[2] = (unsigned char)(dl >> 8), p[3] = (unsigned char)dl;
    memcpy(p + 4, "iTXt", 4);
    memcpy(p + 8, key, kl);
    memset(p + 8 + kl, 0, 5); /* NUL, no compression, method, language, key */
    memcpy(p + 8 + kl + 5, text, tl);
    uLong crc = crc32(0L, p + 4, (uInt)(dl + 4));
    unsigned char *c = p + 8 + dl;
    c[0] = (unsigned char)(crc >> 24), c[1] = (unsigned char)(crc >> 16);
    c[2] = (unsigned char)(crc >> 8), c[3] = (unsigned char)crc;
    return dl + 12;
}

/* ---- PNG ---- */

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static void chunk(out *o, const char *type, const unsigned char *data, size_t n)
{
    unsigned char h[8];
    be32(h, (uint32_t)n);
    memcpy(h + 4, type, 4);
    uLong crc = crc32(0L, h + 4, 4);
    if (n) crc = crc32(crc, data, (uInt)n);
    unsigned char c[4];
    be32(c, (uint32_t)crc);
    put(o, h, 8);
    put(o, data, n);
    put(o, c, 4);
}

/* The image as an 8-bit RGB PNG.  cairo's own writer (libpng at its
 * default settings, adaptive filters) takes five times as long for a file
 * of the same size: for maps, large flat areas, unfiltered rows at
 * deflate level 3 compress as well. */
static int png_encode(out *o, cairo_surface_t *s, const unsigned char *extra, size_t extra_len,
                      const fp_allocator *a)
{
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put(o, sig, 8);
    unsigned char ihdr[13];
    be32(ihdr, (uint32_t)w);
    be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8, ihdr[9] = 2, ihdr[10] = ihdr[11] = ihdr[12] = 0;
    chunk(o, "IHDR", ihdr, 13);
    put(o, extra, extra_len); /* iTXt chunks, made whole */
    size_t rowb = (size_t)w * 3 + 1, zcap = 1 << 16;
    unsigned char *row = fp__malloc(a, rowb), *zbuf = fp__malloc(a, zcap);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (!row || !zbuf || deflateInit(&z, 3) != Z_OK) {
        fp__free(a, row);
        fp__free(a, zbuf);
        return FP_ENOMEM;
    }
    int zr = Z_OK;
    for (int y = 0; y <= h && zr != Z_STREAM_END && !o->err; y++) {
        if (y < h) {
            const uint32_t *p = (const uint32_t *)(const void *)(d + (size_t)y * (size_t)stride);
            row[0] = 0; /* filter: none */
            for (int x = 0; x < w; x++) {
                row[1 + 3 * x] = (unsigned char)(p[x] >> 16);
                row[2 + 3 * x] = (unsigned char)(p[x] >> 8);
                row[3 + 3 * x] = (unsigned char)p[x];
            }
            z.next_in = row;
            z.avail_in = (uInt)rowb;
        }
        do {
            z.next_out = zbuf;
            z.avail_out = (uInt)zcap;
            zr = deflate(&z, y < h ? Z_NO_FLUSH : Z_FINISH);
            size_t got = zcap - z.avail_out;
            if (got) chunk(o, "IDAT", zbuf, got);
        } while (z.avail_out == 0 || (y == h && zr == Z_OK));
    }
    deflateEnd(&z);
    fp__free(a, row);
    fp__free(a, zbuf);
    chunk(o, "IEND", NULL, 0);
    return zr == Z_STREAM_END || o->err ? FP_OK : FP_ENOMEM;
}

/* A page of pixels.  Faulting in 20 MB one 4 kB page at a time costs more
 * than drawing the map on some virtual machines: ask for huge pages,
 * aligned to their 2 MB (a quarter of the cost, unaligned). */
typedef struct pixbuf {
    void *base;
    size_t len;
    unsigned char *data;
} pixbuf;

static int img_alloc(pixbuf *pb, size_t n)
{
#if defined(MAP_ANONYMOUS)
    size_t huge = (size_t)2 << 20;
    pb->len = n + huge;
    pb->base = mmap(NULL, pb->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pb->base == MAP_FAILED) {
        pb->base = NULL;
        return FP_ENOMEM;
    }
    pb->data = (unsigned char *)(((uintptr_t)pb->base + huge - 1) & ~(uintptr_t)(huge - 1));
#if defined(MADV_HUGEPAGE)
    madvise(pb->data, n, MADV_HUGEPAGE);
#endif
#else
    pb->base = pb->data = malloc(n);
    pb->len = n;
#endif
    return pb->data ? FP_OK : FP_ENOMEM;
}

static void img_free(pixbuf *pb)
{
    if (!pb->base) return;
#if defined(MAP_ANONYMOUS)
    munmap(pb->base, pb->len);
#else
    free(pb->base);
#endif
    pb->base = pb->data = NULL;
}

/* ---- layout ---- */

typedef struct legend_row {
    int kind;         /* below */
    uint32_t colour;
    double lw;
    char text[1200];
    int nlines;
    double tw;
} legend_row;

enum { ROW_HEAD, ROW_QUAL, ROW_FILL, ROW_HATCH, ROW_LINE, ROW_DOT };

typedef struct page {
    double W, H, b, mg;
    double fs_title, fs_sub, fs_label, fs_legend, fs_attr;
    double top, bottom;
    char attr[4096];
    int attr_lines;
    char attribution[4096]; /* every attribution, "; "-less, one per line */
    legend_row *rows;
    size_t nrows;
    double lg_w, lg_h;
    rd_box legend, scale, inset_box;
    int has_legend;
    double bar_len, bar_km, north; /* scale bar: page units, km; north angle */
    int bar_segs;
} page;

static int add_row(fp_map *m, page *pg, legend_row **rows, size_t *cap, int kind,
                   uint32_t colour, double lw, const char *text)
{
    if (fp__grow(&m->a, (void **)rows, cap, pg->nrows + 1, sizeof **rows)) return FP_ENOMEM;
    legend_row *r = &(*rows)[pg->nrows++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->colour = colour;
    r->lw = lw;
    snprintf(r->text, sizeof r->text, "%s", text);
    return FP_OK;
}

/* Categories by frequency: order[0..ncats). */
static void cat_order(const fp_map *m, size_t *order)
{
    for (size_t i = 0; i < m->ncats; i++) order[i] = i;
    /* insertion sort: few categories */
    for (size_t i = 1; i < m->ncats; i++) {
        size_t t = order[i], j = i;
        while (j && m->cat_n[order[j - 1]] < m->cat_n[t]) order[j] = order[j - 1], j--;
        order[j] = t;
    }
}

static uint32_t feat_fill(const fp_map *m, const rd_feat *f)
{
    if (m->has_values) {
        if (f->cls < 0) return NODATA_FILL;
        int n = m->ncls;
        int idx = n <= 1 ? 4 : 1 + (int)lround(f->cls * 7.0 / (n - 1));
        return SEQ[idx];
    }
    uint32_t c = QUAL[f->colour >= 0 ? f->colour % RD_NQUAL : 0];
    /* Under points coloured by footprint the fills pale, the dots carry the
     * colour. */
    if (m->npt && m->pt_by_feat) c = mix(c, 0xFFFFFF, 0.55);
    return c;
}

static uint32_t class_fill(const fp_map *m, int c)
{
    int n = m->ncls;
    return SEQ[n <= 1 ? 4 : 1 + (int)lround(c * 7.0 / (n - 1))];
}

static int build_legend(fp_map *m, cairo_t *cr, page *pg, double maxw)
{
    legend_row *rows = NULL;
    size_t cap = 0;
    char buf[1200], a[64], b[64];
    pg->nrows = 0;
    int rc = FP_OK;
    for (size_t l = 0; l < m->nlayers && !rc; l++) {
        const rd_layer *ly = &m->layers[l];
        if (ly->role == FP_MAP_AREAS && m->has_values) {
            if (m->values_title && *m->values_title)
                rc = add_row(m, pg, &rows, &cap, ROW_HEAD, 0, 0, m->values_title);
            for (int c = 0; c < m->ncls && !rc; c++) {
                rd_format_number(m->cls_lo[c], m->decimals, a, sizeof a);
                rd_format_number(m->cls_hi[c], m->decimals, b, sizeof b);
                if (!strcmp(a, b))
                    snprintf(buf, sizeof buf, "%s (%zu)", a, m->cls_n[c]);
                else
                    snprintf(buf, sizeof buf, "%s \xe2\x80\x93 %s (%zu)", a, b, m->cls_n[c]);
                rc = add_row(m, pg, &rows, &cap, ROW_FILL, class_fill(m, c), 0, buf);
            }
            /* Footprints without a value: hatched, and named. */
            size_t nnd = 0, o = 0;
            for (size_t i = 0; i < ly->nf; i++) nnd += ly->f[i].cls < 0;
            if (nnd && !rc) {
                o = (size_t)snprintf(buf, sizeof buf, "No data:");
                size_t shown = 0;
                for (size_t i = 0; i < ly->nf && o < sizeof buf - 200; i++) {
                    if (ly->f[i].cls >= 0) continue;
                    if (shown == 8 && nnd > 9) {
                        o += (size_t)snprintf(buf + o, sizeof buf - o, " and %zu more",
                                              nnd - shown);
                        break;
                    }
                    char nm[300];
                    rd_short_name(fp_layer_name(ly->L, ly->f[i].src), nm, sizeof nm);
                    o += (size_t)snprintf(buf + o, sizeof buf - o, "%s %s", shown ? "," : "", nm);
                    shown++;
                }
                rc = add_row(m, pg, &rows, &cap, ROW_HATCH, NODATA_FILL, 0, buf);
            }
            if (!rc && *ly->legend)
                rc = add_row(m, pg, &rows, &cap, ROW_LINE, AREA_LINE, 0.7, ly->legend);
        } else if (ly->role == FP_MAP_AREAS) {
            snprintf(buf, sizeof buf, "%s: %zu", ly->legend, ly->nf);
            rc = add_row(m, pg, &rows, &cap, ROW_QUAL, 0, 0, buf);
        } else if (ly->role == FP_MAP_CONTEXT) {
            rc = add_row(m, pg, &rows, &cap, ROW_FILL, CONTEXT_FILL, 0, ly->legend);
        } else {
            rc = add_row(m, pg, &rows, &cap, ROW_LINE, OUTLINE_LINE, 2.0, ly->legend);
        }
    }
    if (!rc && m->npt) {
        if (m->pt_by_feat) {
            snprintf(buf, sizeof buf, "%s%s", m->pt_legend,
                     m->has_values ? "" : ", coloured by footprint");
            rc = add_row(m, pg, &rows, &cap, ROW_DOT, m->has_values ? 0x222222 : 0x555555, 0,
                         buf);
        } else {
            rc = add_row(m, pg, &rows, &cap, ROW_HEAD, 0, 0, m->pt_legend);
            size_t *order = fp__malloc(&m->a, (m->ncats ? m->ncats : 1) * sizeof *order);
            if (!order) rc = FP_ENOMEM;
            if (!rc) cat_order(m, order);
            size_t ncol = m->ncats > RD_NCAT ? RD_NCAT - 1 : m->ncats, other = 0;
            for (size_t i = 0; i < m->ncats && !rc; i++) {
                if (i >= ncol) {
                    other += m->cat_n[order[i]];
                    continue;
                }
                snprintf(buf, sizeof buf, "%s (%zu)", *m->cats[order[i]] ? m->cats[order[i]]
                                                                      : "(blank)",
                         m->cat_n[order[i]]);
                rc = add_row(m, pg, &rows, &cap, ROW_DOT, CAT[i], 0, buf);
            }
            if (!rc && other) {
                snprintf(buf, sizeof buf, "other (%zu)", other);
                rc = add_row(m, pg, &rows, &cap, ROW_DOT, OTHER_CAT, 0, buf);
            }
            fp__free(&m->a, order);
        }
    }
    pg->rows = rows;
    if (rc) return rd_fail(m, FP_ENOMEM, "out of memory");
    /* Sizes: swatch, gap, wrapped text. */
    double fs = pg->fs_legend, sw = 1.5 * fs, pad = 0.6 * fs, lh = 1.2 * fs;
    double w = 0, h = pad;
    for (size_t i = 0; i < pg->nrows; i++) {
        legend_row *r = &rows[i];
        rd_font(cr, r->kind == ROW_HEAD, 0, fs);
        double tmax = r->kind == ROW_HEAD ? maxw + sw + 0.5 * fs : maxw;
        char wrapped[1200];
        r->nlines = wrap(cr, r->text, tmax, wrapped, sizeof wrapped, &r->tw);
        snprintf(r->text, sizeof r->text, "%s", wrapped);
        double rw = r->kind == ROW_HEAD ? r->tw : sw + 0.5 * fs + r->tw;
        w = fmax(w, rw);
        h += fmax(r->nlines * lh, 0.95 * fs) + 0.35 * fs;
    }
    pg->lg_w = w + 2 * pad;
    pg->lg_h = h + pad - 0.35 * fs;
    pg->has_legend = pg->nrows > 0;
    return FP_OK;
}

/* Every edition's attribution, then those added, once each, wrapped to
 * the page. */
static void build_attribution(fp_map *m, cairo_t *cr, page *pg)
{
    size_t o = 0, oa = 0;
    pg->attr[0] = pg->attribution[0] = '\0';
    pg->attr_lines = 0;
    rd_font(cr, 0, 0, pg->fs_attr);
    for (size_t k = 0; k < m->nlayers + m->nattrib; k++) {
        const char *a = k < m->nlayers ? (m->layers[k].ed ? m->layers[k].ed->attribution : NULL)
                                       : m->attrib[k - m->nlayers];
        if (!a || !*a) continue;
        int dup = 0;
        for (size_t j = 0; j < k && !dup; j++) {
            const char *b = j < m->nlayers ? (m->layers[j].ed ? m->layers[j].ed->attribution : NULL)
                                           : m->attrib[j - m->nlayers];
            dup = b && !strcmp(a, b);
        }
        if (dup) continue;
        char wrapped[2048];
        double widest;
        int n = wrap(cr, a, pg->W - 2 * pg->mg, wrapped, sizeof wrapped, &widest);
        o += (size_t)snprintf(pg->attr + o, o < sizeof pg->attr ? sizeof pg->attr - o : 0,
                              "%s%s", o ? "\n" : "", wrapped);
        oa += (size_t)snprintf(pg->attribution + oa,
                               oa < sizeof pg->attribution ? sizeof pg->attribution - oa : 0,
                               "%s%s", oa ? "\n" : "", a);
        pg->attr_lines += n;
    }
}

/* ---- views ---- */

static void view_fit(rd_view *v, const double ext[4])
{
    double ew = ext[2] - ext[0], eh = ext[3] - ext[1];
    if (!(ew > 0)) ew = 1000;
    if (!(eh > 0)) eh = 1000;
    v->s = fmin(v->fw / ew, v->fh / eh);
    double cx = (ext[0] + ext[2]) / 2, cy = (ext[1] + ext[3]) / 2;
    v->mx0 = cx - v->fw / 2 / v->s;
    v->mx1 = cx + v->fw / 2 / v->s;
    v->my0 = cy - v->fh / 2 / v->s;
    v->my1 = cy + v->fh / 2 / v->s;
}

static void to_page(const rd_view *v, double x, double y, double *px, double *py)
{
    *px = v->fx + (x - v->mx0) * v->s;
    *py = v->fy + (v->my1 - y) * v->s;
}

static int make_geoms(fp_map *m, rd_view *v, double tol)
{
    if (!v->g) {
        v->g = fp__calloc(&m->a, m->nlayers, sizeof *v->g);
        if (!v->g) return rd_fail(m, FP_ENOMEM, "out of memory");
    }
    for (size_t l = 0; l < m->nlayers; l++)
        if (rd_geom_make(&m->a, &m->layers[l], v, tol, &v->g[l]))
            return rd_fail(m, FP_ENOMEM, "out of memory");
    return FP_OK;
}

static void path_feat(cairo_t *cr, const rd_geom *g, const rd_feat *f)
{
    for (uint32_t r = f->ring0; r < f->ring0 + f->nrings; r++) {
        uint32_t s = g->rs[r], e = g->rs[r + 1];
        if (e - s < 4) continue;
        cairo_move_to(cr, g->xy[2 * s], g->xy[2 * s + 1]);
        for (uint32_t i = s + 1; i + 1 < e; i++) cairo_line_to(cr, g->xy[2 * i], g->xy[2 * i + 1]);
        cairo_close_path(cr);
    }
}

/* The boundaries of a layer's footprints, each shared stretch once:
 * neighbours carry identical generalised arcs (render_geom.c), so a
 * segment seen before is the other side of the same boundary.  Half the
 * stroking, half the SVG.  The table holds segment indices (small: fresh
 * memory is dear). */
static uint64_t seg_hash(const double *a, const double *b)
{
    uint64_t h = 1469598103934665603ull, w[4];
    memcpy(w, a, 16);
    memcpy(w + 2, b, 16);
    for (int i = 0; i < 4; i++) {
        h ^= w[i] + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static int path_outlines(fp_map *m, cairo_t *cr, const rd_geom *g, const rd_layer *ly)
{
    size_t cap = 16;
    while (cap < g->npts + g->npts / 2 + 16) cap <<= 1;
    uint32_t *t = fp__calloc(&m->a, cap, sizeof *t); /* segment's first point + 1 */
    if (!t) {
        for (size_t i = 0; i < ly->nf; i++) path_feat(cr, g, &ly->f[i]);
        return FP_ENOMEM;
    }
    for (size_t fi = 0; fi < ly->nf; fi++) {
        const rd_feat *f = &ly->f[fi];
        for (uint32_t r = f->ring0; r < f->ring0 + f->nrings; r++) {
            uint32_t s0 = g->rs[r], e = g->rs[r + 1];
            if (e - s0 < 4) continue;
            int pen = 0;
            for (uint32_t i = s0; i + 1 < e; i++) {
                const double *a = g->xy + 2 * i, *b = a + 2;
                /* The segment with its ends in order, whichever way walked. */
                int swap = a[0] > b[0] || (a[0] == b[0] && a[1] > b[1]);
                const double *lo = swap ? b : a, *hi = swap ? a : b;
                size_t h = (size_t)seg_hash(lo, hi) & (cap - 1);
                int seen = 0;
                for (; t[h]; h = (h + 1) & (cap - 1)) {
                    const double *c = g->xy + 2 * (t[h] - 1), *d = c + 2;
                    int sw = c[0] > d[0] || (c[0] == d[0] && c[1] > d[1]);
                    const double *clo = sw ? d : c, *chi = sw ? c : d;
                    if (clo[0] == lo[0] && clo[1] == lo[1] && chi[0] == hi[0] && chi[1] == hi[1]) {
                        seen = 1;
                        break;
                    }
                }
                if (seen) {
                    pen = 0;
                    continue;
                }
                t[h] = i + 1;
                if (!pen) cairo_move_to(cr, a[0], a[1]);
                cairo_line_to(cr, b[0], b[1]);
                pen = 1;
            }
        }
    }
    fp__free(&m->a, t);
    return FP_OK;
}

/* ---- the land mask: where footprints are, for placing things ---- */

typedef struct mask {
    uint32_t *sat;
    int w, h;
    double k;
} mask;

static int make_mask(fp_map *m, const rd_view *v, mask *mk)
{
    mk->k = fmax(1, fmax(m->W, m->H) / 400);
    mk->w = (int)ceil(m->W / mk->k), mk->h = (int)ceil(m->H / mk->k);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_A8, mk->w, mk->h);
    cairo_t *cr = cairo_create(s);
    cairo_scale(cr, 1 / mk->k, 1 / mk->k);
    cairo_set_fill_rule(cr, CAIRO_FILL_RULE_EVEN_ODD);
    cairo_rectangle(cr, v->fx, v->fy, v->fw, v->fh);
    cairo_clip(cr);
    /* The footprints shown count fully, their grey surroundings a quarter:
     * the legend may cover neighbours before it covers the subject. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t l = 0; l < m->nlayers; l++) {
            /* Layer by layer: even-odd within a layer, never across. */
            if ((m->layers[l].role == FP_MAP_CONTEXT) != !pass) continue;
            cairo_new_path(cr);
            for (size_t i = 0; i < m->layers[l].nf; i++)
                path_feat(cr, &v->g[l], &m->layers[l].f[i]);
            cairo_set_source_rgba(cr, 0, 0, 0, pass ? 1 : 0.25);
            cairo_fill(cr);
        }
    cairo_destroy(cr);
    cairo_surface_flush(s);
    int rc = cairo_surface_status(s) ? FP_ENOMEM : FP_OK;
    size_t W = (size_t)mk->w + 1;
    mk->sat = rc ? NULL : fp__calloc(&m->a, W * ((size_t)mk->h + 1), sizeof *mk->sat);
    if (mk->sat) {
        const unsigned char *d = cairo_image_surface_get_data(s);
        int stride = cairo_image_surface_get_stride(s);
        for (int y = 0; y < mk->h; y++) {
            uint32_t row = 0;
            for (int x = 0; x < mk->w; x++) {
                row += d[(size_t)y * (size_t)stride + (size_t)x];
                mk->sat[(size_t)(y + 1) * W + (size_t)x + 1] =
                    mk->sat[(size_t)y * W + (size_t)x + 1] + row;
            }
        }
    }
    cairo_surface_destroy(s);
    if (!mk->sat) return rd_fail(m, FP_ENOMEM, "out of memory");
    return FP_OK;
}

static double mask_land(const mask *mk, rd_box b)
{
    int x0 = (int)floor(b.x0 / mk->k), x1 = (int)ceil(b.x1 / mk->k);
    int y0 = (int)floor(b.y0 / mk->k), y1 = (int)ceil(b.y1 / mk->k);
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > mk->w ? mk->w : x1, y1 = y1 > mk->h ? mk->h : y1;
    if (x1 <= x0 || y1 <= y0) return 0;
    size_t W = (size_t)mk->w + 1;
    double s = (double)mk->sat[(size_t)y1 * W + (size_t)x1] -
               mk->sat[(size_t)y0 * W + (size_t)x1] - mk->sat[(size_t)y1 * W + (size_t)x0] +
               mk->sat[(size_t)y0 * W + (size_t)x0];
    return s / (255.0 * (x1 - x0) * (y1 - y0));
}

static int boxes_overlap(rd_box a, rd_box b)
{
    return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/* A w x h box against an edge of the frame where it covers least land,
 * clear of the boxes taken. */
static rd_box place_box(const rd_view *v, const mask *mk, double w, double h, double pad,
                        const rd_box *taken, size_t ntaken)
{
    rd_box best = {v->fx + pad, v->fy + v->fh - h - pad, v->fx + pad + w, v->fy + v->fh - pad};
    double bs = INFINITY;
    for (int side = 0; side < 4; side++)
        for (int t = 0; t <= 12; t++) {
            double x, y;
            if (side < 2) { /* top, bottom */
                x = v->fx + pad + t * (v->fw - w - 2 * pad) / 12;
                y = side ? v->fy + v->fh - h - pad : v->fy + pad;
            } else { /* left, right */
                y = v->fy + pad + t * (v->fh - h - 2 * pad) / 12;
                x = side == 3 ? v->fx + v->fw - w - pad : v->fx + pad;
            }
            rd_box b = {x, y, x + w, y + h};
            int clash = 0;
            for (size_t i = 0; i < ntaken && !clash; i++) clash = boxes_overlap(b, taken[i]);
            if (clash) continue;
            /* Corners a little preferred (they read as furniture). */
            double corner = (t == 0 || t == 12) ? 0 : 0.01;
            double s = mask_land(mk, b) + corner;
            if (s < bs) bs = s, best = b;
        }
    return best;
}

/* ---- drawing ---- */

static double line_w(const page *pg, double k, int vector)
{
    double w = k * pg->b;
    return fmax(w, vector ? 0.25 : 0.8);
}

static void draw_hatch(cairo_t *cr, rd_box b, double step, double lw)
{
    cairo_set_line_width(cr, lw);
    rgb(cr, NODATA_HATCH);
    double span = (b.x1 - b.x0) + (b.y1 - b.y0);
    for (double t = 0; t <= span; t += step) {
        cairo_move_to(cr, b.x0 + t, b.y0);
        cairo_line_to(cr, b.x0 + t - (b.y1 - b.y0), b.y1);
    }
    cairo_stroke(cr);
}

/* The point colours: by category (by frequency) or by footprint. */
static uint32_t point_colour(const fp_map *m, int32_t key, const int *rank)
{
    if (key < 0) return OTHER_CAT;
    if (!m->pt_by_feat) {
        int r = rank[key];
        size_t ncol = m->ncats > RD_NCAT ? RD_NCAT - 1 : m->ncats;
        return (size_t)r < ncol ? CAT[r] : OTHER_CAT;
    }
    if (m->has_values) return 0x222222;
    const rd_feat *f = &m->layers[(uint32_t)key >> 24].f[key & 0xffffff];
    return mix(QUAL[f->colour % RD_NQUAL], 0x000000, 0.45);
}

/* Small dots for many points, up to three times larger for a few. */
static double dot_radius(const fp_map *m, const page *pg)
{
    double r = fmax(m->vector ? 0.7 : 1.2, 1.5 * pg->b);
    double k = m->npt ? sqrt(1000.0 / (double)m->npt) : 1;
    return r * fmin(fmax(k, 1), 3);
}

static int draw_points(fp_map *m, cairo_t *cr, const rd_view *v, const page *pg)
{
    if (!m->npt) return FP_OK;
    int *rank = NULL;
    size_t *order = NULL;
    if (!m->pt_by_feat) {
        rank = fp__malloc(&m->a, (m->ncats ? m->ncats : 1) * sizeof *rank);
        order = fp__malloc(&m->a, (m->ncats ? m->ncats : 1) * sizeof *order);
        if (!rank || !order) {
            fp__free(&m->a, rank);
            fp__free(&m->a, order);
            return rd_fail(m, FP_ENOMEM, "out of memory");
        }
        cat_order(m, order);
        for (size_t i = 0; i < m->ncats; i++) rank[order[i]] = (int)i;
    }
    double r = dot_radius(m, pg);
    /* Colour groups: one path each. */
    uint32_t cols[64];
    int ncols = 0;
    for (size_t i = 0; i < m->npt; i++) {
        uint32_t c = point_colour(m, m->pt_key[i], rank);
        int k = 0;
        while (k < ncols && cols[k] != c) k++;
        if (k == ncols && ncols < 64) cols[ncols++] = c;
    }
    for (int k = 0; k < ncols; k++) {
        cairo_new_path(cr);
        for (size_t i = 0; i < m->npt; i++) {
            if (point_colour(m, m->pt_key[i], rank) != cols[k]) continue;
            double x, y;
            to_page(v, m->pt[2 * i], m->pt[2 * i + 1], &x, &y);
            if (x < v->fx - r || x > v->fx + v->fw + r || y < v->fy - r || y > v->fy + v->fh + r)
                continue;
            /* A dot: a segment of no length with round caps, two numbers
             * in an SVG where a circle takes a dozen. */
            cairo_move_to(cr, x, y);
            cairo_close_path(cr);
        }
        rgb(cr, cols[k]);
        cairo_save(cr);
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
        cairo_set_line_width(cr, 2 * r);
        cairo_stroke(cr);
        cairo_restore(cr);
    }
    fp__free(&m->a, rank);
    fp__free(&m->a, order);
    return FP_OK;
}

static int draw_view(fp_map *m, cairo_t *cr, const rd_view *v, const page *pg)
{
    cairo_save(cr);
    cairo_rectangle(cr, v->fx, v->fy, v->fw, v->fh);
    cairo_clip(cr);
    cairo_set_fill_rule(cr, CAIRO_FILL_RULE_EVEN_ODD);
    /* In pixels cairo's fast antialiasing draws these fills and lines as
     * well as the default (every fill's edge is under an outline) at half
     * the cost. */
    if (!m->vector) cairo_set_antialias(cr, CAIRO_ANTIALIAS_FAST);
    /* Thin lines join bevelled (round joins look the same at this width
     * and cost an arc at every vertex); heavy outlines round. */
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_BEVEL);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    for (size_t l = 0; l < m->nlayers; l++) {
        rd_layer *ly = &m->layers[l];
        const rd_geom *g = &v->g[l];
        if (ly->role == FP_MAP_CONTEXT) {
            cairo_new_path(cr);
            for (size_t i = 0; i < ly->nf; i++) path_feat(cr, g, &ly->f[i]);
            rgb(cr, CONTEXT_FILL);
            cairo_fill(cr);
            path_outlines(m, cr, g, ly);
            rgb(cr, CONTEXT_LINE);
            cairo_set_line_width(cr, line_w(pg, 0.5, m->vector));
            cairo_stroke(cr);
        } else if (ly->role == FP_MAP_AREAS) {
            /* One path per fill colour (small SVG and PDF). */
            for (size_t i = 0; i < ly->nf; i++) ly->f[i].fill = feat_fill(m, &ly->f[i]);
            unsigned char *done = fp__calloc(&m->a, ly->nf ? ly->nf : 1, 1);
            if (!done) {
                cairo_restore(cr);
                return rd_fail(m, FP_ENOMEM, "out of memory");
            }
            for (size_t i = 0; i < ly->nf; i++) {
                if (done[i]) continue;
                uint32_t c = ly->f[i].fill;
                cairo_new_path(cr);
                for (size_t j = i; j < ly->nf; j++)
                    if (!done[j] && ly->f[j].fill == c &&
                        !(m->has_values && ly->f[j].cls < 0)) {
                        path_feat(cr, g, &ly->f[j]);
                        done[j] = 1;
                    }
                rgb(cr, c);
                cairo_fill(cr);
            }
            fp__free(&m->a, done);
            if (m->has_values) { /* no data: pale and hatched */
                cairo_new_path(cr);
                int any = 0;
                for (size_t i = 0; i < ly->nf; i++)
                    if (ly->f[i].cls < 0) path_feat(cr, g, &ly->f[i]), any = 1;
                if (any) {
                    cairo_save(cr);
                    rgb(cr, NODATA_FILL);
                    cairo_fill_preserve(cr);
                    cairo_clip(cr);
                    draw_hatch(cr, (rd_box){v->fx, v->fy, v->fx + v->fw, v->fy + v->fh},
                               fmax(3, 4 * pg->b), line_w(pg, 0.4, m->vector));
                    cairo_restore(cr);
                }
            }
            cairo_new_path(cr);
            path_outlines(m, cr, g, ly);
            rgb(cr, m->has_values ? 0x6B6B6B : AREA_LINE);
            cairo_set_line_width(cr, line_w(pg, 0.6, m->vector));
            cairo_stroke(cr);
        } else {
            cairo_new_path(cr);
            for (size_t i = 0; i < ly->nf; i++) path_feat(cr, g, &ly->f[i]);
            rgb(cr, OUTLINE_LINE);
            cairo_set_line_width(cr, line_w(pg, 1.8, m->vector));
            cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
            cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
            cairo_stroke(cr);
            cairo_set_line_join(cr, CAIRO_LINE_JOIN_BEVEL);
            cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
        }
    }
    int rc = draw_points(m, cr, v, pg);
    cairo_restore(cr);
    return rc;
}

static void draw_labels(fp_map *m, cairo_t *cr, int inset, const page *pg)
{
    cairo_save(cr);
    /* Leader lines first, under every label. */
    for (size_t i = 0; i < m->nlabels; i++) {
        const rd_label *L = &m->labels[i];
        if (!L->pub.leader || L->pub.inset != inset) continue;
        double qx = fmin(fmax(L->pub.ax, L->pub.x), L->pub.x + L->pub.w);
        double qy = fmin(fmax(L->pub.ay, L->pub.y), L->pub.y + L->pub.h);
        rgb(cr, 0x333333);
        cairo_set_line_width(cr, line_w(pg, 0.5, m->vector));
        cairo_move_to(cr, L->pub.ax, L->pub.ay);
        cairo_line_to(cr, qx, qy);
        cairo_stroke(cr);
        cairo_arc(cr, L->pub.ax, L->pub.ay, fmax(1, 1.1 * pg->b), 0, 2 * 3.14159265358979323846);
        cairo_fill(cr);
    }
    for (size_t i = 0; i < m->nlabels; i++) {
        const rd_label *L = &m->labels[i];
        if (L->pub.inset != inset) continue;
        if (L->pub.leader) {
            cairo_rectangle(cr, L->pub.x, L->pub.y, L->pub.w, L->pub.h);
            cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
            cairo_fill(cr);
        }
        rd_font(cr, 0, 1, L->fs);
        rgb(cr, L->ink);
        show_lines(cr, L->text, L->pub.x + L->pub.w / 2, L->pub.y + 0.05 * L->fs + 0.84 * L->fs,
                   1.1 * L->fs, 1);
    }
    cairo_restore(cr);
}

static void draw_legend(fp_map *m, cairo_t *cr, const page *pg)
{
    if (!pg->has_legend) return;
    rd_box b = pg->legend;
    double fs = pg->fs_legend, sw = 1.5 * fs, pad = 0.6 * fs, lh = 1.2 * fs;
    cairo_save(cr);
    cairo_rectangle(cr, b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_fill_preserve(cr);
    rgb(cr, 0xAAAAAA);
    cairo_set_line_width(cr, line_w(pg, 0.4, m->vector));
    cairo_stroke(cr);
    double y = b.y0 + pad;
    for (size_t i = 0; i < pg->nrows; i++) {
        const legend_row *r = &pg->rows[i];
        double rh = fmax(r->nlines * lh, 0.95 * fs);
        double sx = b.x0 + pad, sy = y + (fmin(rh, lh) - 0.95 * fs) / 2, sh = 0.95 * fs;
        rd_box sb = {sx, sy, sx + sw, sy + sh};
        switch (r->kind) {
        case ROW_QUAL:
            for (int k = 0; k < 4; k++) {
                cairo_rectangle(cr, sx + k * sw / 4, sy, sw / 4, sh);
                rgb(cr, m->npt && m->pt_by_feat ? mix(QUAL[k], 0xFFFFFF, 0.55) : QUAL[k]);
                cairo_fill(cr);
            }
            cairo_rectangle(cr, sx, sy, sw, sh);
            rgb(cr, AREA_LINE);
            cairo_set_line_width(cr, line_w(pg, 0.4, m->vector));
            cairo_stroke(cr);
            break;
        case ROW_FILL:
        case ROW_HATCH:
            cairo_rectangle(cr, sx, sy, sw, sh);
            rgb(cr, r->colour);
            cairo_fill_preserve(cr);
            if (r->kind == ROW_HATCH) {
                cairo_save(cr);
                cairo_clip_preserve(cr);
                draw_hatch(cr, sb, fmax(2.5, 0.3 * fs), line_w(pg, 0.4, m->vector));
                cairo_restore(cr);
            }
            rgb(cr, 0x6B6B6B);
            cairo_set_line_width(cr, line_w(pg, 0.4, m->vector));
            cairo_stroke(cr);
            break;
        case ROW_LINE:
            cairo_move_to(cr, sx, sy + sh / 2);
            cairo_line_to(cr, sx + sw, sy + sh / 2);
            rgb(cr, r->colour);
            cairo_set_line_width(cr, line_w(pg, r->lw, m->vector));
            cairo_stroke(cr);
            break;
        case ROW_DOT:
            cairo_arc(cr, sx + sw / 2, sy + sh / 2, fmin(dot_radius(m, pg) * 1.3, 0.45 * fs),
                      0, 2 * 3.14159265358979323846);
            rgb(cr, r->colour);
            cairo_fill(cr);
            break;
        default:
            break;
        }
        rd_font(cr, r->kind == ROW_HEAD, 0, fs);
        rgb(cr, 0x1A1A1A);
        double tx = r->kind == ROW_HEAD ? b.x0 + pad : sx + sw + 0.5 * fs;
        show_lines(cr, r->text, tx, y + 0.9 * fs, lh, 0);
        y += rh + 0.35 * fs;
    }
    cairo_restore(cr);
}

/* Scale bar (km) and north arrow, side by side in pg->scale. */
static void draw_scale(fp_map *m, cairo_t *cr, const page *pg)
{
    rd_box b = pg->scale;
    double fs = pg->fs_legend * 0.9;
    cairo_save(cr);
    double x0 = b.x0 + 0.4 * fs, barh = 0.45 * fs, y0 = b.y1 - 0.5 * fs - barh;
    double seg = pg->bar_len / pg->bar_segs;
    for (int i = 0; i < pg->bar_segs; i++) {
        cairo_rectangle(cr, x0 + i * seg, y0, seg, barh);
        rgb(cr, i % 2 ? 0xFFFFFF : 0x1A1A1A);
        cairo_fill_preserve(cr);
        rgb(cr, 0x1A1A1A);
        cairo_set_line_width(cr, line_w(pg, 0.4, m->vector));
        cairo_stroke(cr);
    }
    rd_font(cr, 0, 0, fs);
    rgb(cr, 0x1A1A1A);
    char t[64], n[32];
    for (int i = 0; i <= pg->bar_segs; i += pg->bar_segs == 4 ? 2 : 1) {
        double v = pg->bar_km * i / pg->bar_segs;
        rd_format_number(v, v == floor(v) ? 0 : 1, n, sizeof n);
        snprintf(t, sizeof t, "%s%s", n, i == pg->bar_segs ? " km" : "");
        double w = text_w(cr, n);
        cairo_move_to(cr, x0 + i * seg - w / 2, y0 - 0.35 * fs);
        cairo_show_text(cr, t);
    }
    /* North arrow: true north at the centre of the map. */
    double ah = 2.2 * fs, cx = b.x1 - 1.1 * fs, cy = b.y1 - 0.4 * fs - ah / 2 - 0.2 * fs;
    cairo_translate(cr, cx, cy);
    cairo_rotate(cr, pg->north);
    cairo_move_to(cr, 0, -ah / 2);
    cairo_line_to(cr, 0.45 * fs, ah / 2);
    cairo_line_to(cr, 0, ah / 2 - 0.5 * fs);
    cairo_close_path(cr);
    rgb(cr, 0x1A1A1A);
    cairo_fill(cr);
    cairo_move_to(cr, 0, -ah / 2);
    cairo_line_to(cr, -0.45 * fs, ah / 2);
    cairo_line_to(cr, 0, ah / 2 - 0.5 * fs);
    cairo_close_path(cr);
    rgb(cr, 0xFFFFFF);
    cairo_fill_preserve(cr);
    rgb(cr, 0x1A1A1A);
    cairo_set_line_width(cr, line_w(pg, 0.4, m->vector));
    cairo_stroke(cr);
    rd_font(cr, 1, 0, fs);
    double nw = text_w(cr, "N");
    cairo_move_to(cr, -nw / 2, -ah / 2 - 0.25 * fs);
    cairo_show_text(cr, "N");
    cairo_restore(cr);
}


/* ---- the whole map ---- */

static int ext_of(const fp_map *m, double ext[4])
{
    ext[0] = ext[1] = INFINITY;
    ext[2] = ext[3] = -INFINITY;
    for (int pass = 0; pass < 2 && !(ext[2] >= ext[0]); pass++)
        for (size_t l = 0; l < m->nlayers; l++) {
            const rd_layer *ly = &m->layers[l];
            if (!pass && !ly->in_extent) continue;
            for (size_t i = 0; i < ly->nf; i++) {
                ext[0] = fmin(ext[0], ly->f[i].bbox[0]);
                ext[1] = fmin(ext[1], ly->f[i].bbox[1]);
                ext[2] = fmax(ext[2], ly->f[i].bbox[2]);
                ext[3] = fmax(ext[3], ly->f[i].bbox[3]);
            }
        }
    return ext[2] >= ext[0] ? FP_OK : FP_EINVAL;
}

/* Lays out the page and places everything; cr measures text. */
static int layout(fp_map *m, cairo_t *cr, page *pg)
{
    int rc;
    double ext[4];
    if (ext_of(m, ext)) return rd_fail(m, FP_EINVAL, "nothing to draw");
    double ew = ext[2] - ext[0], eh = ext[3] - ext[1];
    double pad = 0.03 * fmax(ew, eh);
    ext[0] -= pad, ext[1] -= pad, ext[2] += pad, ext[3] += pad;
    ew += 2 * pad, eh += 2 * pad;
    pg->W = m->o.width > 0 ? m->o.width : m->vector ? 595 : 1600;
    if (!m->vector) pg->W = round(pg->W);
    double Hguess = m->o.height > 0 ? m->o.height : pg->W * eh / ew;
    pg->b = sqrt(pg->W * fmin(Hguess, 2 * pg->W)) / 1000;
    double b = pg->b, minf = m->vector ? 6 : 9;
    pg->fs_title = fmax(minf * 1.8, 17 * b);
    pg->fs_sub = fmax(minf * 1.1, 10 * b);
    pg->fs_label = fmax(minf, 6.6 * b);
    pg->fs_legend = fmax(minf, 7.2 * b);
    pg->fs_attr = fmax(minf * 0.85, 5.6 * b);
    pg->mg = fmax(m->vector ? 8 : 10, 14 * b);
    pg->top = pg->mg;
    if (m->title) pg->top += 1.05 * pg->fs_title;
    if (m->subtitle) pg->top += 1.35 * pg->fs_sub;
    if (m->title || m->subtitle) pg->top += 0.6 * pg->mg;
    build_attribution(m, cr, pg);
    pg->bottom = pg->attr_lines ? pg->attr_lines * 1.25 * pg->fs_attr + 0.7 * pg->mg + pg->mg
                                : pg->mg;
    rd_view *v = &m->main;
    v->fx = pg->mg;
    v->fy = pg->top;
    v->fw = pg->W - 2 * pg->mg;
    if (m->o.height > 0) {
        pg->H = m->o.height;
    } else {
        double fh = fmin(v->fw * eh / ew, 3 * v->fw);
        pg->H = pg->top + fh + pg->bottom;
        if (!m->vector) pg->H = ceil(pg->H);
    }
    v->fh = pg->H - pg->top - pg->bottom;
    if (!m->vector) {
        /* A frame on whole pixels: cairo clips to it without a mask. */
        v->fx = round(v->fx), v->fy = round(v->fy);
        v->fw = floor(v->fw), v->fh = floor(v->fh);
    }
    if (v->fw < 50 || v->fh < 50)
        return rd_fail(m, FP_EINVAL,
                       "map size %g x %g: too small for the map with its title and "
                       "attribution", pg->W, pg->H);
    m->W = pg->W, m->H = pg->H;
    view_fit(v, ext);
    /* Few large footprints get larger labels: up to 1.8 times the base
     * size, by the typical footprint's size on the page. */
    double sum = 0;
    size_t nlab = 0;
    for (size_t l = 0; l < m->nlayers; l++)
        if (m->layers[l].role == FP_MAP_AREAS)
            for (size_t i = 0; i < m->layers[l].nf; i++, nlab++) {
                const double *fb = m->layers[l].f[i].bbox;
                sum += (fb[2] - fb[0]) * (fb[3] - fb[1]) * v->s * v->s;
            }
    if (nlab) pg->fs_label = fmin(fmax(pg->fs_label, sqrt(sum / nlab) / 24), 1.8 * pg->fs_label);

    /* Neighbours differ in colour: adjacency at this scale (a gap
     * narrower than half a pixel reads as a shared boundary). */
    for (size_t l = 0; l < m->nlayers; l++) {
        rd_layer *ly = &m->layers[l];
        if (ly->role != FP_MAP_AREAS) continue;
        if (rd_adjacency(&m->a, ly, fmax(20, 0.5 / v->s)) ||
            rd_colour(&m->a, ly, RD_NQUAL, QUAL_LIKE))
            return rd_fail(m, FP_ENOMEM, "out of memory");
    }
    if (m->has_values && (rc = rd_values_apply(m))) return rc;
    for (size_t l = 0; l < m->nlayers; l++)
        for (size_t i = 0; i < m->layers[l].nf; i++) {
            m->layers[l].f[i].fill = feat_fill(m, &m->layers[l].f[i]);
            m->layers[l].f[i].in_inset = 0;
        }
    double tol = m->vector ? 0.2 : 0.4;
    v->quant = m->vector ? 0.125 : 0;
    if ((rc = make_geoms(m, v, tol))) return rc;
    mask mk = {0};
    if ((rc = make_mask(m, v, &mk))) return rc;

    rd_box taken[4] = {{0, 0, 0, 0}};
    size_t ntaken = 0;
    double bpad = 0.5 * pg->mg;
    /* London inset: in open space, London's footprints labelled there. */
    m->has_inset = 0;
    if (m->o.london_inset) {
        double lx[8] = {LONDON[0], LONDON[1], LONDON[2], LONDON[1],
                        LONDON[0], LONDON[3], LONDON[2], LONDON[3]};
        double lb[4] = {INFINITY, INFINITY, -INFINITY, -INFINITY};
        for (int i = 0; i < 4; i++) {
            if (rd_project1(m, &lx[2 * i], &lx[2 * i + 1])) {
                fp__free(&m->a, mk.sat);
                return rd_fail(m, FP_ECRS, "PROJ could not place London");
            }
            lb[0] = fmin(lb[0], lx[2 * i]), lb[1] = fmin(lb[1], lx[2 * i + 1]);
            lb[2] = fmax(lb[2], lx[2 * i]), lb[3] = fmax(lb[3], lx[2 * i + 1]);
        }
        if (lb[0] < ext[0] || lb[2] > ext[2] || lb[1] < ext[1] || lb[3] > ext[3]) {
            fp__free(&m->a, mk.sat);
            return rd_fail(m, FP_EINVAL, "London inset: the map does not show all of "
                                         "London (use it on maps of England)");
        }
        double iw = 0.36 * v->fw, ih = iw * (lb[3] - lb[1]) / (lb[2] - lb[0]);
        if (ih > 0.4 * v->fh) ih = 0.4 * v->fh, iw = ih * (lb[2] - lb[0]) / (lb[3] - lb[1]);
        double cap = 1.5 * pg->fs_legend;
        rd_box ib = place_box(v, &mk, iw, ih + cap, bpad, taken, ntaken);
        taken[ntaken++] = ib;
        pg->inset_box = ib;
        rd_view *iv = &m->inset;
        iv->fx = ib.x0, iv->fy = ib.y0 + cap, iv->fw = iw, iv->fh = ih;
        if (!m->vector) {
            iv->fx = round(iv->fx), iv->fy = round(iv->fy);
            iv->fw = floor(iv->fw), iv->fh = floor(iv->fh);
        }
        iv->quant = v->quant;
        view_fit(iv, lb);
        if ((rc = make_geoms(m, iv, tol))) {
            fp__free(&m->a, mk.sat);
            return rc;
        }
        m->has_inset = 1;
        /* Footprints lying in London are labelled in the inset. */
        for (size_t l = 0; l < m->nlayers; l++) {
            rd_layer *ly = &m->layers[l];
            if (ly->role != FP_MAP_AREAS) continue;
            double mx = 0.05 * (lb[2] - lb[0]);
            for (size_t i = 0; i < ly->nf; i++) {
                const double *fb = ly->f[i].bbox;
                ly->f[i].in_inset = fb[0] >= lb[0] - mx && fb[2] <= lb[2] + mx &&
                                    fb[1] >= lb[1] - mx && fb[3] <= lb[3] + mx;
            }
        }
    }
    if ((rc = build_legend(m, cr, pg, 0.3 * v->fw))) {
        fp__free(&m->a, mk.sat);
        return rc;
    }
    if (pg->has_legend) {
        pg->legend = place_box(v, &mk, pg->lg_w, pg->lg_h, bpad, taken, ntaken);
        taken[ntaken++] = pg->legend;
    }
    /* Scale bar: a round length near a fifth of the frame; ground
     * distance measured at the centre (Web Mercator stretches it). */
    double cx = (v->mx0 + v->mx1) / 2, cy = (v->my0 + v->my1) / 2, d = 5000;
    double lon1, lat1, lon2, lat2, k = 1;
    if (!rd_unproject(m, cx - d, cy, &lon1, &lat1) && !rd_unproject(m, cx + d, cy, &lon2, &lat2)) {
        double r = 3.14159265358979323846 / 180;
        double dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
        double h = sin(dlat / 2) * sin(dlat / 2) +
                   cos(lat1 * r) * cos(lat2 * r) * sin(dlon / 2) * sin(dlon / 2);
        double ground = 2 * 6371008.8 * asin(sqrt(h));
        if (ground > 0) k = ground / (2 * d);
        /* True north: the direction of a step north from the centre. */
        double clon = (lon1 + lon2) / 2, clat = (lat1 + lat2) / 2;
        double ax = clon, ay = clat, bx = clon, by = clat + 0.05;
        if (!rd_project1(m, &ax, &ay) && !rd_project1(m, &bx, &by))
            pg->north = atan2(bx - ax, by - ay);
    }
    double px_per_km = v->s * 1000 / k, want = 0.2 * v->fw / px_per_km;
    double p10 = pow(10, floor(log10(want))), km = p10;
    if (5 * p10 <= want) km = 5 * p10;
    else if (2 * p10 <= want) km = 2 * p10;
    pg->bar_km = km;
    pg->bar_len = km * px_per_km;
    pg->bar_segs = (km / p10 == 2 || km / p10 == 1) ? 4 : 5;
    double fs = pg->fs_legend * 0.9;
    double sw = pg->bar_len + 0.8 * fs + 2.0 * fs + 2.4 * fs, sh = 3.4 * fs;
    pg->scale = place_box(v, &mk, sw, sh, bpad, taken, ntaken);
    taken[ntaken++] = pg->scale;

    /* Labels: obstacles are the furniture (and the London box). */
    if (m->o.labels) {
        rd_box obst[6];
        size_t no = 0;
        for (size_t i = 0; i < ntaken; i++) obst[no++] = taken[i];
        if (m->has_inset) {
            /* London's outline on the main map: its names are in the inset. */
            rd_view *iv = &m->inset;
            rd_box lb;
            to_page(v, iv->mx0, iv->my1, &lb.x0, &lb.y0);
            to_page(v, iv->mx1, iv->my0, &lb.x1, &lb.y1);
            obst[no++] = lb;
            rc = rd_place_labels(m, cr, &m->inset, 1, NULL, 0, 0, NULL, 0, 0, 1, pg->fs_label);
        }
        if (!rc)
            rc = rd_place_labels(m, cr, v, 0, obst, no, ntaken, mk.sat, mk.w, mk.h, mk.k,
                                 pg->fs_label);
    }
    fp__free(&m->a, mk.sat);
    return rc;
}

static void draw_page(fp_map *m, cairo_t *cr, page *pg)
{
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    draw_view(m, cr, &m->main, pg);
    if (m->has_inset) {
        /* London's outline on the main map, then the inset itself. */
        rd_view *iv = &m->inset;
        double x0, y0, x1, y1;
        to_page(&m->main, iv->mx0, iv->my1, &x0, &y0);
        to_page(&m->main, iv->mx1, iv->my0, &x1, &y1);
        cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
        rgb(cr, 0x333333);
        cairo_set_line_width(cr, line_w(pg, 0.6, m->vector));
        cairo_stroke(cr);
    }
    draw_labels(m, cr, 0, pg);
    if (m->has_inset) {
        rd_box ib = pg->inset_box;
        cairo_rectangle(cr, ib.x0, ib.y0, ib.x1 - ib.x0, ib.y1 - ib.y0);
        rgb(cr, 0xFFFFFF);
        cairo_fill(cr);
        draw_view(m, cr, &m->inset, pg);
        draw_labels(m, cr, 1, pg);
        cairo_rectangle(cr, m->inset.fx, m->inset.fy, m->inset.fw, m->inset.fh);
        rgb(cr, 0x333333);
        cairo_set_line_width(cr, line_w(pg, 0.6, m->vector));
        cairo_stroke(cr);
        rd_font(cr, 1, 0, pg->fs_legend);
        cairo_move_to(cr, ib.x0 + 0.2 * pg->fs_legend, ib.y0 + 1.1 * pg->fs_legend);
        cairo_show_text(cr, "London");
    }
    draw_legend(m, cr, pg);
    draw_scale(m, cr, pg);
    double y = pg->mg;
    if (m->title) {
        rd_font(cr, 1, 0, pg->fs_title);
        rgb(cr, 0x1A1A1A);
        y += 0.9 * pg->fs_title;
        cairo_move_to(cr, pg->mg, y);
        cairo_show_text(cr, m->title);
        y += 0.15 * pg->fs_title;
    }
    if (m->subtitle) {
        rd_font(cr, 0, 0, pg->fs_sub);
        rgb(cr, 0x4D4D4D);
        y += 1.2 * pg->fs_sub;
        cairo_move_to(cr, pg->mg, y);
        cairo_show_text(cr, m->subtitle);
    }
    if (pg->attr_lines) {
        rd_font(cr, 0, 0, pg->fs_attr);
        rgb(cr, 0x4D4D4D);
        double lh = 1.25 * pg->fs_attr;
        show_lines(cr, pg->attr, pg->mg, pg->H - pg->mg - (pg->attr_lines - 1) * lh, lh, 0);
    }
}

static int format_of(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return -1;
    if (!strcasecmp(dot, ".png")) return FMT_PNG;
    if (!strcasecmp(dot, ".svg")) return FMT_SVG;
    if (!strcasecmp(dot, ".pdf")) return FMT_PDF;
    return -1;
}

static void set_font_options(cairo_t *cr)
{
    /* Unhinted metrics: text measures the same when placed and drawn, on
     * every surface. */
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_set_font_options(cr, fo);
    cairo_font_options_destroy(fo);
}


int rd_write(fp_map *m, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return rd_fail(m, FP_EIO, "%s: is a directory", path);
    int fmt = format_of(path);
    if (fmt < 0)
        return rd_fail(m, FP_EINVAL, "%s: unknown map format: give a file name ending "
                                     ".png, .svg or .pdf", path);
    /* The temporary file first: an unwritable place fails before work. */
    char tmp[4200];
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++) {
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%d", path, (long)getpid(), i);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) return rd_fail(m, FP_EIO, "%s: %s", path, strerror(errno));
    out o = {0};
    o.fmt = fmt;
    o.f = fdopen(fd, "wb");
    if (!o.f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return rd_fail(m, FP_EIO, "%s: %s", path, strerror(e));
    }
    rd_views_free(m);
    m->vector = fmt != FMT_PNG;
    page pg;
    memset(&pg, 0, sizeof pg);
    cairo_surface_t *ms = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *mcr = cairo_create(ms);
    set_font_options(mcr);
    int rc = layout(m, mcr, &pg);
    cairo_destroy(mcr);
    cairo_surface_destroy(ms);

    unsigned char extra[12000];
    char title[1024], attr[4096 * 2], buf[11000];
    xml_escape(m->title ? m->title : "Map", title, sizeof title);
    xml_escape(pg.attribution, attr, sizeof attr);
    if (fmt == FMT_SVG) {
        int n = snprintf(buf, sizeof buf, "\n<title>%s</title>\n<desc>%s</desc>", title, attr);
        memcpy(extra, buf, (size_t)n < sizeof extra ? (size_t)n : sizeof extra);
        o.extra = extra;
        o.extra_len = (size_t)n < sizeof extra ? (size_t)n : sizeof extra;
    } else if (fmt == FMT_PNG) {
        size_t n = 0;
        if (m->title) n += itxt(extra + n, sizeof extra - n, "Title", m->title);
        if (*pg.attribution)
            n += itxt(extra + n, sizeof extra - n, "Copyright", pg.attribution);
        n += itxt(extra + n, sizeof extra - n, "Software", "footprint " FP_VERSION_STRING);
        o.extra = extra;
        o.extra_len = n;
    }
    cairo_surface_t *s = NULL;
    pixbuf pixels = {NULL, 0, NULL};
    if (!rc) {
        if (fmt == FMT_PNG) {
            int stride = cairo_format_stride_for_width(CAIRO_FORMAT_RGB24, (int)pg.W);
            s = img_alloc(&pixels, (size_t)stride * (size_t)pg.H) == FP_OK
                    ? cairo_image_surface_create_for_data(pixels.data, CAIRO_FORMAT_RGB24,
                                                          (int)pg.W, (int)pg.H, stride)
                    : cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)pg.W, (int)pg.H);
        }
        else if (fmt == FMT_SVG)
            s = cairo_svg_surface_create_for_stream(write_cb, &o, pg.W, pg.H);
        else
            s = cairo_pdf_surface_create_for_stream(write_cb, &o, pg.W, pg.H);
        if (cairo_surface_status(s))
            rc = rd_fail(m, FP_ENOMEM, "%s: cairo: %s", path,
                         cairo_status_to_string(cairo_surface_status(s)));
    }
    if (!rc && fmt == FMT_PDF) {
        if (m->title) cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, m->title);
        cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_SUBJECT, pg.attribution);
        cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATOR,
                                       "footprint " FP_VERSION_STRING);
    }
    if (!rc) {
        cairo_t *cr = cairo_create(s);
        set_font_options(cr);
        draw_page(m, cr, &pg);
        cairo_status_t cs = cairo_status(cr);
        cairo_destroy(cr);
        if (cs) rc = rd_fail(m, FP_ENOMEM, "%s: cairo: %s", path, cairo_status_to_string(cs));
    }
    if (!rc && !m->status) {
        cairo_status_t cs;
        if (fmt == FMT_PNG) {
            cairo_surface_flush(s);
            cs = png_encode(&o, s, o.extra, o.extra_len, &m->a) ? CAIRO_STATUS_NO_MEMORY
                                                               : CAIRO_STATUS_SUCCESS;
        } else {
            cairo_surface_finish(s);
            cs = cairo_surface_status(s);
        }
        if (cs && !o.err)
            rc = rd_fail(m, FP_EIO, "%s: cairo: %s", path, cairo_status_to_string(cs));
    }
    if (s) cairo_surface_destroy(s);
    img_free(&pixels);
    fp__free(&m->a, pg.rows);
    if (!rc && m->status) rc = m->status;
    int e = o.err;
    if (!rc && !e && fflush(o.f) != 0) e = errno;
    if (!rc && !e && fsync(fileno(o.f)) != 0) e = errno;
    if (fclose(o.f) != 0 && !e) e = errno;
    if (!rc && e) rc = rd_fail(m, FP_EIO, "%s: %s", path, strerror(e));
    if (!rc && rename(tmp, path) != 0) rc = rd_fail(m, FP_EIO, "%s: %s", path, strerror(errno));
    if (rc) {
        unlink(tmp);
        return rc;
    }
    m->drawn = 1;
    return FP_OK;
}
