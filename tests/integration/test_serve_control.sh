# The control API beyond reading (issue 5, item 4): agents created through POST /v1/agents and
# `slipway create`, the CLI talking to the daemon, standalone serve (no Jenkins), metrics on
# TCP, and the soak (scripts/soak). Sourced after test_serve.sh, whose helpers it uses.

# A free TCP port on 127.0.0.1 (for metrics-address).
ctl_free_port() {
    local port
    for port in $(shuf -i 20000-60000 -n 50); do
        ss -Htln "sport = :$port" | grep -q . || { echo "$port"; return; }
    done
    fail "no free port"
}

# ctl_standalone_config FILE STATE CAPACITY [extra [host] lines...]
ctl_standalone_config() {
    local file=$1 state=$2 capacity=$3
    shift 3
    mkdir -p "$IT_DIR/control"
    [ -f "$IT_DIR/control/user" ] || ssh-keygen -q -t ed25519 -N '' -C slipway-it-user -f "$IT_DIR/control/user"
    {
        printf '[host]\ncapacity = %s\nstate-dir = %s\ndocker-host = %s\n' "$capacity" "$state" "$DOCKER_HOST"
        printf '%s\n' "$@"
        printf '\n[template dind]\nlabels = dind\nauthorized-keys = %s\nmemory = 2G\n' "$IT_DIR/control/user.pub"
    } >"$file"
}

ctl_wait_socket() {
    local tries=0
    until curl -fsS --unix-socket "$1" http://slipway/v1/status >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || fail "no control socket $1: $(tail -3 "$2")"
        sleep 0.1
    done
}

# ctl_post SOCKET BODY [curl args...]: prints "STATUS BODY".
ctl_post() {
    local sock=$1 body=$2
    shift 2
    curl -sS --unix-socket "$sock" -w ' %{http_code}' -X POST "$@" --data-binary "$body" \
        http://slipway/v1/agents | sed 's/\(.*\) \([0-9]*\)$/\2 \1/'
}

