# slipway doctor against the private test dockerd, and `make install` (issue 5, operations).

DOCTOR_TOKEN=doctor-token-0123456789
AGENT_IMAGE_DEFAULT=slipway/agent:latest

# The status of one check in doctor's JSON (the first result of that name).
doctor_status() { jq -r --arg c "$2" '[.[] | select(.check == $c)][0].status' <<<"$1"; }
doctor_field() { jq -r --arg c "$2" --arg f "$3" '[.[] | select(.check == $c)][0][$f] // ""' <<<"$1"; }

# doctor_json [VERB OPTION...]: run doctor (state dir and Docker host from SLIPWAY_STATE_DIR
# and DOCKER_HOST), check the shape of its JSON and that the exit status is 1 exactly when
# something FAILed, and print the JSON.
doctor_json() {
    local out rc=0
    out=$("$SLIPWAY" doctor --json "$@") || rc=$?
    jq -e 'type == "array" and length > 0 and all(.[]; (.check | type) == "string" and
           (.status | IN("PASS", "WARN", "FAIL")) and (.detail | type) == "string" and
           ((.status == "PASS") == (has("fix") | not)))' <<<"$out" >/dev/null ||
        fail "malformed doctor output: $out"
    if jq -e 'any(.[]; .status == "FAIL")' <<<"$out" >/dev/null; then
        assert_eq "$rc" 1 "exit status with a FAIL"
    else
        assert_eq "$rc" 0 "exit status without a FAIL"
    fi
    printf '%s\n' "$out"
}

