/* batch.c - the push batch's encodings and its writer (see batch.h). */
#include "batch.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <zlib.h>
#include <zstd.h>

#include "batch_cell.h"
#include "batch_col.h"
#include "embed.h"

#define ZSTD_LEVEL 3
/* A small body (a district's daily sync: tens of records) is compressed
 * at level 19: 5-15 % fewer bytes for some 20 ms of CPU on x86 (16 KB), and
 * the frame is read the same way (docs/performance.md, issue 15, night). */
#define ZSTD_SMALL_LEVEL 19
#define ZSTD_SMALL_PLAIN (32u << 10)
#define GZIP_LEVEL 6

/* The batch dictionaries compiled in (sync/dict/, tools/embed.py). */
extern const struct embedded_file batch_dicts[];

int batch_enc_parse(const char *name)
{
    if (!name || !name[0] || strcasecmp(name, "identity") == 0)
        return ENC_IDENTITY;
    if (strcasecmp(name, "zstd") == 0)
        return ENC_ZSTD;
    if (strcasecmp(name, "gzip") == 0)
        return ENC_GZIP;
    return -1;
}

const char *batch_enc_name(enum batch_enc enc)
{
    return enc >= ENC_ZSTD ? "zstd" : enc == ENC_GZIP ? "gzip" : "identity";
}

/* ------------------------------------------------------------ the dictionary */

/* Version 1 (JSON batches), 2 (columnar) and 3 (columnar-2). A hub's
 * tables to decompress with each are made when first needed and kept (NULL
 * when they cannot be made: out of memory). A node loads the dictionary
 * into each batch's context instead: tables kept to compress with would be
 * 0.44 MB held between batches (issue 13, the uplink program's peak), and
 * loading it costs well under a millisecond a batch. */
static const struct {
    const char *file;
    unsigned    id;
} dicts[] = { { BATCH_DICT_FILE, BATCH_DICT_ID }, { BATCH_COLDICT_FILE, BATCH_COLDICT_ID },
              { BATCH_COLDICT2_FILE, BATCH_COLDICT2_ID } };
#define NDICTS (int)(sizeof(dicts) / sizeof(dicts[0]))

static pthread_once_t dict_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t dict_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct embedded_file *dict_file[NDICTS];
static ZSTD_DDict *dict_d[NDICTS];
static int dict_all;

static void dict_init(void)
{
    dict_all = 1;
    for (int i = 0; i < NDICTS; i++) {
        const struct embedded_file *f = embedded_find(batch_dicts, dicts[i].file);
        if (f && ZSTD_getDictID_fromDict(f->data, f->len) == dicts[i].id)
            dict_file[i] = f;
        else
            dict_all = 0;       /* a build error: test-batch-dict says so */
    }
}

int batch_dict_ready(void)
{
    pthread_once(&dict_once, dict_init);
    return dict_all;
}

/* The index of dictionary id, or -1 when this build has not got it. */
static int dict_index(unsigned id)
{
    pthread_once(&dict_once, dict_init);
    for (int i = 0; i < NDICTS; i++)
        if (dicts[i].id == id && dict_file[i])
            return i;
    return -1;
}

static ZSTD_DDict *dict_ddict(int i)
{
    ZSTD_DDict *d;

    pthread_mutex_lock(&dict_lock);
    if (!dict_d[i])
        dict_d[i] = ZSTD_createDDict(dict_file[i]->data, dict_file[i]->len);
    d = dict_d[i];
    pthread_mutex_unlock(&dict_lock);
    return d;
}

unsigned batch_frame_dict(const char *in, size_t len)
{
    return ZSTD_getDictID_fromFrame(in, len);
}

size_t batch_plain_size(const char *in, size_t len, enum batch_enc enc)
{
    unsigned long long n = BATCH_MAX_PLAIN;
    const unsigned char *u = (const unsigned char *)in;

    if (enc == ENC_IDENTITY)
        n = len;
    else if (enc == ENC_GZIP && len >= 18)      /* header 10, trailer CRC32 and ISIZE */
        n = (unsigned long long)u[len - 4] | (unsigned long long)u[len - 3] << 8 |
            (unsigned long long)u[len - 2] << 16 | (unsigned long long)u[len - 1] << 24;
    else if (enc != ENC_GZIP)
        n = ZSTD_getFrameContentSize(in, len);  /* ZSTD_CONTENTSIZE_*: huge */
    return n < BATCH_MAX_PLAIN ? (size_t)n : BATCH_MAX_PLAIN;
}

/* ------------------------------------------------------------ compression */

void batch_zstd_free(void *zctx)
{
    ZSTD_freeCCtx(zctx);
}

