# Build sessions are untrusted (issue 6): what runs over SSH is confined, agents cannot reach
# each other, and secrets stay out of logs, argv, inspect output and environments. (Docker
# credentials in two agents at once are rows of the attack suite, test_attack.sh.)

# session_agent STATE [run args...]: starts an agent; sets AGENT_ID, AGENT_SSH, AGENT_CONTAINER.
session_agent() {
    local state=$1 out
    shift
    out=$("$SLIPWAY" --state-dir "$state" run --json "$@") || return 1
    AGENT_ID=$(jq -r .id <<<"$out")
    AGENT_SSH=$(jq -r .ssh_command <<<"$out")
    AGENT_CONTAINER=$(jq -r .container <<<"$out")
}

test_session_confined() {
    local state=$IT_DIR/state-session probe=$SLIPWAY_BUILD/tests/session_probe out victim status
    rm -rf "$state"
    [ -x "$probe" ] || fail "$probe missing: run 'make integration'"
    session_agent "$state"
    $AGENT_SSH 'cat > probe && chmod +x probe' <"$probe"
    # A process of the same user that the attacking session did not start.
    victim=$($AGENT_SSH 'nohup sleep 300 >/dev/null 2>&1 & echo $!')

    # The probe finds holes where they exist: a jenkins process started by an operator's shell
    # (not through sshd, so unconfined, in the same namespaces) may create user namespaces,
    # use the keyring and attach ptrace to its own user's processes.
    out=$("$SLIPWAY" --state-dir "$state" shell "$AGENT_ID" -T -- /home/jenkins/probe "$victim") || true
    assert_contains "$out" "unshare(CLONE_NEWUSER)       ALLOWED" "control run (unconfined)"
    assert_contains "$out" "ptrace attach                ALLOWED" "control run (unconfined)"

    # The same probe over SSH, as a build runs: every attempt denied.
    local rc=0
    out=$($AGENT_SSH ./probe "$victim") || rc=$?
    printf '%s\n' "$out" | sed 's/^/      /' >&2
    assert_eq "$rc" 0 "attempts allowed in a build session: $(grep ALLOWED <<<"$out" || true)"
    assert_eq "$(grep -c ' denied ' <<<"$out")" 16 "attempts denied"

    # The session's own view: capabilities for sshd only, no_new_privs, a seccomp filter.
    status=$($AGENT_SSH cat /proc/self/status)
    assert_contains "$status" "NoNewPrivs:	1"
    assert_contains "$status" "Seccomp:	2"
    local bounding
    bounding=$(awk '/^CapBnd/ {print $2}' <<<"$status")
    [ $(( 0x$bounding >> 21 & 1 )) = 0 ] || fail "CAP_SYS_ADMIN in the session's bounding set ($bounding)"
    [ $(( 0x$bounding >> 12 & 1 )) = 0 ] || fail "CAP_NET_ADMIN in the session's bounding set ($bounding)"
    [ $(( 0x$bounding & ~0x200404fb )) = 0 ] || fail "session bounding set $bounding exceeds sshd's needs (200404fb)"
    # setuid binaries cannot raise a session again.
    local su_out
    su_out=$($AGENT_SSH 'su -c true root </dev/null >/dev/null 2>&1; echo "su exit $?"')
    [[ $su_out =~ ^su\ exit\ [1-9][0-9]*$ ]] || fail "su in a build session: $su_out"
    # The DNS relay (outside the namespace, handling what builds send) is confined: the same
    # filter, no_new_privs, host uid 65534, no capability (its bounding set keeps only the
    # SETGID and SETUID it used to become nobody).
    local relay_pid
    relay_pid=$(docker logs "$AGENT_CONTAINER" 2>&1 | sed -n 's/.*dns relay: pid \([0-9]*\).*/\1/p' | tail -n1)
    [ -n "$relay_pid" ] || fail "no dns relay pid in the agent's log"
    status=$(docker exec "$AGENT_CONTAINER" cat "/proc/$relay_pid/status")
    assert_contains "$status" "NoNewPrivs:	1" "dns relay"
    assert_contains "$status" "Seccomp:	2" "dns relay"
    assert_eq "$(awk '/^CapBnd/ {print $2}' <<<"$status")" 00000000000000c0 "dns relay bounding set"
    assert_eq "$(awk '/^CapEff/ {print $2}' <<<"$status")" 0000000000000000 "dns relay capabilities"
    assert_eq "$(awk '/^CapPrm/ {print $2}' <<<"$status")" 0000000000000000 "dns relay capabilities"
    assert_eq "$(awk '/^Uid/ {print $2, $3, $4, $5}' <<<"$status")" "65534 65534 65534 65534" "dns relay uid"
    # The inner dockerd is not under the session's filter, and builds still work.
    status=$($AGENT_SSH 'cat /proc/$(pidof dockerd)/status')
    assert_contains "$status" "Seccomp:	0" "inner dockerd unconfined"
    it_tiny_image_tar | $AGENT_SSH docker import - tiny:1 >/dev/null
    assert_eq "$($AGENT_SSH docker run --rm tiny:1 /bin/busybox echo nested-ok)" "nested-ok"
    # A JVM (the Jenkins agent's) starts under the filter (clone3 falls back to clone).
    $AGENT_SSH 'java -version' >/dev/null 2>&1 || fail "java does not start in a build session"

    "$SLIPWAY" --state-dir "$state" rm "$AGENT_ID" >/dev/null
    assert_no_leaks "$state"
}

