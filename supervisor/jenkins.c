/* Jenkins REST client: transport (one libcurl easy handle, so connections are reused), auth and
 * CSRF crumbs, error mapping, node operations, the computer and queue polls. The pure parsers
 * and the doCreateItem JSON live in jenkins_parse.c. Wire format: DESIGN.md, "Jenkins wire
 * format". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "slipway/buffer.h"
#include "slipway/cleanup.h"
#include "jenkins_internal.h"
#include "slipway/jenkins.h"

#define JENKINS_CONNECT_TIMEOUT_S 5
#define JENKINS_DEFAULT_TIMEOUT_S 10
#define JENKINS_URL_MAX 2048
#define JENKINS_OFFLINE_MESSAGE_MAX 1024

static void slist_freep(struct curl_slist **list)
{
        if (*list)
                curl_slist_free_all(*list);
}

/* Append to a header list; on failure the list is kept (and freed by its owner). */
static bool append_header(struct curl_slist **list, const char *header)
{
        struct curl_slist *longer = curl_slist_append(*list, header);
        if (!longer)
                return false;
        *list = longer;
        return true;
}

static void curl_freep(char **p)
{
        if (*p)
                curl_free(*p);
}


void jenkins_response_release(struct jenkins_response *response)
{
        sw_buffer_release(&response->body);
}

static size_t body_write(char *data, size_t size, size_t count, void *user)
{
        struct jenkins_response *r = user;
        int e = sw_buffer_append(&r->body, data, size * count, JENKINS_MAX_RESPONSE);
        r->too_large = e == -EFBIG;
        return e < 0 ? 0 : size * count; /* 0 aborts the transfer: refused, never truncated */
}

static size_t header_write(char *data, size_t size, size_t count, void *user)
{
        struct jenkins_response *r = user;
        size_t n = size * count;
        if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
                /* A new response (after a 100 Continue, say): forget the previous one's. */
                r->x_error[0] = '\0';
                return n;
        }
        static const char name[] = "X-Error:";
        if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
                const char *value = data + sizeof(name) - 1;
                size_t len = n - (sizeof(name) - 1);
                while (len > 0 && (*value == ' ' || *value == '\t'))
                        value++, len--;
                while (len > 0 && (value[len - 1] == '\r' || value[len - 1] == '\n' || value[len - 1] == ' '))
                        len--;
                if (len >= sizeof(r->x_error))
                        len = sizeof(r->x_error) - 1;
                memcpy(r->x_error, value, len);
                r->x_error[len] = '\0';
        }
        return n;
}

/* "POST /computer/x/doDelete": the path without its query, for messages. */
static void request_what(const char *method, const char *path, char *out, size_t size)
{
        snprintf(out, size, "%s %.*s", method, (int) strcspn(path, "?"), path);
}

int jenkins_request_prepare(struct jenkins_client *client, CURL *curl, const char *method,
                            const char *path, const char *form, struct curl_slist **headers,
                            struct jenkins_response *response, struct sw_error *err)
{
        memset(response, 0, sizeof(*response));
        bool post = strcmp(method, "POST") == 0;
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s%s", client->url, path) < 0)
                return sw_error_set(err, ENOMEM, "jenkins request");

        /* Only what varies per request is set here; the rest was set once (configure_handle).
         * libcurl copies the URL string. */
        curl_easy_setopt(curl, CURLOPT_URL, url);
        bool ok = append_header(headers, "Accept-Language: en");
        if (post) {
                curl_easy_setopt(curl, CURLOPT_POST, 1L);
                curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) (form ? strlen(form) : 0));
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form ? form : "");
                ok = ok && append_header(headers, "Content-Type: application/x-www-form-urlencoded") &&
                     append_header(headers, "Expect:"); /* no 100-continue round trip */
                if (client->crumbs && client->crumb_header[0])
                        ok = ok && append_header(headers, client->crumb_header);
        } else {
                curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        }
        if (!ok)
                return sw_error_set(err, ENOMEM, "jenkins request");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, response);
        return 0;
}

