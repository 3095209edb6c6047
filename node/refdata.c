/* refdata.c - loading reference data into the node's store. Code lists are
 * national and small; areas are loaded only for the node's own district
 * (one province row, one district, its kecamatan and villages). */
#include "refdata.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "csvread.h"
#include "embed.h"
#include "log.h"

extern const struct embedded_file reference_lists[];

int refdata_area_code(const char *in, char *out, size_t cap)
{
    size_t n = 0;

    for (; *in; in++) {
        if (*in == '.')
            continue;
        if (!isdigit((unsigned char)*in) || n + 1 >= cap)
            return -EINVAL;
        out[n++] = *in;
    }
    out[n] = '\0';
    switch (n) {
    case 2: return 1;
    case 4: return 2;
    case 6: return 3;
    case 10: return 4;
    default: return -EINVAL;
    }
}

int refdata_district_code(const char *in, char out[5])
{
    return refdata_area_code(in, out, 5) == 2 ? 0 : -EINVAL;
}

struct list_load {
    struct store *s;
    const char *list;
    sqlite3_stmt *st;
    int count;
};

static int list_row(void *arg, int line, int nf, char **f)
{
    struct list_load *l = arg;
    int rc;

    if (line == 1)
        return strcmp(f[0], "code") == 0 ? 0 : -EBADMSG;   /* the header */
    if (nf < 3 || !f[0][0])
        return -EBADMSG;
    sqlite3_reset(l->st);
    sqlite3_bind_text(l->st, 1, l->list, -1, SQLITE_STATIC);
    sqlite3_bind_text(l->st, 2, f[0], -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(l->st, 3, f[1], -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(l->st, 4, f[2], -1, SQLITE_TRANSIENT);
    if (nf > 3 && f[3][0])
        sqlite3_bind_text(l->st, 5, f[3], -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(l->st, 5);
    rc = sqlite3_step(l->st);
    if (rc != SQLITE_DONE)
        return store_error(l->s, rc);
    l->count++;
    return 0;
}

int refdata_load_lists(struct store *s, struct refdata_counts *c)
{
    struct list_load l = { .s = s };
    int r;

    l.st = store_stmt(s,
        "INSERT INTO code_list (list, code, label_id, label_en, parent) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (list, code) DO UPDATE SET "
        "label_id = excluded.label_id, label_en = excluded.label_en, "
        "parent = excluded.parent, active = 1");
    if (!l.st)
        return -EIO;
    for (const struct embedded_file *f = reference_lists; f->name; f++) {
        char list[32];
        snprintf(list, sizeof(list), "%s", f->name);
        char *dot = strchr(list, '.');
        if (dot)
            *dot = '\0';
        l.list = list;
        r = csv_read_mem(f->data, f->len, list_row, &l);
        if (r < 0)
            return log_errno(LOG_ERR, r, "code list %s is malformed", f->name);
    }
    c->codes = l.count;
    return 0;
}

struct area_load {
    struct store *s;
    sqlite3_stmt *st;
    const char *district;       /* 4 digits */
    const char *want;           /* for provinces/regencies: the one code */
    int level;
    int count;
    char *name_out;             /* copy the matching row's name here */
};

static int area_insert(struct area_load *a, const char *code, const char *parent,
                       const char *name)
{
    int rc;

    sqlite3_reset(a->st);
    sqlite3_bind_text(a->st, 1, code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(a->st, 2, a->level);
    if (parent)
        sqlite3_bind_text(a->st, 3, parent, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(a->st, 3);
    sqlite3_bind_text(a->st, 4, name, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(a->st);
    if (rc != SQLITE_DONE)
        return store_error(a->s, rc);
    a->count++;
    return 0;
}

/* provinces.csv: code,name   regencies.csv: code,province_code,name
 * districts.csv: code,regency_code,name   villages.csv: code,district_code,name */
static int area_row(void *arg, int line, int nf, char **f)
{
    struct area_load *a = arg;
    char code[16], parent[16];
    int lvl;

    if (line == 1)
        return 0;
    if (nf < 2)
        return -EBADMSG;
    lvl = refdata_area_code(f[0], code, sizeof(code));
    if (lvl != a->level)
        return -EBADMSG;
    if (a->level == 1) {
        if (strncmp(code, a->district, 2) != 0)
            return 0;
        if (a->name_out)
            snprintf(a->name_out, 128, "%s", f[1]);
        return area_insert(a, code, NULL, f[1]);
    }
    if (nf < 3 || refdata_area_code(f[1], parent, sizeof(parent)) != lvl - 1)
        return -EBADMSG;
    if (strncmp(code, a->district, 4) != 0)
        return 0;
    if (a->level == 2 && a->name_out)
        snprintf(a->name_out, 128, "%s", f[2]);
    return area_insert(a, code, parent, f[2]);
}

int refdata_load_areas(struct store *s, const char *dir, const char *district,
                       struct refdata_counts *c)
{
    static const char *const files[] = { "provinces.csv", "regencies.csv",
                                         "districts.csv", "villages.csv" };
    int *counts[] = { &c->provinces, &c->districts, &c->subdistricts, &c->villages };
    struct area_load a = { .s = s, .district = district };
    char path[4096];
    int r;

    a.st = store_stmt(s,
        "INSERT INTO area (code, level, parent_code, name) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (code) DO UPDATE SET level = excluded.level, "
        "parent_code = excluded.parent_code, name = excluded.name");
    if (!a.st)
        return -EIO;
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        a.level = i + 1;
        a.count = 0;
        a.name_out = i == 0 ? c->province_name : i == 1 ? c->district_name : NULL;
        r = csv_read_file(path, area_row, &a);
        if (r == -EBADMSG)
            return log_errno(LOG_ERR, r, "'%s' does not look like idn-area data", path);
        if (r < 0)
            return r;
        *counts[i] = a.count;
        if (i < 2 && a.count == 0) {
            log_error("district %s is not in the area data at '%s'", district, dir);
            return -ENOENT;
        }
    }
    return 0;
}

static int is_area_dir(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/villages.csv", dir);
    return access(path, R_OK) == 0;
}

const char *refdata_find_areas(const char *dir)
{
    const char *env = getenv("SIKHNAS_AREAS");

    if (dir) {
        if (is_area_dir(dir))
            return dir;
        log_error("'%s' has no villages.csv: give the data/ folder of idn-area-data", dir);
        return NULL;
    }
    if (env && env[0] && is_area_dir(env))
        return env;
    if (is_area_dir(SIKHNAS_AREAS_DIR))
        return SIKHNAS_AREAS_DIR;
    log_error("no administrative-area data found (looked in $SIKHNAS_AREAS and %s); "
              "fetch it with scripts/fetch-areas.sh or pass --areas DIR", SIKHNAS_AREAS_DIR);
    return NULL;
}
