/* batch.h - the push batch (docs/protocol.md §4), both ends: its limits,
 * its encodings, how the node writes one and how the hub reads one.
 *
 * On the wire a batch is one JSON object, compressed (zstd, gzip or none)
 * and signed with its SHA-256 in X-Sikhnas-Digest:
 *   {"v":1,"node":ID,"last_seq":N,["base_seq":M,]"hlc":"H",
 *    "tables":[{"table":T,"cols":["seq",c1,...],"rows":[[seq,v1,...],...]},...]}
 * with the columns of sync/kinds.h. The writer (node) appends rows whose
 * cells it formats with batch_cell_*(); the reader (hub) checks the digest,
 * inflates with caps, parses, checks every cell against the kind's column
 * types and turns each table block into COPY text lines. */
#ifndef SIKHNAS_BATCH_H
#define SIKHNAS_BATCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "kinds.h"
#include "strbuf.h"

#define BATCH_MAX_WIRE   (4u << 20)    /* compressed body bytes a node may send */
#define BATCH_MAX_PLAIN  (8u << 20)    /* after inflating; enforced while inflating */
#define BATCH_MAX_ITEMS  1000000       /* JSON values in a batch, counted before parsing */
#define BATCH_MAX_ROWS   10000         /* rows in one push */
#define BATCH_MAX_CELL   4096          /* bytes of one string cell */
#define PULL_MAX_PLAIN   (32u << 20)   /* a pull page, either way */
/* How far a node's HLC may be ahead of the hub's wall clock: the hub merges
 * a node's clock only within it, and refuses rows further ahead (hlc_ahead). */
#define BATCH_MAX_AHEAD_MS (5u * 60 * 1000)

/* ENC_ZSTD_DICT: zstd with the batch dictionary (docs/protocol.md §4.7);
 * ENC_ZSTD_COLDICT: with the dictionary of columnar batches (§4.8);
 * ENC_ZSTD_COLDICT2: with the one of columnar-2 batches (§4.10). On
 * the wire both are Content-Encoding: zstd, and the frame names the
 * dictionary by its id. Only for batch_deflate(): batch_inflate() reads
 * every zstd frame as ENC_ZSTD, with or without a dictionary. */
enum batch_enc { ENC_IDENTITY, ENC_GZIP, ENC_ZSTD, ENC_ZSTD_DICT, ENC_ZSTD_COLDICT,
                 ENC_ZSTD_COLDICT2 };

/* The zstd dictionary both ends carry (sync/dict/, trained by
 * tools/train-dict.sh on batches of tools/batchgen.py): its version in the
 * protocol is BATCH_DICT_VERSION, its zstd dictionary id BATCH_DICT_ID. A
 * shipped dictionary never changes: a new one gets the next version and
 * id, and the hub keeps reading the old ones. The hub lists the versions
 * it reads in X-Sikhnas-Accept-Encoding as "zstd-dict-N". */
#define BATCH_DICT_VERSION 1
#define BATCH_DICT_ID      0x53480001u
#define BATCH_DICT_FILE    "batch-1.zdict"
#define BATCH_DICT_TOKEN   "zstd-dict-1"
/* Version 2, trained on columnar batches: the one they are sent with. */
#define BATCH_COLDICT_ID    0x53480002u
#define BATCH_COLDICT_FILE  "batch-2.zdict"
#define BATCH_COLDICT_TOKEN "zstd-dict-2"
/* Version 3, trained on columnar-2 batches: the one they are sent with. */
#define BATCH_COLDICT2_ID    0x53480003u
#define BATCH_COLDICT2_FILE  "batch-3.zdict"
#define BATCH_COLDICT2_TOKEN "zstd-dict-3"
/* 1 when the dictionaries are there (checked once, thread-safe), else 0.
 * Each one's compression and decompression tables are made on first use. */
int batch_dict_ready(void);
/* The dictionary id a zstd frame names (0: none, or not a zstd frame). */
unsigned batch_frame_dict(const char *in, size_t len);
/* What a body of enc says it inflates to, at most BATCH_MAX_PLAIN, without
 * inflating it: zstd's frame content size, gzip's ISIZE, identity's length;
 * BATCH_MAX_PLAIN when it does not say. For admission only: a body that
 * lies is still cut at BATCH_MAX_PLAIN when inflated. */
size_t batch_plain_size(const char *in, size_t len, enum batch_enc enc);