# The Jenkins emulator, for the jenkins check only (it never launches an agent here, so its
# remoting.jar may be an empty file). Sets DOCTOR_EMU_PID and DOCTOR_EMU_URL.
doctor_emu_start() {
    local dir=$1 tries=0
    mkdir -p "$dir"
    : >"$dir/remoting.jar"
    /usr/bin/python3 "$here/../jenkins/emulator.py" --port-file "$dir/port" --user slipway \
        --token "$DOCTOR_TOKEN" --jar "$dir/remoting.jar" --events "$dir/events.jsonl" \
        --log "$dir/emulator.log" ${DOCTOR_EMU_EXTRA:-} &
    DOCTOR_EMU_PID=$!
    until [ -s "$dir/port" ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || fail "emulator did not start: $(tail -5 "$dir/emulator.log")"
        kill -0 "$DOCTOR_EMU_PID" || fail "emulator died: $(tail -5 "$dir/emulator.log")"
        sleep 0.1
    done
    DOCTOR_EMU_URL=http://127.0.0.1:$(cat "$dir/port")/
}

# doctor_config FILE STATE DOCKER_HOST TOKEN IMAGE: two templates, one with IMAGE, one with
# the default agent image.
doctor_config() {
    local file=$1 state=$2 docker_host=$3 token=$4 image=$5 dir
    dir=$(dirname "$file")
    printf '%s\n' "$token" >"$dir/token"
    chmod 600 "$dir/token"
    [ -f "$dir/agent.pub" ] || ssh-keygen -q -t ed25519 -N '' -C doctor -f "$dir/agent"
    cat >"$file" <<EOF
[jenkins]
url = $DOCTOR_EMU_URL
user = slipway
token-file = $dir/token
credentials-id = slipway-agent-ssh
agent-public-key = $dir/agent.pub
timeout = 5

[host]
state-dir = $state
docker-host = $docker_host

[template custom]
labels = custom
image = $image

[template dind]
labels = dind
EOF
}

test_doctor_docker_image_jenkins() {
    local dir=$IT_DIR/doctor state=$IT_DIR/state-doctor out
    rm -rf "$dir" "$state"
    mkdir -p "$dir" "$state"

    # Without a configuration: the test daemon and the agent image the harness built.
    out=$(SLIPWAY_STATE_DIR=$state doctor_json --no-config)
    assert_eq "$(doctor_status "$out" docker)" PASS "docker ($(doctor_field "$out" docker detail))"
    assert_contains "$(doctor_field "$out" docker detail)" "API 1."
    assert_eq "$(doctor_status "$out" image)" PASS "agent image ($(doctor_field "$out" image detail))"
    assert_contains "$(doctor_field "$out" image detail)" "slipway/agent:latest present"
    assert_eq "$(doctor_status "$out" overlay)" PASS "overlay"
    assert_eq "$(doctor_status "$out" state-dir)" PASS "state dir ($(doctor_field "$out" state-dir detail))"
    assert_eq "$(doctor_status "$out" ssh-keygen)" PASS "ssh-keygen"
    # No generation yet: a warning with the command that makes one.
    assert_eq "$(doctor_status "$out" cache)" WARN "no generation yet"
    assert_contains "$(doctor_field "$out" cache fix)" "cache build --image"
    [ "$(jq '[.[] | select(.check == "jenkins" or .check == "config")] | length' <<<"$out")" = 0 ] ||
        fail "jenkins/config checked without a configuration"
    # The probe files of the reflink check are gone.
    assert_eq "$(find "$state" -mindepth 1 | wc -l)" 0 "files left in the state dir"

    it_cache_images
    "$SLIPWAY" --state-dir "$state" cache build --image tiny:1 >/dev/null 2>&1
    out=$(SLIPWAY_STATE_DIR=$state doctor_json --no-config)
    assert_eq "$(doctor_status "$out" cache)" PASS "cache after a build"

    local usage rc_usage=0
    usage=$("$SLIPWAY" doctor --config x --no-config 2>&1) || rc_usage=$?
    assert_eq "$rc_usage" 2 "usage error"
    assert_contains "$usage" "exclude each other"

    # The table: one line per check, a fix line under each WARN/FAIL, a summary.
    local table rc=0
    table=$("$SLIPWAY" --state-dir "$state" --docker-host "$DOCKER_HOST" doctor --no-config) || rc=$?
    assert_contains "$table" "STATUS  CHECK"
    assert_contains "$table" "passed,"
    [[ "$table" =~ PASS\ +docker\ +dockerd ]] || fail "no docker row in: $table"

    # A configuration whose first template's image is missing: FAIL with a fix; Jenkins
    # reachable with the right token; the configuration's state dir and Docker host are used.
    doctor_emu_start "$dir/jenkins"
    trap 'kill "$DOCTOR_EMU_PID" 2>/dev/null || true' EXIT
    doctor_config "$dir/slipway.conf" "$state" "$DOCKER_HOST" "$DOCTOR_TOKEN" slipway/nosuch:1
    out=$(DOCKER_HOST=unix:///nonexistent.sock doctor_json --config "$dir/slipway.conf")
    assert_eq "$(doctor_status "$out" config)" PASS "config ($(doctor_field "$out" config detail))"
    assert_eq "$(doctor_status "$out" docker)" PASS "docker host from the configuration"
    assert_eq "$(doctor_status "$out" jenkins)" PASS "jenkins ($(doctor_field "$out" jenkins detail))"
    assert_eq "$(doctor_status "$out" jenkins-plugins)" PASS "plugins ($(doctor_field "$out" jenkins-plugins detail))"
    assert_contains "$(doctor_field "$out" jenkins-plugins detail)" "ssh-slaves 3.1031.v72c6b_883b_869"
    assert_eq "$(jq '[.[] | select(.check == "image")] | length' <<<"$out")" 2 "one image check per image"
    local missing
    missing=$(jq -c '[.[] | select(.check == "image" and .status == "FAIL")]' <<<"$out")
    assert_eq "$(jq length <<<"$missing")" 1 "the missing image FAILs ($out)"
    assert_contains "$(jq -r '.[0].detail' <<<"$missing")" "slipway/nosuch:1 is not on the daemon"
    assert_contains "$(jq -r '.[0].fix' <<<"$missing")" "docker load -i FILE"
    assert_eq "$(jq -r '[.[] | select(.check == "image" and .status == "PASS")][0].detail' <<<"$out" | cut -d' ' -f1)" \
        slipway/agent:latest "the default image passes"

    # An SSH Build Agents plugin too old for ed25519 keys: a warning that says which.
    kill "$DOCTOR_EMU_PID" 2>/dev/null || true
    wait "$DOCTOR_EMU_PID" 2>/dev/null || true
    rm -f "$dir/jenkins/port"
    DOCTOR_EMU_EXTRA="--plugin ssh-slaves:1.26 --plugin trilead-api:1.0.4" doctor_emu_start "$dir/jenkins"
    doctor_config "$dir/slipway.conf" "$state" "$DOCKER_HOST" "$DOCTOR_TOKEN" "$AGENT_IMAGE_DEFAULT"
    out=$(doctor_json --config "$dir/slipway.conf")
    assert_eq "$(doctor_status "$out" jenkins-plugins)" WARN "old plugins ($(doctor_field "$out" jenkins-plugins detail))"
    assert_contains "$(doctor_field "$out" jenkins-plugins detail)" "ssh-slaves 1.26 is older than 1.29.0; trilead-api 1.0.4 is older than 1.0.13"
    assert_contains "$(doctor_field "$out" jenkins-plugins fix)" "update the SSH Build Agents plugin"

    # A wrong token: Jenkins refuses it, and the fix says where the token goes.
    doctor_config "$dir/slipway.conf" "$state" "$DOCKER_HOST" wrong-token "$AGENT_IMAGE_DEFAULT"
    out=$(doctor_json --config "$dir/slipway.conf")
    assert_eq "$(doctor_status "$out" jenkins)" FAIL "wrong token"
    assert_contains "$(doctor_field "$out" jenkins fix)" "API Token"
    assert_contains "$(doctor_field "$out" jenkins fix)" "$dir/token"

    # No daemon at the configured socket: FAIL with how to start one; the image is not checked.
    doctor_config "$dir/slipway.conf" "$state" unix:///nonexistent/docker.sock "$DOCTOR_TOKEN" slipway/agent:latest
    out=$(doctor_json --config "$dir/slipway.conf")
    assert_eq "$(doctor_status "$out" docker)" FAIL "no daemon"
    assert_contains "$(doctor_field "$out" docker fix)" "start dockerd"
    assert_eq "$(doctor_status "$out" image)" WARN "image not checked without a daemon"

    # A broken configuration: FAIL naming the line, with how to re-check it.
    printf '[jenkins]\nurl = nope\n' >"$dir/bad.conf"
    out=$(SLIPWAY_STATE_DIR=$state doctor_json --config "$dir/bad.conf")
    assert_eq "$(doctor_status "$out" config)" FAIL "bad config"
    assert_contains "$(doctor_field "$out" config detail)" "bad.conf:"
    assert_contains "$(doctor_field "$out" config fix)" "--check"
    kill "$DOCTOR_EMU_PID"
    wait "$DOCTOR_EMU_PID" 2>/dev/null || true
    rm -rf "$state"
}

doctor_fs_cleanup() {
    local dir=$DOCTOR_FS_DIR
    umount "$dir/ovl/merged" "$dir/tmpfs" "$dir/btrfs" 2>/dev/null || true
    rm -rf "$dir"
}

test_doctor_state_dir_file_systems() {
    local out
    # A global: the EXIT trap runs after the function's locals are gone.
    DOCTOR_FS_DIR=$IT_DIR/doctor-fs
    local dir=$DOCTOR_FS_DIR
    doctor_fs_cleanup
    trap doctor_fs_cleanup EXIT
    mkdir -p "$dir/ovl/lower" "$dir/ovl/upper" "$dir/ovl/work" "$dir/ovl/merged" "$dir/tmpfs" "$dir/btrfs"

    # overlayfs: the agents' overlay2 cannot stack on it.
    mount -t overlay overlay -o "lowerdir=$dir/ovl/lower,upperdir=$dir/ovl/upper,workdir=$dir/ovl/work" "$dir/ovl/merged"
    mkdir "$dir/ovl/merged/state"
    out=$(SLIPWAY_STATE_DIR=$dir/ovl/merged/state doctor_json --no-config)
    assert_eq "$(doctor_status "$out" state-dir)" FAIL "state dir on overlayfs"
    assert_contains "$(doctor_field "$out" state-dir detail)" "is on overlayfs"
    assert_contains "$(doctor_field "$out" state-dir fix)" "host file system"
    assert_contains "$(doctor_field "$out" state-dir fix)" "state-dir = DIR"

    # tmpfs works, with a warning; a state dir not created yet is checked at its parent.
    mount -t tmpfs -o size=64m tmpfs "$dir/tmpfs"
    out=$(SLIPWAY_STATE_DIR=$dir/tmpfs/not/yet doctor_json --no-config)
    assert_eq "$(doctor_status "$out" state-dir)" WARN "state dir on tmpfs"
    assert_contains "$(doctor_field "$out" state-dir detail)" "not created yet; checked at $dir/tmpfs"
    assert_eq "$(doctor_status "$out" free-space)" FAIL "64 MB free"
    [ ! -e "$dir/tmpfs/not" ] || fail "doctor created the state dir"

    # btrfs: snapshots and FICLONE both available (a sparse image: little real space).
    truncate -s 3G "$dir/btrfs.img"
    mkfs.btrfs -q -f "$dir/btrfs.img" >/dev/null
    mount -o loop "$dir/btrfs.img" "$dir/btrfs"
    out=$(SLIPWAY_STATE_DIR=$dir/btrfs doctor_json --no-config)
    assert_eq "$(doctor_status "$out" state-dir)" PASS "state dir on btrfs"
    assert_eq "$(doctor_status "$out" btrfs)" PASS "btrfs ($(doctor_field "$out" btrfs detail))"
    assert_eq "$(doctor_status "$out" reflink)" PASS "reflink ($(doctor_field "$out" reflink detail))"
    assert_eq "$(find "$dir/btrfs" -mindepth 1 | wc -l)" 0 "probe files left"
    # ...and on ext4 (where the test dir lives), neither, as warnings only.
    out=$(SLIPWAY_STATE_DIR=$IT_DIR doctor_json --no-config)
    if [ "$(stat -f -c %T "$IT_DIR")" = ext2/ext3 ]; then
        assert_eq "$(doctor_status "$out" btrfs)" WARN "no btrfs on ext4"
        assert_eq "$(doctor_status "$out" reflink)" WARN "no reflink on ext4"
        assert_contains "$(doctor_field "$out" reflink detail)" "Operation not supported"
    fi
}

test_make_install() {
    local dest unit
    DOCTOR_DEST=$(mktemp -d) # a global, for the EXIT trap
    dest=$DOCTOR_DEST
    trap 'rm -rf "$DOCTOR_DEST"' EXIT
    make -s -C "$top" install BUILD="$SLIPWAY_BUILD" DESTDIR="$dest" PREFIX=/usr >/dev/null
    [ -x "$dest/usr/bin/slipway" ] || fail "no $dest/usr/bin/slipway"
    assert_contains "$("$dest/usr/bin/slipway" --version)" "slipway "
    [ -x "$dest/usr/libexec/slipway/slipway-init" ] || fail "no slipway-init"
    # slipway-init runs in any agent image: static.
    if ldd "$dest/usr/libexec/slipway/slipway-init" >/dev/null 2>&1; then fail "slipway-init is dynamic"; fi
    unit=$dest/usr/lib/systemd/system/slipway.service
    [ -f "$unit" ] || fail "no $unit"
    assert_eq "$(stat -c %a "$unit")" 644 "unit mode"
    assert_eq "$(grep '^ExecStart=' "$unit")" \
        "ExecStart=/usr/bin/slipway serve --config /etc/slipway/slipway.conf" "ExecStart follows PREFIX"
    # Everything under DESTDIR/PREFIX.
    local elsewhere
    elsewhere=$(cd "$dest" && find . -type f ! -path './usr/*')
    [ -z "$elsewhere" ] || fail "installed outside PREFIX: $elsewhere"
    # systemd's own checker (it also wants the binary where ExecStart says: point it there).
    mkdir "$dest/verify"
    sed "s|^ExecStart=/usr/bin/slipway |ExecStart=$dest/usr/bin/slipway |" "$unit" >"$dest/verify/slipway.service"
    local verify
    verify=$(systemd-analyze verify "$dest/verify/slipway.service" 2>&1) || fail "systemd-analyze verify: $verify"
    [ -z "$verify" ] || fail "systemd-analyze verify complained: $verify"
}

it_case "doctor: docker, image, cache and Jenkins checks; missing image, bad token, no daemon FAIL with a fix" test_doctor_docker_image_jenkins
it_case "doctor: state dir on overlayfs FAILs, tmpfs warns, btrfs has snapshots and reflink" test_doctor_state_dir_file_systems
it_case "doctor: make install DESTDIR PREFIX=/usr installs binary, init and a verified unit" test_make_install
