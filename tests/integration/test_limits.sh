# Limits per agent (issue 6 item 4): memory, CPU, pids and disk, attacked by the jenkins user
# over SSH in live agents; and nothing of a disk-limited agent may outlive it on any path.
# Every attack attempt prints a row "attack | outcome" (the lead folds them into the attack
# table of test_attack.sh).

LIMITS_ROWS=$IT_DIR/limits-rows

limits_row() {
    printf '    ATTACK %-52s | %s\n' "$1" "$2" >&2
    printf '%s|%s\n' "$1" "$2" >>"$LIMITS_ROWS"
}

# The cgroup file of a container's controller, on cgroup v1 (hybrid) or v2.
cgroup_file() {
    local container=$1 controller=$2 file=$3 pid path
    pid=$(docker inspect -f '{{.State.Pid}}' "$container")
    path=$(awk -F: -v c="$controller" '$2 ~ "(^|,)" c "(,|$)" {print $3}' "/proc/$pid/cgroup")
    if [ -n "$path" ]; then
        cat "/sys/fs/cgroup/$controller$path/$file"
    else
        path=$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup")
        cat "/sys/fs/cgroup$path/$file"
    fi
}

# Loop devices backed by an image under state (none may outlive their agent).
loops_of() {
    losetup -a 2>/dev/null | grep -F "$1/" || true
}