static int deflate_gzip(const char *in, size_t len, char **ret, size_t *ret_len)
{
    z_stream zs;
    uLong bound;
    char *out;

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, GZIP_LEVEL, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    bound = deflateBound(&zs, (uLong)len);
    out = malloc(bound);
    if (!out) {
        deflateEnd(&zs);
        return -ENOMEM;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&zs);
        free(out);
        return -EIO;
    }
    *ret = out;
    *ret_len = zs.total_out;
    deflateEnd(&zs);
    return 0;
}

int batch_deflate(const char *in, size_t len, enum batch_enc enc, void **zctx,
                  char **ret, size_t *ret_len)
{
    ZSTD_CCtx *z = zctx ? *zctx : NULL;
    size_t bound, n;
    int di = -1, level = len <= ZSTD_SMALL_PLAIN ? ZSTD_SMALL_LEVEL : ZSTD_LEVEL;
    char *out;

    if (enc == ENC_GZIP)
        return deflate_gzip(in, len, ret, ret_len);
    if (enc == ENC_IDENTITY) {
        out = malloc(len + 1);
        if (!out)
            return -ENOMEM;
        memcpy(out, in, len);
        *ret = out;
        *ret_len = len;
        return 0;
    }
    if (!z && !(z = ZSTD_createCCtx()))
        return -ENOMEM;
    if (zctx)
        *zctx = z;
    if (enc == ENC_ZSTD_DICT || enc == ENC_ZSTD_COLDICT || enc == ENC_ZSTD_COLDICT2)
        di = dict_index(enc == ENC_ZSTD_DICT ? BATCH_DICT_ID : enc == ENC_ZSTD_COLDICT
                        ? BATCH_COLDICT_ID : BATCH_COLDICT2_ID);    /* else without one */
    bound = ZSTD_compressBound(len);
    out = malloc(bound);
    if (out && di >= 0)
        n = ZSTD_compress_usingDict(z, out, bound, in, len, dict_file[di]->data,
                                    dict_file[di]->len, level);
    else
        n = out ? ZSTD_compressCCtx(z, out, bound, in, len, level) : 0;
    if (!zctx)
        ZSTD_freeCCtx(z);
    if (!out)
        return -ENOMEM;
    if (ZSTD_isError(n)) {
        free(out);
        return -EIO;
    }
    *ret = out;
    *ret_len = n;
    return 0;
}

/* batch_encode(); with consume, its storage (the batch, json) is freed once
 * read, before the compression */
static int encode(const char *json, size_t len, struct strbuf *consume, int columnar,
                  enum batch_enc enc, void **zctx, char **ret, size_t *ret_len)
{
    struct strbuf col = { 0 };
    int r;

    if (!columnar) {
        r = batch_deflate(json, len, enc, zctx, ret, ret_len);
        if (consume)
            strbuf_free(consume);
        return r;
    }
    r = batch_columnar_v(json, len, columnar >= 2 ? COL_VERSION2 : COL_VERSION, &col);
    if (r == -EINVAL && columnar >= 2) {        /* a head version 2 cannot carry */
        strbuf_free(&col);
        columnar = 1;
        r = batch_columnar_v(json, len, COL_VERSION, &col);
    }
    if (consume)
        strbuf_free(consume);
    if (r == 0 && enc == ENC_ZSTD_DICT)
        enc = columnar >= 2 ? ENC_ZSTD_COLDICT2 : ENC_ZSTD_COLDICT;
    if (r == 0)
        r = batch_deflate(col.p, col.len, enc, zctx, ret, ret_len);
    strbuf_free(&col);
    return r;
}

int batch_encode(const char *json, size_t len, int columnar, enum batch_enc enc, void **zctx,
                 char **ret, size_t *ret_len)
{
    return encode(json, len, NULL, columnar, enc, zctx, ret, ret_len);
}

int batch_encode_consume(struct strbuf *json, int columnar, enum batch_enc enc, char **ret,
                         size_t *ret_len)
{
    return encode(json->p, json->len, json, columnar, enc, NULL, ret, ret_len);
}

/* The output buffer of an inflate that filled it: doubles *size, up to
 * cap + 1 bytes (one more than allowed, to see the cap passed), keeping
 * room for the NUL. 0, -EMSGSIZE when it is that large already, or -ENOMEM. */
static int grow(char **out, size_t *size, size_t cap)
{
    size_t nsize = *size * 2 > cap + 1 ? cap + 1 : *size * 2;
    char *p;

    if (nsize <= *size)
        return -EMSGSIZE;
    p = realloc(*out, nsize + 1);
    if (!p)
        return -ENOMEM;
    *out = p;
    *size = nsize;
    return 0;
}