int jenkins_request_finish(struct jenkins_client *client, CURL *curl, CURLcode code,
                           const char *method, const char *path, struct jenkins_response *response,
                           struct sw_error *err)
{
        char what[512];
        request_what(method, path, what, sizeof(what));
        /* No pointer into the caller's frame outlives the request. */
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, NULL);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, NULL);
        if (strcmp(method, "POST") == 0)
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL);
        if (response->too_large) {
                jenkins_response_release(response);
                return sw_error_set(err, EFBIG, "jenkins %s: %s: response larger than %u bytes refused",
                                    client->url, what, JENKINS_MAX_RESPONSE);
        }
        if (code != CURLE_OK) {
                long os_errno = 0;
                curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
                jenkins_response_release(response);
                if (code == CURLE_COULDNT_CONNECT && (os_errno == 0 || os_errno == ECONNREFUSED))
                        return sw_error_set(err, ECONNREFUSED,
                                            "jenkins %s: %s: cannot connect: connection refused (is Jenkins up?)",
                                            client->url, what);
                if (code == CURLE_COULDNT_CONNECT)
                        return sw_error_set(err, EIO, "jenkins %s: %s: cannot connect: %s", client->url, what,
                                            strerror((int) os_errno));
                if (code == CURLE_OPERATION_TIMEDOUT)
                        return sw_error_set(err, ETIMEDOUT, "jenkins %s: %s: timed out after %ld s", client->url,
                                            what, client->timeout_s);
                if (code == CURLE_OUT_OF_MEMORY)
                        return sw_error_set(err, ENOMEM, "jenkins %s: %s", client->url, what);
                return sw_error_set(err, EIO, "jenkins %s: %s: %s", client->url, what, curl_easy_strerror(code));
        }
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response->status);
        char *location = NULL;
        if (curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location) == CURLE_OK && location)
                snprintf(response->location, sizeof(response->location), "%s", location);
        if (!response->body.data) {
                response->body.data = strdup("");
                if (!response->body.data)
                        return sw_error_set(err, ENOMEM, "jenkins response");
        }
        return 0;
}

/* One request, any status. A transport failure is an error; the status is the caller's. */
static int jenkins_perform(struct jenkins_client *client, const char *method, const char *path,
                           const char *form, struct jenkins_response *response, struct sw_error *err)
{
        _cleanup_(slist_freep) struct curl_slist *headers = NULL;
        int r = jenkins_request_prepare(client, client->curl, method, path, form, &headers, response, err);
        if (r < 0) {
                curl_easy_setopt(client->curl, CURLOPT_POSTFIELDS, NULL);
                jenkins_response_release(response);
                return r;
        }
        CURLcode code = curl_easy_perform(client->curl);
        return jenkins_request_finish(client, client->curl, code, method, path, response, err);
}

/* Fill err from a status the caller did not want; see jenkins.h for the mapping. */
int jenkins_status_error(struct jenkins_client *client, const char *method, const char *path,
                                const struct jenkins_response *response, struct sw_error *err)
{
        char what[512], text[256];
        request_what(method, path, what, sizeof(what));
        jenkins_error_text(response->x_error, response->body.data, response->body.len, text, sizeof(text));
        bool post = strcmp(method, "POST") == 0;
        long status = response->status;
        int code = EIO;
        char hint[256] = "";
        if (status == 404) {
                code = ENOENT;
        } else if (status == 400) {
                code = strcasestr(text, "already exists") ? EEXIST : EINVAL;
        } else if (status == 401) {
                code = EACCES;
                snprintf(hint, sizeof(hint), " (check user and %s)", client->crumbs ? "password" : "API token");
        } else if (status == 403) {
                code = EACCES;
                if (post && client->crumbs)
                        snprintf(hint, sizeof(hint),
                                 " (refused with a fresh crumb too: the user may lack the permission)");
                else if (post)
                        snprintf(hint, sizeof(hint),
                                 " (the user may lack the permission; a crumb should not be needed with an API token)");
                else
                        snprintf(hint, sizeof(hint), " (the user may lack the permission)");
        } else if (status >= 300 && status < 400) {
                bool login = strstr(response->location, "/login") || strstr(response->location, "/securityRealm/");
                if (login)
                        code = EACCES;
                snprintf(hint, sizeof(hint), " redirected to %.200s (%s)",
                         response->location[0] ? response->location : "?",
                         login ? "the login page: check the credentials" : "check the URL");
        }
        return sw_error_set(err, code, "jenkins %s: %s: %ld%s%s%s", client->url, what, status,
                            text[0] ? " " : "", text, hint);
}

