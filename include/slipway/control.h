/* The control socket: HTTP with JSON bodies on a unix socket (libmicrohttpd, driven from the
 * caller's own poll loop through one epoll fd, so handlers run on the loop's thread and need
 * no locking). The socket is 0660, owned by root and the "slipway" group when it exists. */
#ifndef SLIPWAY_CONTROL_H
#define SLIPWAY_CONTROL_H

#include <stddef.h>

#include "slipway/error.h"

#define CONTROL_MAX_BODY 65536 /* bytes of a request body; more is refused (413) */

struct control_reply {
        unsigned status;        /* HTTP status */
        const char *content_type;
        char *body;             /* malloc'd, owned by the control module after return */
};

struct control_request {
        const char *method;
        const char *path;         /* without the query string */
        const char *content_type; /* NULL when the request has none */
        const char *body;         /* body_len bytes, not NUL-terminated */
        size_t body_len;
};

/* Called for every complete request; fills reply (body may be NULL for an empty one). */
typedef void (*control_handler)(void *user, const struct control_request *request,
                                struct control_reply *reply);

struct control;

int control_open(struct control **out, const char *socket_path, control_handler handler,
                 void *user, struct sw_error *err);
/* The same on a TCP address "IPV4:PORT" or "[IPV6]:PORT" (as config.c checks it); no
 * access control of its own, so serve answers only GET /metrics there. */
int control_open_tcp(struct control **out, const char *address, control_handler handler,
                     void *user, struct sw_error *err);
/* The fd to poll for input; call control_run when it is readable (and now and then). */
int control_fd(const struct control *control);
void control_run(struct control *control);
void control_close(struct control *control);

#endif