test_control_standalone() {
    local state=$IT_DIR/state-control conf=$IT_DIR/control.conf log=$IT_DIR/control-serve.log
    local sock=$state/control.sock port json='Content-Type: application/json'
    rm -rf "$state"
    port=$(ctl_free_port)
    ctl_standalone_config "$conf" "$state" 2 "metrics-address = 127.0.0.1:$port"
    assert_contains "$("$SLIPWAY" serve --config "$conf" --check)" "standalone (no Jenkins)"
    trap '[ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    serve_start "$conf" "$log"
    ctl_wait_socket "$sock" "$log"
    assert_eq "$(curl -fsS --unix-socket "$sock" http://slipway/v1/status | jq -c '[.jenkins, .capacity]')" '[null,2]'

    # Bad requests: a clear 4xx each, and nothing created.
    local r
    r=$(ctl_post "$sock" '{"template":"dind"}')
    assert_contains "$r" '415 {"error":"POST /v1/agents takes Content-Type: application/json'
    r=$(ctl_post "$sock" '{"template":"dind",' -H "$json")
    assert_contains "$r" '400 {"error":"body is not JSON: line 1, column'
    r=$(ctl_post "$sock" '{"template":"nope"}' -H "$json")
    assert_eq "$r" '404 {"error":"unknown template \"nope\" (known: dind)"}'
    r=$(ctl_post "$sock" '{"template":"dind","count":3}' -H "$json")
    assert_eq "$r" '409 {"error":"over capacity: 0 of 2 agents exist, 3 more asked"}'
    r=$(ctl_post "$sock" '{"template":"dind","count":0}' -H "$json")
    assert_contains "$r" '400 {"error":"\"count\": expected an integer 1-100"}'
    r=$(ctl_post "$sock" '{"template":"dind","image":"evil"}' -H "$json")
    assert_contains "$r" '400 {"error":"unknown key \"image\"'
    r=$(ctl_post "$sock" "{\"template\":\"$(head -c 70000 /dev/zero | tr '\0' a)\"}" -H "$json")
    assert_contains "$r" '413 {"error":"request body too large"}'
    assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' --unix-socket "$sock" -X PUT http://slipway/v1/agents)" 405
    assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' --unix-socket "$sock" -X POST -d x http://slipway/v1/drain)" 400
    assert_eq "$(curl -fsS --unix-socket "$sock" http://slipway/v1/agents)" "[]" "bad requests created nothing"
    assert_eq "$(count_agents "$state")" 0

    # slipway create: two agents, id and ssh command each; reached with the template's key.
    local out ids id port_ssh
    out=$("$SLIPWAY" --state-dir "$state" create --template dind --count 2)
    ids=$(sed -n '1p;3p' <<<"$out")
    assert_eq "$(wc -w <<<"$ids")" 2 "two agent ids in: $out"
    id=$(head -1 <<<"$ids")
    assert_contains "$(sed -n 2p <<<"$out")" "ssh -o IdentitiesOnly=no -o UserKnownHostsFile=$state/agents/$id/ssh/known_hosts"
    port_ssh=$(curl -fsS --unix-socket "$sock" "http://slipway/v1/agents/$id" | jq .ssh_port)
    # Strict host key checking against the key the daemon generated, and the user's own key.
    out=$(ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes \
        -o UserKnownHostsFile="$state/agents/$id/ssh/known_hosts" -i "$IT_DIR/control/user" \
        -p "$port_ssh" jenkins@127.0.0.1 'docker info --format "{{.Driver}}"')
    assert_eq "$out" overlay2 "the agent's own dockerd over ssh"

    # The CLI asks the daemon: its states, the same columns.
    out=$("$SLIPWAY" --state-dir "$state" ps)
    assert_contains "$(head -1 <<<"$out")" "AGENT         NAME                      STATE      SSH"
    assert_contains "$out" "$id  slipway-$id      online     127.0.0.1:$port_ssh"
    assert_contains "$out" "template dind"
    assert_eq "$("$SLIPWAY" --state-dir "$state" ps --json | jq -r '[.[].state] | unique | join(",")')" online
    out=$("$SLIPWAY" --state-dir "$state" inspect "$id")
    assert_contains "$out" "Served        online"
    assert_contains "$out" "io.slipway.template=dind"
    assert_eq "$("$SLIPWAY" --state-dir "$state" inspect --json "$id" | jq -r '.served.template')" dind
    r=$("$SLIPWAY" --state-dir "$state" create --template dind 2>&1) && fail "created past capacity: $r"
    assert_contains "$r" "slipway: daemon: over capacity: 2 of 2 agents exist, 1 more asked"
    # Not root and not in group slipway: told so, not silently sent to Docker.
    r=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$SLIPWAY" --state-dir "$state" ps 2>&1) &&
        fail "ps worked without permission: $r"
    assert_contains "$r" "$sock: permission denied: the daemon's control socket is for root and group slipway"

    # Metrics over TCP, and nothing else there.
    local metrics
    metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
    assert_contains "$metrics" 'slipway_agents{state="online"} 2'
    assert_contains "$metrics" 'slipway_launches_total{template="dind"} 2'
    assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/status")" 404
    assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$port/v1/agents/$id")" 404
    assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "$json" -d '{"template":"dind"}' \
        "http://127.0.0.1:$port/v1/agents")" 404

    # rm through the daemon waits until the agent is gone.
    assert_eq "$("$SLIPWAY" --state-dir "$state" rm "$id")" "$id"
    assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' --unix-socket "$sock" "http://slipway/v1/agents/$id")" 404
    [ ! -e "$state/agents/$id" ] || fail "rm returned before the agent's directory was gone"
    assert_eq "$(count_agents "$state")" 1

    # Draining: no new agents; the last one goes and serve exits cleanly.
    assert_eq "$(curl -fsS --unix-socket "$sock" -X POST http://slipway/v1/drain | jq .draining)" true
    r=$(ctl_post "$sock" '{"template":"dind"}' -H "$json")
    assert_contains "$r" '409 {"error":"draining: no new agents"}'
    serve_stop "$SERVE_PID" "$log"
    assert_no_leaks "$state"
    [ ! -e "$sock" ] || fail "control socket left"
    # No daemon: the CLI goes to Docker directly again.
    assert_eq "$("$SLIPWAY" --state-dir "$state" ps --json)" "[]"
    out=$("$SLIPWAY" --state-dir "$state" create --template dind 2>&1) && fail "create without a daemon"
    assert_contains "$out" "no daemon listens on $sock"
}

# Standalone after kill -9: the next start adopts the running agent (no node to look for),
# and SIGHUP reloads a standalone configuration too.
test_control_standalone_restart() {
    local state=$IT_DIR/state-control conf=$IT_DIR/control.conf log=$IT_DIR/control-restart.log
    local sock=$state/control.sock id
    rm -rf "$state"
    ctl_standalone_config "$conf" "$state" 2
    trap '[ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    serve_start "$conf" "$log"
    ctl_wait_socket "$sock" "$log"
    id=$("$SLIPWAY" --state-dir "$state" create --template dind | head -1)
    kill -9 "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true
    serve_start "$conf" "$log.2"
    ctl_wait_socket "$sock" "$log.2"
    local tries=0
    until grep -q "agent=$id adopted (standalone)" "$log.2"; do
        tries=$((tries + 1)); [ "$tries" -lt 50 ] || fail "not adopted: $(cat "$log.2")"; sleep 0.1
    done
    assert_eq "$("$SLIPWAY" --state-dir "$state" ps --json | jq -r '.[] | "\(.id) \(.state)"')" "$id online"
    sed -i 's/^capacity = 2/capacity = 3/' "$conf"
    kill -HUP "$SERVE_PID"
    tries=0
    until [ "$(curl -fsS --unix-socket "$sock" http://slipway/v1/status | jq .capacity)" = 3 ]; do
        tries=$((tries + 1)); [ "$tries" -lt 50 ] || fail "SIGHUP: $(tail -2 "$log.2")"; sleep 0.1
    done
    assert_eq "$("$SLIPWAY" --state-dir "$state" rm "$id")" "$id"
    serve_stop "$SERVE_PID" "$log.2"
    assert_no_leaks "$state"
}

