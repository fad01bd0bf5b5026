# slipway serve against the Jenkins emulator (tests/jenkins): demand, capacity, one build per
# agent, several supervisors, Jenkins failures, strict host keys (issue 4).

EMU_DIR=$IT_DIR/jenkins
EMU_TOKEN=it-token-0123456789
EMU_CREDENTIAL=slipway-agent-ssh

# Start the emulator once per case: EMU_PORT, EMU_CONTROL and EMU_PID are set.
emu_start() {
    rm -rf "$EMU_DIR"
    mkdir -p "$EMU_DIR"
    ssh-keygen -q -t ed25519 -N '' -C slipway-it-credential -f "$EMU_DIR/credential"
    "$here/../jenkins/build-jar" "$IT_DIR/remoting.jar"
    /usr/bin/python3 "$here/../jenkins/emulator.py" --port-file "$EMU_DIR/port" \
        --control-port-file "$EMU_DIR/control-port" --user slipway --token "$EMU_TOKEN" \
        --credential "$EMU_CREDENTIAL:jenkins:$EMU_DIR/credential" --jar "$IT_DIR/remoting.jar" \
        --events "$EMU_DIR/events.jsonl" --log "$EMU_DIR/emulator.log" &
    EMU_PID=$!
    local tries=0
    until [ -s "$EMU_DIR/port" ] && [ -s "$EMU_DIR/control-port" ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || fail "emulator did not start: $(tail -5 "$EMU_DIR/emulator.log")"
        kill -0 "$EMU_PID" || fail "emulator died: $(tail -5 "$EMU_DIR/emulator.log")"
        sleep 0.1
    done
    EMU_PORT=$(cat "$EMU_DIR/port")
    EMU_CONTROL=http://127.0.0.1:$(cat "$EMU_DIR/control-port")/_emulator
}

emu_stop() {
    kill "$EMU_PID" 2>/dev/null || true
    wait "$EMU_PID" 2>/dev/null || true
}

emu() { curl -fsS "$@"; }

# queue_build NAME LABEL STEP...: a freestyle build with those shell steps.
queue_build() {
    local name=$1 label=$2
    shift 2
    jq -n --arg name "$name" --arg lbl "$label" '{"name": $name, "label": $lbl, "steps": $ARGS.positional}' \
        --args "$@" | emu -X POST -H 'Content-Type: application/json' --data-binary @- "$EMU_CONTROL/builds" >/dev/null
}

# write_config FILE STATE PREFIX CAPACITY [extra [host] lines]
write_config() {
    local file=$1 state=$2 prefix=$3 capacity=$4
    printf '%s\n' "$EMU_TOKEN" >"$EMU_DIR/token"
    chmod 600 "$EMU_DIR/token"
    cat >"$file" <<EOF
[jenkins]
url = http://127.0.0.1:$EMU_PORT/
user = slipway
token-file = $EMU_DIR/token
credentials-id = $EMU_CREDENTIAL
agent-public-key = $EMU_DIR/credential.pub
node-prefix = $prefix
poll-interval-ms = 250
timeout = 5

[host]
capacity = $capacity
state-dir = $state
docker-host = $DOCKER_HOST
launch-timeout = 60
idle-timeout = 20
drain-timeout = 30

[template dind]
labels = dind docker
max-instances = $capacity
memory = 2G
EOF
}

# serve_start CONFIG LOG: sets SERVE_PID.
serve_start() {
    "$SLIPWAY" serve --config "$1" >"$2" 2>&1 &
    SERVE_PID=$!
}

serve_stop() {
    local pid=$1 log=$2 rc=0 tries=0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -lt 600 ] || { kill -9 "$pid"; fail "serve did not drain in 60 s: $(tail -5 "$log")"; }
        sleep 0.1
    done
    wait "$pid" || rc=$?
    assert_eq "$rc" 0 "serve exit status after SIGTERM ($(tail -3 "$log"))"
}

# Agents (containers) of these state dirs right now.
count_agents() {
    local n=0 s
    for s in "$@"; do
        n=$((n + $(docker ps -aq --filter "label=io.slipway.state-dir=$s" | wc -l)))
    done
    echo "$n"
}

