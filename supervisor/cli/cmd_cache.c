/* slipway cache: build and list layer cache generations. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "slipway/agent.h"
#include "slipway/cache.h"
#include "slipway/cleanup.h"

static void cache_usage(FILE *out)
{
        fprintf(out,
                "Usage: slipway cache build [--image REF]... [--tar FILE]... [--agent-image IMG]\n"
                "       slipway cache ls [--json]\n"
                "       slipway cache verify [--json] [GENERATION]\n"
                "       slipway cache gc [--json]\n\n"
                "build  Build a new cache generation holding the given images (from the Docker\n"
                "       daemon slipway talks to, or `docker save` archives), with the agents' own\n"
                "       dockerd, and make it current. Existing generations are never touched;\n"
                "       running agents keep theirs.\n"
                "ls     List generations: images, layers, size; the current one is marked.\n"
                "verify Recompute a generation's content digest (default: the current one) and\n"
                "       compare it with its manifest; exit 1 if anything changed.\n"
                "gc     Remove generations that are neither current nor used by an agent, and\n"
                "       leftovers of interrupted builds. Waits for agents being started and\n"
                "       builds in progress (STATE_DIR/cache/lock).\n\n"
                "Options:\n"
                "  -i, --image REF          build: an image of the Docker daemon (repeatable)\n"
                "  -t, --tar FILE           build: a `docker save` archive (repeatable)\n"
                "  -a, --agent-image IMG    build: the agent image (default %s)\n"
                "      --json               ls, verify, gc: print JSON\n"
                "  -h, --help               show this help\n",
                AGENT_DEFAULT_IMAGE);
}

/* ls, verify and gc take --json and --help only. Returns -1 to go on, else an exit code. */
static int cache_plain_options(const char *verb, int argc, char **argv, bool *json)
{
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'j':
                        *json = true;
                        break;
                case 'h':
                        cache_usage(stdout);
                        return 0;
                default:
                        return cli_usage_error(verb, "bad option");
                }
        }
        return -1;
}

static void print_json(json_t *value)
{
        json_dumpf(value, stdout, JSON_INDENT(2));
        putchar('\n');
}

/* On a terminal one line redrawn with a bar; otherwise (logs, CI) a plain line per step. */
static void print_progress(void *user, int step, int steps, const char *message)
{
        (void) user;
        if (!isatty(STDERR_FILENO)) {
                fprintf(stderr, "slipway cache: %s\n", message);
                return;
        }
        char bar[21];
        int filled = steps > 0 ? step * 20 / steps : 0;
        for (int i = 0; i < 20; i++)
                bar[i] = i < filled ? '#' : '.';
        bar[20] = '\0';
        fprintf(stderr, "\r\033[K[%s] %d/%d %s%s", bar, step, steps, message, step == steps ? "\n" : "");
        fflush(stderr);
}

static int cache_build_verb(const struct cli_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "image", required_argument, NULL, 'i' },
                { "tar", required_argument, NULL, 't' },
                { "agent-image", required_argument, NULL, 'a' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        _cleanup_free_ const char **images = calloc((size_t) argc + 1, sizeof(char *));
        _cleanup_strv_ char **tars = calloc((size_t) argc + 1, sizeof(char *));
        size_t n_images = 0, n_tars = 0;
        struct cache_build_options opts = { .state_dir = ctx->state_dir, .progress = print_progress };
        if (!images || !tars)
                return CLI_EXIT_FAILURE;
        int c;
        while ((c = getopt_long(argc, argv, "i:t:a:h", options, NULL)) != -1) {
                switch (c) {
                case 'i':
                        images[n_images++] = optarg;
                        break;
                case 't':
                        /* The seeder bind-mounts it: an absolute path. */
                        tars[n_tars] = realpath(optarg, NULL);
                        if (!tars[n_tars])
                                return cli_usage_error("cache build", "--tar %s: %m", optarg);
                        n_tars++;
                        break;
                case 'a':
                        opts.agent_image = optarg;
                        break;
                case 'h':
                        cache_usage(stdout);
                        return 0;
                default:
                        return cli_usage_error("cache build", "bad option");
                }
        }
        if (optind < argc)
                return cli_usage_error("cache build", "unexpected argument \"%s\"", argv[optind]);
        opts.images = images;
        opts.tar_files = (const char *const *) tars;
        struct docker_client *docker = NULL;
        int r = cli_open_docker_as_root(ctx, "cache build", &docker);
        if (r)
                return r;
        /* Ctrl-C must not leave a seeder or half a generation: the signals stay pending and
         * the build rolls back at its next step. */
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGHUP);
        sigprocmask(SIG_BLOCK, &stop, NULL);
        struct sw_error err = { 0 };
        _cleanup_free_ char *generation = NULL;
        r = cache_build(docker, &opts, &generation, &err);
        docker_close(docker);
        if (r < 0)
                return cli_fail(&err);
        printf("%s\n", generation);
        return 0;
}

