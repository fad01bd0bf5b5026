# One build per agent, by an event and held by the agent (issue 14; slipway/build_gate.h): a
# build's programs wait until its node is offline in Jenkins, so nothing can follow it there,
# even while Jenkins' API fails; and a stress run with faults in which no agent runs two builds.
# Uses the emulator helpers of test_serve.sh.

# The build's first step only after the node went offline; the next node block of the same
# Pipeline (same workspace) on another agent.
test_gate_holds_until_offline() {
    local state=$IT_DIR/state-gate conf=$IT_DIR/gate.conf log=$IT_DIR/gate.log sock
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-gate 2
    serve_start "$conf" "$log"
    sock=$state/control.sock
    # An idle agent, online in Jenkins, before the API fails.
    gate_idle_agent "$state" "$log" >/dev/null
    emu -X POST --data '{"mode":"error500"}' "$EMU_CONTROL/fault" >/dev/null
    jq -n '{name: "pipe", label: "dind", pipeline: true, steps: ["echo first"]}' |
        emu -X POST -H 'Content-Type: application/json' --data-binary @- "$EMU_CONTROL/builds" >/dev/null
    jq -n '{name: "pipe", label: "dind", pipeline: true, steps: ["echo second"]}' |
        emu -X POST -H 'Content-Type: application/json' --data-binary @- "$EMU_CONTROL/builds" >/dev/null
    wait_running 0 "the first node block"
    sleep 3
    local first
    first=$(emu "$EMU_CONTROL/builds" | jq -c '.[0]')
    # The emulator's agent reports a step before it executes its shell, which waits.
    assert_eq "$(jq -c '[.steps[0].exit_code, .steps[0].output]' <<<"$first")" '[null,""]' \
        "a step ran before the node was offline: $first"
    assert_contains "$(docker logs "$(docker ps -q --filter "label=io.slipway.state-dir=$state" | head -1)" 2>&1)" \
        "build gate: the build started (workspace/pipe)"
    local cleared
    cleared=$(date +%s.%N)
    emu -X POST --data '{"mode":"none"}' "$EMU_CONTROL/fault" >/dev/null
    wait_builds 2 120 "$state" >/dev/null
    local builds
    builds=$(emu "$EMU_CONTROL/builds")
    assert_eq "$(jq '[.[] | select(.result == "SUCCESS")] | length' <<<"$builds")" 2 \
        "both node blocks succeed ($(jq -c '[.[] | {name, result, reason}]' <<<"$builds"))"
    assert_eq "$(jq '[.[].node] | unique | length' <<<"$builds")" 2 \
        "the second node block ran on another agent ($(jq -c '[.[] | {name, node}]' <<<"$builds"))"
    [ "$(echo "$(jq -r '.[0].steps[0].finished_at' <<<"$builds") >= $cleared" | bc)" = 1 ] ||
        fail "the first step ran before Jenkins could be told"
    assert_contains "$(cat "$log")" "build started"
    assert_contains "$(curl -fsS --unix-socket "$sock" http://slipway/metrics)" "slipway_agents_reused_total 0"
    wait_all_gone "$state"
    serve_stop "$SERVE_PID" "$log"
    assert_no_leaks "$state"
}

# The build NAME did not go on after its gate refused it: either its next program was refused
# ("Operation not permitted"), or its agent was removed under it first (the node deleted:
# aborted). Which comes first is a race between the agent and serve; both end it.
assert_build_stopped() {
    local builds=$1 name=$2 build
    build=$(jq -c --arg n "$name" '.[] | select(.name == $n)' <<<"$builds")
    [ "$(jq -r .result <<<"$build")" != SUCCESS ] || fail "$name went on: $build"
    case "$(jq -r '[.steps[].output] | join(" ")' <<<"$build") $(jq -r '.reason // ""' <<<"$build")" in
        *"Operation not permitted"*|*"node deleted"*) ;;
        *) fail "$name: neither refused nor removed: $build" ;;
    esac
}