# wait_builds COUNT TIMEOUT STATE...: until COUNT builds finished; prints the most agents seen
# at once (sampled every 0.2 s) across the state dirs.
wait_builds() {
    local want=$1 timeout=$2 max=0 n done_count deadline
    shift 2
    deadline=$(($(date +%s) + timeout))
    while :; do
        n=$(count_agents "$@")
        [ "$n" -le "$max" ] || max=$n
        done_count=$(emu "$EMU_CONTROL/builds" | jq '[.[] | select(.finished_at != null)] | length')
        [ "$done_count" -lt "$want" ] || break
        [ "$(date +%s)" -lt "$deadline" ] || { emu "$EMU_CONTROL/builds" | jq -c '.[] | {name, state, node, reason}' >&2; fail "only $done_count of $want builds finished in $timeout s"; }
        sleep 0.2
    done
    echo "$max"
}

# wait_running INDEX [WHAT]: until the INDEX-th queued build runs (30 s at most).
wait_running() {
    local index=$1 what=${2:-build $1} tries=0
    until [ "$(emu "$EMU_CONTROL/builds" | jq -r ".[$index].state")" = running ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 150 ] || fail "$what did not start running"
        sleep 0.2
    done
}

# Every node deleted and every agent destroyed, within a few seconds.
wait_all_gone() {
    local tries=0
    until [ "$(emu "$EMU_CONTROL/stats" | jq .nodes_now)" = 0 ] && [ "$(count_agents "$@")" = 0 ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 150 ] || fail "nodes or agents left: $(emu "$EMU_CONTROL/stats" | jq -c .) containers $(count_agents "$@")"
        sleep 0.2
    done
}

serve_case_setup() {
    local state=$1
    rm -rf "$state"
    it_cache_images
    "$SLIPWAY" --state-dir "$state" cache build --image tiny:1 >/dev/null 2>&1
}

