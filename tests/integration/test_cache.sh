# Cache generations and seeded agents (issue 3, first increment).

# A digest of a whole generation: names, types, modes, sizes, link targets and file contents.
generation_digest() {
    local root=$1
    (cd "$root" && find . -printf '%p %y %m %s %l\n' | LC_ALL=C sort &&
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}


test_cache_seeded_agent() {
    local state=$IT_DIR/state-cache gen root before after out id ssh
    rm -rf "$state"
    it_cache_images
    gen=$("$SLIPWAY" --state-dir "$state" cache build --image tiny:1 --image multi:1 2>/dev/null)
    assert_eq "$("$SLIPWAY" --state-dir "$state" cache ls --json | jq -r '.[] | select(.current) | .id')" "$gen"
    assert_eq "$("$SLIPWAY" --state-dir "$state" cache ls --json | jq '.[0].images | length')" 2 "images in manifest"
    assert_eq "$("$SLIPWAY" --state-dir "$state" cache ls --json | jq '.[0].layers')" 3 "layers in manifest"
    root=$state/cache/generations/$gen/data-root
    before=$(generation_digest "$root")

    out=$("$SLIPWAY" --state-dir "$state" run --json 2>/dev/null)
    id=$(jq -r .id <<<"$out")
    ssh=$(jq -r .ssh_command <<<"$out")
    assert_eq "$(jq -r .generation <<<"$out")" "$gen" "agent seeded from the current generation"
    assert_eq "$("$SLIPWAY" --state-dir "$state" ps --json | jq -r '.[0].generation')" "$gen" "generation pin label"
    it_log "seeded in $(jq -r '.seed_seconds * 1000' <<<"$out") ms, ready in $(jq -r .ready_seconds <<<"$out") s"

    # Every seeded image runs, without any pull or load; the deletion in multi:1 holds.
    assert_eq "$($ssh docker run --rm tiny:1 /bin/busybox echo ok)" "ok"
    # ssh joins its arguments into one remote command line: quote the whole of it.
    assert_eq "$($ssh "docker run --rm multi:1 /bin/busybox sh -c 'cat /one; test ! -e /two && echo gone'")" "one
gone"
    # Build FROM a seeded image, deleting and overwriting files of its layers.
    $ssh 'mkdir -p b && printf "FROM multi:1\nRUN [\"/bin/busybox\",\"sh\",\"-c\",\"rm /one; echo new > /bin/new; echo over > /etc-over\"]\n" > b/Dockerfile && docker build -q -t derived:1 b' >/dev/null
    assert_eq "$($ssh "docker run --rm derived:1 /bin/busybox sh -c 'test ! -e /one && cat /bin/new'")" "new"
    $ssh 'docker run --name c1 multi:1 /bin/busybox sh -c "echo committed > /c" && docker commit c1 committed:1 >/dev/null && docker rm c1 >/dev/null'
    assert_eq "$($ssh docker run --rm committed:1 /bin/busybox cat /c)" "committed"
    # save needs the committed markers (without them the top layer is mounted as upperdir).
    [ "$($ssh 'docker save multi:1 derived:1 | wc -c')" -gt 0 ] || fail "docker save wrote nothing"
    $ssh 'docker history -q multi:1 >/dev/null && docker tag multi:1 retagged:1 && docker rmi retagged:1 >/dev/null'
    # A restart of the inner dockerd (by root in the agent): the init starts it again, and the
    # seeded images are still there and still run.
    "$SLIPWAY" --state-dir "$state" shell "$id" --root -- sh -c 'kill $(cat /var/run/docker.pid)'
    local tries=0
    until $ssh docker info >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || fail "inner dockerd did not come back"
        sleep 0.2
    done
    assert_eq "$($ssh "docker run --rm multi:1 /bin/busybox cat /one")" "one" "seeded image after restart"
    # Never `producer | grep -q` under pipefail: grep's early exit fails the producer (SIGPIPE).
    assert_contains "$(docker logs "$(jq -r .container <<<"$out")" 2>&1)" "dockerd exited: restarted" \
        "init reports the restart"
    $ssh 'docker rmi derived:1 committed:1 >/dev/null && docker system prune -a -f >/dev/null'
    assert_eq "$($ssh docker images -q | wc -l)" 0 "prune removed every image"

    # Writes to the generation fail, even root's plain writes (a root that remounts the bind
    # mount writable is the open hole SECURITY.md describes).
    local rc=0 msg
    msg=$("$SLIPWAY" --state-dir "$state" shell "$id" --root -- touch /var/lib/slipway-seed/x 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "root wrote into the generation"
    assert_contains "$msg" "Read-only file system"

    "$SLIPWAY" --state-dir "$state" rm "$id" >/dev/null
    assert_no_leaks "$state"
    after=$(generation_digest "$root")
    assert_eq "$after" "$before" "generation unchanged after builds, prune and removal"
    assert_contains "$("$SLIPWAY" --state-dir "$state" cache verify)" "$gen unchanged"

    # A cold agent on request.
    out=$("$SLIPWAY" --state-dir "$state" run --no-cache --json 2>/dev/null)
    assert_eq "$(jq -r .generation <<<"$out")" "null" "cold agent has no generation"
    assert_eq "$($(jq -r .ssh_command <<<"$out") docker images -q | wc -l)" 0 "cold agent starts empty"
    "$SLIPWAY" --state-dir "$state" rm --all 2>/dev/null
    assert_no_leaks "$state"
}

test_cache_verify_and_gc() {
    local state=$IT_DIR/state-cache-gc first second out id rc=0 msg
    rm -rf "$state"
    it_cache_images
    first=$("$SLIPWAY" --state-dir "$state" cache build --image tiny:1 2>/dev/null)
    out=$("$SLIPWAY" --state-dir "$state" run --json 2>/dev/null)   # pins the first
    id=$(jq -r .id <<<"$out")
    second=$("$SLIPWAY" --state-dir "$state" cache build --image multi:1 2>/dev/null)
    [ "$first" != "$second" ] || fail "generation ids must differ"
    # The running agent keeps its generation: gc removes neither.
    "$SLIPWAY" --state-dir "$state" cache gc >/dev/null
    assert_eq "$("$SLIPWAY" --state-dir "$state" cache ls --json | jq length)" 2 "pinned generation kept"
    "$SLIPWAY" --state-dir "$state" rm "$id" >/dev/null
    assert_eq "$("$SLIPWAY" --state-dir "$state" cache gc)" "removed generation $first"
    assert_eq "$("$SLIPWAY" --state-dir "$state" cache ls --json | jq -r '.[].id')" "$second" "only current left"

    # Tampering with a generation is detected.
    echo tampered >"$state/cache/generations/$second/data-root/image/overlay2/repositories.json"
    msg=$("$SLIPWAY" --state-dir "$state" cache verify 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "verify missed a changed generation"
    assert_contains "$msg" "$second CHANGED"
}

# Hold the cache lock as slipway would, with flock(1), in the background until release_lock:
# hold_lock -s|-x LOCKFILE. Sets held_flag; the holder exits once the flag file is gone.
hold_lock() {
    command -v flock >/dev/null || fail "this test needs flock (util-linux)"
    held_flag=$IT_DIR/lock-hold.$$
    rm -f "$held_flag.held"
    touch "$held_flag"
    # A failed assertion ends the case's subshell: the holder must not outlive it.
    trap 'rm -f "$held_flag"' EXIT
    flock "$1" "$2" sh -c 'touch "$1.held"; while [ -e "$1" ]; do sleep 0.05; done' sh "$held_flag" \
        >/dev/null 2>&1 &
    holder_pid=$!
    local tries=0
    until [ -e "$held_flag.held" ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || fail "flock did not get $2"
        sleep 0.05
    done
}
release_lock() {
    rm -f "$held_flag"
    wait "$holder_pid"
    rm -f "$held_flag.held"
}

# gc against `run --cache OLD`: an agent holds <state>/cache/lock shared from choosing its
# generation until its container (whose label pins it) exists; gc holds it exclusive while it
# decides and removes. Each side is shown waiting for the other, played here by flock(1).
test_cache_gc_serialized_with_run() {
    local state=$IT_DIR/state-cache-lock first second lock pid out id waited
    rm -rf "$state"
    it_cache_images
    first=$("$SLIPWAY" --state-dir "$state" cache build --image tiny:1 2>/dev/null)
    second=$("$SLIPWAY" --state-dir "$state" cache build --image multi:1 2>/dev/null)
    lock=$state/cache/lock
    [ -f "$lock" ] || fail "no cache lock file after a build"

    # gc holds the lock: a run of the old generation waits before it even resolves it.
    hold_lock -x "$lock"
    "$SLIPWAY" --state-dir "$state" run --cache "$first" --json >"$IT_DIR/lock-run.json" 2>"$IT_DIR/lock-run.err" &
    pid=$!
    sleep 1.5
    kill -0 "$pid" 2>/dev/null || fail "run did not wait for the exclusive lock: $(cat "$IT_DIR/lock-run.err")"
    assert_eq "$(docker ps -aq --filter "label=io.slipway.state-dir=$state")" "" "no container while gc holds the lock"
    release_lock
    wait "$pid"
    out=$(cat "$IT_DIR/lock-run.json")
    id=$(jq -r .id <<<"$out")
    assert_eq "$(jq -r .generation <<<"$out")" "$first" "run seeded from the old generation"
    # Now its container's label pins the old generation: gc keeps it.
    assert_eq "$("$SLIPWAY" --state-dir "$state" cache gc)" "" "gc keeps a pinned generation"

    # A starting agent holds the lock shared: gc waits and removes nothing meanwhile.
    "$SLIPWAY" --state-dir "$state" rm "$id" >/dev/null
    hold_lock -s "$lock"
    "$SLIPWAY" --state-dir "$state" cache gc >"$IT_DIR/lock-gc.out" 2>&1 &
    pid=$!
    sleep 1.5
    kill -0 "$pid" 2>/dev/null || fail "gc did not wait for the shared lock: $(cat "$IT_DIR/lock-gc.out")"
    [ -d "$state/cache/generations/$first" ] || fail "gc removed a generation while the lock was held"
    waited=$(date +%s.%N)
    release_lock
    wait "$pid"
    it_log "gc finished $(echo "$(date +%s.%N) - $waited" | bc) s after the lock was released"
    assert_eq "$(cat "$IT_DIR/lock-gc.out")" "removed generation $first"
    assert_eq "$("$SLIPWAY" --state-dir "$state" cache ls --json | jq -r '.[].id')" "$second" "only current left"
    assert_no_leaks "$state"
}

test_cache_bad_input() {
    local state=$IT_DIR/state-cache-bad gen
    rm -rf "$state"
    it_cache_images
    gen=$("$SLIPWAY" --state-dir "$state" cache build --image tiny:1 2>/dev/null)
    expect_error "$state" "image nope/missing:1 not found" \
        "$SLIPWAY" --state-dir "$state" cache build --image nope/missing:1
    expect_error "$state" "invalid image reference" \
        "$SLIPWAY" --state-dir "$state" cache build --image 'Bad Ref!'
    expect_error "$state" "no images given" "$SLIPWAY" --state-dir "$state" cache build
    # A load that fails inside the seeder: nothing half-built survives, current is unchanged.
    echo "not a tar" >"$IT_DIR/not-a-tar.tar"
    expect_error "$state" "docker load failed" \
        "$SLIPWAY" --state-dir "$state" cache build --tar "$IT_DIR/not-a-tar.tar"
    assert_eq "$(ls "$state/cache/building")" "" "no half-built generation"
    assert_eq "$(docker ps -aq --filter label=io.slipway.cache-build)" "" "no seeder left"
    assert_eq "$("$SLIPWAY" --state-dir "$state" cache ls --json | jq -r '.[] | select(.current) | .id')" "$gen"
    expect_error "$state" "no cache generation nope" \
        "$SLIPWAY" --state-dir "$state" run --cache nope

    # Ctrl-C during a build: whichever step it hits, the build rolls back completely.
    local interrupted=$IT_DIR/state-cache-int rc=0
    rm -rf "$interrupted"
    "$SLIPWAY" --state-dir "$interrupted" cache build --image multi:1 2>"$IT_DIR/int.log" &
    local pid=$!
    sleep 0.5
    kill -INT "$pid"
    wait "$pid" || rc=$?
    [ "$rc" -ne 0 ] || fail "an interrupted build succeeded"
    it_log "$(grep -v '^slipway cache: ' "$IT_DIR/int.log")"
    assert_eq "$(ls "$interrupted/cache/building" 2>/dev/null)" "" "no half-built generation"
    assert_eq "$(docker ps -aq --filter label=io.slipway.cache-build)" "" "no seeder left"
    [ ! -e "$interrupted/cache/current" ] || fail "current set by an interrupted build"
}

test_cache_full_disk_and_overlay() {
    local small=$IT_DIR/small state img=$IT_DIR/small.img
    it_cache_images
    # A 48 MB file system for the state dir, and a 64 MB image that cannot fit in it.
    umount "$small" 2>/dev/null || true
    rm -rf "$small" "$img"
    mkdir -p "$small"
    truncate -s 48M "$img"
    mkfs.ext4 -q -F "$img"
    mount -o loop "$img" "$small"
    state=$small/state
    printf 'FROM tiny:1\nRUN ["/bin/busybox","sh","-c","/bin/busybox head -c 67108864 /dev/urandom > /big"]\n' |
        DOCKER_BUILDKIT=0 docker build -q -t big:1 - >/dev/null
    local rc=0 msg
    msg=$("$SLIPWAY" --state-dir "$state" cache build --image big:1 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "cache build succeeded on a full disk"
    assert_contains "$msg" "No space left on device"
    it_log "$(grep -v '^slipway cache: ' <<<"$msg")"
    assert_eq "$(ls "$state/cache/building")" "" "no half-built generation on a full disk"
    assert_eq "$(docker ps -aq --filter label=io.slipway.cache-build)" "" "no seeder left"
    [ ! -e "$state/cache/current" ] || fail "current points somewhere after a failed build"
    umount "$small"
    rm -f "$img"

    # A state dir on overlayfs: agents' overlay2 cannot work there; refused, nothing left.
    local ov=$IT_DIR/ov
    umount "$ov/merged" 2>/dev/null || true
    rm -rf "$ov"
    mkdir -p "$ov/lower" "$ov/upper" "$ov/work" "$ov/merged"
    mount -t overlay overlay -o "lowerdir=$ov/lower,upperdir=$ov/upper,workdir=$ov/work" "$ov/merged"
    expect_error "$ov/merged/state" "is on overlayfs" "$SLIPWAY" --state-dir "$ov/merged/state" run --no-cache
    umount "$ov/merged"
    rm -rf "$ov"
}

it_case "cache: build a generation, seeded agent, read-only, unchanged" test_cache_seeded_agent
it_case "cache: verify detects changes, gc keeps pinned and current" test_cache_verify_and_gc
it_case "cache: gc and run --cache OLD wait for each other (cache lock)" test_cache_gc_serialized_with_run
it_case "cache: bad input leaves nothing behind" test_cache_bad_input
it_case "cache: a full disk and an overlayfs state dir fail cleanly" test_cache_full_disk_and_overlay