static int cache_ls_verb(const struct cli_context *ctx, int argc, char **argv)
{
        bool json = false;
        int r = cache_plain_options("cache ls", argc, argv, &json);
        if (r >= 0)
                return r;
        if (optind < argc)
                return cli_usage_error("cache ls", "unexpected argument \"%s\"", argv[optind]);
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *list = NULL;
        if (cache_list(ctx->state_dir, &list, &err) < 0)
                return cli_fail(&err);
        if (json) {
                print_json(list);
                return 0;
        }
        printf("%-1s %-24s  %-6s  %-6s  %-10s  %s\n", "", "GENERATION", "IMAGES", "LAYERS", "SIZE", "CREATED");
        json_t *g;
        size_t i;
        json_array_foreach(list, i, g) {
                printf("%-1s %-24s  %-6zu  %-6lld  %7.1f MB  %s\n",
                       json_is_true(json_object_get(g, "current")) ? "*" : "",
                       json_string_value(json_object_get(g, "id")), json_array_size(json_object_get(g, "images")),
                       (long long) json_integer_value(json_object_get(g, "layers")),
                       (double) json_integer_value(json_object_get(g, "bytes")) / 1e6,
                       json_string_value(json_object_get(g, "created")) ? json_string_value(json_object_get(g, "created"))
                                                                          : "?");
        }
        return 0;
}

static int cache_verify_verb(const struct cli_context *ctx, int argc, char **argv)
{
        bool json = false;
        int r = cache_plain_options("cache verify", argc, argv, &json);
        if (r >= 0)
                return r;
        if (optind + 1 < argc)
                return cli_usage_error("cache verify", "unexpected argument \"%s\"", argv[optind + 1]);
        struct sw_error err = { 0 };
        _cleanup_free_ char *generation = NULL, *digest = NULL;
        if (cache_verify(ctx->state_dir, optind < argc ? argv[optind] : NULL, &generation, &digest, &err) < 0)
                return cli_fail(&err);
        if (json) {
                _cleanup_json_ json_t *out = json_pack("{s:s, s:s, s:b}", "id", generation, "digest",
                                                       digest, "unchanged", 1);
                if (!out)
                        return CLI_EXIT_FAILURE;
                print_json(out);
                return 0;
        }
        printf("%s unchanged (%s)\n", generation, digest);
        return 0;
}

static int cache_gc_verb(const struct cli_context *ctx, int argc, char **argv)
{
        bool json = false;
        int r = cache_plain_options("cache gc", argc, argv, &json);
        if (r >= 0)
                return r;
        if (optind < argc)
                return cli_usage_error("cache gc", "unexpected argument \"%s\"", argv[optind]);
        struct docker_client *docker = NULL;
        r = cli_open_docker_as_root(ctx, "cache gc", &docker);
        if (r)
                return r;
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *removed = NULL;
        r = cache_gc(docker, ctx->state_dir, &removed, &err);
        docker_close(docker);
        if (r < 0)
                return cli_fail(&err);
        if (json) {
                print_json(removed);
                return 0;
        }
        json_t *item;
        size_t i;
        json_array_foreach(removed, i, item)
                printf("removed %s %s\n", json_string_value(json_object_get(item, "kind")),
                       json_string_value(json_object_get(item, "id")));
        return 0;
}

int cmd_cache(const struct cli_context *ctx, int argc, char **argv)
{
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                cache_usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? CLI_EXIT_USAGE : 0;
        }
        if (strcmp(argv[1], "build") == 0)
                return cache_build_verb(ctx, argc - 1, argv + 1);
        if (strcmp(argv[1], "ls") == 0)
                return cache_ls_verb(ctx, argc - 1, argv + 1);
        if (strcmp(argv[1], "verify") == 0)
                return cache_verify_verb(ctx, argc - 1, argv + 1);
        if (strcmp(argv[1], "gc") == 0)
                return cache_gc_verb(ctx, argc - 1, argv + 1);
        return cli_usage_error("cache", "unknown subcommand \"%s\"", argv[1]);
}