test_serve_capacity() {
    local state=$IT_DIR/state-serve conf=$IT_DIR/serve.conf log=$IT_DIR/serve.log max
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-host 3
    "$SLIPWAY" serve --config "$conf" --check >/dev/null
    serve_start "$conf" "$log"
    for i in 1 2 3 4 5 6; do
        # A real build on the agent's own daemon, FROM an image of the seeded cache.
        queue_build "job$i" dind \
            'docker run --rm tiny:1 /bin/busybox echo warm' \
            "printf 'FROM tiny:1\nRUN [\"/bin/busybox\",\"touch\",\"/built\"]\n' | docker build -q -t app:$i - >/dev/null" \
            "docker run --rm app:$i /bin/busybox ls /built"
    done
    max=$(wait_builds 6 240 "$state")
    it_log "6 builds, capacity 3: at most $max agents at once"
    [ "$max" -le 3 ] || fail "$max agents at once, capacity is 3"
    local builds
    builds=$(emu "$EMU_CONTROL/builds")
    assert_eq "$(jq '[.[] | select(.result == "SUCCESS")] | length' <<<"$builds")" 6 \
        "successful builds ($(jq -c '[.[] | {name, result, reason}]' <<<"$builds"))"
    # One build per agent: six distinct nodes.
    assert_eq "$(jq '[.[].node] | unique | length' <<<"$builds")" 6 "one build per node"
    assert_contains "$(jq -r '.[0].steps[0].output' <<<"$builds")" "warm" "cached image ran"
    local stats
    stats=$(emu "$EMU_CONTROL/stats")
    [ "$(jq .max_nodes_at_once <<<"$stats")" -le 3 ] || fail "more than 3 nodes at once: $stats"
    wait_all_gone "$state"
    # The control socket: status, agents and Prometheus metrics of the whole run.
    local sock=$state/control.sock metrics
    assert_eq "$(stat -c '%a %U' "$sock")" "660 root" "control socket mode and owner"
    assert_eq "$(curl -fsS --unix-socket "$sock" http://slipway/v1/status | jq -c '[.capacity, .draining, .jenkins_reachable]')" '[3,false,true]'
    assert_eq "$(curl -fsS --unix-socket "$sock" http://slipway/v1/agents)" "[]" "no agents left"
    assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE --unix-socket "$sock" http://slipway/v1/agents/nope)" 404
    metrics=$(curl -fsS --unix-socket "$sock" http://slipway/metrics)
    assert_contains "$metrics" 'slipway_launches_total{template="dind"} 6'
    assert_contains "$metrics" 'slipway_builds_total{template="dind"} 6'
    assert_contains "$metrics" 'slipway_ready_seconds_count 6'
    assert_contains "$metrics" 'slipway_seed_seconds_count 6'
    assert_contains "$metrics" 'slipway_agents{state="busy"} 0'
    assert_contains "$metrics" 'slipway_cache_generations 1'
    local queue_to_step
    queue_to_step=$(jq -r '[.[] | .first_step_at - .queued_at] | sort | .[length/2|floor]' <<<"$builds")
    it_log "queue -> first step: median $queue_to_step s"
    serve_stop "$SERVE_PID" "$log"
    assert_no_leaks "$state"
    assert_contains "$(cat "$log")" "build finished"
}

test_serve_two_hosts() {
    local a=$IT_DIR/state-serve-a b=$IT_DIR/state-serve-b max
    serve_case_setup "$a"
    rm -rf "$b"
    "$SLIPWAY" --state-dir "$b" cache build --image tiny:1 >/dev/null 2>&1
    emu_start
    # Globals, not locals: the trap runs after the function returned. Never "kill 0" (the
    # whole process group) for an unset pid.
    trap 'emu_stop; [ -z "${SERVE_A:-}" ] || kill -9 "$SERVE_A" "$SERVE_B" 2>/dev/null || true' EXIT
    write_config "$IT_DIR/a.conf" "$a" host-a 3
    write_config "$IT_DIR/b.conf" "$b" host-b 3
    serve_start "$IT_DIR/a.conf" "$IT_DIR/a.log"
    SERVE_A=$SERVE_PID
    serve_start "$IT_DIR/b.conf" "$IT_DIR/b.log"
    SERVE_B=$SERVE_PID
    sleep 1
    for i in 1 2 3; do
        queue_build "two$i" dind 'docker info --format "{{.Driver}}"'
    done
    max=$(wait_builds 3 180 "$a" "$b")
    it_log "3 builds, two supervisors of capacity 3: at most $max agents at once"
    [ "$max" -le 3 ] || fail "$max agents for 3 queued builds"
    local started
    started=$(cat "$IT_DIR/a.log" "$IT_DIR/b.log" | grep -c "ready in" || true)
    [ "$started" -le 3 ] || fail "$started agents started for 3 builds"
    assert_eq "$(emu "$EMU_CONTROL/builds" | jq '[.[] | select(.result == "SUCCESS")] | length')" 3
    wait_all_gone "$a" "$b"
    serve_stop "$SERVE_A" "$IT_DIR/a.log"
    # Host B drains through its control socket instead of a signal.
    assert_eq "$(curl -fsS -X POST --unix-socket "$b/control.sock" http://slipway/v1/drain | jq .draining)" true
    local tries=0
    while kill -0 "$SERVE_B" 2>/dev/null; do
        tries=$((tries + 1)); [ "$tries" -lt 300 ] || fail "B did not drain"; sleep 0.1
    done
    wait "$SERVE_B"
    [ ! -e "$b/control.sock" ] || fail "control socket left behind"
    assert_no_leaks "$a"
    assert_no_leaks "$b"
}

test_serve_jenkins_faults() {
    local state=$IT_DIR/state-serve log=$IT_DIR/serve-faults.log conf=$IT_DIR/faults.conf
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-host 2
    serve_start "$conf" "$log"
    sleep 1
    # Answering 500 while builds are queued: nothing starts, nothing leaks.
    emu -X POST --data '{"mode":"error500"}' "$EMU_CONTROL/fault" >/dev/null
    queue_build f1 dind 'sleep 3; echo one'
    queue_build f2 dind 'echo two'
    sleep 3
    # Down (connection refused), then slow: serve keeps retrying with back-off.
    emu -X POST --data '{"mode":"down"}' "$EMU_CONTROL/fault" >/dev/null
    sleep 3
    emu -X POST --data '{"mode":"slow","delay_ms":1500}' "$EMU_CONTROL/fault" >/dev/null
    sleep 4
    emu -X POST --data '{"mode":"none"}' "$EMU_CONTROL/fault" >/dev/null
    wait_builds 2 180 "$state" >/dev/null
    # Down while a build runs: it finishes, and its agent is removed once Jenkins is back.
    queue_build f3 dind 'sleep 6; echo three'
    local tries=0
    until [ "$(emu "$EMU_CONTROL/builds" | jq -r '.[] | select(.name == "f3") | .state')" = running ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 300 ] || fail "f3 did not start"
        sleep 0.2
    done
    emu -X POST --data '{"mode":"down"}' "$EMU_CONTROL/fault" >/dev/null
    sleep 8
    [ "$(count_agents "$state")" = 1 ] || fail "the agent of a running build must stay while Jenkins is down"
    emu -X POST --data '{"mode":"none"}' "$EMU_CONTROL/fault" >/dev/null
    wait_builds 3 120 "$state" >/dev/null
    local builds
    builds=$(emu "$EMU_CONTROL/builds")
    assert_eq "$(jq '[.[] | select(.result == "SUCCESS")] | length' <<<"$builds")" 3
    assert_eq "$(jq '[.[].node] | unique | length' <<<"$builds")" 3 "one build per node ($(jq -c '[.[] | {name, node}]' <<<"$builds"))"
    wait_all_gone "$state"
    assert_contains "$(cat "$log")" "jenkins unavailable"
    assert_contains "$(cat "$log")" "jenkins reachable again"
    serve_stop "$SERVE_PID" "$log"
    assert_no_leaks "$state"
}

# The emulator's launcher checks the host key in the node definition strictly, as the SSH
# Build Agents plugin does: a wrong key fails the launch, the agent's own key succeeds.
test_serve_host_key_verification() {
    local state=$IT_DIR/state-hostkey out port key other
    rm -rf "$state"
    emu_start
    trap 'emu_stop' EXIT
    out=$("$SLIPWAY" --state-dir "$state" run --pubkey "$EMU_DIR/credential.pub" --json 2>/dev/null)
    port=$(jq -r .ssh_port <<<"$out")
    key=$(jq -r .host_key <<<"$out" | cut -d' ' -f1,2)
    rm -f "$EMU_DIR/other" "$EMU_DIR/other.pub"
    ssh-keygen -q -t ed25519 -N '' -f "$EMU_DIR/other"
    other=$(cut -d' ' -f1,2 "$EMU_DIR/other.pub")
    create_node() {
        local name=$1 hostkey=$2 json
        json=$(jq -n --arg name "$name" --arg key "$hostkey" --argjson port "$port" '{
            name: $name, nodeDescription: "manual", numExecutors: 1, remoteFS: "/home/jenkins/agent",
            labelString: "manual", mode: "EXCLUSIVE",
            launcher: {"$class": "hudson.plugins.sshslaves.SSHLauncher", host: "127.0.0.1", port: $port,
                credentialsId: "slipway-agent-ssh", javaPath: "/usr/bin/java", jvmOptions: "",
                launchTimeoutSeconds: 30, maxNumRetries: 0, retryWaitTime: 1,
                sshHostKeyVerificationStrategy: {"$class": "hudson.plugins.sshslaves.verifiers.ManuallyProvidedKeyVerificationStrategy", key: $key}},
            retentionStrategy: {"$class": "hudson.slaves.RetentionStrategy$Always"},
            nodeProperties: {"stapler-class-bag": "true"}}')
        curl -sS -o /dev/null -w '%{http_code}' -u "slipway:$EMU_TOKEN" \
            --data-urlencode "name=$name" --data-urlencode type=hudson.slaves.DumbSlave \
            --data-urlencode "json=$json" "http://127.0.0.1:$EMU_PORT/computer/doCreateItem"
    }
    node_state() { emu "$EMU_CONTROL/nodes/$1" | jq -r .state; }
    assert_eq "$(create_node wrong-key "$other")" 302 "create node"
    local tries=0
    while [ "$(emu "$EMU_CONTROL/nodes/wrong-key" | jq '.launches | length')" = 0 ] ||
          [ "$(node_state wrong-key)" = connecting ]; do
        tries=$((tries + 1)); [ "$tries" -lt 300 ] || fail "launch with a wrong key never ended"; sleep 0.2
    done
    assert_eq "$(node_state wrong-key)" offline "a wrong host key must fail the launch"
    it_log "wrong key: $(emu "$EMU_CONTROL/nodes/wrong-key" | jq -r '.launch_log | map(select(test("(?i)key"))) | last')"
    assert_eq "$(create_node right-key "$key")" 302 "create node"
    tries=0
    until [ "$(node_state right-key)" = online ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 300 ] || fail "launch with the agent's key failed: $(emu "$EMU_CONTROL/nodes/right-key" | jq -r '.launch_log | .[-5:] | join(" / ")')"
        sleep 0.2
    done
    "$SLIPWAY" --state-dir "$state" rm --all >/dev/null
    assert_no_leaks "$state"
}

test_serve_bad_config() {
    local conf=$IT_DIR/bad.conf out rc=0
    emu_start
    trap 'emu_stop' EXIT
    write_config "$conf" "$IT_DIR/state-bad" it-host 2
    chmod 644 "$EMU_DIR/token"
    out=$("$SLIPWAY" serve --config "$conf" --check 2>&1) || rc=$?
    assert_eq "$rc" 1 "a readable token file is refused"
    assert_contains "$out" "chmod 600"
    chmod 600 "$EMU_DIR/token"
    sed -i 's/^capacity = .*/capacity = lots/' "$conf"
    rc=0
    out=$("$SLIPWAY" serve --config "$conf" --check 2>&1) || rc=$?
    assert_eq "$rc" 1
    assert_contains "$out" "$conf:12: [host] capacity"
    # A wrong token is a clear error at start, not a retry loop.
    sed -i 's/^capacity = .*/capacity = 2/' "$conf"
    echo wrong-token >"$EMU_DIR/token"
    rc=0
    out=$(timeout 20 "$SLIPWAY" serve --config "$conf" 2>&1) || rc=$?
    assert_eq "$rc" 1 "serve with a wrong token"
    assert_contains "$out" "401"
    [ ! -d "$IT_DIR/state-bad/agents" ] || [ -z "$(ls -A "$IT_DIR/state-bad/agents")" ] || fail "agents left"
}

# Pipeline node('dind') items export no label, and while Jenkins has no agent node at all
# their `why` names none either: serve creates its anchor node so that Jenkins does.
test_serve_pipeline_without_agents() {
    local state=$IT_DIR/state-serve log=$IT_DIR/serve-pipeline.log conf=$IT_DIR/pipeline.conf
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-host 2
    local i
    for i in 1 2; do
        jq -n --arg name "pipe$i" '{"name": $name, "label": "dind", "pipeline": true,
            "steps": ["docker run --rm tiny:1 /bin/busybox echo pipeline-ok"]}' |
            emu -X POST -H 'Content-Type: application/json' --data-binary @- "$EMU_CONTROL/builds" >/dev/null
    done
    sleep 0.5
    assert_contains "$(curl -gsS -u "slipway:$EMU_TOKEN" "http://127.0.0.1:$EMU_PORT/queue/api/json?tree=items[why]")" \
        "Waiting for next available executor" "no label named while Jenkins has no agents"
    serve_start "$conf" "$log"
    wait_builds 2 120 "$state" >/dev/null
    assert_eq "$(emu "$EMU_CONTROL/builds" | jq '[.[] | select(.result == "SUCCESS")] | length')" 2 \
        "pipeline builds ($(emu "$EMU_CONTROL/builds" | jq -c '[.[] | {name, state, reason}]'))"
    assert_contains "$(cat "$log")" "anchor node it-host-anchor created"
    wait_all_gone_but_anchor "$state"
    serve_stop "$SERVE_PID" "$log"
    assert_eq "$(emu "$EMU_CONTROL/stats" | jq .nodes_now)" 0 "the anchor is deleted on shutdown"
    assert_no_leaks "$state"
}

