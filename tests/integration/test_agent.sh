# slipway run / ssh / nested docker / shell / ps / rm, and the error cases of issue 2.

test_agent_lifecycle() {
    local state=$IT_DIR/state-lifecycle out id ssh
    rm -rf "$state"
    out=$("$SLIPWAY" --state-dir "$state" run --label team=ci)
    id=$(sed -n 1p <<<"$out")
    ssh=$(sed -n 2p <<<"$out")
    it_log "agent $id: $ssh"
    [[ $id =~ ^[0-9a-f]{12}$ ]] || fail "bad agent id '$id'"
    assert_contains "$ssh" "StrictHostKeyChecking=yes"

    # The Jenkins SSH launcher aborts on ANY output from 'exit 0'.
    local silent
    silent=$($ssh -o BatchMode=yes exit 0 2>&1)
    assert_eq "$silent" "" "ssh exit 0 must print nothing"

    # A wrong host key must be refused: the known_hosts entry is really checked.
    local bad_known=$IT_DIR/bad_known_hosts port
    port=$("$SLIPWAY" --state-dir "$state" ps --json | jq -r ".[] | select(.id==\"$id\") | .ssh_port")
    rm -f "$IT_DIR/other" "$IT_DIR/other.pub"
    ssh-keygen -q -t ed25519 -N '' -f "$IT_DIR/other"
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$IT_DIR/other.pub")" >"$bad_known"
    if ${ssh/UserKnownHostsFile=*known_hosts/UserKnownHostsFile=$bad_known} -o BatchMode=yes true 2>/dev/null; then
        fail "ssh accepted a wrong host key"
    fi

    assert_eq "$($ssh docker info --format '{{.Driver}}')" overlay2 "inner storage driver"
    it_tiny_image_tar | $ssh docker import - tiny:1 >/dev/null
    assert_eq "$($ssh docker run --rm tiny:1 /bin/busybox echo nested-ok)" "nested-ok"
    $ssh 'mkdir -p ctx && printf "FROM tiny:1\nRUN [\"/bin/busybox\", \"touch\", \"/built\"]\n" > ctx/Dockerfile && docker build -q -t built:1 ctx' >/dev/null
    $ssh docker run --rm built:1 /bin/busybox ls /built >/dev/null

    # Debug shell: as jenkins by default, as root with --root, exit status passed through.
    assert_contains "$("$SLIPWAY" --state-dir "$state" shell "$id" -- id)" "uid=1000(jenkins)"
    assert_contains "$("$SLIPWAY" --state-dir "$state" shell "$id" --root -- id)" "uid=0(root)"
    # Not even root in the agent holds the capabilities that reach into the host kernel
    # (CAPS_NEVER_FOR_AGENTS): DAC_READ_SEARCH (bit 2, open_by_handle_at), SYS_MODULE (16),
    # SYS_RAWIO (17), SYS_BOOT (22), SYS_TIME (25).
    local bounding
    # (docker exec, not slipway shell: the audit log's count of openings is checked below.)
    bounding=$(docker exec "$("$SLIPWAY" --state-dir "$state" ps --json | jq -r ".[] | select(.id==\"$id\") | .container")" \
        grep CapBnd /proc/1/status | awk '{print $2}')
    local bit
    for bit in 2 16 17 22 25; do
        [ $(( 0x$bounding >> bit & 1 )) = 0 ] || fail "capability $bit in the agent's bounding set ($bounding)"
    done
    [ $(( 0x$bounding >> 21 & 1 )) = 1 ] || fail "CAP_SYS_ADMIN missing: nested dockerd needs it ($bounding)"
    local rc=0
    "$SLIPWAY" --state-dir "$state" shell "$id" -- sh -c 'echo to-stderr >&2; exit 7' 2>"$IT_DIR/stderr" || rc=$?
    assert_eq "$rc" 7 "shell exit status"
    assert_eq "$(cat "$IT_DIR/stderr")" "to-stderr" "shell stderr"
    assert_eq "$(echo piped | "$SLIPWAY" --state-dir "$state" shell "$id" -- cat)" "piped" "shell stdin"
    local audit=$state/audit.log
    assert_eq "$(stat -c %a "$audit")" 600 "audit log mode"
    assert_eq "$(grep -c '"event":"shell-open"' "$audit")" 4 "audit openings"
    assert_eq "$(grep -c '"event":"shell-close"' "$audit")" 4 "audit closings"
    jq -e -s 'any(.[]; .event == "shell-close" and .exit == 7)' "$audit" >/dev/null ||
        fail "audit lacks the exit status"
    jq -e -s '[.[] | select(.event=="shell-open")] | length == 4 and
              all(.agent == "'"$id"'" and .user and .time and (.command | length > 0))' "$audit" >/dev/null

    assert_contains "$("$SLIPWAY" --state-dir "$state" ps)" "$id  slipway-$id" "ps lists the agent"
    assert_eq "$("$SLIPWAY" --state-dir "$state" ps --json | jq -r '.[0].state')" running "state"
    assert_eq "$("$SLIPWAY" --state-dir "$state" ps --json | jq -r '.[0].labels.team')" "ci" "label"

    # A clean stop with a build still running inside: the init stops sshd and dockerd (which
    # stops its containers) within its stop timeout, without the final SIGKILL sweep.
    $ssh docker run -d --name busy tiny:1 /bin/busybox sleep 1000 >/dev/null
    local container
    container=$("$SLIPWAY" --state-dir "$state" ps --json | jq -r '.[0].container')
    docker stop "$container" >/dev/null
    assert_eq "$(docker inspect -f '{{.State.ExitCode}}' "$container")" 0 "agent exit code after stop"
    local logs
    logs=$(docker logs "$container" 2>&1)
    assert_contains "$logs" "slipway-init: stopped (exit 0)"
    case $logs in *"killing what is left"*) fail "stop needed the SIGKILL sweep" ;; esac

    "$SLIPWAY" --state-dir "$state" rm "$id" >/dev/null
    assert_no_leaks "$state"
    assert_eq "$("$SLIPWAY" --state-dir "$state" ps --json)" "[]" "ps after rm"
}