/* GET /crumbIssuer/api/json; the cookie engine keeps the session it binds the crumb to. */
static int fetch_crumb(struct jenkins_client *client, struct sw_error *err)
{
        static const char path[] = "/crumbIssuer/api/json";
        _cleanup_response_ struct jenkins_response response = { 0 };
        int r = jenkins_perform(client, "GET", path, NULL, &response, err);
        if (r < 0)
                return r;
        if (response.status == 404) {
                /* No crumb issuer (CSRF protection off, before 2.222): POSTs go without. */
                client->crumb_header[0] = '\0';
                client->have_crumb = true;
                return 0;
        }
        if (response.status != 200)
                return jenkins_status_error(client, "GET", path, &response, err);
        json_error_t jerr;
        _cleanup_json_ json_t *json = json_loadb(response.body.data, response.body.len, 0, &jerr);
        const char *field = json_string_value(json_object_get(json, "crumbRequestField"));
        const char *crumb = json_string_value(json_object_get(json, "crumb"));
        static const char token_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";
        bool crumb_ok = crumb && *crumb && strlen(crumb) <= JENKINS_CRUMB_MAX;
        for (const char *p = crumb; crumb_ok && *p; p++)
                crumb_ok = *p > ' ' && *p < 0x7f;
        if (!field || !*field || strlen(field) > 64 || strspn(field, token_chars) != strlen(field) || !crumb_ok)
                return sw_error_set(err, EPROTO,
                                    "jenkins %s: GET %s: no valid crumbRequestField and crumb in the response",
                                    client->url, path);
        snprintf(client->crumb_header, sizeof(client->crumb_header), "%s: %s", field, crumb);
        client->have_crumb = true;
        return 0;
}

static bool post_succeeded(const struct jenkins_response *response)
{
        if (response->status >= 200 && response->status < 300)
                return true;
        /* Form POSTs answer with a redirect, except when Jenkins sends us to log in. */
        return (response->status == 302 || response->status == 303) && !strstr(response->location, "/login") &&
               !strstr(response->location, "/securityRealm/");
}

/* Perform and judge: GETs want 2xx; POSTs 2xx or 302/303, and get the crumb (fetched before
 * the first one, fetched again once after a 403: crumbs expire with the session). */
static int jenkins_call(struct jenkins_client *client, const char *method, const char *path,
                        const char *form, struct jenkins_response *response, struct sw_error *err)
{
        bool post = strcmp(method, "POST") == 0;
        int r;
        if (post && client->crumbs && !client->have_crumb && (r = fetch_crumb(client, err)) < 0)
                return r;
        if ((r = jenkins_perform(client, method, path, form, response, err)) < 0)
                return r;
        if (post && client->crumbs && response->status == 403) {
                jenkins_response_release(response);
                client->have_crumb = false;
                if ((r = fetch_crumb(client, err)) < 0)
                        return r;
                if ((r = jenkins_perform(client, method, path, form, response, err)) < 0)
                        return r;
        }
        if (post ? post_succeeded(response) : response->status >= 200 && response->status < 300)
                return 0;
        r = jenkins_status_error(client, method, path, response, err);
        jenkins_response_release(response);
        return r;
}

/* The options every request shares, set once: no curl_easy_reset between requests, which in
 * libcurl 7.88 leaks the COOKIEFILE list (curl/curl#10694, fixed in 8.0) and would have to
 * re-enable the cookie engine each time. The handle keeps the live connection and the
 * session cookie the crumb is bound to. */
static int configure_handle(struct jenkins_client *client)
{
        CURL *curl = client->curl;
        long connect_timeout = client->timeout_s < JENKINS_CONNECT_TIMEOUT_S ? client->timeout_s
                                                                             : JENKINS_CONNECT_TIMEOUT_S;
        if (curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, connect_timeout) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_TIMEOUT, client->timeout_s) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_COOKIEFILE, "") != CURLE_OK || /* cookie engine, memory only */
            curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_write) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_write) != CURLE_OK)
                return -ENOMEM;
        if (client->user &&
            (curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_USERNAME, client->user) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_PASSWORD, client->secret ? client->secret : "") != CURLE_OK))
                return -ENOMEM;
        return 0;
}

/* "http[s]://host[:port][/prefix]": no credentials, query or fragment, nothing unprintable. */
static bool url_valid(const char *url)
{
        size_t scheme = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
        size_t len = strlen(url);
        if (scheme == 0 || len > JENKINS_URL_MAX)
                return false;
        for (const char *p = url; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f || *p == '?' || *p == '#' || *p == '\\')
                        return false;
        size_t authority = strcspn(url + scheme, "/");
        return authority > 0 && !memchr(url + scheme, '@', authority);
}

