# slipway serve survives its own crashes and its neighbours' failures (issue 5): kill -9 at
# every step of an agent's life, orphans of every kind, the outer dockerd restarted, and a
# full state directory. Uses the helpers of test_serve.sh (sourced before this file).

# Agent records of serve in a state dir.
served_records() {
    local state=$1
    [ -d "$state/served" ] || return 0
    find "$state/served" -mindepth 1 -maxdepth 1 -printf '%f\n'
}

# Nothing of any agent left, nor any record, nor any node in Jenkins.
assert_nothing_left() {
    local state=$1
    assert_no_leaks "$state"
    assert_eq "$(served_records "$state")" "" "state records left"
    assert_eq "$(emu "$EMU_CONTROL/stats" | jq .nodes_now)" 0 "Jenkins nodes left"
    assert_eq "$(docker ps -aq --filter label=io.slipway.generation --filter "label=io.slipway.state-dir=$state")" "" \
        "generation pins left"
}

# reconcile-interval for the periodic checks of these cases.
set_reconcile_interval() {
    sed -i "s/^drain-timeout = 30\$/&\nreconcile-interval = $2/" "$1"
}

# wait_dead PID SECONDS: until the process is gone; sets DEAD_RC to its exit status. Not in
# a $(...) subshell: only the shell that started it can wait for it.
wait_dead() {
    local pid=$1 tries=0
    DEAD_RC=0
    while kill -0 "$pid" 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -lt $(($2 * 10)) ] || { DEAD_RC=timeout; return 0; }
        sleep 0.1
    done
    wait "$pid" 2>/dev/null || DEAD_RC=$?
}