# One idle agent online in Jenkins for the gate cases: its port is printed.
gate_idle_agent() {
    local state=$1 log=$2 sock=$1/control.sock tries=0
    until [ -S "$sock" ]; do tries=$((tries + 1)); [ "$tries" -lt 100 ] || fail "no control socket"; sleep 0.1; done
    # 503 while serve reconciles what an earlier run left: documented, asked again.
    local code
    tries=0
    until code=$(curl -sS -o /dev/null -w '%{http_code}' --unix-socket "$sock" -H 'Content-Type: application/json' \
                  -X POST --data '{"template":"dind","count":1}' http://slipway/v1/agents) && [ "$code" != 503 ]; do
        tries=$((tries + 1)); [ "$tries" -lt 150 ] || fail "serve still starting: $(tail -3 "$log")"; sleep 0.2
    done
    assert_eq "$code" 201 "POST /v1/agents"
    tries=0
    until [ "$(emu "$EMU_CONTROL/nodes" | jq '[.[] | select(.state == "online" and (.name | endswith("anchor") | not))] | length')" = 1 ]; do
        tries=$((tries + 1)); [ "$tries" -lt 300 ] || fail "no agent came online: $(tail -3 "$log")"; sleep 0.2
    done
    curl -fsS --unix-socket "$sock" http://slipway/v1/agents | jq -r '.[0].ssh_port'
}

# A build that keeps out of <remote-fs>/workspace still runs its programs through Jenkins'
# Java process: the first of them starts the hold and takes the node offline. Here a shell
# named java (what the agent's remoting is) runs a program over SSH as the credential would.
test_gate_trigger_without_workspace() {
    local state=$IT_DIR/state-gate-java conf=$IT_DIR/gate-java.conf log=$IT_DIR/gate-java.log port out
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-gjava 1
    serve_start "$conf" "$log"
    port=$(gate_idle_agent "$state" "$log")
    out=$(timeout 60 ssh -i "$EMU_DIR/credential" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o BatchMode=yes -p "$port" jenkins@127.0.0.1 \
        'cp /bin/sh /tmp/java && /tmp/java -c "/bin/echo from-java; :"' 2>&1)
    assert_contains "$out" "from-java"
    # Reported by the gate (no workspace was made), taken offline, then, idle in Jenkins
    # afterwards, retired as a used agent.
    assert_contains "$(cat "$log")" "build started"
    assert_contains "$(cat "$log")" "(its gate)"
    assert_eq "$(grep -c 'mark node .* offline' "$log" || true)" 0 "offline taken at once"
    wait_all_gone_but_anchor "$state"
    assert_contains "$(cat "$log")" "retiring: its build finished"
    serve_stop "$SERVE_PID" "$log"
    assert_no_leaks "$state"
}

# A hostile build: it cannot reach the gate (as jenkins, nor as root of its namespace through
# a privileged container), and a second workspace made by it counts as a second build: its
# programs are refused from then on, the agent is removed and the reuse counted.
test_gate_hostile_build() {
    local state=$IT_DIR/state-gate-evil conf=$IT_DIR/gate-evil.conf log=$IT_DIR/gate-evil.log
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-gevil 1
    serve_start "$conf" "$log"
    queue_build evil dind \
        'for f in /run/slipway-gate/offline /proc/1/root/run/slipway-gate/offline; do touch $f 2>/dev/null && echo "WROTE $f"; done; echo jenkins-probe-done' \
        'docker run --rm --privileged --pid=host -v /:/host tiny:1 /bin/busybox sh -c "for f in /host/run/slipway-gate/offline /proc/1/root/run/slipway-gate/offline; do touch \$f 2>/dev/null && echo WROTE \$f; done; echo root-probe-done" 2>&1' \
        'mkdir ../second-job && /bin/sleep 30'
    local tries=0
    until grep -q "ran a second build" "$log"; do
        tries=$((tries + 1)); [ "$tries" -lt 300 ] || fail "no second build seen: $(tail -5 "$log")"; sleep 0.2
    done
    wait_builds 1 60 "$state" >/dev/null
    local build
    build=$(emu "$EMU_CONTROL/builds" | jq -c '.[0]')
    assert_contains "$(jq -r '.steps[0].output' <<<"$build")" "jenkins-probe-done"
    assert_contains "$(jq -r '.steps[1].output' <<<"$build")" "root-probe-done"
    case "$(jq -r '.steps[0].output, .steps[1].output' <<<"$build")" in
        *WROTE*) fail "the build wrote its gate: $build" ;;
    esac
    assert_build_stopped "[$build]" evil
    assert_contains "$(curl -fsS --unix-socket "$state/control.sock" http://slipway/metrics)" "slipway_agents_reused_total 1"
    wait_all_gone "$state"
    serve_stop "$SERVE_PID" "$log"
    assert_no_leaks "$state"
}

# A build that would hide a second build's workspace from its gate: it moves the watched
# directory away, or makes a workspace that is a symlink. Either makes the gate refuse the
# build's next program and removes the agent.
test_gate_hidden_workspace() {
    local state=$IT_DIR/state-gate-hide conf=$IT_DIR/gate-hide.conf log=$IT_DIR/gate-hide.log
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-ghide 2
    serve_start "$conf" "$log"
    queue_build hide-mv dind 'cd ../.. && mv workspace ws.old && mkdir workspace && /bin/true'
    queue_build hide-ln dind 'ln -s /tmp ../victim-job && /bin/true'
    wait_builds 2 120 "$state" >/dev/null
    local builds name
    builds=$(emu "$EMU_CONTROL/builds")
    for name in hide-mv hide-ln; do
        assert_build_stopped "$builds" "$name"
    done
    assert_contains "$(curl -fsS --unix-socket "$state/control.sock" http://slipway/metrics)" "slipway_agents_reused_total 2"
    wait_all_gone "$state"
    serve_stop "$SERVE_PID" "$log"
    assert_no_leaks "$state"
}