int jenkins_open(struct jenkins_client **out, const struct jenkins_options *options,
                 struct sw_error *err)
{
        *out = NULL;
        const char *url = options->url;
        if (!url || !url_valid(url))
                return sw_error_set(err, EINVAL, "jenkins url \"%.200s\": expected http[s]://host[:port][/path] "
                                                 "(no credentials, query or spaces)", url ? url : "");
        if (options->token && options->password)
                return sw_error_set(err, EINVAL, "jenkins %s: give an API token or a password, not both", url);
        if ((options->token || options->password) && (!options->user || !*options->user))
                return sw_error_set(err, EINVAL, "jenkins %s: a user is needed with a token or password", url);
        if (options->user && !options->token && !options->password)
                return sw_error_set(err, EINVAL, "jenkins %s: user %s has no API token or password", url,
                                    options->user);
        if (options->user && strchr(options->user, ':'))
                return sw_error_set(err, EINVAL, "jenkins %s: a user name cannot contain ':' (HTTP Basic)", url);
        if (options->timeout_s < 0)
                return sw_error_set(err, EINVAL, "jenkins %s: negative timeout", url);

        struct jenkins_client *client = calloc(1, sizeof(*client));
        if (!client)
                return sw_error_set(err, ENOMEM, "jenkins client");
        size_t len = strlen(url);
        size_t scheme = strncmp(url, "https://", 8) == 0 ? 8 : 7;
        while (len > scheme + 1 && url[len - 1] == '/')
                len--;
        client->url = strndup(url, len);
        client->user = options->user ? strdup(options->user) : NULL;
        const char *secret = options->token ? options->token : options->password;
        client->secret = secret ? strdup(secret) : NULL;
        client->crumbs = !options->token;
        client->timeout_s = options->timeout_s > 0 ? options->timeout_s : JENKINS_DEFAULT_TIMEOUT_S;
        client->curl = curl_easy_init();
        if (!client->url || (options->user && !client->user) || (secret && !client->secret) || !client->curl ||
            configure_handle(client) < 0) {
                jenkins_close(client);
                return sw_error_set(err, ENOMEM, "jenkins client");
        }
        *out = client;
        return 0;
}

void jenkins_close(struct jenkins_client *client)
{
        if (!client)
                return;
        if (client->curl)
                curl_easy_cleanup(client->curl);
        free(client->url);
        free(client->user);
        if (client->secret) {
                explicit_bzero(client->secret, strlen(client->secret));
                free(client->secret);
        }
        explicit_bzero(client->crumb_header, sizeof(client->crumb_header));
        free(client);
}

const char *jenkins_url(const struct jenkins_client *client)
{
        return client->url;
}

/* GET a JSON body into text (NUL-terminated, len bytes); the caller decodes it. */
static int get_body(struct jenkins_client *client, const char *path, struct jenkins_response *response,
                    struct sw_error *err)
{
        return jenkins_call(client, "GET", path, NULL, response, err);
}

/* GET path and parse its body as a JSON object (anything else is EPROTO, with hint). */
static int get_object(struct jenkins_client *client, const char *path, const char *hint, json_t **out,
                      struct sw_error *err)
{
        *out = NULL;
        _cleanup_response_ struct jenkins_response response = { 0 };
        int r = get_body(client, path, &response, err);
        if (r < 0)
                return r;
        json_error_t jerr;
        _cleanup_json_ json_t *json = json_loadb(response.body.data, response.body.len, 0, &jerr);
        if (!json_is_object(json))
                return sw_error_set(err, EPROTO, "jenkins %s: GET %.*s: %s", client->url,
                                    (int) strcspn(path, "?"), path, hint);
        *out = TAKE_PTR(json);
        return 0;
}

int jenkins_ping(struct jenkins_client *client, struct sw_error *err)
{
        _cleanup_json_ json_t *json = NULL;
        return get_object(client, "/api/json?tree=nodeName",
                          "not a Jenkins API response (check the URL)", &json, err);
}

int jenkins_plugins_get(struct jenkins_client *client, json_t **plugins, struct sw_error *err)
{
        *plugins = NULL;
        _cleanup_json_ json_t *json = NULL;
        int r = get_object(client, "/pluginManager/api/json?depth=1&tree=plugins[shortName,version]",
                           "not a plugin list", &json, err);
        if (r < 0)
                return r;
        json_t *list = json_object_get(json, "plugins");
        if (!json_is_array(list))
                return sw_error_set(err, EPROTO, "jenkins %s: GET /pluginManager/api/json: no plugins array",
                                    client->url);
        *plugins = json_incref(list);
        return 0;
}

static char *escape(struct jenkins_client *client, const char *text)
{
        _cleanup_(curl_freep) char *escaped = curl_easy_escape(client->curl, text, 0);
        return escaped ? strdup(escaped) : NULL;
}

