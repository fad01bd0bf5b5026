/* Shared by the Jenkins client's files (jenkins.c, jenkins_poll.c); not a public interface. */
#ifndef SLIPWAY_JENKINS_INTERNAL_H
#define SLIPWAY_JENKINS_INTERNAL_H

#include <stdbool.h>

#include <curl/curl.h>

#include "slipway/buffer.h"
#include "slipway/cleanup.h"
#include "slipway/jenkins.h"

#define JENKINS_CRUMB_MAX 256
#define JENKINS_HEADER_MAX 512

struct jenkins_client {
        CURL *curl;
        char *url;    /* no trailing slash: "http://host:8080/jenkins" */
        char *user;   /* NULL: anonymous */
        char *secret; /* API token or password */
        bool crumbs;  /* password or anonymous: POSTs carry a crumb bound to our session */
        bool have_crumb;
        char crumb_header[JENKINS_CRUMB_MAX + 80]; /* "Jenkins-Crumb: ..."; "" if no issuer */
        long timeout_s;
};

struct jenkins_response {
        long status;
        struct sw_buffer body; /* NUL-terminated once non-empty */
        bool too_large;
        char x_error[JENKINS_HEADER_MAX]; /* Jenkins' error pages carry the message here */
        char location[JENKINS_HEADER_MAX];
};

void jenkins_response_release(struct jenkins_response *response);
#define _cleanup_response_ _cleanup_(jenkins_response_release)

/* One request on an easy handle configured like client->curl, in two halves around the
 * transfer (curl_easy_perform, or a multi handle): prepare sets what varies per request
 * (*headers, freed by the caller after finish); finish turns the transfer's result into the
 * response or an error and clears every pointer into the caller's memory. */
int jenkins_request_prepare(struct jenkins_client *client, CURL *curl, const char *method,
                            const char *path, const char *form, struct curl_slist **headers,
                            struct jenkins_response *response, struct sw_error *err);
int jenkins_request_finish(struct jenkins_client *client, CURL *curl, CURLcode code,
                           const char *method, const char *path, struct jenkins_response *response,
                           struct sw_error *err);
/* Fill err from a status the caller did not want; see jenkins.h for the mapping. */
int jenkins_status_error(struct jenkins_client *client, const char *method, const char *path,
                         const struct jenkins_response *response, struct sw_error *err);

/* The tree parameters, percent-encoded: Jetty refuses raw brackets in a query (RFC 3986). */
#define JENKINS_COMPUTERS_PATH                                                                     \
        "/computer/api/json?tree=computer%5BdisplayName,description,offline,temporarilyOffline,"  \
        "idle,numExecutors,assignedLabels%5Bname%5D,executors%5Bidle%5D%5D"
#define JENKINS_QUEUE_PATH                                                                         \
        "/queue/api/json?tree=items%5Bid,why,buildable,stuck,inQueueSince,"                       \
        "task%5Bname,url,labelExpression%5D%5D"

#endif
