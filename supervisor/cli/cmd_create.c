/* slipway create: ask the running daemon (slipway serve) for agents of one of its templates. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "slipway/cleanup.h"

#define CREATE_STARTING_TRIES 50 /* x 200 ms: how long a starting daemon is waited for */

#define CREATE_DEFAULT_TIMEOUT_S 300

static void create_usage(FILE *out)
{
        fprintf(out,
                "Usage: slipway create --template NAME [OPTIONS]\n\n"
                "Ask the daemon ('slipway serve' on the state directory) for agents of one of\n"
                "its templates, wait until they are up, and print for each its id, then the\n"
                "exact ssh command to reach it (as 'slipway run' does). They live as the\n"
                "daemon's other agents do: with Jenkins, a node each, one build; standalone,\n"
                "until 'slipway rm'. Needs the daemon (root or group slipway).\n\n"
                "Options:\n"
                "  -t, --template NAME   a [template NAME] of the daemon's slipway.conf\n"
                "  -n, --count N         how many (default 1)\n"
                "      --no-wait         print the ids at once, without waiting\n"
                "      --timeout SEC     give up waiting after SEC (default %d)\n"
                "      --json            print the daemon's view of the agents as JSON\n"
                "  -h, --help            show this help\n",
                CREATE_DEFAULT_TIMEOUT_S);
}

static int parse_int(const char *text, int min, int max, int *out)
{
        char *end = NULL;
        errno = 0;
        long n = strtol(text, &end, 10);
        if (errno || !end || *end || end == text || n < min || n > max)
                return -EINVAL;
        *out = (int) n;
        return 0;
}

/* Until every agent is up (online, connecting to Jenkins or busy) or gone; the failed ones are
 * reported. Returns how many are up; *agents holds their last state. */
static int wait_up(struct control_client *daemon, json_t *agents, int timeout_s)
{
        size_t count = json_array_size(agents);
        _cleanup_free_ bool *done = calloc(count, sizeof(bool));
        int up = 0;
        size_t finished = 0;
        if (!done)
                return -ENOMEM;
        for (int tick = 0; finished < count && tick < timeout_s * 10; tick++) {
                for (size_t i = 0; i < count; i++) {
                        if (done[i])
                                continue;
                        json_t *agent = json_array_get(agents, i);
                        char path[256];
                        long status = 0;
                        json_t *now = NULL;
                        struct sw_error err = { 0 };
                        snprintf(path, sizeof(path), "/v1/agents/%s",
                                 json_string_value(json_object_get(agent, "id")));
                        /* Only the daemon's word that the agent failed ends the wait; a
                         * request that failed on the way is tried again. */
                        int r = control_client_request(daemon, "GET", path, NULL, &status, &now, &err);
                        const char *state = json_string_value(json_object_get(now, "state"));
                        if (r < 0 || (status != 200 && status != 404) || (status == 200 && !state)) {
                                if (tick + 1 >= timeout_s * 10)
                                        cli_fail(&err);
                                json_decref(now);
                                continue;
                        }
                        if (status == 404 || strcmp(state, "retiring") == 0 ||
                            strcmp(state, "destroying") == 0) {
                                const char *why = json_string_value(json_object_get(now, "retire_reason"));
                                fprintf(stderr, "slipway: agent %s failed: %s (see the daemon's log)\n",
                                        json_string_value(json_object_get(agent, "id")),
                                        why ? why : "gone");
                                done[i] = true;
                                finished++;
                        } else if (strcmp(state, "launching") != 0 && strcmp(state, "registered") != 0) {
                                done[i] = true;
                                finished++;
                                up++;
                        }
                        if (now)
                                json_array_set_new(agents, i, now);
                }
                if (finished < count)
                        usleep(100 * 1000);
        }
        if (finished < count)
                fprintf(stderr, "slipway: %zu agent(s) not up after %d s\n", count - finished, timeout_s);
        return up;
}