wait_all_gone_but_anchor() {
    local tries=0
    until [ "$(emu "$EMU_CONTROL/stats" | jq .nodes_now)" -le 1 ] && [ "$(count_agents "$@")" = 0 ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 150 ] || fail "nodes or agents left: $(emu "$EMU_CONTROL/stats" | jq -c .)"
        sleep 0.2
    done
}

# Shutting down while Jenkins is unreachable: a second signal still removes every agent; the
# node left behind is deleted by the next start.
test_serve_stop_while_jenkins_down() {
    local state=$IT_DIR/state-serve log=$IT_DIR/serve-stopdown.log conf=$IT_DIR/stopdown.conf
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-host 2
    serve_start "$conf" "$log"
    queue_build long dind 'sleep 60'
    wait_running 0 "the build"
    emu -X POST --data '{"mode":"down"}' "$EMU_CONTROL/fault" >/dev/null
    kill -TERM "$SERVE_PID"
    sleep 1
    kill -TERM "$SERVE_PID"
    local tries=0
    while kill -0 "$SERVE_PID" 2>/dev/null; do
        tries=$((tries + 1)); [ "$tries" -lt 300 ] || fail "serve did not stop: $(tail -3 "$log")"; sleep 0.1
    done
    wait "$SERVE_PID" || true
    assert_no_leaks "$state"
    assert_contains "$(cat "$log")" "left in Jenkins (unreachable)"
    emu -X POST --data '{"mode":"none"}' "$EMU_CONTROL/fault" >/dev/null
    assert_eq "$(emu "$EMU_CONTROL/stats" | jq .nodes_now)" 1 "the node stays while slipway is away"
    serve_start "$conf" "$IT_DIR/serve-stopdown2.log"
    wait_all_gone "$state"
    serve_stop "$SERVE_PID" "$IT_DIR/serve-stopdown2.log"
    assert_contains "$(cat "$IT_DIR/serve-stopdown2.log")" "reconcile: deleted node"
}