test_agent_with_pubkey_and_rm_all() {
    local state=$IT_DIR/state-pubkey key=$IT_DIR/user_key out ssh port
    rm -rf "$state" "$key" "$key.pub"
    ssh-keygen -q -t ed25519 -N '' -f "$key"
    out=$("$SLIPWAY" --state-dir "$state" run --pubkey "$key.pub" --name it-pubkey --json)
    port=$(jq -r .ssh_port <<<"$out")
    assert_eq "$(jq -r .client_key <<<"$out")" "null" "no client key generated with --pubkey"
    local known
    known=$(jq -r .ssh_command <<<"$out" | sed 's/.*UserKnownHostsFile=\([^ ]*\).*/\1/')
    assert_eq "$(ssh -i "$key" -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile="$known" \
        -o StrictHostKeyChecking=yes -p "$port" jenkins@127.0.0.1 whoami)" "jenkins"
    # A second agent, its dockerd given an extra argument; then rm --all removes both.
    out=$("$SLIPWAY" --state-dir "$state" run --json --dockerd-arg --label=slipway-it=yes 2>/dev/null)
    assert_contains "$($(jq -r .ssh_command <<<"$out") docker info --format '{{.Labels}}')" "slipway-it=yes"
    assert_eq "$("$SLIPWAY" --state-dir "$state" ps --json | jq length)" 2 "two agents"
    "$SLIPWAY" --state-dir "$state" rm --all 2>/dev/null
    assert_no_leaks "$state"
}

# Each error: one clear line, non-zero exit, nothing left behind. Progress lines
# ("slipway cache: ...") are not part of the error.
expect_error() {
    local state=$1 pattern=$2 out rc=0
    shift 2
    out=$("$@" 2>&1) || rc=$?
    out=$(grep -v '^slipway cache: ' <<<"$out" || true)
    [ "$rc" -ne 0 ] || fail "expected failure from: $*"
    assert_eq "$(wc -l <<<"$out")" 1 "error is one line: $out"
    assert_contains "$out" "$pattern"
    it_log "$out"
    assert_no_leaks "$state"
}