/* "/computer/<escaped name><suffix>" for a name jenkins_node_name_valid accepts (which also
 * keeps "." and ".." out of the path, where curl would squash them). */
static int node_path(struct jenkins_client *client, const char *name, const char *suffix, char **out,
                     struct sw_error *err)
{
        if (!jenkins_node_name_valid(name, err))
                return -EINVAL;
        _cleanup_free_ char *escaped = escape(client, name);
        if (!escaped || asprintf(out, "/computer/%s%s", escaped, suffix) < 0)
                return sw_error_set(err, ENOMEM, "jenkins request");
        return 0;
}

static int create_node(struct jenkins_client *client, const char *node_name, const char *json,
                       struct sw_error *err)
{
        _cleanup_free_ char *name = escape(client, node_name);
        _cleanup_free_ char *json_escaped = escape(client, json);
        _cleanup_free_ char *form = NULL;
        if (!name || !json_escaped ||
            asprintf(&form, "name=%s&type=hudson.slaves.DumbSlave&json=%s", name, json_escaped) < 0)
                return sw_error_set(err, ENOMEM, "jenkins create node %s", node_name);
        _cleanup_response_ struct jenkins_response response = { 0 };
        return jenkins_call(client, "POST", "/computer/doCreateItem", form, &response, err);
}

int jenkins_node_create(struct jenkins_client *client, const struct jenkins_node_spec *spec,
                        struct sw_error *err)
{
        struct sw_error local = { 0 };
        struct sw_error *e = err ? err : &local;
        _cleanup_free_ char *json = jenkins_node_json(spec, e);
        if (!json)
                return -(e->code ? e->code : EINVAL);
        return create_node(client, spec->name, json, err);
}

int jenkins_anchor_create(struct jenkins_client *client, const char *name,
                          const char *description, struct sw_error *err)
{
        struct sw_error local = { 0 };
        struct sw_error *e = err ? err : &local;
        _cleanup_free_ char *json = jenkins_anchor_json(name, description, e);
        if (!json)
                return -(e->code ? e->code : EINVAL);
        return create_node(client, name, json, err);
}

int jenkins_node_delete(struct jenkins_client *client, const char *name, struct sw_error *err)
{
        _cleanup_free_ char *path = NULL;
        int r = node_path(client, name, "/doDelete", &path, err);
        if (r < 0)
                return r;
        _cleanup_response_ struct jenkins_response response = { 0 };
        return jenkins_call(client, "POST", path, NULL, &response, err);
}

int jenkins_node_set_offline(struct jenkins_client *client, const char *name, const char *message,
                             struct sw_error *err)
{
        if (!message)
                message = "";
        if (strlen(message) > JENKINS_OFFLINE_MESSAGE_MAX)
                return sw_error_set(err, EINVAL, "jenkins: offline message longer than %d bytes",
                                    JENKINS_OFFLINE_MESSAGE_MAX);
        _cleanup_free_ char *escaped = escape(client, message);
        _cleanup_free_ char *suffix = NULL;
        if (!escaped || asprintf(&suffix, "/changeOfflineCause?offlineMessage=%s", escaped) < 0)
                return sw_error_set(err, ENOMEM, "jenkins request");
        _cleanup_free_ char *path = NULL;
        int r = node_path(client, name, suffix, &path, err);
        if (r < 0)
                return r;
        _cleanup_response_ struct jenkins_response response = { 0 };
        return jenkins_call(client, "POST", path, NULL, &response, err);
}

int jenkins_computers_get(struct jenkins_client *client, struct jenkins_computers *out,
                          struct sw_error *err)
{
        memset(out, 0, sizeof(*out));
        _cleanup_response_ struct jenkins_response response = { 0 };
        int r = get_body(client, JENKINS_COMPUTERS_PATH, &response, err);
        if (r < 0)
                return r;
        r = jenkins_computers_parse(response.body.data, response.body.len, out, err);
        if (r < 0)
                sw_error_prefix(err, "jenkins %s: GET /computer/api/json", client->url);
        return r;
}

int jenkins_queue_get(struct jenkins_client *client, struct jenkins_queue *out,
                      struct sw_error *err)
{
        memset(out, 0, sizeof(*out));
        _cleanup_response_ struct jenkins_response response = { 0 };
        int r = get_body(client, JENKINS_QUEUE_PATH, &response, err);
        if (r < 0)
                return r;
        r = jenkins_queue_parse(response.body.data, response.body.len, out, err);
        if (r < 0)
                sw_error_prefix(err, "jenkins %s: GET /queue/api/json", client->url);
        return r;
}