# SIGHUP reloads slipway.conf: a bad one is refused with its file:line and the running one
# kept; a good one applies (capacity, a new template) without touching running agents.
test_serve_reload() {
    local state=$IT_DIR/state-serve log=$IT_DIR/serve-reload.log conf=$IT_DIR/reload.conf
    local sock=$state/control.sock
    rm -rf "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-host 2
    serve_start "$conf" "$log"
    local tries=0
    until [ -S "$sock" ]; do
        tries=$((tries + 1)); [ "$tries" -lt 100 ] || fail "no control socket"; sleep 0.1
    done
    cp "$conf" "$conf.good"
    sed -i 's/^capacity = .*/capacity = many/' "$conf"
    kill -HUP "$SERVE_PID"
    sleep 1
    kill -0 "$SERVE_PID" || fail "serve died on a bad config at SIGHUP"
    assert_contains "$(cat "$log")" "SIGHUP: $conf:12: [host] capacity"
    assert_eq "$(curl -fsS --unix-socket "$sock" http://slipway/v1/status | jq .capacity)" 2 "running config kept"
    sed 's/^capacity = .*/capacity = 5/' "$conf.good" >"$conf"
    printf '\n[template other]\nlabels = other\n' >>"$conf"
    kill -HUP "$SERVE_PID"
    sleep 1
    assert_contains "$(cat "$log")" "reloaded: 2 template(s), capacity 5"
    assert_eq "$(curl -fsS --unix-socket "$sock" http://slipway/v1/status | jq -c '[.capacity, [.templates[].name]]')" '[5,["dind","other"]]'
    serve_stop "$SERVE_PID" "$log"
    assert_no_leaks "$state"
}