test_agent_errors() {
    local state=$IT_DIR/state-errors
    rm -rf "$state"
    expect_error "$state" "/nonexistent/docker.sock" \
        "$SLIPWAY" --state-dir "$state" --docker-host unix:///nonexistent/docker.sock run
    expect_error "$state" "unsupported docker host" \
        "$SLIPWAY" --state-dir "$state" --docker-host tcp://127.0.0.1:1 run
    expect_error "$state" "agent image nope/missing:1 not found" \
        "$SLIPWAY" --state-dir "$state" run --image nope/missing:1
    expect_error "$state" "must run as root" \
        setpriv --reuid=65534 --regid=65534 --clear-groups "$SLIPWAY" --state-dir "$state" run
    echo "not a key" >"$IT_DIR/bad.pub"
    expect_error "$state" "$IT_DIR/bad.pub: line 1" \
        "$SLIPWAY" --state-dir "$state" run --pubkey "$IT_DIR/bad.pub"
    expect_error "$state" "/nonexistent.pub" \
        "$SLIPWAY" --state-dir "$state" run --pubkey /nonexistent.pub
    expect_error "$state" "invalid label" \
        "$SLIPWAY" --state-dir "$state" run --label io.slipway.agent=x
    expect_error "$state" "invalid dockerd argument" \
        "$SLIPWAY" --state-dir "$state" run --dockerd-arg '--label a=b c'
    expect_error "$state" "invalid agent name" \
        "$SLIPWAY" --state-dir "$state" run --name 'a/b'
    expect_error "$state" "no agent \"nope\"" \
        "$SLIPWAY" --state-dir "$state" shell nope -- true
    # A failure after the container exists rolls everything back: the agent's init dies at
    # once because the image's entrypoint is replaced by a failing one.
    docker build -q -t slipway/broken:1 - >/dev/null <<<"FROM slipway/agent:latest
ENTRYPOINT [\"/bin/sh\", \"-c\", \"echo slipway-init: simulated failure >&2; exit 3\"]"
    expect_error "$state" "simulated failure" \
        "$SLIPWAY" --state-dir "$state" run --image slipway/broken:1
    docker rmi slipway/broken:1 >/dev/null
}

# An agent whose sshd answers inside but not where its client connects (here: SYNs to
# 127.0.0.1 dropped in the suite's own network namespace, as a host firewall or another
# dockerd's nat rules would) fails within seconds, says where and why, and leaves nothing.
test_agent_unreachable_fails_fast() {
    local state=$IT_DIR/state-unreachable out t0 elapsed
    [ -n "${SLIPWAY_NETNS:-}" ] || fail "only in the suite's own network namespace"
    rm -rf "$state"
    iptables -t raw -I OUTPUT -d 127.0.0.1 -p tcp --syn -j DROP
    trap 'iptables -t raw -D OUTPUT -d 127.0.0.1 -p tcp --syn -j DROP' EXIT
    t0=$(date +%s.%N)
    if out=$("$SLIPWAY" --state-dir "$state" run --no-cache 2>&1); then
        fail "run succeeded though nothing reaches the agent: $out"
    fi
    elapsed=$(echo "$(date +%s.%N) - $t0" | bc)
    assert_contains "$out" "is ready but unreachable: ssh 127.0.0.1 port"
    assert_contains "$out" "no answer in 4000 ms: packets are dropped on the way"
    it_log "unreachable agent reported after $elapsed s in all (4 s of them probing)"
    assert_no_leaks "$state"
}

it_case "agent lifecycle: run, ssh, nested docker, shell, rm" test_agent_lifecycle
it_case "agent with --pubkey, rm --all" test_agent_with_pubkey_and_rm_all
it_case "agent errors leave nothing behind" test_agent_errors
it_case "agent ready inside but unreachable outside fails fast" test_agent_unreachable_fails_fast
