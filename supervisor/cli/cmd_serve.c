/* slipway serve: read slipway.conf and run the demand-driven agent supervisor. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "slipway/config.h"
#include "slipway/log.h"
#include "slipway/serve.h"

static void serve_usage(FILE *out)
{
        fprintf(out,
                "Usage: slipway serve [OPTIONS]\n\n"
                "Run the supervisor: watch Jenkins' queue, start one agent per queued build that\n"
                "matches a template, register it as an SSH node with its own host key, let it run\n"
                "exactly one build, then delete the node and destroy the agent.\n"
                "SIGTERM or SIGINT drains (a second one stops at once); SIGHUP reloads the\n"
                "configuration, keeping the running one when the new one is not valid.\n"
                "Without a [jenkins] section it runs standalone: agents only on request\n"
                "('slipway create', or POST /v1/agents on <state-dir>/control.sock).\n\n"
                "Options:\n"
                "  -c, --config FILE   configuration (default %s)\n"
                "      --check         validate the configuration and exit\n"
                "  -v, --verbose       log debug messages too\n"
                "  -h, --help          show this help\n",
                CONFIG_DEFAULT_PATH);
}

int cmd_serve(const struct cli_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check", no_argument, NULL, 'C' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        const char *path = CONFIG_DEFAULT_PATH;
        bool check = false;
        int c;
        (void) ctx; /* the state dir and Docker host come from the configuration */
        while ((c = getopt_long(argc, argv, "c:vh", options, NULL)) != -1) {
                switch (c) {
                case 'c':
                        path = optarg;
                        break;
                case 'C':
                        check = true;
                        break;
                case 'v':
                        log_set_level(LOG_LEVEL_DEBUG);
                        break;
                case 'h':
                        serve_usage(stdout);
                        return 0;
                default:
                        return cli_usage_error("serve", "bad option");
                }
        }
        if (optind < argc)
                return cli_usage_error("serve", "unexpected argument \"%s\"", argv[optind]);
        struct sw_error err = { 0 };
        struct config *config = NULL;
        if (config_load(path, &config, &err) < 0)
                return cli_fail(&err);
        if (check) {
                if (config_standalone(config))
                        printf("%s: valid; %zu template(s), capacity %d, standalone (no "
                               "Jenkins)\n", path, config->template_count, config->host.capacity);
                else
                        printf("%s: valid; %zu template(s), capacity %d, Jenkins %s as %s\n", path,
                               config->template_count, config->host.capacity,
                               config->jenkins.url, config->jenkins.user);
                config_free(config);
                return 0;
        }
        int r = cli_require_root("serve");
        if (r == 0 && serve_run(config, path, &err) < 0)
                r = cli_fail(&err);
        config_free(config);
        return r;
}