int cmd_create(const struct cli_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "template", required_argument, NULL, 't' },
                { "count", required_argument, NULL, 'n' },
                { "no-wait", no_argument, NULL, 'W' },
                { "timeout", required_argument, NULL, 'T' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        const char *template = NULL;
        int count = 1, timeout_s = CREATE_DEFAULT_TIMEOUT_S;
        bool wait = true, json = false;
        int c;
        while ((c = getopt_long(argc, argv, "t:n:h", options, NULL)) != -1) {
                switch (c) {
                case 't':
                        template = optarg;
                        break;
                case 'n':
                        if (parse_int(optarg, 1, 100, &count) < 0)
                                return cli_usage_error("create", "--count: expected 1-100, not \"%s\"", optarg);
                        break;
                case 'W':
                        wait = false;
                        break;
                case 'T':
                        if (parse_int(optarg, 1, 86400, &timeout_s) < 0)
                                return cli_usage_error("create", "--timeout: expected 1-86400 seconds, not \"%s\"", optarg);
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        create_usage(stdout);
                        return 0;
                default:
                        return cli_usage_error("create", "bad option");
                }
        }
        if (optind < argc)
                return cli_usage_error("create", "unexpected argument \"%s\"", argv[optind]);
        if (!template)
                return cli_usage_error("create", "--template: required");

        struct control_client *daemon = NULL;
        int r = cli_open_daemon(ctx, &daemon);
        if (r)
                return r;
        if (!daemon) {
                fprintf(stderr, "slipway create: no daemon listens on %s/control.sock: templates "
                                "are 'slipway serve''s (start it, or use 'slipway run')\n",
                        ctx->state_dir);
                return CLI_EXIT_FAILURE;
        }
        _cleanup_json_ json_t *request = json_pack("{s:s, s:i}", "template", template, "count", count);
        _cleanup_free_ char *body = request ? json_dumps(request, JSON_COMPACT) : NULL;
        _cleanup_json_ json_t *agents = NULL;
        struct sw_error err = { 0 };
        long status = 0;
        if (!body)
                r = sw_error_set(&err, ENOMEM, "create");
        else
                r = control_client_request(daemon, "POST", "/v1/agents", body, &status, &agents, &err);
        /* 503: the daemon has just started and is still reconciling what an earlier run left;
         * that takes a Jenkins poll or so. */
        for (int tries = 0; r >= 0 && status == 503 && tries < CREATE_STARTING_TRIES; tries++) {
                struct timespec pause = { 0, 200 * 1000 * 1000 };
                nanosleep(&pause, NULL);
                json_decref(agents);
                agents = NULL;
                sw_error_clear(&err);
                r = control_client_request(daemon, "POST", "/v1/agents", body, &status, &agents, &err);
        }
        if (r < 0 || status != 201 || !json_is_array(agents)) {
                control_client_close(daemon);
                return cli_fail(&err);
        }
        int up = wait ? wait_up(daemon, agents, timeout_s) : (int) json_array_size(agents);
        int result = up == (int) json_array_size(agents) ? 0 : CLI_EXIT_FAILURE;
        if (json) {
                json_dumpf(agents, stdout, JSON_INDENT(2));
                putchar('\n');
                control_client_close(daemon);
                return result;
        }
        json_t *agent;
        size_t i;
        json_array_foreach(agents, i, agent) {
                const char *id = json_string_value(json_object_get(agent, "id"));
                const char *state = json_string_value(json_object_get(agent, "state"));
                if (!id || (wait && (!state || strcmp(state, "retiring") == 0 ||
                                     strcmp(state, "destroying") == 0)))
                        continue;
                /* Its ssh command comes from inspect: the known_hosts file it names is the
                 * daemon's. */
                char path[256];
                _cleanup_json_ json_t *inspected = NULL;
                snprintf(path, sizeof(path), "/v1/agents/%s/inspect", id);
                const char *ssh = NULL;
                if (wait && control_client_request(daemon, "GET", path, NULL, &status, &inspected,
                                                   &err) == 0 && status == 200)
                        ssh = json_string_value(json_object_get(inspected, "ssh_command"));
                printf("%s\n", id);
                if (ssh)
                        printf("%s\n", ssh);
        }
        control_client_close(daemon);
        return result;
}