/* Inflates a zstd frame into *out (of *size bytes, grown as needed);
 * *used is the plain length. A frame that names a dictionary must name
 * ours (-ENOENT otherwise). 0 or a negative errno as batch_inflate(). */
static int inflate_zstd(const char *in, size_t len, size_t cap, char **out, size_t *size,
                        size_t *used)
{
    ZSTD_DStream *z;
    ZSTD_inBuffer ib = { in, len, 0 };
    unsigned dict_id = ZSTD_getDictID_fromFrame(in, len);
    int at = dict_id ? dict_index(dict_id) : -1;
    ZSTD_DDict *dd = at >= 0 ? dict_ddict(at) : NULL;
    size_t zr = 1;
    int r = 0;

    if (dict_id != 0 && at < 0)
        return -ENOENT;
    z = ZSTD_createDStream();
    if (!z)
        return -ENOMEM;
    ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, 23);   /* 8 MiB window at most */
    if (dict_id != 0 && (!dd || ZSTD_isError(ZSTD_DCtx_refDDict(z, dd)))) {
        ZSTD_freeDStream(z);
        return -ENOMEM;
    }
    while (ib.pos < ib.size || zr != 0) {
        ZSTD_outBuffer ob = { *out, *size, *used };
        size_t before_in = ib.pos;
        zr = ZSTD_decompressStream(z, &ob, &ib);
        if (ZSTD_isError(zr)) {
            r = -EBADMSG;
            break;
        }
        *used = ob.pos;
        if (*used > cap) {
            r = -EMSGSIZE;
            break;
        }
        if (*used == *size) {
            r = grow(out, size, cap);
            if (r < 0)
                break;
        } else if (ib.pos == ib.size && ib.pos == before_in && zr != 0) {
            r = -EBADMSG;        /* truncated frame */
            break;
        }
    }
    ZSTD_freeDStream(z);
    return r;
}

/* The same for a gzip stream. */
static int inflate_gzip(const char *in, size_t len, size_t cap, char **out, size_t *size,
                        size_t *used)
{
    z_stream zs;
    int zr = Z_OK, r = 0;

    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return -ENOMEM;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    while (zr != Z_STREAM_END) {
        zs.next_out = (Bytef *)*out + *used;
        zs.avail_out = (uInt)(*size - *used);
        zr = inflate(&zs, Z_NO_FLUSH);
        *used = *size - zs.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END && !(zr == Z_BUF_ERROR && zs.avail_out == 0)) {
            r = -EBADMSG;
            break;
        }
        if (*used > cap) {
            r = -EMSGSIZE;
            break;
        }
        if (zr != Z_STREAM_END && zs.avail_out == 0) {
            r = grow(out, size, cap);
            if (r < 0)
                break;
        } else if (zr != Z_STREAM_END && zs.avail_in == 0) {
            r = -EBADMSG;       /* truncated stream */
            break;
        }
    }
    inflateEnd(&zs);
    return r;
}

int batch_inflate(const char *in, size_t len, enum batch_enc enc, size_t cap,
                  char **ret, size_t *ret_len)
{
    size_t size = len * 4 + 4096, used = 0;
    char *out;
    int r;

    if (enc == ENC_IDENTITY) {
        if (len > cap)
            return -EMSGSIZE;
        out = malloc(len + 1);
        if (!out)
            return -ENOMEM;
        memcpy(out, in, len);
        used = len;
    } else {
        if (size > cap + 1)
            size = cap + 1;
        out = malloc(size + 1);
        if (!out)
            return -ENOMEM;
        if (enc >= ENC_ZSTD)
            r = inflate_zstd(in, len, cap, &out, &size, &used);
        else
            r = inflate_gzip(in, len, cap, &out, &size, &used);
        if (r < 0) {
            free(out);
            return r;
        }
    }
    out[used] = 0;
    *ret = out;
    *ret_len = used;
    return 0;
}

/* ------------------------------------------------------------ writing */

int batch_cell_null(struct strbuf *b)
{
    return strbuf_add(b, ",null", 5);
}

int batch_cell_text(struct strbuf *b, const char *s, size_t n)
{
    int r = strbuf_add(b, ",", 1);

    return r < 0 ? r : strbuf_json(b, s, n);
}

/* ",<digits>" (and quotes) as "%lld" / "%llu" print them, by hand: a
 * batch has several integers per row, and vfprintf was a tenth of the
 * node's CPU in a 100,000-record sync (docs/performance.md) */
static int cell_u64(struct strbuf *b, unsigned long long u, int neg, int quoted)
{
    char buf[24];
    char *p = buf + sizeof(buf);

    if (quoted)
        *--p = '"';
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg)
        *--p = '-';
    if (quoted)
        *--p = '"';
    *--p = ',';
    return strbuf_add(b, p, (size_t)(buf + sizeof(buf) - p));
}

