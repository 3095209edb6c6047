/* cmd_enroll.c - `sikhnas-node enroll --hub URL --token TOKEN --ca FILE`:
 * the node makes its own key pair (EC P-256), sends a CSR with the one-time
 * token the operator got from `sikhnas-hub node add`, and stores what comes
 * back beside the store: FILE.key (0600), FILE.crt, the hub's CA as
 * FILE.hub-ca.pem, and the hub URL in meta. `sync` and `run` then need no
 * flags. The hub is always verified against --ca; there is no way round it. */
#include "cmd_sync.h"
#include "cmdopts.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "nodecert.h"
#include "sync_client.h"
#include "fileio.h"

#define ENROLL_ANSWER_MAX (64u << 10)

struct answer {
    char  *p;
    size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t k = size * n;
    char *np;

    if (a->len + k > ENROLL_ANSWER_MAX)
        return 0;
    np = realloc(a->p, a->len + k + 1);
    if (!np)
        return 0;
    memcpy(np + a->len, ptr, k);
    a->p = np;
    a->len += k;
    a->p[a->len] = '\0';
    return k;
}

static char *read_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    size_t n;

    if (!f)
        return NULL;
    p = malloc(max + 1);
    if (p) {
        n = fread(p, 1, max + 1, f);
        if (n > max || ferror(f)) {
            free(p);
            p = NULL;
        } else {
            p[n] = '\0';
        }
    }
    fclose(f);
    return p;
}

/* POSTs body to url/v1/enroll, verifying the hub with ca. Returns 0 with the
 * HTTP status in *status and the answer in *a, or -errno (logged). */
static int post_enroll(const char *url, const char *ca, const char *body, long *status,
                       struct answer *a)
{
    char errbuf[CURL_ERROR_SIZE] = "", full[600];
    struct curl_slist *h = NULL;
    CURL *e = curl_easy_init();
    CURLcode res;
    size_t n = strlen(url);

    while (n > 0 && url[n - 1] == '/')
        n--;
    snprintf(full, sizeof(full), "%.*s/v1/enroll", (int)n, url);
    h = curl_slist_append(h, "Content-Type: application/json");
    if (!e || !h) {
        curl_slist_free_all(h);
        curl_easy_cleanup(e);
        return -ENOMEM;
    }
    curl_easy_setopt(e, CURLOPT_URL, full);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    sync_tls_clock(e);
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "sikhnas-node/1");
    res = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    if (res != CURLE_OK) {
        log_error("enroll: cannot reach the hub at %s: %s", full,
                  errbuf[0] ? errbuf : curl_easy_strerror(res));
        return res == CURLE_PEER_FAILED_VERIFICATION ? -EACCES : -EIO;
    }
    return 0;
}

/* Builds {"v":1,"token":…,"district":…,"csr":…}. */
static char *request_body(const char *token, const char *district, const char *csr)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;

    if (o && cJSON_AddNumberToObject(o, "v", 1) && cJSON_AddStringToObject(o, "token", token) &&
        cJSON_AddStringToObject(o, "district", district) &&
        cJSON_AddStringToObject(o, "csr", csr))
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Writes key, certificate and hub CA beside the store, then the hub in meta. */
static int store_identity(struct store *s, const struct nodecert_paths *p,
                          mbedtls_pk_context *key, const char *crt, const char *ca_pem,
                          const char *url)
{
    char *kpem = NULL;
    int r;

    r = nodecert_key_pem(key, &kpem);
    if (r == 0)
        r = file_write_atomic(p->key, NULL, kpem, strlen(kpem), 0600, 0);
    if (kpem) {
        memset(kpem, 0, strlen(kpem));
        free(kpem);
    }
    if (r < 0)
        return log_errno(LOG_ERR, r, "enroll: cannot write the key '%s'", p->key);
    r = file_write_atomic(p->crt, NULL, crt, strlen(crt), 0644, 0);
    if (r < 0)
        return log_errno(LOG_ERR, r, "enroll: cannot write the certificate '%s'", p->crt);
    r = file_write_atomic(p->hub_ca, NULL, ca_pem, strlen(ca_pem), 0644, 0);
    if (r < 0)
        return log_errno(LOG_ERR, r, "enroll: cannot write '%s'", p->hub_ca);
    return sync_remember_hub(s, url, p->hub_ca);
}

