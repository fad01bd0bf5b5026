# Helpers for integration tests. Sourced by tests/integration/run and the test files.

SLIPWAY=${SLIPWAY_BUILD:?}/slipway
IT_FAILURES=0
IT_RESULTS=()

it_log() { printf '    %s\n' "$*" >&2; }

# it_case NAME FUNCTION: run one test case in a subshell, record and print its outcome.
it_case() {
    local name=$1 fn=$2 start end
    # IT_ONLY=text runs only the cases whose name contains it (for quick iteration).
    case $name in *"${IT_ONLY:-}"*) ;; *) return 0 ;; esac
    printf '== %s\n' "$name" >&2
    start=$(date +%s.%N)
    # A plain statement, never inside `if`, `||` or `&&`: bash ignores set -e in a subshell
    # run from a condition, and every assertion would then pass. The caller runs without -e.
    ( set -eEuo pipefail; shopt -s inherit_errexit; trap 'echo "    FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR; "$fn" )
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        end=$(date +%s.%N)
        IT_RESULTS+=("$(printf 'PASS  %6.1fs  %s' "$(echo "$end - $start" | bc)" "$name")")
    else
        end=$(date +%s.%N)
        IT_RESULTS+=("$(printf 'FAIL  %6.1fs  %s' "$(echo "$end - $start" | bc)" "$name")")
        IT_FAILURES=$((IT_FAILURES + 1))
    fi
}

it_summary() {
    printf '\n%s\n' "integration results:" >&2
    printf '  %s\n' "${IT_RESULTS[@]}" >&2
    [ "$IT_FAILURES" -eq 0 ]
}

fail() { echo "    ASSERTION FAILED: $*" >&2; return 1; }

assert_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: expected '$2', got '$1'"; }

assert_contains() {
    case $1 in *"$2"*) ;; *) fail "${3:-missing text}: '$2' not in: $1" ;; esac
}

# Nothing of an agent may be left: no container, no volume, no directory, no mount.
assert_no_leaks() {
    local state=$1 containers volumes dirs mounts
    containers=$(docker ps -aq --filter "label=io.slipway.state-dir=$state")
    [ -z "$containers" ] || fail "containers left: $containers"
    volumes=$(docker volume ls -q)
    [ "$volumes" = "${IT_VOLUMES_BEFORE:-}" ] || fail "volumes left: $volumes"
    if [ -d "$state/agents" ]; then
        dirs=$(find "$state/agents" -mindepth 1 -maxdepth 1)
        [ -z "$dirs" ] || fail "agent directories left: $dirs"
    fi
    mounts=$(grep -F "$state" /proc/self/mountinfo || true)
    [ -z "$mounts" ] || fail "mounts left: $mounts"
}

# A tiny image (static busybox) to import inside agents: no registry is reachable.
it_tiny_image_tar() {
    local dir
    dir=$(mktemp -d)
    mkdir -p "$dir/bin"
    cp /bin/busybox "$dir/bin/busybox"
    ln -s busybox "$dir/bin/sh"
    tar -C "$dir" -cf - .
    rm -rf "$dir"
}

# Two images for cache tests: tiny:1, and multi:1 whose second layer deletes a file of the first.
it_cache_images() {
    it_tiny_image_tar | docker import - tiny:1 >/dev/null
    printf 'FROM tiny:1\nRUN ["/bin/busybox","sh","-c","echo one > /one; echo two > /two"]\nRUN ["/bin/busybox","rm","/two"]\n' |
        DOCKER_BUILDKIT=0 docker build -q -t multi:1 - >/dev/null
}