# assert_no_leaks plus the disk's own: loop devices (their autoclear runs asynchronously in
# the kernel after the unmount: give it a moment).
assert_no_disk_leaks() {
    local state=$1 tries=0
    assert_no_leaks "$state"
    while [ -n "$(loops_of "$state")" ] && [ "$tries" -lt 50 ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
    [ -z "$(loops_of "$state")" ] || fail "loop devices left: $(loops_of "$state")"
}

allocated_bytes() { echo $(($(stat -c '%b * %B' "$1"))); }

test_limits_disk() {
    local state=$IT_DIR/state-limits-disk a b ssh_a ssh_b id_a id_b out rc free_before free_after img
    rm -rf "$state"
    a=$("$SLIPWAY" --state-dir "$state" run --json --no-cache --disk-limit 512M 2>/dev/null)
    b=$("$SLIPWAY" --state-dir "$state" run --json --no-cache --disk-limit 512M 2>/dev/null)
    ssh_a=$(jq -r .ssh_command <<<"$a")
    ssh_b=$(jq -r .ssh_command <<<"$b")
    id_a=$(jq -r .id <<<"$a")
    id_b=$(jq -r .id <<<"$b")
    it_log "agents $id_a and $id_b, 512M disks (made in $(jq -r '.disk_seconds * 1000 | floor' <<<"$a") ms)"
    img=$state/agents/$id_a/disk.img
    # What the build sees: its own 512M file system under the data root, home and /tmp.
    out=$($ssh_a df -k --output=size,target /var/lib/docker /home/jenkins/agent /tmp 2>/dev/null | tail -n +2 || true)
    [ -z "$out" ] && out=$($ssh_a df -k /home/jenkins/agent | tail -1)
    it_log "inside: $(tr '\n' ' ' <<<"$out")"
    assert_eq "$($ssh_a stat -c %U /home/jenkins/agent)" jenkins "workspace owner"
    assert_eq "$($ssh_a stat -c %a /tmp)" 1777 "/tmp mode"
    assert_eq "$($ssh_a docker info --format '{{.Driver}}')" overlay2 "inner storage driver on the agent's disk"
    assert_eq "$($ssh_a -o BatchMode=yes exit 0 2>&1)" "" "ssh exit 0 must print nothing"
    assert_eq "$("$SLIPWAY" --state-dir "$state" inspect --json "$id_a" | jq -r '.disk.mounted')" true "inspect: disk"
    it_tiny_image_tar | $ssh_a docker import - tiny:1 >/dev/null
    it_tiny_image_tar | $ssh_b docker import - tiny:1 >/dev/null

    free_before=$(df -k --output=avail "$state" | tail -1)
    # 1: the workspace, as the build's own shell would.
    rc=0
    out=$($ssh_a 'dd if=/dev/zero of=/home/jenkins/agent/fill bs=1M count=1024 2>&1') || rc=$?
    [ "$rc" -ne 0 ] || fail "filling the workspace past 512M succeeded"
    assert_contains "$out" "No space left on device"
    limits_row "fill workspace past disk-limit (dd 1G, limit 512M)" "ENOSPC in the agent: $(grep -o 'No space left on device' <<<"$out" | head -1)"
    $ssh_a rm -f /home/jenkins/agent/fill
    # 2: /tmp, which would otherwise be the container's writable layer on the host's disk.
    rc=0
    out=$($ssh_a 'dd if=/dev/zero of=/tmp/fill bs=1M count=1024 2>&1') || rc=$?
    [ "$rc" -ne 0 ] || fail "filling /tmp past 512M succeeded"
    assert_contains "$out" "No space left on device"
    limits_row "fill /tmp past disk-limit" "ENOSPC in the agent"
    $ssh_a rm -f /tmp/fill
    # 3: a nested container's writable layer: the inner dockerd's data root.
    rc=0
    out=$($ssh_a docker run --rm tiny:1 /bin/busybox dd if=/dev/zero of=/fill bs=1M count=1024 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "filling a nested container past 512M succeeded"
    assert_contains "$out" "No space left on device"
    limits_row "fill inner container layer past disk-limit" "ENOSPC in the nested container"
    # The host paid at most the limit for all of it.
    free_after=$(df -k --output=avail "$state" | tail -1)
    [ "$(allocated_bytes "$img")" -le $((512 * 1024 * 1024)) ] ||
        fail "the disk image takes $(allocated_bytes "$img") bytes on the host, more than its limit"
    it_log "host: image allocates $(($(allocated_bytes "$img") / 1048576)) MB; host free space $((free_before / 1024)) MB before, $((free_after / 1024)) MB after (other users share it)"
    limits_row "host disk after agent filled its disk" "image allocates $(($(allocated_bytes "$img") / 1048576))M <= 512M limit"
    # The full agent still answers, and frees space like any disk.
    $ssh_a docker info --format '{{.Driver}}' >/dev/null
    # The neighbour never noticed.
    assert_eq "$($ssh_b docker run --rm tiny:1 /bin/busybox echo neighbour-ok)" neighbour-ok
    $ssh_b 'dd if=/dev/zero of=/home/jenkins/agent/f bs=1M count=100 2>/dev/null && rm /home/jenkins/agent/f'
    limits_row "neighbour agent while the other is full" "runs containers, writes 100M: unaffected"

    # Destroy: slipway rm leaves no loop device, mount, image or directory.
    "$SLIPWAY" --state-dir "$state" rm "$id_a" >/dev/null 2>&1
    [ ! -e "$img" ] || fail "disk image left: $img"
    "$SLIPWAY" --state-dir "$state" rm "$id_b" >/dev/null 2>&1
    assert_no_disk_leaks "$state"
}

test_limits_pids_memory_cpu() {
    local state=$IT_DIR/state-limits-pids out ssh id cid rc pids_max mem_max
    rm -rf "$state"
    out=$("$SLIPWAY" --state-dir "$state" run --json --no-cache --pids-limit 300 --memory 512M --cpus 0.5 2>/dev/null)
    ssh=$(jq -r .ssh_command <<<"$out")
    id=$(jq -r .id <<<"$out")
    cid=$(jq -r .container <<<"$out")
    pids_max=$(cgroup_file "$cid" pids pids.max)
    assert_eq "$pids_max" 300 "pids.max of the agent's cgroup"
    mem_max=$(cgroup_file "$cid" memory memory.limit_in_bytes 2>/dev/null || cgroup_file "$cid" memory memory.max)
    assert_eq "$mem_max" $((512 * 1024 * 1024)) "memory limit of the agent's cgroup"
    out=$(cgroup_file "$cid" cpu cpu.cfs_quota_us 2>/dev/null || cgroup_file "$cid" cpu cpu.max)
    assert_contains "$out" 50000 "cpu quota: half of a 100000 us period"
    it_log "cgroup: pids.max $pids_max, memory $mem_max, cpu quota $out"
    local inspect
    inspect=$("$SLIPWAY" --state-dir "$state" inspect --json "$id")
    assert_eq "$(jq -c .limits <<<"$inspect")" '{"cpus":0.5,"memory_bytes":536870912,"pids_limit":300}' "inspect limits"

    # jenkins cannot raise its own limits through the cgroup files the init mounted.
    rc=0
    out=$($ssh 'for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max; do
                    [ ! -e "$f" ] || echo max > "$f" || exit 1; done' 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "jenkins wrote its pids.max"
    assert_contains "$out" "Permission denied"
    assert_eq "$(cgroup_file "$cid" pids pids.max)" 300 "pids.max after jenkins tried to raise it"
    limits_row "jenkins raises its own pids.max" "refused: Permission denied"

    # Memory: a build that allocates 1G (no swap here, and Docker caps swap too) is killed
    # alone; the agent goes on.
    rc=0
    $ssh 'head -c 1200M /dev/zero | tail > /dev/null' 2>/dev/null || rc=$?
    [ "$rc" -ne 0 ] || fail "allocating 1.2G under a 512M limit succeeded"
    limits_row "allocate 1.2G under memory 512M" "killed by the agent's OOM killer (exit $rc)"
    assert_eq "$($ssh echo alive)" alive "agent alive after the OOM kill"

    # Fork bomb, as jenkins: it stops at the agent's pids limit. ssh -f: it never ends by
    # itself; the agent's removal ends it.
    $ssh -f 'b() { b | b & }; b' >/dev/null 2>&1 || true
    local current=0 tries=0
    while [ "$tries" -lt 100 ]; do
        current=$(cgroup_file "$cid" pids pids.current)
        [ "$current" -lt 290 ] || break
        sleep 0.2
        tries=$((tries + 1))
    done
    sleep 2
    current=$(cgroup_file "$cid" pids pids.current)
    [ "$current" -le 300 ] || fail "the agent runs $current processes, beyond its pids limit"
    [ "$current" -ge 250 ] || fail "the fork bomb reached only $current processes (did it run?)"
    local events
    events=$(cgroup_file "$cid" pids pids.events 2>/dev/null || echo "max ?")
    it_log "fork bomb: pids.current $current of 300 ($events)"
    limits_row "fork bomb as jenkins (pids-limit 300)" "stopped at the limit: $current processes, fork fails beyond"
    # The host is fine and the agent's removal ends the bomb.
    "$SLIPWAY" --state-dir "$state" rm "$id" >/dev/null 2>&1
    assert_no_disk_leaks "$state"
}

# Every way an agent with a disk ends leaves nothing: a failed launch after the disk was
# mounted, Ctrl-C while starting, a container removed behind slipway's back (then ps shows
# the orphan and rm removes it).
test_limits_disk_leaks() {
    local state=$IT_DIR/state-limits-leaks pid out id tries
    rm -rf "$state"
    # Failed launch half-way: the disk is mounted and seeded, then the agent's init dies.
    docker build -q -t slipway/broken:1 - >/dev/null <<<"FROM slipway/agent:latest
ENTRYPOINT [\"/bin/sh\", \"-c\", \"echo slipway-init: simulated failure >&2; exit 3\"]"
    expect_error "$state" "simulated failure" \
        "$SLIPWAY" --state-dir "$state" run --disk-limit 1G --image slipway/broken:1
    docker rmi slipway/broken:1 >/dev/null
    assert_no_disk_leaks "$state"
    limits_row "launch fails after the disk is mounted" "rolled back: no mount, loop, image or directory"

    # Seeding that does not fit: copy puts the cache's 300M of bytes into a 256M disk (and fails
    # with a clear error, leaving nothing); layer-link copies only metadata and fits.
    it_cache_images
    printf 'FROM tiny:1\nRUN ["/bin/busybox","dd","if=/dev/zero","of=/big","bs=1M","count=300"]\n' |
        DOCKER_BUILDKIT=0 docker build -q -t big:1 - >/dev/null
    "$SLIPWAY" --state-dir "$state" cache build --image big:1 >/dev/null 2>&1
    expect_error "$state" "the cache generation does not fit in the agent's disk limit" \
        "$SLIPWAY" --state-dir "$state" run --seed-strategy copy --disk-limit 256M
    assert_no_disk_leaks "$state"
    limits_row "copy-seed a 300M cache into disk-limit 256M" "refused: does not fit; nothing left"
    out=$("$SLIPWAY" --state-dir "$state" run --json --seed-strategy layer-link --disk-limit 256M 2>/dev/null)
    assert_eq "$($(jq -r .ssh_command <<<"$out") docker run --rm big:1 /bin/busybox wc -c /big)" "314572800 /big" \
        "a 300M image runs from a layer-linked 256M disk"
    "$SLIPWAY" --state-dir "$state" rm "$(jq -r .id <<<"$out")" >/dev/null 2>&1
    assert_no_disk_leaks "$state"
    "$SLIPWAY" --state-dir "$state" cache gc >/dev/null 2>&1 || true
    docker rmi big:1 >/dev/null

    # Ctrl-C once the disk is mounted.
    "$SLIPWAY" --state-dir "$state" run --disk-limit 1G >/dev/null 2>"$IT_DIR/limits-int.log" &
    pid=$!
    tries=0
    until grep -qF "$state/agents/" /proc/self/mountinfo || [ "$tries" -ge 200 ]; do
        sleep 0.05
        tries=$((tries + 1))
    done
    grep -qF "$state/agents/" /proc/self/mountinfo || fail "the disk was never mounted"
    kill -INT "$pid"
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" -ne 0 ] || fail "slipway run exited 0 after SIGINT"
    it_log "interrupted: $(tail -1 "$IT_DIR/limits-int.log")"
    assert_no_disk_leaks "$state"
    limits_row "Ctrl-C while the agent starts" "rolled back: no mount, loop, image or directory"

    # The container removed behind slipway's back: the directory and its mounted disk are an
    # orphan that ps shows and rm removes.
    out=$("$SLIPWAY" --state-dir "$state" run --json --disk-limit 1G 2>/dev/null)
    id=$(jq -r .id <<<"$out")
    docker rm -f "$(jq -r .container <<<"$out")" >/dev/null
    assert_eq "$("$SLIPWAY" --state-dir "$state" ps --json | jq -r '.[0].state')" orphaned "ps: orphan"
    "$SLIPWAY" --state-dir "$state" rm "$id" >/dev/null 2>&1
    assert_no_disk_leaks "$state"
    limits_row "agent's container lost, its disk left mounted" "ps shows it orphaned; rm unmounts and removes it"
}

test_limits_errors() {
    local state=$IT_DIR/state-limits-errors conf=$IT_DIR/limits.conf
    rm -rf "$state"
    expect_error "$state" "--disk-limit: expected a size like 512M or 4G" \
        "$SLIPWAY" --state-dir "$state" run --disk-limit 20Q
    expect_error "$state" "--disk-limit: \"100M\" is less than the minimum of 256M" \
        "$SLIPWAY" --state-dir "$state" run --disk-limit 100M
    expect_error "$state" "--disk-limit: \"17T\" is more than the maximum of 16T" \
        "$SLIPWAY" --state-dir "$state" run --disk-limit 17T
    expect_error "$state" "--disk-limit: seed-strategy reflink cannot seed" \
        "$SLIPWAY" --state-dir "$state" run --disk-limit 1G --seed-strategy reflink
    expect_error "$state" "--disk-limit: seed-strategy btrfs-snapshot cannot seed" \
        "$SLIPWAY" --state-dir "$state" run --seed-strategy btrfs-snapshot --disk-limit 1G
    expect_error "$state" "--pids-limit: expected 1-4194304 processes" \
        "$SLIPWAY" --state-dir "$state" run --pids-limit 0
    expect_error "$state" "--memory: \"1K\" is less than Docker's minimum of 6M" \
        "$SLIPWAY" --state-dir "$state" run --memory 1K
    expect_error "$state" "--cpus: expected a number of CPUs" \
        "$SLIPWAY" --state-dir "$state" run --cpus 0
    # slipway.conf: file and line.
    ssh-keygen -q -t ed25519 -N '' -f "$IT_DIR/limits-key" <<<y >/dev/null 2>&1 || true
    printf 'token\n' >"$IT_DIR/limits-token"
    chmod 600 "$IT_DIR/limits-token"
    cat >"$conf" <<EOF
[jenkins]
url = http://127.0.0.1:1/
user = slipway
token-file = $IT_DIR/limits-token
credentials-id = x
agent-public-key = $IT_DIR/limits-key.pub
[template dind]
labels = dind
disk-limit = 2X
EOF
    expect_error "$state" "$conf:9: [template dind] disk-limit: expected a size like 512M or 4G" \
        "$SLIPWAY" serve --check --config "$conf"
    sed -i 's/^disk-limit = .*/seed-strategy = btrfs-snapshot\ndisk-limit = 20G/' "$conf"
    expect_error "$state" "$conf:10: [template dind] disk-limit: seed-strategy btrfs-snapshot cannot seed" \
        "$SLIPWAY" serve --check --config "$conf"
    limits_row "disk-limit 2X / with btrfs-snapshot in slipway.conf" "refused: file:line and why"
    # doctor checks what disk-limit needs on this host (Jenkins is unreachable: ignore that).
    sed -i 's/^seed-strategy = .*/seed-strategy = layer-link/' "$conf"
    printf '[host]\nstate-dir = %s\ncapacity = 2\n' "$state" >>"$conf"
    out=$("$SLIPWAY" doctor --config "$conf" --json 2>/dev/null || true)
    assert_eq "$(jq -r '.[] | select(.check == "disk-limit") | .status' <<<"$out")" PASS \
        "doctor disk-limit ($(jq -c '.[] | select(.check == "disk-limit")' <<<"$out"))"
}

# Egress allowlist: two HTTP servers on the host's end of the test bridge (what an agent
# reaches first), one of them allowed. Refused connections get a TCP reset at once.
test_limits_egress() {
    local state=$IT_DIR/state-limits-egress gw=${SLIPWAY_TEST_BIP%/*} out ssh id allowed=18081 denied=18082 pids=() rc
    rm -rf "$state"
    for port in $allowed $denied; do
        mkdir -p "$IT_DIR/www-$port" && echo "port $port" >"$IT_DIR/www-$port/index.html"
        /usr/bin/python3 -m http.server --bind "$gw" --directory "$IT_DIR/www-$port" "$port" >/dev/null 2>&1 &
        pids+=($!)
    done
    trap 'kill ${pids[*]} 2>/dev/null || true' EXIT
    for port in $allowed $denied; do
        local tries=0
        until curl -fsS "http://$gw:$port/" >/dev/null 2>&1 || [ "$tries" -ge 50 ]; do sleep 0.1; tries=$((tries + 1)); done
        assert_eq "$(curl -fsS "http://$gw:$port/")" "port $port" "our server on $gw:$port"
    done
    # Without an allowlist both are reachable: the refusals below are the rules' doing.
    out=$("$SLIPWAY" --state-dir "$state" run --json --no-cache 2>/dev/null)
    ssh=$(jq -r .ssh_command <<<"$out")
    $ssh "exec 3<>/dev/tcp/$gw/$denied" || fail "$gw:$denied unreachable even without an allowlist"
    "$SLIPWAY" --state-dir "$state" rm "$(jq -r .id <<<"$out")" >/dev/null 2>&1

    out=$("$SLIPWAY" --state-dir "$state" run --json --no-cache --egress-allow "$gw:$allowed" 2>/dev/null)
    ssh=$(jq -r .ssh_command <<<"$out")
    id=$(jq -r .id <<<"$out")
    $ssh "exec 3<>/dev/tcp/$gw/$allowed" || fail "the allowed destination is unreachable"
    rc=0
    out=$($ssh "timeout 10 bash -c 'exec 3<>/dev/tcp/$gw/$denied'" 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "jenkins reached $gw:$denied, which is not allowed"
    limits_row "agent connects to a destination not in egress-allow" "refused: $(tail -1 <<<"$out" | sed 's/.*: //')"
    # The agent's nested containers, forwarded by its dockerd.
    it_tiny_image_tar | $ssh docker import - tiny:1 >/dev/null
    assert_eq "$($ssh docker run --rm tiny:1 /bin/busybox wget -q -O - "http://$gw:$allowed/")" "port $allowed" \
        "a nested container reaches the allowed destination"
    rc=0
    out=$($ssh docker run --rm tiny:1 /bin/busybox wget -q -O - "http://$gw:$denied/" 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "a nested container reached $gw:$denied, which is not allowed"
    limits_row "nested container connects outside egress-allow" "refused: $(tail -1 <<<"$out")"
    # jenkins cannot remove the rules.
    rc=0
    out=$($ssh /usr/sbin/iptables -F SLIPWAY-EGRESS 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "jenkins flushed the egress rules"
    assert_contains "$out" "Permission denied"
    limits_row "jenkins flushes the egress rules" "refused: $(grep -o 'Permission denied.*' <<<"$out" | head -1)"
    "$SLIPWAY" --state-dir "$state" rm "$id" >/dev/null 2>&1
    assert_no_disk_leaks "$state"
    expect_error "$state" "--egress-allow: \"example.com\" is not an IPv4 address" \
        "$SLIPWAY" --state-dir "$state" run --egress-allow example.com:443
}

rm -f "$LIMITS_ROWS"
it_case "limits: disk-limit; filling it fails alone, host and neighbour untouched" test_limits_disk
it_case "limits: pids (fork bomb), memory, cpu in a live agent" test_limits_pids_memory_cpu
it_case "limits: no disk leaks on failed launch, Ctrl-C, lost container" test_limits_disk_leaks
it_case "limits: bad limit values are clear errors" test_limits_errors
it_case "limits: egress allowlist for the agent and its containers" test_limits_egress
if [ -s "$LIMITS_ROWS" ]; then
    printf '\nlimits attack table:\n' >&2
    printf '  %-56s | %s\n' "attempt" "outcome" >&2
    while IFS='|' read -r attempt outcome; do
        printf '  %-56s | %s\n' "$attempt" "$outcome" >&2
    done <"$LIMITS_ROWS"
fi