/* The encoding named by a Content-Encoding value ("" or "identity", "gzip",
 * "zstd"), or -1. */
int batch_enc_parse(const char *name);
const char *batch_enc_name(enum batch_enc enc);

/* Compresses in[0..len) (zstd level 3, or 19 up to 32 KiB; gzip level 6)
 * into a malloc'd buffer. zctx, when not NULL, keeps a zstd context between calls (free it
 * with batch_zstd_free()). Returns 0 or -errno. */
int  batch_deflate(const char *in, size_t len, enum batch_enc enc, void **zctx,
                   char **ret, size_t *ret_len);
void batch_zstd_free(void *zctx);
/* Inflates in (gzip, zstd or identity) into a malloc'd, NUL-terminated
 * buffer of at most cap bytes; the cap holds while inflating. Returns 0,
 * -EMSGSIZE over the cap, -ENOENT for a zstd frame made with a dictionary
 * this build does not have, or -EBADMSG when it does not inflate. */
int  batch_inflate(const char *in, size_t len, enum batch_enc enc, size_t cap,
                   char **ret, size_t *ret_len);

/* ------------------------------------------------------------ writing */

/* One cell, as the wire carries a column of that type: ",VALUE". A text
 * cell is sent byte for byte (the hub refuses invalid UTF-8 for that row
 * alone); a JSON cell that is not an array or object goes as a string (the
 * hub refuses it for that row alone). */
int batch_cell_null(struct strbuf *b);
int batch_cell_text(struct strbuf *b, const char *s, size_t n);
int batch_cell_int(struct strbuf *b, long long v);
int batch_cell_hlc(struct strbuf *b, unsigned long long v);
int batch_cell_double(struct strbuf *b, double v);
int batch_cell_json(struct strbuf *b, const char *s, size_t n);

/* v as %.9g and %.15g print it, by hand, when v is the double nearest a
 * whole number of millionths with 3 to 9 digits (a coordinate in
 * micro-degrees or coarser): its length, written at buf (not
 * NUL-terminated, at most BATCH_MICRO_TEXT bytes); 0 otherwise. */
#define BATCH_MICRO_TEXT 16
size_t batch_micro_text(double v, char *buf);

/* The batch's head: version, node, last_seq, base_seq (when > 0), hlc. */
int batch_write_head(struct strbuf *out, const char *node, int64_t last_seq, int64_t base_seq,
                     uint64_t hlc);
/* A table block: its head (with the kind's columns), then rows, then its end. */
int batch_write_table(struct strbuf *out, const struct record_kind *k, int first);
int batch_write_row(struct strbuf *out, int64_t seq, const char *cells, size_t len, int first);
int batch_write_table_end(struct strbuf *out);
int batch_write_end(struct strbuf *out);

/* The columnar batch (docs/protocol.md §4.8): the same batch, coded column
 * by column for fewer bytes. A hub that reads it lists BATCH_COLUMNAR_TOKEN
 * in X-Sikhnas-Accept-Encoding; the node then sends it, compressed as any
 * batch, with the header BATCH_COLUMNAR_HEADER; the hub knows it by its
 * first bytes ("SKC" and the version) whatever the headers say. */
#define BATCH_COLUMNAR_TOKEN "columnar-1"
#define BATCH_COLUMNAR_HEADER "X-Sikhnas-Batch-Format: " BATCH_COLUMNAR_TOKEN
/* Version 2 (docs/protocol.md §4.10): fewer bytes per batch. A hub that
 * reads it lists BATCH_COLUMNAR2_TOKEN (and BATCH_COLDICT2_TOKEN); the
 * node's id is not in it: the hub takes it from the client certificate. */
#define BATCH_COLUMNAR2_TOKEN "columnar-2"
#define BATCH_COLUMNAR2_HEADER "X-Sikhnas-Batch-Format: " BATCH_COLUMNAR2_TOKEN
/* Appends the columnar form of the JSON batch json[0..len) (as written by
 * batch_write_*()) to out. 0, -EINVAL when json is not such a batch, or
 * -ENOMEM. */
int batch_columnar(const char *json, size_t len, struct strbuf *out);
/* The same in version v (1 or 2). Version 2 needs the head of
 * batch_write_head() with a lowercase node: -EINVAL for any other. */
int batch_columnar_v(const char *json, size_t len, int v, struct strbuf *out);
/* The body of a push: the JSON batch json[0..len), in its columnar form
 * of version columnar (0: JSON; 2 falls back to 1 for a head it cannot
 * carry), compressed as batch_deflate() does (ENC_ZSTD_DICT: a columnar
 * one with ENC_ZSTD_COLDICT, a columnar-2 one with ENC_ZSTD_COLDICT2). */