# With Jenkins (the emulator): an agent made through the API gets its node like any other,
# and a short soak in that mode leaks nothing there either (nodes included).
test_control_jenkins() {
    local state=$IT_DIR/state-control conf=$IT_DIR/control-jenkins.conf log=$IT_DIR/control-jenkins.log
    local sock=$state/control.sock
    rm -rf "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-ctl 4
    serve_start "$conf" "$log"
    ctl_wait_socket "$sock" "$log"
    local out id
    out=$("$SLIPWAY" --state-dir "$state" create --template dind)
    id=$(head -1 <<<"$out")
    assert_eq "$(curl -fsS --unix-socket "$sock" "http://slipway/v1/agents/$id" | jq -r .node)" "it-ctl-$id"
    assert_eq "$(emu "$EMU_CONTROL/stats" | jq .nodes_now)" 1 "its node is registered"
    # Jenkins connects to it over SSH, as to an agent the queue asked for.
    local tries=0
    until [ "$(curl -fsS --unix-socket "$sock" "http://slipway/v1/agents/$id" | jq -r .state)" = online ]; do
        tries=$((tries + 1)); [ "$tries" -lt 300 ] || fail "not online in Jenkins: $(tail -3 "$log")"; sleep 0.2
    done
    "$SLIPWAY" --state-dir "$state" rm "$id" >/dev/null
    assert_eq "$(emu "$EMU_CONTROL/stats" | jq .nodes_now)" 0 "its node is deleted"
    SLIPWAY=$SLIPWAY "$here/../../scripts/soak" --state-dir "$state" --cycles 8 --concurrency 4 \
        --every 4 --rss-tolerance-kb 0 --pid "$SERVE_PID" >"$IT_DIR/soak-jenkins.log" 2>&1 ||
        fail "soak with Jenkins: $(tail -8 "$IT_DIR/soak-jenkins.log")"
    assert_eq "$(emu "$EMU_CONTROL/stats" | jq .nodes_now)" 0 "no node left"
    serve_stop "$SERVE_PID" "$log"
    assert_no_leaks "$state"
}

# The soak's short version: 20 create/destroy cycles, 4 at once, against a standalone serve
# with a cache (every agent seeded). Nothing may leak; RSS must stay flat (not checked under
# sanitizers, whose quarantine holds freed memory); the daemon must exit 0 (under
# LeakSanitizer, a leak makes that fail).
test_control_soak() {
    local state=$IT_DIR/state-control conf=$IT_DIR/control-soak.conf log=$IT_DIR/control-soak.log
    local tolerance=2048
    serve_case_setup "$state"
    ctl_standalone_config "$conf" "$state" 4
    ldd "$SLIPWAY" | grep -q libasan && tolerance=0
    trap '[ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    serve_start "$conf" "$log"
    ctl_wait_socket "$state/control.sock" "$log"
    local rc=0
    SLIPWAY=$SLIPWAY "$here/../../scripts/soak" --state-dir "$state" --cycles 20 --concurrency 4 \
        --every 10 --rss-tolerance-kb "$tolerance" --pid "$SERVE_PID" >"$IT_DIR/soak.log" 2>&1 || rc=$?
    sed 's/^/    /' "$IT_DIR/soak.log" >&2
    assert_eq "$rc" 0 "scripts/soak exit status"
    # Every agent was seeded from the cache (a cold one logs "(seeded (cold) ...").
    [ "$(grep -c 'ready in .* (seeded [0-9]' "$log")" -ge 20 ] || fail "agents were not seeded: $(grep 'ready in' "$log" | head -2)"
    serve_stop "$SERVE_PID" "$log"
    assert_no_leaks "$state"
}

it_case "control: standalone serve, agents through POST /v1/agents and the CLI, metrics on TCP" test_control_standalone
it_case "control: standalone serve killed with -9 adopts its agent; SIGHUP reloads" test_control_standalone_restart
it_case "control: with Jenkins, an API-created agent gets its node; short soak, no node left" test_control_jenkins
it_case "control: soak, 20 cycles 4 at once, nothing leaked, RSS flat, exit clean" test_control_soak
