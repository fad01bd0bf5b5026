/* The periodic Jenkins poll (GET /computer, then GET /queue) without blocking the caller's
 * loop: the two requests run on a libcurl multi handle, and jenkins_poll_wait waits on their
 * sockets together with the caller's own descriptors (curl_multi_poll's extra fds), so the
 * control socket, signals and workers are served while Jenkins is slow to answer.
 *
 * The poll has its own easy handle, a copy of the client's (same auth, timeouts and limits;
 * GETs need no crumb), kept across polls so its connection is reused. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "jenkins_internal.h"

enum poll_stage { POLL_IDLE, POLL_COMPUTERS, POLL_QUEUE };

struct jenkins_poll {
        struct jenkins_client *client;
        CURLM *multi;
        CURL *curl;
        enum poll_stage stage;
        struct curl_slist *headers;
        struct jenkins_response response;
        struct jenkins_computers computers;
};

static const char *stage_path(enum poll_stage stage)
{
        return stage == POLL_COMPUTERS ? JENKINS_COMPUTERS_PATH : JENKINS_QUEUE_PATH;
}

int jenkins_poll_new(struct jenkins_client *client, struct jenkins_poll **out, struct sw_error *err)
{
        struct jenkins_poll *poll = calloc(1, sizeof(*poll));
        if (!poll)
                return sw_error_set(err, ENOMEM, "jenkins poll");
        poll->client = client;
        poll->multi = curl_multi_init();
        poll->curl = curl_easy_duphandle(client->curl);
        if (!poll->multi || !poll->curl) {
                jenkins_poll_free(poll);
                return sw_error_set(err, ENOMEM, "jenkins poll");
        }
        *out = poll;
        return 0;
}

/* Back to idle: the handle out of the multi, no pointer into this request left. */
static void stage_end(struct jenkins_poll *poll)
{
        if (poll->stage != POLL_IDLE)
                curl_multi_remove_handle(poll->multi, poll->curl);
        curl_slist_free_all(poll->headers);
        poll->headers = NULL;
        poll->stage = POLL_IDLE;
}

static int stage_begin(struct jenkins_poll *poll, enum poll_stage stage, struct sw_error *err)
{
        int r = jenkins_request_prepare(poll->client, poll->curl, "GET", stage_path(stage), NULL,
                                        &poll->headers, &poll->response, err);
        if (r < 0) {
                curl_slist_free_all(poll->headers);
                poll->headers = NULL;
                return r;
        }
        if (curl_multi_add_handle(poll->multi, poll->curl) != CURLM_OK) {
                curl_slist_free_all(poll->headers);
                poll->headers = NULL;
                return sw_error_set(err, ENOMEM, "jenkins poll");
        }
        poll->stage = stage;
        return 0;
}

void jenkins_poll_free(struct jenkins_poll *poll)
{
        if (!poll)
                return;
        if (poll->stage != POLL_IDLE) {
                stage_end(poll);
                jenkins_response_release(&poll->response);
        }
        jenkins_computers_release(&poll->computers);
        if (poll->curl)
                curl_easy_cleanup(poll->curl);
        if (poll->multi)
                curl_multi_cleanup(poll->multi);
        free(poll);
}

bool jenkins_poll_running(const struct jenkins_poll *poll)
{
        return poll->stage != POLL_IDLE;
}

int jenkins_poll_start(struct jenkins_poll *poll, struct sw_error *err)
{
        if (poll->stage != POLL_IDLE)
                return sw_error_set(err, EBUSY, "jenkins poll: already running");
        int r = stage_begin(poll, POLL_COMPUTERS, err);
        if (r < 0)
                return r;
        int running;
        curl_multi_perform(poll->multi, &running); /* connect now, not at the first wait */
        return 0;
}

int jenkins_poll_wait(struct jenkins_poll *jp, struct pollfd *fds, size_t nfds, int timeout_ms,
                      struct sw_error *err)
{
        struct curl_waitfd extra[nfds ? nfds : 1];
        for (size_t i = 0; i < nfds; i++) {
                extra[i] = (struct curl_waitfd){ .fd = fds[i].fd, .events = (short) fds[i].events };
                fds[i].revents = 0;
        }
        int numfds = 0;
        CURLMcode code = curl_multi_poll(jp->multi, extra, (unsigned) nfds, timeout_ms, &numfds);
        if (code != CURLM_OK)
                return sw_error_set(err, EIO, "jenkins poll: wait: %s", curl_multi_strerror(code));
        /* curl_multi_poll passes back POLLIN, POLLPRI and POLLOUT only: a worker's pipe that is
         * hung up (POLLHUP alone) would wake it again and again, never reported. poll(2) with
         * no wait tells the whole truth. */
        if (nfds == 0)
                return 0;
        int ready = poll(fds, nfds, 0);
        if (ready < 0)
                return errno == EINTR ? 0 : sw_error_errno(err, errno, "jenkins poll: wait");
        return ready;
}

/* The finished transfer's result: its response judged (2xx wanted) and decoded. */
static int stage_finish(struct jenkins_poll *poll, CURLcode code, struct jenkins_queue *queue,
                        struct sw_error *err)
{
        enum poll_stage stage = poll->stage;
        const char *path = stage_path(stage);
        stage_end(poll);
        _cleanup_response_ struct jenkins_response response = poll->response;
        memset(&poll->response, 0, sizeof(poll->response));
        int r = jenkins_request_finish(poll->client, poll->curl, code, "GET", path, &response, err);
        if (r < 0)
                return r;
        if (response.status < 200 || response.status >= 300)
                return jenkins_status_error(poll->client, "GET", path, &response, err);
        if (stage == POLL_COMPUTERS) {
                r = jenkins_computers_parse(response.body.data, response.body.len, &poll->computers, err);
                if (r < 0)
                        return sw_error_prefix(err, "jenkins %s: GET /computer/api/json", poll->client->url);
                return stage_begin(poll, POLL_QUEUE, err);
        }
        r = jenkins_queue_parse(response.body.data, response.body.len, queue, err);
        if (r < 0)
                return sw_error_prefix(err, "jenkins %s: GET /queue/api/json", poll->client->url);
        return 0;
}

int jenkins_poll_step(struct jenkins_poll *poll, struct jenkins_computers *computers,
                      struct jenkins_queue *queue, struct sw_error *err)
{
        if (poll->stage == POLL_IDLE)
                return sw_error_set(err, EINVAL, "jenkins poll: not running");
        for (;;) {
                int running = 0;
                CURLMcode mcode = curl_multi_perform(poll->multi, &running);
                if (mcode != CURLM_OK) {
                        stage_end(poll);
                        jenkins_response_release(&poll->response);
                        jenkins_computers_release(&poll->computers);
                        return sw_error_set(err, EIO, "jenkins poll: %s", curl_multi_strerror(mcode));
                }
                int queued;
                CURLMsg *msg = curl_multi_info_read(poll->multi, &queued);
                if (!msg || msg->msg != CURLMSG_DONE)
                        return 0; /* still running */
                memset(queue, 0, sizeof(*queue));
                enum poll_stage finished = poll->stage;
                int r = stage_finish(poll, msg->data.result, queue, err);
                if (r < 0) {
                        jenkins_computers_release(&poll->computers);
                        return r;
                }
                if (finished == POLL_QUEUE) {
                        *computers = poll->computers;
                        memset(&poll->computers, 0, sizeof(poll->computers));
                        return 1;
                }
                /* The queue request has begun: drive it at once. */
        }
}