int batch_encode(const char *json, size_t len, int columnar, enum batch_enc enc, void **zctx,
                 char **ret, size_t *ret_len);
/* The same of the batch in json, whose storage it frees (strbuf_free())
 * once it is read, before the compression, succeeding or not; with a zstd
 * context of its own, freed on return (the node's push: issue 13). */
int batch_encode_consume(struct strbuf *json, int columnar, enum batch_enc enc, char **ret,
                         size_t *ret_len);
/* The columnar version a node sends to a hub whose X-Sikhnas-Accept-Encoding
 * is accept (0: JSON): the newest it lists, and with a dictionary (use_dict)
 * only one whose dictionary it lists too (batch_encode() uses it). */
int batch_columnar_choice(const char *accept, int use_dict);
/* 1 when plain[0..len) is a columnar batch (of any version). */
int batch_is_columnar(const char *plain, size_t len);

/* ------------------------------------------------------------ reading (the hub) */

/* One table block: rows as COPY text lines (seq, bad_code, bad_reason,
 * then the kind's columns), with each line's seq. */
struct batch_table {
    int      kind;          /* index into record_kinds[] */
    char    *copy;          /* all lines, in arrival order */
    size_t   copy_len;
    int64_t *seq;           /* negative: superseded by a later row of the same id */
    int      nrows;
    char    *ids;           /* the ids of the rows kept (valid UUIDs) as a text[]
                             * literal, for a probe of which are stored already */
    char     max_id[40];    /* the greatest of them (strcmp), "" when none */
    int      done;          /* while streaming: every line is in copy */
};

struct batch {
    char     node[40];
    int64_t  last_seq;
    int64_t  base_seq;      /* the predecessor's last_seq, or -1 when not given */
    int64_t  min_seq;       /* smallest seq in the batch (last_seq when empty) */
    int64_t  hlc;
    int      nrows;
    size_t   plain_len;     /* bytes after inflating */
    int      columnar;      /* 1, 2: the body was a columnar batch of that version */
    uint64_t hub_ms;        /* the hub's clock when decoding, Unix ms (0: not checked) */
    struct batch_table tables[16];
    int      ntables;
    char     err_code[32];  /* set when decoding fails */
    char     err_msg[160];
};

/* Installs the cJSON allocation hooks the decoder uses; call once before
 * any thread decodes (idempotent). */
void batch_global_init(void);

/* Decodes body (as sent) into *b. digest is the X-Sikhnas-Digest header value
 * (NULL: missing). hub_ms is the hub's wall clock (Unix ms): rows whose hlc
 * is more than BATCH_MAX_AHEAD_MS ahead of it are refused (0: not checked).
 * Returns 0, or a negative errno with b->err_code/err_msg set and the HTTP
 * status to answer in *http_status. Thread-safe. */
int  batch_decode(struct batch *b, const char *body, size_t len, enum batch_enc enc,
                  const char *digest, const char *node_id, uint64_t hub_ms, int *http_status);
void batch_clear(struct batch *b);

/* Decoding while the reader already uses the lines (the hub streams them
 * into COPY while the rest is decoded). batch_decode_stream() decodes as
 * batch_decode() does and gives the same batch, but calls ready() once the
 * head and every table's kind, nrows, seq and ids are known (structural
 * errors are found before it: after ready() only -ENOMEM or -ECANCELED can
 * fail), then makes each table's lines BATCH_STREAM_ROWS rows at a time:
 * each step is appended to t->copy (which may move) and t->copy_len under
 * lock, t->done is set under lock after the table's last line, and more()
 * is called after every step. ready() and more() run on the decoding
 * thread; they must not block. The reader reads t->copy, t->copy_len and
 * t->done only under lock, and sets cancel under lock to stop the decoding
 * early (-ECANCELED). */
#define BATCH_STREAM_ROWS 1000

struct batch_stream {
    pthread_mutex_t lock;
    void          (*ready)(struct batch_stream *s);
    void          (*more)(struct batch_stream *s);
    int             cancel;
};

int  batch_decode_stream(struct batch *b, const char *body, size_t len, enum batch_enc enc,
                         const char *digest, const char *node_id, uint64_t hub_ms,
                         int *http_status, struct batch_stream *s);

#endif
