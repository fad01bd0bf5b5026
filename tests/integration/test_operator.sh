# The operator's tools (issue 7, item 4): slipway logs, slipway inspect, --help of every
# command, the manual pages and bash completion, each checked against the others.

# `slipway logs` of a running agent, of one after an SSH login, followed, and of a stopped one;
# `slipway inspect` in both forms; completion of agent ids.
test_operator_logs_inspect() {
    local state=$IT_DIR/state-operator out id ssh container
    rm -rf "$state"
    out=$("$SLIPWAY" --state-dir "$state" run --label team=ops --dockerd-arg --label=it-operator=yes 2>/dev/null)
    id=$(sed -n 1p <<<"$out")
    ssh=$(sed -n 2p <<<"$out")
    # ConnectTimeout also bounds the SSH handshake: a port whose forwarding another daemon on this
    # host flushed accepts (dockerd holds it) and then says nothing.
    ssh="$ssh -o BatchMode=yes -o ConnectTimeout=30"
    $ssh true

    # Every log, each under its heading; the daemons' lines in their own logs.
    local logs
    logs=$("$SLIPWAY" --state-dir "$state" logs "$id")
    assert_contains "$logs" "==> init (container log) <=="
    assert_contains "$logs" "==> containerd (/var/log/slipway/containerd.log) <=="
    assert_contains "$logs" "==> dockerd (/var/log/slipway/dockerd.log) <=="
    assert_contains "$logs" "==> sshd (/var/log/slipway/sshd.log) <=="
    assert_contains "$logs" "slipway-init: ready after"
    assert_contains "$logs" "API listen on /run/docker/docker.sock"
    assert_contains "$logs" "Accepted publickey for jenkins"
    # The container log keeps slipway-init's own lines only.
    container=$("$SLIPWAY" --state-dir "$state" ps --json | jq -r '.[0].container')
    if docker logs "$container" 2>&1 | grep -v '^slipway-init: ' | grep -q .; then
        fail "the container log holds more than slipway-init's lines: $(docker logs "$container" 2>&1 | head -5)"
    fi
    out=$("$SLIPWAY" --state-dir "$state" logs "$id" --dockerd --tail 1)
    assert_eq "$(wc -l <<<"$out")" 2 "--dockerd --tail 1: a heading and one line"
    assert_eq "$(sed -n 1p <<<"$out")" "==> dockerd (/var/log/slipway/dockerd.log) <=="
    out=$("$SLIPWAY" --state-dir "$state" logs --tail=0 --init --sshd "$id")
    assert_eq "$out" $'==> init (container log) <==\n\n==> sshd (/var/log/slipway/sshd.log) <==' "--tail 0"
    # sshd's lines carry a time (sshd -e prints none).
    grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z Accepted publickey' \
        <<<"$("$SLIPWAY" --state-dir "$state" logs "$id" --sshd)" || fail "sshd lines without a time"

    # Following: the lines of a new login appear, prefixed; nothing is left running inside.
    "$SLIPWAY" --state-dir "$state" logs "$id" --follow --tail 0 >"$IT_DIR/follow.out" 2>&1 &
    local follower=$! tries=0
    sleep 1
    $ssh true
    until grep -q '^sshd       | .*Accepted publickey for jenkins' "$IT_DIR/follow.out"; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || { kill "$follower"; fail "follow showed no login: $(cat "$IT_DIR/follow.out")"; }
        sleep 0.1
    done
    kill "$follower"
    wait "$follower" || true
    tries=0
    while docker exec "$container" ps -eo args | grep -q '^tail -n'; do
        tries=$((tries + 1))
        [ "$tries" -lt 50 ] || fail "logs --follow left tail running in the agent"
        sleep 0.1
    done

    # inspect, human and JSON: the fingerprint is ssh-keygen's, the ssh command works.
    local dir=$state/agents/$id fingerprint json
    fingerprint=$(ssh-keygen -lf "$dir/ssh/host_ed25519_key.pub" | cut -d' ' -f2)
    out=$("$SLIPWAY" --state-dir "$state" inspect "$id")
    assert_contains "$out" "Fingerprint   $fingerprint"
    assert_contains "$out" "Data root     $dir/data-root ("
    assert_contains "$out" "team=ops"
    assert_contains "$out" "dockerd args  --label=it-operator=yes"
    json=$("$SLIPWAY" --state-dir "$state" inspect "slipway-$id" --json)
    assert_eq "$(jq -r .id <<<"$json")" "$id" "inspect by name"
    assert_eq "$(jq -r .host_key_fingerprint <<<"$json")" "$fingerprint" "fingerprint"
    assert_eq "$(jq -r '.labels["io.slipway.agent"]' <<<"$json")" "$id" "slipway's own labels"
    assert_eq "$(jq -r .labels.team <<<"$json")" ops "user label"
    assert_eq "$(jq -r .state <<<"$json")" running "state"
    assert_eq "$(jq -r .finished_at <<<"$json")" null "finished_at while running"
    assert_eq "$(jq -r .data_root.path <<<"$json")" "$dir/data-root" "data root path"
    jq -e '.data_root.bytes > 0 and .limits.memory_bytes == null and (.created_at | length > 0)' \
        <<<"$json" >/dev/null || fail "inspect JSON: $json"
    assert_eq "$($(jq -r .ssh_command <<<"$json") -o BatchMode=yes -o ConnectTimeout=30 whoami)" jenkins \
        "inspect's ssh command"

    # Completion offers the agent (from ps --json, with the command line's --state-dir).
    local words
    words=$(bash -c 'source "$1"; COMP_WORDS=("$3" --state-dir "$2" logs ""); COMP_CWORD=4
                     _slipway; echo "${COMPREPLY[*]}"' _ "$here/../../scripts/slipway.bash-completion" "$state" \
            "$SLIPWAY" 2>&1)
    assert_contains "$words" "$id" "completion of agent ids"
    assert_contains "$words" "slipway-$id" "completion of agent names"

    # A stopped agent: its logs are still there, its state and exit code too.
    docker stop "$container" >/dev/null
    logs=$("$SLIPWAY" --state-dir "$state" logs "$id" --follow 2>"$IT_DIR/stderr")
    assert_contains "$(cat "$IT_DIR/stderr")" "not running: showing its logs without following"
    assert_contains "$logs" "slipway-init: stopped (exit 0)"
    assert_contains "$logs" "Daemon shutdown complete"
    json=$("$SLIPWAY" --state-dir "$state" inspect "$id" --json)
    jq -e '.state == "exited" and .exit_code == 0 and (.finished_at | length > 0)' <<<"$json" >/dev/null ||
        fail "inspect of a stopped agent: $json"

    "$SLIPWAY" --state-dir "$state" rm "$id" >/dev/null
    assert_no_leaks "$state"

    # An inner dockerd that will not start says why, in slipway run's one-line error.
    local rc=0
    out=$("$SLIPWAY" --state-dir "$state" run --dockerd-arg --no-such-flag 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "run with a bad dockerd argument succeeded"
    assert_contains "$out" "dockerd exited during start-up with status 1: "
    assert_contains "$out" "unknown flag: --no-such-flag"
    it_log "$out"
    assert_no_leaks "$state"
    # Errors of the new commands: one line each.
    out=$("$SLIPWAY" --state-dir "$state" logs nope 2>&1) && fail "logs of no agent succeeded"
    assert_eq "$out" "slipway: no agent \"nope\" in $state"
    out=$("$SLIPWAY" --state-dir "$state" inspect 2>&1) && fail "inspect without an agent succeeded"
    assert_contains "$out" "which agent?"
    return 0
}

# The long options a command's source accepts (its getopt tables).
source_options() {
    grep -ho '{ "[a-z-]*", \(no\|required\|optional\)_argument' "$@" | sed 's/{ "\([^"]*\)".*/--\1/' | sort -u
}

# The part of the rendered slipway(8) about one command: from its heading to the next one.
man_section() {
    awk -v heading="   slipway $1 " 'index($0, heading) == 1 { on = 1; print; next }
        on && (/^   slipway / || /^[A-Z]/) { on = 0 }
        on'
}

# --help of every command exits 0 and names every option the command accepts; completion
# offers exactly those; slipway(8) documents every command and option, slipway.conf(5) every
# key; both pages are built by make and render without a warning.
test_operator_help_man_completion() {
    local top=$here/../.. completion man8 man5
    completion=$top/scripts/slipway.bash-completion
    man8=$SLIPWAY_BUILD/man/slipway.8
    man5=$SLIPWAY_BUILD/man/slipway.conf.5
    [ -s "$man8" ] || fail "make built no $man8"
    [ -s "$man5" ] || fail "make built no $man5"
    command -v man >/dev/null || fail "man is missing: run 'make deps'"
    local page warnings
    for page in "$man8" "$man5"; do
        warnings=$(LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$page" 2>&1 >/dev/null)
        assert_eq "$warnings" "" "man --warnings -l $page"
    done
    local text8 text5
    text8=$(LC_ALL=C.UTF-8 MANWIDTH=300 man --nh --nj -l "$man8" 2>/dev/null)
    text5=$(LC_ALL=C.UTF-8 MANWIDTH=300 man --nh --nj -l "$man5" 2>/dev/null)

    # Every command: in the global help, in completion and in the manual.
    local commands help verb
    commands=$(bash -c 'source "$1"; echo $_slipway_commands' _ "$completion")
    help=$("$SLIPWAY" --help)
    for verb in $(sed -n 's/^  \([a-z]\+\)  .*/\1/p' <<<"$help"); do
        assert_contains " $commands " " $verb " "completion lacks command $verb"
    done
    for verb in $commands; do
        assert_contains "$help" "  $verb " "slipway --help lacks $verb"
        assert_contains "$text8" "slipway $verb" "slipway(8) lacks $verb"
    done
    for verb in $(source_options "$top/supervisor/cli/main.c"); do
        assert_contains "$help" "$verb" "slipway --help lacks $verb"
        assert_contains "$text8" "$verb" "slipway(8) lacks global option $verb"
    done

    # Every command's options: accepted (source) = in --help = completed; all in slipway(8).
    local command source rc option completed section
    for command in run create ps rm shell logs inspect cache serve doctor "cache build" "cache ls" \
        "cache verify" "cache gc"; do
        rc=0
        # shellcheck disable=SC2086 # "cache ls" is two words
        help=$("$SLIPWAY" $command --help) || rc=$?
        assert_eq "$rc" 0 "slipway $command --help exit status"
        assert_contains "$help" "Usage: slipway ${command%% *}" "slipway $command --help"
        source=$top/supervisor/cli/cmd_${command%% *}.c
        [ -f "$source" ] || fail "no $source"
        completed=$(bash -c 'source "$1"; _slipway_options "$2"' _ "$completion" "$command" | tr -s ' \n' '\n' |
                    grep . | sort -u)
        case $command in
            cache) ;; # the cache help lists the subcommands' options
            "cache "*)
                # Each subcommand's completion is a subset of the file's options.
                for option in $completed; do
                    assert_contains "$(source_options "$source")" "$option" "$command completes $option"
                done
                ;;
            *) assert_eq "$(tr '\n' ' ' <<<"$completed")" "$(source_options "$source" | tr '\n' ' ')" \
                   "completion of $command" ;;
        esac
        # (The cache subcommands share one help, which lists them all.)
        section=$(man_section "${command%% *}" <<<"$text8")
        [ -n "$section" ] || fail "slipway(8) has no section for slipway ${command%% *}"
        for option in $(source_options "$source"); do
            assert_contains "$help" "$option" "slipway $command --help lacks $option"
            [ "$option" = --help ] || assert_contains "$section" "$option" "slipway(8) lacks $command $option"
        done
    done

    # slipway.conf(5): every key of every section, as config.c knows them.
    local key
    for key in $(grep -o '\] = { "[a-z-]*"' "$top/supervisor/config.c" | sed 's/.*"\(.*\)"/\1/'); do
        assert_contains "$text5" "$key = " "slipway.conf(5) lacks $key"
    done
    for key in "[jenkins]" "[host]" "[template NAME]"; do
        assert_contains "$text5" "$key" "slipway.conf(5) lacks $key"
    done

    # make install puts both pages and the completion under DESTDIR/PREFIX, where man finds them.
    OPERATOR_DEST=$(mktemp -d) # a global, for the EXIT trap
    trap 'rm -rf "$OPERATOR_DEST"' EXIT
    local prefix=$OPERATOR_DEST/opt/sw file
    make -s -C "$top" install BUILD="$SLIPWAY_BUILD" DESTDIR="$OPERATOR_DEST" PREFIX=/opt/sw >/dev/null
    for file in share/man/man8/slipway.8 share/man/man5/slipway.conf.5 \
        share/bash-completion/completions/slipway; do
        [ -f "$prefix/$file" ] || fail "make install: no PREFIX/$file"
        assert_eq "$(stat -c %a "$prefix/$file")" 644 "mode of $file"
    done
    assert_eq "$(MANPATH=$prefix/share/man man -w slipway.conf)" "$prefix/share/man/man5/slipway.conf.5" \
        "man finds slipway.conf(5)"
}

it_case "operator: logs (all, tail, follow, stopped), inspect (human, JSON), completion" test_operator_logs_inspect
it_case "operator: --help of every command, man pages, completion lists agree" test_operator_help_man_completion
