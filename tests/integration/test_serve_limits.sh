# slipway serve with a disk-limited template (issue 6 item 4): builds run in the agent's own
# file system, serve's retirement and its start-up reconciliation leave no disk behind.
# Uses the emulator helpers of test_serve.sh (sourced before this file).

test_serve_disk_limit() {
    local state=$IT_DIR/state-serve-disk conf=$IT_DIR/serve-disk.conf log=$IT_DIR/serve-disk.log out
    serve_case_setup "$state"
    emu_start
    trap 'emu_stop; [ -z "${SERVE_PID:-}" ] || kill -9 "$SERVE_PID" 2>/dev/null || true' EXIT
    write_config "$conf" "$state" it-host 1
    echo "disk-limit = 1G" >>"$conf"
    # Left by a dead supervisor: an agent directory whose disk is still mounted, its
    # container gone.
    out=$("$SLIPWAY" --state-dir "$state" run --json --disk-limit 512M 2>/dev/null)
    docker rm -f "$(jq -r .container <<<"$out")" >/dev/null
    grep -qF "$state/agents/$(jq -r .id <<<"$out")/disk" /proc/self/mountinfo || fail "orphan disk not mounted"
    serve_start "$conf" "$log"
    # The build's workspace is on a file system of about 1G (ext4 keeps a little for itself).
    queue_build disk dind 'size=$(df --output=size -BM . | tail -1 | tr -d " M"); echo "workspace fs: ${size}M"; test "$size" -gt 900 && test "$size" -le 1024'
    wait_builds 1 120 "$state" >/dev/null
    assert_eq "$(emu "$EMU_CONTROL/builds" | jq -r '.[0].result')" SUCCESS \
        "the build ran on the agent's 1G disk ($(emu "$EMU_CONTROL/builds" | jq -c '.[0] | {state, reason}'))"
    wait_all_gone "$state"
    serve_stop "$SERVE_PID" "$log"
    assert_contains "$(cat "$log")" "removed orphaned data root"
    assert_no_leaks "$state"
    local tries=0
    while losetup -a | grep -qF "$state/" && [ "$tries" -lt 50 ]; do sleep 0.1; tries=$((tries + 1)); done
    if losetup -a | grep -F "$state/"; then fail "loop devices left"; fi
    limits_row "supervisor died, agent disk left mounted (serve restart)" "reconcile unmounts and removes it"
}

it_case "serve: disk-limited template; orphaned disk reconciled, retired agent leaves nothing" test_serve_disk_limit
