/* slipway run: start one agent, wait until it is ready, print its id and ssh command. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "slipway/agent.h"
#include "slipway/agent_disk.h"
#include "slipway/cleanup.h"
#include "slipway/egress.h"
#include "slipway/limits.h"

static void run_usage(FILE *out)
{
        fprintf(out,
                "Usage: slipway run [OPTIONS]\n\n"
                "Start an agent: its own dockerd on a dedicated data root, sshd for user %s.\n"
                "Prints the agent id, then the exact ssh command to reach it.\n\n"
                "Options:\n"
                "  -n, --name NAME          container name (default slipway-ID)\n"
                "  -k, --pubkey FILE        authorize this OpenSSH public key (default: a new key\n"
                "                           pair is generated in the agent's directory)\n"
                "  -l, --label KEY=VALUE    add a container label (repeatable)\n"
                "  -i, --image IMAGE        agent image (default %s)\n"
                "  -b, --bind-address ADDR  host address to publish SSH on (default %s)\n"
                "  -t, --ready-timeout SEC  give up when not ready by then (default %d)\n"
                "  -c, --cache GENERATION   seed the data root from this cache generation\n"
                "                           (default: the current one, if any)\n"
                "      --no-cache           start cold, with an empty data root\n"
                "      --seed-strategy S    layer-link (default), btrfs-snapshot, reflink or copy\n"
                "  -d, --dockerd-arg ARG    an extra argument for the agent's dockerd, e.g.\n"
                "                           --registry-mirror=URL (repeatable, one word each)\n"
                "      --docker-policy P    obsolete and ignored (standard or trusted): builds are\n"
                "                           contained by the agent's user namespace\n"
                "      --cpus N             CPU limit, e.g. 1.5 (default: none)\n"
                "      --memory SIZE        memory limit, e.g. 4G (K, M, G, T; default: none)\n"
                "      --pids-limit N       most processes and threads at once (default: none)\n"
                "      --disk-limit SIZE    the agent's own file system of SIZE, e.g. 20G, for its\n"
                "                           data root, home, workspace and /tmp (default: none)\n"
                "      --egress-allow LIST  only these destinations are reachable from the agent\n"
                "                           and its containers: ADDRESS[/BITS]:PORT,... (IPv4)\n"
                "      --json               print the agent as JSON\n"
                "  -h, --help               show this help\n",
                AGENT_USER, AGENT_DEFAULT_IMAGE, AGENT_DEFAULT_BIND_ADDRESS,
                AGENT_DEFAULT_READY_TIMEOUT);
}

static int print_agent(const struct agent *agent, bool json)
{
        _cleanup_free_ char *ssh = agent_ssh_command(agent);
        if (!ssh)
                return CLI_EXIT_FAILURE;
        if (json) {
                json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s?, s:s?, s:f, s:f, s:f}",
                                        "id", agent->id, "name", agent->name, "container",
                                        agent->container_id, "ssh_host", agent->bind_address,
                                        "ssh_port", agent->ssh_port, "ssh_command", ssh,
                                        "host_key", agent->host_public_key, "client_key",
                                        agent->client_key, "generation", agent->generation,
                                        "seed_seconds", agent->seed_seconds, "disk_seconds",
                                        agent->disk_seconds, "ready_seconds", agent->ready_seconds);
                if (!out)
                        return CLI_EXIT_FAILURE;
                json_dumpf(out, stdout, JSON_INDENT(2));
                putchar('\n');
                json_decref(out);
        } else {
                printf("%s\n%s\n", agent->id, ssh);
                if (agent->disk_seconds > 0)
                        fprintf(stderr, "slipway: agent %s has its own disk (made in %.1f ms)\n",
                                agent->id, agent->disk_seconds * 1000);
                if (agent->generation)
                        fprintf(stderr, "slipway: agent %s (%s) ready in %.2f s, seeded from cache %s in %.1f ms\n",
                                agent->id, agent->name, agent->ready_seconds, agent->generation,
                                agent->seed_seconds * 1000);
                else
                        fprintf(stderr, "slipway: agent %s (%s) ready in %.2f s (cold: no cache)\n",
                                agent->id, agent->name, agent->ready_seconds);
        }
        return 0;
}

int cmd_run(const struct cli_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "name", required_argument, NULL, 'n' },
                { "pubkey", required_argument, NULL, 'k' },
                { "label", required_argument, NULL, 'l' },
                { "image", required_argument, NULL, 'i' },
                { "bind-address", required_argument, NULL, 'b' },
                { "ready-timeout", required_argument, NULL, 't' },
                { "json", no_argument, NULL, 'j' },
                { "cache", required_argument, NULL, 'c' },
                { "no-cache", no_argument, NULL, 'N' },
                { "seed-strategy", required_argument, NULL, 'S' },
                { "dockerd-arg", required_argument, NULL, 'd' },
                { "docker-policy", required_argument, NULL, 'Y' },
                { "cpus", required_argument, NULL, 'C' },
                { "memory", required_argument, NULL, 'M' },
                { "pids-limit", required_argument, NULL, 'P' },
                { "disk-limit", required_argument, NULL, 'D' },
                { "egress-allow", required_argument, NULL, 'E' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct agent_options opts = { .state_dir = ctx->state_dir };
        _cleanup_free_ const char **labels = calloc((size_t) argc + 1, sizeof(char *));
        _cleanup_free_ const char **dockerd_args = calloc((size_t) argc + 1, sizeof(char *));
        size_t n_labels = 0, n_dockerd_args = 0;
        bool json = false, docker_policy_given = false;
        char reason[256];
        _cleanup_free_ char *egress = NULL;
        int c;
        if (!labels || !dockerd_args)
                return CLI_EXIT_FAILURE;
        while ((c = getopt_long(argc, argv, "n:k:l:i:b:t:c:d:h", options, NULL)) != -1) {
                switch (c) {
                case 'n':
                        opts.name = optarg;
                        break;
                case 'k':
                        opts.pubkey_file = optarg;
                        break;
                case 'l':
                        labels[n_labels++] = optarg;
                        break;
                case 'i':
                        opts.image = optarg;
                        break;
                case 'b':
                        opts.bind_address = optarg;
                        break;
                case 't': {
                        char *end;
                        long value = strtol(optarg, &end, 10);
                        if (*end || value <= 0 || value > 3600)
                                return cli_usage_error("run", "--ready-timeout: expected 1-3600 seconds, not \"%s\"", optarg);
                        opts.ready_timeout_s = (int) value;
                        break;
                }
                case 'j':
                        json = true;
                        break;
                case 'c':
                        opts.generation = optarg;
                        break;
                case 'd':
                        dockerd_args[n_dockerd_args++] = optarg;
                        break;
                case 'N':
                        opts.generation = "none";
                        break;
                case 'Y':
                        /* Obsolete: the agent's user namespace contains builds whatever they ask
                         * of its dockerd. Still accepted so that scripts written for the policy
                         * proxy keep working, and still checked so that a typo is not silently
                         * taken for one of the two values it had. */
                        if (strcmp(optarg, "standard") != 0 && strcmp(optarg, "trusted") != 0)
                                return cli_usage_error("run", "--docker-policy: expected standard or trusted, not \"%s\"", optarg);
                        docker_policy_given = true;
                        break;
                case 'S':
                        if (seed_strategy_parse(optarg, &opts.seed_strategy) < 0)
                                return cli_usage_error("run", "--seed-strategy: expected layer-link, btrfs-snapshot, reflink or copy, not \"%s\"", optarg);
                        break;
                case 'C':
                        if (limits_parse_cpus(optarg, &opts.nano_cpus, reason, sizeof(reason)) < 0)
                                return cli_usage_error("run", "--cpus: %s", reason);
                        break;
                case 'M':
                        if (limits_parse_memory(optarg, &opts.memory_bytes, reason, sizeof(reason)) < 0)
                                return cli_usage_error("run", "--memory: %s", reason);
                        break;
                case 'P':
                        if (limits_parse_pids(optarg, &opts.pids_limit, reason, sizeof(reason)) < 0)
                                return cli_usage_error("run", "--pids-limit: %s", reason);
                        break;
                case 'D':
                        if (limits_parse_disk(optarg, &opts.disk_limit_bytes, reason, sizeof(reason)) < 0)
                                return cli_usage_error("run", "--disk-limit: %s", reason);
                        break;
                case 'E':
                        free(egress);
                        egress = NULL;
                        if (egress_parse(optarg, &egress, reason, sizeof(reason)) < 0)
                                return cli_usage_error("run", "--egress-allow: %s", reason);
                        opts.egress_allow = egress;
                        break;
                case 'h':
                        run_usage(stdout);
                        return 0;
                default:
                        return cli_usage_error("run", "bad option");
                }
        }
        if (optind < argc)
                return cli_usage_error("run", "unexpected argument \"%s\"", argv[optind]);
        if (docker_policy_given)
                fprintf(stderr, "slipway: --docker-policy is obsolete and ignored: builds are "
                        "contained by a user namespace\n");
        if (opts.disk_limit_bytes > 0 && agent_disk_strategy_conflict(opts.seed_strategy))
                return cli_usage_error("run", "--disk-limit: %s",
                                       agent_disk_strategy_conflict(opts.seed_strategy));
        opts.labels = labels;
        opts.dockerd_args = dockerd_args;

        struct docker_client *docker = NULL;
        int r = cli_open_docker_as_root(ctx, "run", &docker);
        if (r)
                return r;

        /* Ctrl-C or SIGTERM while starting must not leave half an agent: the signals stay
         * pending, agent_run notices them while waiting and rolls back. */
        sigset_t stop, old;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGHUP);
        sigprocmask(SIG_BLOCK, &stop, &old);

        struct sw_error err = { 0 };
        struct agent *agent = NULL;
        r = agent_run(docker, &opts, &agent, &err);
        docker_close(docker);
        if (r < 0) {
                cli_fail(&err);
                return CLI_EXIT_FAILURE;
        }
        r = print_agent(agent, json);
        agent_free(agent);
        fflush(stdout);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return r;
}
