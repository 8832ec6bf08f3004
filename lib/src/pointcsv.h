/*
 * pointcsv.h — the streaming CSV reader behind `footprint locate` (core:
 * no GDAL, no PROJ).  Private to libfootprint and its CLI.
 *
 * The input (a file or stdin, gzip-compressed or not: detected by its magic
 * bytes) is cut into blocks of whole records, so that blocks can be parsed
 * on any thread in any order and written back in input order.  The dialect
 * is RFC 4180 as most readers take it, the same as lib/src/csv.c:
 *   - a record ends at a newline outside quotes; a CR before it belongs to
 *     the line ending (CRLF), any other CR is data;
 *   - a quote is special only at the start of a field: there it opens a
 *     quoted field, in which the delimiter and newlines are data, "" is one
 *     quote, and the next lone quote closes it (text after the closing
 *     quote is kept, as Python's reader does); elsewhere a quote is data;
 *   - a UTF-8 byte-order mark at the start of the input is removed (and
 *     reported, so that the output can keep it);
 *   - the last record may lack its newline; a quoted field still open at
 *     the end of the input is an error (truncated or malformed input).
 *
 * Entry points for tests and fuzzing: fp__pcsv_reader_mem (any buffer, fed
 * in pieces of any size) with fp__pcsv_parse (the whole reader: blocks,
 * records, fields, numbers), and the pure functions fp__pcsv_cut,
 * fp__pcsv_record, fp__pcsv_fields and fp__pcsv_number.
 */
#ifndef FP_POINTCSV_H
#define FP_POINTCSV_H

#include <stddef.h>
#include <stdint.h>

#include "footprint.h"

/* Default block size: big enough to amortise hand-overs between threads,
 * small enough that a few per thread keep memory flat. */
#define FP__PCSV_BLOCK ((size_t)1 << 16)

/* ---- the reader: blocks of whole records ---- */

typedef struct fp__pcsv_reader fp__pcsv_reader;

/* Readable bytes after a block's sentinel: scans read words at a time. */
#define FP__PCSV_PAD 16

/* A run of whole records.  data[len] is a '\n' sentinel (so a scan for
 * the delimiter or a newline always stops) followed by FP__PCSV_PAD zero
 * bytes; data is writable, and the buffer belongs to the reader that
 * filled it (fp__pcsv_block_free). */
typedef struct fp__pcsv_block {
    char *data;
    size_t len, cap;
    uint64_t line;   /* line number (1-based) of data[0] in the input */
    uint64_t offset; /* byte offset of data[0] in the (decompressed) input,
                        after the byte-order mark */
} fp__pcsv_block;

/* Opens `path` (NULL or "-": standard input) for reading.  `ctx` receives
 * errors and must be used by one thread at a time: the thread that calls
 * fp__pcsv_reader_next.  FP_EIO when the file cannot be opened. */
int fp__pcsv_reader_open(fp_ctx *ctx, const char *path, fp__pcsv_reader **out);
/* A reader over a buffer in memory (borrowed), handed to the block cutter
 * at most `piece` bytes at a time (0: all at once), so tests can put
 * block edges anywhere.  Gzip data is decompressed here too. */
int fp__pcsv_reader_mem(fp_ctx *ctx, const char *buf, size_t len, size_t piece,
                        fp__pcsv_reader **out);
void fp__pcsv_reader_free(fp__pcsv_reader *r);

/* The field delimiter (default ',') and the block size (default
 * FP__PCSV_BLOCK; a record longer than a block gets a bigger one).  Set
 * before the first block. */
void fp__pcsv_reader_set(fp__pcsv_reader *r, char delim, size_t block_size);
/* Until turned off, a copy of every raw (still compressed) byte read is
 * kept, so that the input can be replayed to another process. */
void fp__pcsv_reader_record(fp__pcsv_reader *r, int on);
const char *fp__pcsv_reader_recorded(const fp__pcsv_reader *r, size_t *len);
/* The name used in messages ("stdin" or the path). */
const char *fp__pcsv_reader_name(const fp__pcsv_reader *r);
/* Was the input gzip data / did it start with a UTF-8 byte-order mark
 * (known after the first block)? */
int fp__pcsv_reader_gzip(const fp__pcsv_reader *r);
int fp__pcsv_reader_bom(const fp__pcsv_reader *r);
/* The size of the (raw) input when it is a regular file, else -1; and the
 * raw bytes consumed so far (safe to read from another thread). */
int64_t fp__pcsv_reader_size(const fp__pcsv_reader *r);
uint64_t fp__pcsv_reader_consumed(const fp__pcsv_reader *r);
/* Is the input standard input? */
int fp__pcsv_reader_stdin(const fp__pcsv_reader *r);