int batch_cell_int(struct strbuf *b, long long v)
{
    return v < 0 ? cell_u64(b, 0ull - (unsigned long long)v, 1, 0)
                 : cell_u64(b, (unsigned long long)v, 0, 0);
}

int batch_cell_hlc(struct strbuf *b, unsigned long long v)
{
    return cell_u64(b, v, 0, 1);
}

size_t batch_micro_text(double v, char *buf)
{
    double m = v * 1e6;
    int64_t u;
    uint64_t a;
    char *p, *end;
    int frac = 6, any = 0;

    /* v must be the double nearest u / 10^6 (as the columnar decoder and
     * SQLite make a coordinate of micro-degrees), and u 3 to 9 digits:
     * %g would print smaller values with an exponent */
    if (!(m > -1e9 && m < 1e9))
        return 0;
    u = (int64_t)(m + (m < 0 ? -0.5 : 0.5));
    if (u == 0 || (u < 100 && u > -100) || (double)u / 1e6 != v)
        return 0;
    a = u < 0 ? (uint64_t)-u : (uint64_t)u;
    p = end = buf + BATCH_MICRO_TEXT;
    while (frac > 0 || a) {
        unsigned dgt = (unsigned)(a % 10);
        a /= 10;
        if (frac > 0) {
            frac--;
            if (dgt || any) {
                *--p = (char)('0' + dgt);
                any = 1;
            }
            if (frac == 0 && any)
                *--p = '.';
            if (frac == 0 && !a)
                *--p = '0';
            continue;
        }
        *--p = (char)('0' + dgt);
    }
    if (u < 0)
        *--p = '-';
    memmove(buf, p, (size_t)(end - p));
    return (size_t)(end - p);
}

int batch_cell_double(struct strbuf *b, double v)
{
    char buf[BATCH_MICRO_TEXT + 1];
    size_t n = batch_micro_text(v, buf + 1);

    /* a coordinate of micro-degrees by hand (vfprintf's %g was 3 % of the
     * uplink's CPU), what %.15g prints */
    buf[0] = ',';
    if (n > 0)
        return strbuf_add(b, buf, n + 1);
    return strbuf_fmt(b, ",%.15g", v);
}

int batch_cell_json(struct strbuf *b, const char *s, size_t n)
{
    /* what the node stores is of the canonical form, which a scan finds
     * without parsing (parsing each was 6 % of the uplink's CPU) */
    int whole = batch_json_canonical(s, n);

    if (!whole) {
        const char *end = NULL;
        cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
        whole = j && (cJSON_IsArray(j) || cJSON_IsObject(j));
        /* all of it: cJSON stops after the value ("[1]x" would break the
         * batch's JSON) */
        while (whole && end < s + n && *end && strchr(" \t\r\n", *end))
            end++;
        whole = whole && end == s + n;
        cJSON_Delete(j);
    }
    if (!whole)
        return batch_cell_text(b, s, n);
    return strbuf_add(b, ",", 1) < 0 ? b->err : strbuf_add(b, s, n);
}

int batch_write_head(struct strbuf *out, const char *node, int64_t last_seq, int64_t base_seq,
                     uint64_t hlc)
{
    strbuf_fmt(out, "{\"v\":1,\"node\":\"%s\",\"last_seq\":%lld,\"hlc\":\"%llu\",", node,
               (long long)last_seq, (unsigned long long)hlc);
    if (base_seq > 0)           /* the hub applies it after that batch */
        strbuf_fmt(out, "\"base_seq\":%lld,", (long long)base_seq);
    return strbuf_str(out, "\"tables\":[");
}

int batch_write_table(struct strbuf *out, const struct record_kind *k, int first)
{
    strbuf_fmt(out, "%s{\"table\":\"%s\",\"cols\":[\"seq\"", first ? "" : ",", k->table);
    for (int i = 0; i < k->ncols; i++)
        strbuf_fmt(out, ",\"%s\"", k->cols[i].name);
    return strbuf_str(out, "],\"rows\":[");
}

int batch_write_row(struct strbuf *out, int64_t seq, const char *cells, size_t len, int first)
{
    if (!first)
        strbuf_add(out, ",", 1);
    strbuf_add(out, "[", 1);
    batch_put_int(out, seq);            /* not through vfprintf: one per row */
    strbuf_add(out, cells, len);
    return strbuf_add(out, "]", 1);
}

int batch_write_table_end(struct strbuf *out)
{
    return strbuf_str(out, "]}");
}

int batch_write_end(struct strbuf *out)
{
    return strbuf_str(out, "]}");
}