# IT_STRESS_BUILDS (40 here; `make soak` runs 200) builds of 0.1-2 s, Pipeline and freestyle,
# two templates, capacity 3, while the emulator answers 500, slowly, or not at all for seconds
# at a time: every build succeeds and no node runs two.
test_one_build_stress() {
    local state=$IT_DIR/state-stress conf=$IT_DIR/stress.conf log=$IT_DIR/stress.log
    local total=${IT_STRESS_BUILDS:-40} i faults_pid
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${faults_pid:-}" ] || kill "$faults_pid" 2>/dev/null; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-stress 3
    sed -i 's/^labels = dind docker/labels = dind/; s/^max-instances = 3/max-instances = 2/' "$conf"
    printf '\n[template small]\nlabels = small\nmax-instances = 2\nmemory = 1G\n' >>"$conf"
    serve_start "$conf" "$log"
    (
        while :; do
            sleep 4; emu -X POST --data '{"mode":"error500"}' "$EMU_CONTROL/fault" >/dev/null
            sleep 3; emu -X POST --data '{"mode":"none"}' "$EMU_CONTROL/fault" >/dev/null
            sleep 4; emu -X POST --data '{"mode":"slow","delay_ms":2000}' "$EMU_CONTROL/fault" >/dev/null
            sleep 3; emu -X POST --data '{"mode":"none"}' "$EMU_CONTROL/fault" >/dev/null
            sleep 4; emu -X POST --data '{"mode":"down"}' "$EMU_CONTROL/fault" >/dev/null
            sleep 3; emu -X POST --data '{"mode":"none"}' "$EMU_CONTROL/fault" >/dev/null
        done
    ) &
    faults_pid=$!
    for i in $(seq 1 "$total"); do
        local label=dind pipeline=false name="free$i" seconds
        [ $((i % 3)) = 0 ] && label=small
        # Pipeline node blocks of four jobs: the same workspace again and again.
        if [ $((i % 2)) = 0 ]; then pipeline=true; name="pipe$((i % 4))$label"; fi
        seconds=$(printf '0.%d' $((RANDOM % 10)))
        [ $((i % 5)) = 0 ] && seconds=2
        jq -n --arg name "$name" --arg lbl "$label" --argjson p "$pipeline" --arg s "sleep $seconds; echo ok" \
            '{name: $name, label: $lbl, pipeline: $p, steps: [$s]}' |
            emu -X POST -H 'Content-Type: application/json' --data-binary @- "$EMU_CONTROL/builds" >/dev/null ||
            fail "queue build $i"
        sleep 0.$((RANDOM % 5))
    done
    wait_builds "$total" $((total * 12 + 120)) "$state" >/dev/null
    kill "$faults_pid" 2>/dev/null || true
    wait "$faults_pid" 2>/dev/null || true
    emu -X POST --data '{"mode":"none"}' "$EMU_CONTROL/fault" >/dev/null
    local builds reused
    builds=$(emu "$EMU_CONTROL/builds")
    assert_eq "$(jq '[.[] | select(.result == "SUCCESS")] | length' <<<"$builds")" "$total" \
        "every build succeeds ($(jq -c '[.[] | select(.result != "SUCCESS") | {name, result, reason}]' <<<"$builds"))"
    reused=$(jq '[group_by(.node)[] | select(length > 1) | {node: .[0].node, builds: [.[].name]}]' <<<"$builds")
    assert_eq "$(jq length <<<"$reused")" 0 "no node ran two builds: $(jq -c . <<<"$reused")"
    assert_contains "$(curl -fsS --unix-socket "$state/control.sock" http://slipway/metrics)" "slipway_agents_reused_total 0"
    it_log "$total builds under faults: $(grep -c 'build started' "$log") starts, $(grep -c 'mark node .* offline' "$log") offline retries, 0 reused"
    # Pipeline items queued while no agent node existed made the anchor node; it goes at stop.
    wait_all_gone_but_anchor "$state"
    serve_stop "$SERVE_PID" "$log"
    assert_no_leaks "$state"
}

it_case "one build: a build waits until its node is offline; the next node block goes elsewhere" test_gate_holds_until_offline
it_case "one build: a program of the agent's Java process starts the hold, no workspace needed" test_gate_trigger_without_workspace
it_case "one build: a hostile build cannot reach the gate; a second workspace removes the agent" test_gate_hostile_build
it_case "one build: a build hiding a workspace (moved directory, symlink) removes the agent" test_gate_hidden_workspace
it_case "one build: ${IT_STRESS_BUILDS:-40} builds under Jenkins faults, no agent runs two" test_one_build_stress