/* Fills b (whose buffer is reused and grown as needed; zero it before
 * the first use) with the next whole records.  Returns 1 with a block,
 * 0 at the end of the input, or a negative fp_status with the message on
 * the reader's context: -FP_EIO (read error), -FP_EFORMAT (bad gzip data,
 * an unterminated quoted field: "NAME: line N: ..."), -FP_ENOMEM. */
int fp__pcsv_reader_next(fp__pcsv_reader *r, fp__pcsv_block *b);
void fp__pcsv_block_free(fp__pcsv_reader *r, fp__pcsv_block *b);

/* ---- pure parsing functions ---- */

/* The length of the longest prefix of buf[0..len) made of whole records
 * (it ends just after a newline outside quotes; 0 when there is none).
 * buf must start at the start of a record.  *open is set when buf ends
 * inside a quoted field, and *open_at to the start of the last record
 * (the incomplete one). */
size_t fp__pcsv_cut(const char *buf, size_t len, char delim, int *open,
                    size_t *open_at);

/* Up to this many fields of interest per record. */
#define FP__PCSV_WANT 4

/* One record, as fp__pcsv_record splits it. */
typedef struct fp__pcsv_rec {
    const char *start, *end; /* the content: the line ending excluded */
    const char *next;        /* where the next record starts */
    uint32_t nfields;        /* 1 for a blank line */
    uint32_t newlines;       /* newlines inside quoted fields */
    /* The raw text of each wanted field (quotes included), or NULL when the
     * record has too few fields. */
    const char *f[FP__PCSV_WANT], *fe[FP__PCSV_WANT];
} fp__pcsv_rec;

/* Splits the record starting at p (p < end; *end must be '\n', the block
 * sentinel, followed by FP__PCSV_PAD readable bytes) and finds the fields numbered want[0..nwant) (0-based; a
 * number beyond the last field finds nothing).  Returns r->next. */
const char *fp__pcsv_record(const char *p, const char *end, char delim,
                            const uint32_t *want, int nwant, fp__pcsv_rec *r);

/* Splits a record's content [start, end) into unescaped fields.  Each field
 * is written NUL-terminated to buf (which needs end - start + 1 bytes); up
 * to max pointers to them go to fields.  Returns the number of fields
 * (which may exceed max). */
size_t fp__pcsv_fields(const char *start, const char *end, char delim, char *buf,
                       const char **fields, size_t max);

/* Unescapes one raw field (as fp__pcsv_rec gives it) into buf (needs
 * fe - f + 1 bytes); returns its length. */
size_t fp__pcsv_unquote(const char *f, const char *fe, char *buf);

/* A decimal number: optional blanks, sign, digits with an optional point,
 * an optional exponent, optional blanks; also inside quotes.  Correctly
 * rounded (as strtod).  Returns FP__PCSV_NUM (*out set), FP__PCSV_EMPTY
 * (nothing but blanks) or FP__PCSV_BAD (anything else: words, "nan",
 * "inf", hexadecimal, thousands separators, overflow). */
enum { FP__PCSV_BAD = -1, FP__PCSV_EMPTY = 0, FP__PCSV_NUM = 1 };
int fp__pcsv_number(const char *f, const char *fe, double *out);

/* Appends s as a CSV field to buf (quoted when it holds the delimiter, a
 * quote, CR or LF); returns the bytes written (at most 2 * len + 2). */
size_t fp__pcsv_escape(char *buf, const char *s, size_t len, char delim);

/* ---- the whole reader over a buffer (tests, fuzzing) ---- */

/* One record as fp__pcsv_parse hands it over. */
typedef struct fp__pcsv_row {
    uint64_t line;          /* line number where the record starts */
    size_t nfields;
    const char *const *fields; /* unescaped, NUL-terminated */
    const double *numbers;  /* per field: the number, or NAN */
    const int *kinds;       /* per field: FP__PCSV_NUM / _EMPTY / _BAD */
} fp__pcsv_row;

/* Reads buf as `footprint locate` reads its input: through the reader
 * (gzip detected, byte-order mark removed, fed `piece` bytes at a time),
 * block by block, record by record, every field unescaped and parsed as a
 * number.  Calls fn for each record (the header included) in order; a
 * non-zero return from fn stops the parse and is returned.  Returns FP_OK
 * or the reader's error status (message on ctx). */
int fp__pcsv_parse(fp_ctx *ctx, const char *buf, size_t len, size_t piece,
                   size_t block_size, char delim,
                   int (*fn)(void *arg, const fp__pcsv_row *row), void *arg);

#endif