# What exists after a crash, for the log: record, containers, nodes, data roots.
describe_leftovers() {
    local state=$1 record
    record=$(cat "$state"/served/*.json 2>/dev/null | jq -c '{intended, reached}' | tr '\n' ' ' || true)
    echo "record ${record:-none}; containers $(count_agents "$state"), nodes $(emu "$EMU_CONTROL/stats" | jq .nodes_now), data roots $(find "$state/agents" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l || true)"
}

# kill -9 (SLIPWAY_CRASH_AT, a test-only fault injection point) right after the daemon
# recorded STEP; then a restarted daemon must clean up, run the queued build, leak nothing.
crash_at_step() {
    local step=$1 state=$IT_DIR/state-crash conf=$IT_DIR/crash.conf
    local log=$IT_DIR/crash-$1.log log2=$IT_DIR/crash-$1-restart.log
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-host 2
    SLIPWAY_CRASH_AT=$step "$SLIPWAY" serve --config "$conf" >"$log" 2>&1 &
    SERVE_PID=$!
    queue_build "crash-$step" dind 'docker run --rm tiny:1 /bin/busybox echo survived'
    wait_dead "$SERVE_PID" 120
    assert_eq "$DEAD_RC" 137 "serve killed at step $step ($(tail -3 "$log"))"
    assert_contains "$(cat "$state"/served/*.json)" "\"intended\":\"$step\"" "the record names the step"
    it_log "killed at $step: $(describe_leftovers "$state")"
    serve_start "$conf" "$log2"
    wait_builds 1 120 "$state" >/dev/null
    assert_eq "$(emu "$EMU_CONTROL/builds" | jq -r '.[0].result')" SUCCESS \
        "the build after a crash at $step ($(emu "$EMU_CONTROL/builds" | jq -c '.[0] | {state, reason}'))"
    wait_all_gone "$state"
    it_log "restart: $(grep -o 'reconcile: [0-9].*' "$log2" | head -1)"
    case $step in
        # Started: its container runs and its node exists, so it is adopted (Jenkins'
        # launcher connects once the init is ready) and the build runs there.
        ready|serve) assert_contains "$(cat "$log2")" "adopted" ;;
        *) assert_contains "$(cat "$log2")" "left by an earlier run at step $step" ;;
    esac
    serve_stop "$SERVE_PID" "$log2"
    assert_nothing_left "$state"
}

# The steps, in the order an agent takes them: prepare (directory and keys), register (the
# Jenkins node), seed (after registration, in the launch worker), create (the container),
# start (after create), ready (waiting for the init), serve (ready, in Jenkins' hands), retire
# (node deletion once the build ended), destroy (container and data root removal).
for step in prepare register seed create start ready serve retire destroy; do
    eval "test_crash_at_$step() { crash_at_step $step; }"
done

# kill -9 during a build, with orphans of every kind around: a served container unknown to
# the records that pins a cache generation, a data root with a mount left in it, a node of
# this host's prefix without an agent. The build completes on the adopted agent; the orphans
# are gone after the restart, and the same kinds made while it runs go within a
# reconcile-interval.
test_crash_during_build_with_orphans() {
    local state=$IT_DIR/state-crash conf=$IT_DIR/crash-build.conf log=$IT_DIR/crash-build.log
    local log2=$IT_DIR/crash-build-restart.log gen
    serve_case_setup "$state"
    gen=$(readlink "$state/cache/current" | xargs basename)
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true; umount -l "$IT_DIR"/state-crash/agents/*/data-root 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-host 2
    set_reconcile_interval "$conf" 2
    serve_start "$conf" "$log"
    queue_build survivor dind 'sleep 8; docker run --rm tiny:1 /bin/busybox echo survived'
    wait_running 0 "the build"
    kill -9 "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true
    make_orphans "$state" "$gen" aaaaaaaaaaa1
    it_log "killed during a build: $(describe_leftovers "$state")"
    serve_start "$conf" "$log2"
    wait_builds 1 120 "$state" >/dev/null
    assert_eq "$(emu "$EMU_CONTROL/builds" | jq -r '.[0].result')" SUCCESS "the build survived the crash"
    assert_contains "$(emu "$EMU_CONTROL/builds" | jq -r '.[0].steps[0].output')" survived
    assert_contains "$(cat "$log2")" "adopted (node"
    assert_contains "$(cat "$log2")" "agent=aaaaaaaaaaa1 to be removed: a served container unknown to the state records"
    assert_contains "$(cat "$log2")" "removed orphaned data root $state/agents/bbbbbbbbbbb1"
    assert_contains "$(cat "$log2")" "reconcile: deleted node it-host-ccccccccccc1"
    it_log "restart: $(grep -o 'reconcile: [0-9].*' "$log2" | head -1)"
    wait_all_gone "$state"
    assert_nothing_left "$state"
    # The same kinds while it runs: the periodic reconciliation (every 2 s here).
    make_orphans "$state" "$gen" aaaaaaaaaaa2
    touch -d '1 hour ago' "$state/agents/bbbbbbbbbbb2" # past the grace of a `slipway run` in progress
    local tries=0
    until [ "$(count_agents "$state")" = 0 ] && [ ! -e "$state/agents/bbbbbbbbbbb2" ] &&
          [ "$(emu "$EMU_CONTROL/stats" | jq .nodes_now)" = 0 ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || fail "orphans not removed while running: $(describe_leftovers "$state")"
        sleep 0.2
    done
    assert_contains "$(cat "$log2")" "agent=aaaaaaaaaaa2 to be removed"
    assert_contains "$(cat "$log2")" "reconcile: deleted node it-host-ccccccccccc2"
    serve_stop "$SERVE_PID" "$log2"
    assert_nothing_left "$state"
}

# make_orphans STATE GENERATION ID: a served container with agent id ID pinning GENERATION
# (never started), a data root (bbbb...) with a tmpfs mounted in it, and a node (cccc...).
make_orphans() {
    local state=$1 gen=$2 id=$3 n=${3: -1}
    docker create --label "io.slipway.agent=$id" --label "io.slipway.state-dir=$state" \
        --label "io.slipway.node=it-host-$id" --label io.slipway.template=dind \
        --label "io.slipway.generation=$gen" slipway/agent:latest >/dev/null
    mkdir -p "$state/agents/bbbbbbbbbbb$n/data-root"
    mount -t tmpfs -o size=1m slipway-it-orphan "$state/agents/bbbbbbbbbbb$n/data-root"
    local json
    json=$(jq -n --arg name "it-host-ccccccccccc$n" '{name: $name,
        nodeDescription: ("slipway: host=it-host template=dind agent=" + ($name | ltrimstr("it-host-")) + " created=1"),
        numExecutors: 1, remoteFS: "/home/jenkins/agent", labelString: "", mode: "EXCLUSIVE",
        launcher: {"$class": "hudson.slaves.JNLPLauncher"},
        retentionStrategy: {"$class": "hudson.slaves.RetentionStrategy$Always"},
        nodeProperties: {"stapler-class-bag": "true"}}')
    curl -fsS -o /dev/null -u "slipway:$EMU_TOKEN" --data-urlencode "name=it-host-ccccccccccc$n" \
        --data-urlencode type=hudson.slaves.DumbSlave --data-urlencode "json=$json" \
        "http://127.0.0.1:$EMU_PORT/computer/doCreateItem"
}

# The outer dockerd stops and starts again under running agents, while Jenkins is away too
# (so that nothing but the periodic reconciliation can notice): serve says Docker is
# unavailable, keeps going, retires the agents whose containers died, deletes their nodes once
# Jenkins is back, leaks nothing, and serves the next build.
test_outer_dockerd_restart() {
    local state=$IT_DIR/state-crash conf=$IT_DIR/dockerd.conf log=$IT_DIR/dockerd-restart.log
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true; "$top/scripts/test-dockerd" start >/dev/null' EXIT
    write_config "$conf" "$state" it-host 2
    set_reconcile_interval "$conf" 2
    serve_start "$conf" "$log"
    queue_build long1 dind 'sleep 120'
    queue_build long2 dind 'sleep 120'
    local tries=0
    until [ "$(emu "$EMU_CONTROL/builds" | jq '[.[] | select(.state == "running")] | length')" = 2 ]; do
        tries=$((tries + 1)); [ "$tries" -lt 300 ] || fail "the builds did not start"; sleep 0.2
    done
    emu -X POST --data '{"mode":"down"}' "$EMU_CONTROL/fault" >/dev/null
    "$top/scripts/test-dockerd" stop >/dev/null
    sleep 5
    kill -0 "$SERVE_PID" || fail "serve died with Docker down: $(tail -3 "$log")"
    assert_contains "$(cat "$log")" "docker unavailable"
    "$top/scripts/test-dockerd" start >/dev/null
    tries=0
    # Noticed while dockerd stops its containers, or once it is back.
    until [ "$(grep -c 'retiring: its container is exited' "$log")" = 2 ] &&
          grep -q "docker reachable again" "$log"; do
        tries=$((tries + 1)); [ "$tries" -lt 150 ] || fail "dead agents not noticed: $(tail -5 "$log")"; sleep 0.2
    done
    local metrics
    metrics=$(curl -fsS --unix-socket "$state/control.sock" http://slipway/metrics)
    assert_contains "$metrics" "slipway_docker_up 1"
    [ "$(grep '^slipway_docker_errors_total ' <<<"$metrics" | cut -d' ' -f2)" -ge 1 ] ||
        fail "docker errors not counted: $(grep docker_errors <<<"$metrics")"
    emu -X POST --data '{"mode":"none"}' "$EMU_CONTROL/fault" >/dev/null
    wait_all_gone "$state"
    assert_eq "$(emu "$EMU_CONTROL/builds" | jq '[.[] | select(.result == "SUCCESS")] | length')" 0
    # And it serves on.
    queue_build after dind 'docker run --rm tiny:1 /bin/busybox echo after-restart'
    wait_builds 3 120 "$state" >/dev/null
    assert_eq "$(emu "$EMU_CONTROL/builds" | jq -r '.[] | select(.name == "after") | .result')" SUCCESS
    wait_all_gone "$state"
    serve_stop "$SERVE_PID" "$log"
    assert_nothing_left "$state"
    it_log "$(grep -o 'docker unavailable ([0-9]* failed' "$log" | head -1), $(grep -o 'docker reachable again.*' "$log")"
}

# The state dir on a small file system that fills up: a record that cannot be written stops
# its step with an error naming the file, nothing is started or leaked, serve keeps running,
# and once there is room again the waiting build runs. An agent whose build ends while the
# disk is full stays (its retire step cannot be recorded) and goes once there is room.
test_state_dir_full() {
    local mnt=$IT_DIR/state-full img=$IT_DIR/state-full.img conf=$IT_DIR/full.conf log=$IT_DIR/full.log
    local state=$IT_DIR/state-full/state
    umount "$mnt" 2>/dev/null || true
    rm -rf "$mnt" "$img"
    mkdir -p "$mnt"
    truncate -s 96M "$img"
    mkfs.ext4 -q -m 0 "$img"
    mount -o loop "$img" "$mnt"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true; umount "$IT_DIR/state-full" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-host 2
    serve_start "$conf" "$log"
    queue_build f1 dind 'sleep 8; echo one'
    wait_running 0 "f1"
    # Full, while f1 runs and with f2 queued.
    # Big blocks first, then small ones for what ext4 keeps back from a large write.
    dd if=/dev/zero of="$mnt/filler" bs=1M 2>/dev/null || true
    dd if=/dev/zero of="$mnt/filler2" bs=1k 2>/dev/null || true
    sync
    queue_build f2 dind 'echo two'
    wait_builds 1 60 "$state" >/dev/null
    # Its retire step is tried once the back-off (2 s doubling) allows.
    tries=0
    until grep -q "step retire not taken" "$log"; do
        tries=$((tries + 1)); [ "$tries" -lt 300 ] || fail "no retire attempt: $(tail -3 "$log")"; sleep 0.2
    done
    kill -0 "$SERVE_PID" || fail "serve died on a full disk: $(tail -3 "$log")"
    assert_contains "$(cat "$log")" "step prepare not taken: write state record $state/served/"
    assert_contains "$(cat "$log")" "No space left on device"
    assert_eq "$(emu "$EMU_CONTROL/stats" | jq .nodes_now)" 1 "f1's node kept (its deletion is not recorded), f2 got none"
    assert_eq "$(count_agents "$state")" 1 "f1's agent stays until its retirement is recorded"
    assert_eq "$(emu "$EMU_CONTROL/builds" | jq -r '.[] | select(.name == "f2") | .state')" queued
    assert_eq "$(find "$state/served" -name '*.tmp.*')" "" "no temporary record left"
    assert_eq "$(served_records "$state" | wc -l)" 1 "only f1's record"
    rm -f "$mnt/filler" "$mnt/filler2"
    wait_builds 2 150 "$state" >/dev/null
    assert_eq "$(emu "$EMU_CONTROL/builds" | jq '[.[] | select(.result == "SUCCESS")] | length')" 2
    assert_contains "$(cat "$log")" "state records are written again"
    local metrics
    metrics=$(curl -fsS --unix-socket "$state/control.sock" http://slipway/metrics)
    assert_contains "$metrics" "slipway_state_write_failures_total "
    [ "$(grep '^slipway_state_write_failures_total ' <<<"$metrics" | cut -d' ' -f2)" -ge 2 ] ||
        fail "state write failures not counted: $(grep state_write <<<"$metrics")"
    wait_all_gone "$state"
    serve_stop "$SERVE_PID" "$log"
    assert_nothing_left "$state"
    umount "$mnt"
    rm -f "$img"
}

# kill -9 of the daemon alone from outside, at moments spread over a launch (registration,
# seeding, create, start, ready, the build): its worker, left behind, rolls back on SIGTERM
# (PR_SET_PDEATHSIG) while the next daemon reconciles. Whatever the interleaving, the build
# runs and nothing is left.
test_crash_external_kill_spread() {
    local state=$IT_DIR/state-crash conf=$IT_DIR/spread.conf delay i=0
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-host 2
    set_reconcile_interval "$conf" 2
    for delay in 0.05 0.2 0.4 0.7 1.0 1.5 2.5; do
        i=$((i + 1))
        serve_start "$conf" "$IT_DIR/spread-$i.log"
        queue_build "spread$i" dind 'echo spread'
        sleep "$delay"
        kill -9 "$SERVE_PID"
        wait "$SERVE_PID" 2>/dev/null || true
        it_log "killed ${delay} s after queueing: $(describe_leftovers "$state")"
        serve_start "$conf" "$IT_DIR/spread-$i-restart.log"
        wait_builds "$i" 120 "$state" >/dev/null
        wait_all_gone "$state"
        serve_stop "$SERVE_PID" "$IT_DIR/spread-$i-restart.log"
        assert_nothing_left "$state"
    done
    assert_eq "$(emu "$EMU_CONTROL/builds" | jq '[.[] | select(.result == "SUCCESS")] | length')" "$i"
}

# Start-up reconciliation with N adopted agents (figure for the report, not an assertion).
test_reconcile_startup_time() {
    local state=$IT_DIR/state-crash conf=$IT_DIR/recon.conf log=$IT_DIR/recon.log n=${IT_RECONCILE_AGENTS:-4}
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-host "$n"
    serve_start "$conf" "$log"
    local i
    for i in $(seq 1 "$n"); do queue_build "r$i" dind 'sleep 30'; done
    local tries=0
    until [ "$(emu "$EMU_CONTROL/builds" | jq '[.[] | select(.state == "running")] | length')" = "$n" ]; do
        tries=$((tries + 1)); [ "$tries" -lt 600 ] || fail "the builds did not start"; sleep 0.2
    done
    kill -9 "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true
    serve_start "$conf" "$IT_DIR/recon2.log"
    tries=0
    local line=''
    # One read of the log per try, kept: a second read could see it mid-write (seen under ASan).
    until [[ $line == *"agent(s) adopted"* ]]; do
        tries=$((tries + 1)); [ "$tries" -lt 100 ] || fail "no reconciliation: $(tail -3 "$IT_DIR/recon2.log")"; sleep 0.2
        line=$(grep -o 'reconcile: [0-9].*' "$IT_DIR/recon2.log" || true)
    done
    it_log "$line"
    assert_contains "$line" "$n agent(s) adopted"
    wait_builds "$n" 120 "$state" >/dev/null
    assert_eq "$(emu "$EMU_CONTROL/builds" | jq '[.[] | select(.result == "SUCCESS")] | length')" "$n"
    wait_all_gone "$state"
    serve_stop "$SERVE_PID" "$IT_DIR/recon2.log"
    assert_nothing_left "$state"
}

for step in prepare register seed create start ready serve retire destroy; do
    it_case "survival: kill -9 at step $step; restart cleans up and runs the build" "test_crash_at_$step"
done
it_case "survival: kill -9 during a build, orphans of every kind removed" test_crash_during_build_with_orphans
it_case "survival: kill -9 from outside at moments spread over a launch" test_crash_external_kill_spread
it_case "survival: the outer dockerd restarts under running agents" test_outer_dockerd_restart
it_case "survival: state dir on a full file system" test_state_dir_full
it_case "survival: start-up reconciliation time with N agents" test_reconcile_startup_time
