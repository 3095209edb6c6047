/* web_session.c - who is asking: the session cookie (HttpOnly,
 * SameSite=Strict; set by web_login.c) is looked up among the live
 * sessions (auth.h), and the session's JSON tells the pages the officer,
 * what the role may do and the CSRF token every change must carry. Logout
 * ends the session and clears the cookie. */
#include <cJSON.h>
#include <string.h>

#include "auth.h"
#include "http_server.h"
#include "tz.h"
#include "web_int.h"

/* The session token of the Cookie header ("sid=", AUTH_TOKEN_LEN characters
 * of base64url) into q->token, or "". */
static void read_cookie(struct wreq *q)
{
    const char *cookie = http_header(q->c, "Cookie"), *p;
    size_t n = 0;

    q->token[0] = '\0';
    for (p = cookie; p && (p = strstr(p, "sid=")) != NULL; p += 4) {
        if (p != cookie && p[-1] != ' ' && p[-1] != ';')
            continue;
        p += 4;
        while (n < AUTH_TOKEN_LEN && ((p[n] >= 'A' && p[n] <= 'Z') ||
               (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9') ||
               p[n] == '-' || p[n] == '_'))
            n++;
        if (n == AUTH_TOKEN_LEN && (p[n] == '\0' || p[n] == ';' || p[n] == ' ')) {
            memcpy(q->token, p, n);
            q->token[n] = '\0';
        }
        return;
    }
}

void web_session_load(struct wreq *q)
{
    read_cookie(q);
    if (q->token[0] && auth_session_find(q->w->d->store, q->token, &q->who) == 0)
        q->logged_in = 1;
}

cJSON *web_who_json(struct web *w, const struct auth_who *who)
{
    cJSON *o = cJSON_CreateObject(), *of = cJSON_AddObjectToObject(o, "officer");
    cJSON *may = cJSON_AddObjectToObject(o, "may");
    const struct tz_zone *tz;

    cJSON_AddStringToObject(of, "id", who->officer_id);
    cJSON_AddStringToObject(of, "name", who->name);
    cJSON_AddStringToObject(of, "role", who->role);
    cJSON_AddStringToObject(of, "phone", who->phone);
    if (who->village[0])
        cJSON_AddStringToObject(of, "village", who->village);
    cJSON_AddBoolToObject(may, "read", auth_role_may(who->role, PERM_READ));
    cJSON_AddBoolToObject(may, "case", auth_role_may(who->role, PERM_CASE));
    cJSON_AddBoolToObject(may, "entry", auth_role_may(who->role, PERM_ENTRY));
    cJSON_AddBoolToObject(may, "admin", auth_role_may(who->role, PERM_ADMIN));
    cJSON_AddStringToObject(o, "csrf", who->csrf);
    cJSON_AddStringToObject(o, "district", store_district(w->d->store));
    tz = tz_of_area(store_district(w->d->store));
    cJSON_AddStringToObject(o, "tz", tz->name);                 /* WIB, WITA or WIT */
    cJSON_AddNumberToObject(o, "tz_offset_min", tz->offset_s / 60);
    return o;
}

void web_api_logout(struct wreq *q)
{
    if (q->logged_in)
        (void) auth_session_end(q->w->d->store, q->token);
    web_send_body(q, 204, "text/plain", "Set-Cookie: sid=; Path=/; HttpOnly; SameSite=Strict; "
                  "Max-Age=0\r\n", "", 0);
}

void web_api_session(struct wreq *q)
{
    web_send_json(q, 200, web_who_json(q->w, &q->who), NULL);
}
