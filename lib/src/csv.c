/* A small RFC 4180 reader over a buffer: quotes, doubled quotes, embedded
 * commas and newlines, CRLF, a UTF-8 byte-order mark; blank lines skipped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void fp__csv_init(fp_csv *c, const fp_allocator *a, const char *text,
                  size_t len)
{
    memset(c, 0, sizeof *c);
    c->alloc = a;
    c->p = text;
    c->end = text + len;
    c->line = c->cur = 1;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) c->p += 3;
}

void fp__csv_free(fp_csv *c)
{
    fp__free(c->alloc, c->buf);
    fp__free(c->alloc, (void *)c->fields);
    c->buf = NULL;
    c->fields = NULL;
}

static int put(fp_csv *c, size_t *n, char ch)
{
    if (*n + 1 > c->bufcap && fp__grow(c->alloc, (void **)&c->buf, &c->bufcap, *n + 1, 1))
        return -2;
    c->buf[(*n)++] = ch;
    return 0;
}

int fp__csv_next(fp_csv *c, const char **why)
{
    /* Blank lines are not records. */
    while (c->p < c->end && (*c->p == '\n' || *c->p == '\r')) {
        if (*c->p == '\n') c->cur++;
        c->p++;
    }
    if (c->p >= c->end) return 0;
    size_t first_line = c->cur;
    size_t n = 0, nf = 0;
    size_t *starts = NULL, startcap = 0;
    int rc = 1;
    for (;;) {
        if (fp__grow(c->alloc, (void **)&starts, &startcap, nf + 1,
                     sizeof *starts)) {
            rc = -2;
            break;
        }
        starts[nf++] = n;
        if (c->p < c->end && *c->p == '"') {
            size_t qline = c->cur;
            c->p++;
            for (;;) {
                if (c->p >= c->end) {
                    *why = "unterminated quoted field";
                    c->line = qline;
                    rc = -1;
                    break;
                }
                char ch = *c->p++;
                if (ch == '"') {
                    if (c->p < c->end && *c->p == '"') {
                        c->p++;
                    } else {
                        break;
                    }
                } else if (ch == '\n') {
                    c->cur++;
                }
                if (put(c, &n, ch)) {
                    rc = -2;
                    break;
                }
            }
            if (rc != 1) break;
            /* Text after a closing quote is kept, as most readers do. */
        }
        while (c->p < c->end && *c->p != ',' && *c->p != '\n') {
            if (!(*c->p == '\r' && (c->p + 1 == c->end || c->p[1] == '\n')) &&
                put(c, &n, *c->p)) {
                rc = -2;
                break;
            }
            c->p++;
        }
        if (rc != 1) break;
        if (put(c, &n, '\0')) {
            rc = -2;
            break;
        }
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end) { /* newline */
            c->p++;
            c->cur++;
        }
        break;
    }
    if (rc != -1) c->line = first_line;
    if (rc == 1) {
        if (fp__grow(c->alloc, (void **)&c->fields, &c->fieldcap, nf,
                     sizeof *c->fields)) {
            rc = -2;
        } else {
            for (size_t i = 0; i < nf; i++) c->fields[i] = c->buf + starts[i];
            c->nfields = nf;
        }
    }
    fp__free(c->alloc, starts);
    if (rc == -2) *why = "out of memory";
    return rc;
}

int fp__read_file(fp_ctx *ctx, const char *path, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return fp__error(ctx, FP_EIO, "%s: %s", path, strerror(errno));
    size_t cap = 0, n = 0;
    char *buf = NULL;
    for (;;) {
        if (fp__grow(&ctx->alloc, (void **)&buf, &cap, n + 65537, 1)) {
            fclose(f);
            fp__free(&ctx->alloc, buf);
            return fp__error(ctx, FP_ENOMEM, "%s: out of memory", path);
        }
        size_t got = fread(buf + n, 1, 65536, f);
        n += got;
        if (got < 65536) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        fp__free(&ctx->alloc, buf);
        return fp__error(ctx, FP_EIO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return FP_OK;
}

int fp__valid_date(const char *s)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return 0;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3) return 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}