test_session_network_isolation() {
    local state=$IT_DIR/state-isolation a_ssh a_id b_id b_ip
    rm -rf "$state"
    session_agent "$state"
    a_ssh=$AGENT_SSH a_id=$AGENT_ID
    session_agent "$state"
    b_id=$AGENT_ID
    assert_eq "$(docker network inspect slipway -f '{{index .Options "com.docker.network.bridge.enable_icc"}}')" \
        false "agent network without inter-container communication"
    b_ip=$(docker inspect -f '{{.NetworkSettings.Networks.slipway.IPAddress}}' "$AGENT_CONTAINER")
    [ -n "$b_ip" ] || fail "agent $b_id has no address on the slipway network"
    # The host reaches B's sshd (the check can succeed), agent A cannot.
    timeout 5 bash -c "exec 3<>/dev/tcp/$b_ip/22" || fail "host cannot reach $b_ip:22"
    # Answered from inside agent A, so a failing ssh to A cannot pass for isolation.
    assert_eq "$($a_ssh "timeout 3 bash -c 'exec 3<>/dev/tcp/$b_ip/22' 2>/dev/null && echo reached || echo unreachable")" \
        unreachable "agent $a_id to agent $b_id ($b_ip:22) across the bridge"
    # The network of that name is only used when it isolates: a look-alike is refused.
    "$SLIPWAY" --state-dir "$state" rm "$a_id" "$b_id" >/dev/null
    docker network rm slipway >/dev/null
    docker network create slipway >/dev/null
    local rc=0 err
    err=$("$SLIPWAY" --state-dir "$state" run 2>&1) || rc=$?
    docker network rm slipway >/dev/null
    [ "$rc" != 0 ] || fail "an agent started on a network with inter-container communication"
    assert_contains "$err" "agent network slipway exists but is not an IPv4-only bridge with com.docker.network.bridge.enable_icc=false"
    assert_no_leaks "$state"
}

# The Jenkins API token of a running supervisor: in no log, argv, container or agent environment,
# nor in the node logs where the SSH launcher prints the agent's environment.
test_session_secrets() {
    local state=$IT_DIR/state-secrets conf=$IT_DIR/secrets.conf log=$IT_DIR/secrets.log
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-secrets 1
    serve_start "$conf" "$log"
    queue_build secret dind 'env; ls -la ~' 'sleep 8'
    # Look while the build runs (its second step sleeps): the agent exists and its build's
    # processes are there to be read.
    local tries=0 container='' started=null
    until [ -n "$container" ] && [ "$started" != null ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 300 ] || fail "the build did not start: $(tail -5 "$log")"
        sleep 0.2
        container=$(docker ps -q --filter "label=io.slipway.state-dir=$state")
        started=$(emu "$EMU_CONTROL/builds" | jq -r '.[0].first_step_at')
    done
    # A pattern for the token that is not the token: grep's own argv must not match it. The
    # emulator is the one process given the token on its command line.
    local needle="${EMU_TOKEN:0:3}[${EMU_TOKEN:3:1}]${EMU_TOKEN:4}" inspect argv environ
    grep -q "$needle" <<<"$EMU_TOKEN" || fail "the pattern does not find the token"
    inspect=$(docker inspect "$container")
    argv=$(ps -eo pid=,args= | awk -v emu="$EMU_PID" '$1 != emu')
    # Both sides of the agent: its own processes, and those of the user namespace (the build's).
    environ=$(docker exec "$container" sh -c 'cat /proc/[0-9]*/environ | tr "\0" "\n"'
              docker exec "$container" /usr/sbin/slipway-init --enter root -- sh -c 'cat /proc/[0-9]*/environ | tr "\0" "\n"')
    # What was searched is real: the build's own environment is among them.
    assert_contains "$environ" "HOME=/home/jenkins" "environments read in the agent"
    assert_contains "$argv" "slipway serve" "command lines read"
    grep -q "$needle" <<<"$inspect" && fail "the Jenkins token appears in docker inspect output"
    grep -q "$needle" <<<"$argv" && fail "the Jenkins token appears in a command line"
    grep -q "$needle" <<<"$environ" && fail "the Jenkins token appears in the agent's environment"
    wait_builds 1 120 "$state" >/dev/null
    serve_stop "$SERVE_PID" "$log"
    grep -q "$needle" "$log" && fail "the Jenkins token appears in the supervisor's log"
    grep -rqs "$needle" "$state" && fail "the Jenkins token appears under the state dir"
    # The node logs (and the build's own output) are real and were searched.
    assert_contains "$(cat "$EMU_DIR/events.jsonl")" "environment is" "launch log with the environment"
    assert_contains "$(emu "$EMU_CONTROL/builds")" "HOME=/home/jenkins" "build output with the environment"
    grep -q "$needle" "$EMU_DIR/events.jsonl" && fail "the Jenkins token appears in a node's launch log"
    emu "$EMU_CONTROL/builds" | grep -q "$needle" && fail "the Jenkins token appears in a build's output"
    emu_stop
    assert_no_leaks "$state"
}

it_case "session: builds run confined (capabilities, no_new_privs, seccomp); dockerd is not" test_session_confined
it_case "session: agents cannot reach each other across their bridge" test_session_network_isolation
it_case "session: the Jenkins token is in no log, argv, inspect output or environment" test_session_secrets