int enroll_cmd(struct node_config *cfg, int argc, char **argv)
{
    const char *url = NULL, *token = NULL, *ca = NULL, *why = NULL;
    const struct cmdopt opts[] = {
        { "hub", CMDOPT_TEXT, &url }, { "token", CMDOPT_TEXT, &token },
        { "ca", CMDOPT_TEXT, &ca } };
    struct nodecert_paths paths;
    struct answer a = { 0 };
    mbedtls_pk_context key;
    struct store *s = NULL;
    char *csr = NULL, *body = NULL, *ca_pem = NULL;
    cJSON *doc = NULL;
    const cJSON *crt, *msg;
    long status = 0;
    int r;

    r = cmdopts_parse(argc, argv, opts, CMDOPTS_N(opts));
    if (r < 0)
        return r;
    if (r != argc || !url || !token || !ca) {
        log_error("enroll needs --hub https://HOST:PORT, --token TOKEN and --ca FILE (the "
                  "CA that signed the hub's TLS certificate)");
        return -EDOM;
    }
    if (strncasecmp(url, "https://", 8) != 0 || !url[8]) {
        log_error("enroll: the hub URL must be https://HOST[:PORT] (got '%s')", url);
        return -EINVAL;
    }
    mbedtls_pk_init(&key);
    ca_pem = read_file(ca, 1u << 20);
    if (!ca_pem || !strstr(ca_pem, "-----BEGIN CERTIFICATE-----")) {
        log_error("enroll: cannot read a PEM certificate from '%s'", ca);
        r = -EINVAL;
        goto out;
    }
    r = nodecert_paths(cfg->db_path, &paths);
    if (r == 0)
        r = config_open_store(cfg, 0, &s);
    if (r < 0)
        goto out;
    r = nodecert_make_key(&key);
    if (r == 0)
        r = nodecert_csr(&key, store_node_id(s), &csr);
    if (r < 0) {
        log_errno(LOG_ERR, r, "enroll: cannot make a key and a CSR");
        goto out;
    }
    body = request_body(token, store_district(s), csr);
    if (!body) {
        r = -ENOMEM;
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        r = -ENOMEM;
        goto out;
    }
    r = post_enroll(url, ca, body, &status, &a);
    curl_global_cleanup();
    if (r < 0)
        goto out;
    doc = cJSON_ParseWithLength(a.p ? a.p : "", a.len);
    crt = cJSON_GetObjectItemCaseSensitive(doc, "certificate");
    if (status != 200 || !cJSON_IsString(crt)) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(doc, "error");
        msg = cJSON_GetObjectItemCaseSensitive(doc, "message");
        log_error("enroll: the hub refused (HTTP %ld): %s%s%s", status,
                  cJSON_IsString(code) ? code->valuestring : "no error code",
                  cJSON_IsString(msg) ? ": " : "", cJSON_IsString(msg) ? msg->valuestring : "");
        r = -EACCES;
        goto out;
    }
    r = nodecert_check(crt->valuestring, &key, store_node_id(s), store_district(s), &why);
    if (r < 0) {
        log_error("enroll: %s", why);
        goto out;
    }
    r = store_identity(s, &paths, &key, crt->valuestring, ca_pem, url);
    if (r < 0)
        goto out;
    printf("enrolled node %s (district %s) with %s; key %s, certificate %s\n",
           store_node_id(s), store_district(s), url, paths.key, paths.crt);
out:
    cJSON_Delete(doc);
    free(a.p);
    free(body);
    free(csr);
    free(ca_pem);
    mbedtls_pk_free(&key);
    store_close(s);
    return r;
}