# A template whose launches fail (its image does not exist) backs off and is reported as
# failing instead of being retried in a loop; nothing is left of the attempts.
test_serve_failing_template() {
    local state=$IT_DIR/state-serve log=$IT_DIR/serve-failing.log conf=$IT_DIR/failing.conf
    rm -rf "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-host 2
    printf 'image = slipway/missing:1\n' >>"$conf"
    serve_start "$conf" "$log"
    queue_build doomed dind 'echo never'
    sleep 25
    local attempts
    attempts=$(grep -c "launch failed:" "$log" || true)
    it_log "$attempts launches in 25 s"
    [ "$attempts" -ge 3 ] && [ "$attempts" -le 4 ] || fail "expected 3-4 launches with back-off (5, 10, 20 s), got $attempts"
    assert_contains "$(cat "$log")" "template dind is failing"
    assert_contains "$(cat "$log")" "slipway/missing:1"
    assert_eq "$(emu "$EMU_CONTROL/stats" | jq .nodes_now)" 0 "no node left by failed launches"
    serve_stop "$SERVE_PID" "$log"
    assert_no_leaks "$state"
}

it_case "serve: 6 builds, capacity 3, one build per agent, nothing left" test_serve_capacity
it_case "serve: two supervisors, one Jenkins, no more agents than builds" test_serve_two_hosts
it_case "serve: Jenkins 500, down and slow; retries, catches up, leaks nothing" test_serve_jenkins_faults
it_case "serve: a wrong host key fails the launch (emulator verifies strictly)" test_serve_host_key_verification
it_case "serve: Pipeline builds on a Jenkins without agents (anchor node)" test_serve_pipeline_without_agents
it_case "serve: stopped while Jenkins is down; the next start deletes the node" test_serve_stop_while_jenkins_down
it_case "serve: SIGHUP reloads the config; a bad one is refused" test_serve_reload
it_case "serve: a failing template backs off and says so" test_serve_failing_template
it_case "serve: bad config and wrong token are clear errors" test_serve_bad_config
