/* slipway doctor: check the host's prerequisites and print each with its fix. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "slipway/cleanup.h"
#include "slipway/config.h"
#include "slipway/doctor.h"

static void doctor_usage(FILE *out)
{
        fprintf(out,
                "Usage: slipway doctor [--config FILE | --no-config] [--json]\n\n"
                "Check what agents and 'slipway serve' need from this host: the overlay file\n"
                "system, cgroups, the capability bounding set, the state directory (file system,\n"
                "free space, btrfs, reflink), ssh-keygen, dockerd and its version, the agent\n"
                "image, a cache generation, and with a configuration its validity and Jenkins\n"
                "(reachable, credentials accepted). Every WARN and FAIL comes with its fix.\n"
                "With a configuration, its [host] state-dir and docker-host are the ones checked.\n"
                "Exit status 0 when nothing FAILs, 1 otherwise.\n\n"
                "Options:\n"
                "  -c, --config FILE   slipway.conf to check (default %s, when it exists)\n"
                "      --no-config     check no configuration, not even the default one\n"
                "      --json          print a JSON array: check, status, detail, fix\n"
                "  -h, --help          show this help\n",
                CONFIG_DEFAULT_PATH);
}

static const char *field(json_t *result, const char *key)
{
        const char *value = json_string_value(json_object_get(result, key));
        return value ? value : "";
}

static void print_table(json_t *results)
{
        printf("%-6s  %-12s  %s\n", "STATUS", "CHECK", "DETAIL");
        size_t i;
        json_t *result;
        json_array_foreach(results, i, result) {
                printf("%-6s  %-12s  %s\n", field(result, "status"), field(result, "check"),
                       field(result, "detail"));
                const char *fix = field(result, "fix");
                if (*fix)
                        printf("%-6s  %-12s  fix: %s\n", "", "", fix);
        }
        printf("\n%zu passed, %zu warning(s), %zu failed\n", doctor_count(results, DOCTOR_PASS),
               doctor_count(results, DOCTOR_WARN), doctor_count(results, DOCTOR_FAIL));
}

int cmd_doctor(const struct cli_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "no-config", no_argument, NULL, 'n' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        const char *config_path = NULL;
        bool no_config = false, json = false;
        int c;
        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case 'n':
                        no_config = true;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        doctor_usage(stdout);
                        return 0;
                default:
                        return cli_usage_error("doctor", "bad option");
                }
        }
        if (optind < argc)
                return cli_usage_error("doctor", "unexpected argument \"%s\"", argv[optind]);
        if (config_path && no_config)
                return cli_usage_error("doctor", "--config and --no-config exclude each other");
        /* The default configuration is checked when there is one: a host that only runs
         * `slipway run` has none, and that is no failure. */
        if (!config_path && !no_config && access(CONFIG_DEFAULT_PATH, F_OK) == 0)
                config_path = CONFIG_DEFAULT_PATH;

        struct doctor_options doctor_options = {
                .docker_host = ctx->docker_host,
                .state_dir = ctx->state_dir,
                .config_path = config_path,
        };
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *results = NULL;
        if (doctor_run(&doctor_options, &results, &err) < 0)
                return cli_fail(&err);
        if (json) {
                json_dumpf(results, stdout, JSON_INDENT(2));
                putchar('\n');
        } else {
                print_table(results);
        }
        return doctor_count(results, DOCTOR_FAIL) ? CLI_EXIT_FAILURE : 0;
}
