# The attack suite: a build is hostile. Every attempt runs as `jenkins` over SSH in a live,
# seeded agent, exactly as a build would, and, since a build can always become root over its
# own dockerd, also as that root: in a --privileged container with the agent's / bound in,
# and through nsenter into the inner dockerd's own namespaces. None of it may reach the host,
# the cache generation, another agent or the agent's own outside (the user namespace is the
# boundary, SECURITY.md). The legitimate path is checked in the same run, BuildKit included.
# It prints a table "attempt | expected | outcome" and fails if any attack succeeds or any
# legitimate use breaks.
#
# Adding a row: call attack_row with what is tried, what must happen, and the command (run on
# this host; use "$ATTACK_SSH" to run it in the agent as jenkins, attack_as_root for root in
# the namespace):
#   attack_row "write core_pattern" fails:"core_pattern" attack_as_root container 'echo x >/proc/sys/kernel/core_pattern'
# Expected outcomes:
#   fails:TEXT    fails (non-zero exit), and its output holds TEXT
#   works         succeeds
#   works:TEXT    succeeds, and its output holds TEXT
#
# Each root row was run against the design before the user namespace (root of the agent was
# host root, a privileged container was refused only by the Docker policy proxy, which the
# review got past): there, every one of them succeeded.

ATTACK_ROWS=()
ATTACK_FAILED=0
ATTACK_SSH=

attack_row() {
    local attempt=$1 expect=$2 out rc=0 outcome ok=1 first
    shift 2
    out=$("$@" 2>&1) || rc=$?
    first=$(sed '/^$/d' <<<"$out" | tail -n1)
    case $expect in
        fails:*)
            if [ "$rc" -ne 0 ] && grep -qF -- "${expect#fails:}" <<<"$out"; then outcome="failed: ${first:0:90}"
            else outcome="DID NOT FAIL AS EXPECTED (exit $rc): ${first:0:90}"; ok=0; fi ;;
        works | works:*)
            if [ "$rc" -eq 0 ] && { [ "$expect" = works ] || grep -qF -- "${expect#works:}" <<<"$out"; }; then
                outcome="works"
            else outcome="BROKEN (exit $rc): ${first:0:90}"; ok=0; fi ;;
        *) outcome="bad expectation '$expect'"; ok=0 ;;
    esac
    [ "$ok" = 1 ] || ATTACK_FAILED=1
    ATTACK_ROWS+=("$attempt|${expect%%:*}|$outcome")
}

# Print the table (to stderr, with the case's other output); fail if any row failed.
attack_table() {
    local row attempt expect outcome
    printf '    %-66s | %-5s | %s\n' attempt expect outcome >&2
    printf '    %s\n' "$(printf -- '-%.0s' {1..120})" >&2
    for row in "${ATTACK_ROWS[@]}"; do
        IFS='|' read -r attempt expect outcome <<<"$row"
        printf '    %-66s | %-5s | %s\n' "$attempt" "$expect" "$outcome" >&2
    done
    [ "$ATTACK_FAILED" = 0 ] || fail "an attack succeeded or a legitimate use broke (see the table)"
}

# attack_as_root WAY SCRIPT: run a busybox sh script as root of the agent's user namespace,
# reached the way a build reaches it. WAY is "container" (docker run --privileged, every
# namespace of the inner dockerd's host, the agent's / at /host) or "nsenter" (the same
# container, then nsenter into the inner dockerd's own namespaces: what the review did to
# PID 1 before). The agent's own root file system is at /host in both.
attack_as_root() {
    local way=$1 script=$2 inner
    case $way in
        container) inner=$script ;;
        # In dockerd's own mount namespace the agent's root is /, not /host, and the shell is
        # the agent's own.
        nsenter) script=${script//\/host\//\/}
                 script=${script//chroot \/host /chroot \/ }
                 inner="exec /bin/busybox nsenter -t \$(/bin/busybox pidof dockerd) -m -u -i -n -p /bin/sh -c '$(sed "s/'/'\\\\''/g" <<<"$script")'" ;;
    esac
    $ATTACK_SSH docker run --rm --privileged --pid host --net host --ipc host --uts host -v /:/host \
        tiny:1 /bin/busybox sh -c "$(printf '%q' "$inner")"
}

# The agent's ssh command, aimed at its container's address on the test bridge instead of the
# published 127.0.0.1 port (the host key is still checked, under its published name). Test
# daemons started in parallel by other runs re-create dockerd's NAT chain and drop each other's
# port rules; a suite of ~70 connections must not depend on them. Timeouts make a hung
# connection fail its row instead of hanging the run.
attack_ssh_direct() {
    local state=$1 id=$2 ssh=$3 container ip port
    container=$("$SLIPWAY" --state-dir "$state" ps --json | jq -r ".[] | select(.id==\"$id\") | .container")
    ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$container")
    port=$(sed -n 's/.* -p \([0-9]*\) .*/\1/p' <<<"$ssh")
    [ -n "$ip" ] && [ -n "$port" ] || { echo "no address for agent $id" >&2; return 1; }
    sed "s/ -p $port jenkins@127.0.0.1/ -o HostKeyAlias=[127.0.0.1]:$port -p 22 jenkins@$ip/" <<<"$ssh" |
        sed 's/$/ -o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4/'
}

# Root of the namespace, both ways: nothing of the host kernel, the agent or the generation.
attack_root_rows() {
    local state=$1 b_dir=$2 way
    for way in container nsenter; do
        attack_row "$way: root here is a host id of the agent's range" works:"0 $ATTACK_USERNS_BASE" \
            attack_as_root "$way" 'read inside outside count </proc/self/uid_map && echo "$inside $outside"'
        attack_row "$way: write kernel.core_pattern (a global sysctl)" fails:"core_pattern" \
            attack_as_root "$way" 'echo "|/bin/sh -c id" >/proc/sys/kernel/core_pattern'
        attack_row "$way: write kernel.panic (another global sysctl)" fails:"kernel/panic" \
            attack_as_root "$way" 'echo 1 >/proc/sys/kernel/panic'
        attack_row "$way: devices cgroup: allow every device" fails:"devices.allow" \
            attack_as_root "$way" 'for f in /sys/fs/cgroup/devices/devices.allow /sys/fs/cgroup/devices/*/devices.allow; do [ -e "$f" ] || continue; echo a >"$f" || { echo "$f: refused"; exit 1; }; done; echo "no devices.allow refused"'
        attack_row "$way: mknod a block device (the host's disk)" fails:"mknod" \
            attack_as_root "$way" 'mkdir -p /tmp && mknod /tmp/xda b 253 0 && head -c 512 /tmp/xda >/dev/null'
        attack_row "$way: remount the cache generation read-write" fails:"mount" \
            attack_as_root "$way" 'mount -o remount,rw,bind /host/var/lib/slipway-seed'
        attack_row "$way: unmount the generation's read-only view" fails:"umount" \
            attack_as_root "$way" 'grep -q " /host/var/lib/slipway-seed " /proc/self/mountinfo || { echo "not a mount here"; exit 0; }; umount /host/var/lib/slipway-seed'
        attack_row "$way: write into the cache generation" fails:"Read-only file system" \
            attack_as_root "$way" 'touch /host/var/lib/slipway-seed/poison'
        attack_row "$way: mount the generation's file system again, writable" fails:"mount" \
            attack_as_root "$way" 'mkdir -p /tmp/again && mount -o bind /host/var/lib/slipway-seed /tmp/again && mount -o remount,rw,bind /tmp/again'
        attack_row "$way: read the agent's /etc/shadow" fails:"shadow" \
            attack_as_root "$way" 'cat /host/etc/shadow'
        attack_row "$way: write the agent's /etc/passwd" fails:"passwd" \
            attack_as_root "$way" 'echo "x::0:0::/:/bin/sh" >>/host/etc/passwd'
        attack_row "$way: replace slipway-init (the agent's PID 1)" fails:"slipway-init" \
            attack_as_root "$way" 'cp /bin/sh /host/usr/sbin/slipway-init'
        attack_row "$way: sysrq-trigger" fails:"sysrq-trigger" \
            attack_as_root "$way" 'echo h >/proc/sysrq-trigger'
        # (ENOSYS where the kernel has no modules, as on this project's CI host; EPERM else.)
        attack_row "$way: load a kernel module (init_module)" fails:"init_module: " \
            attack_as_root "$way" 'chroot /host perl -e "my (\$image, \$options) = (\"x\" x 64, \"\"); syscall(175, \$image, 64, \$options) == 0 or die \"init_module: \$!\n\""'
        attack_row "$way: the agent's PID 1 and its network are not here" works:absent \
            attack_as_root "$way" 'for p in /proc/[0-9]*; do [ "$(cat $p/comm)" = slipway-init ] && exit 1; done; ip link show slipway0 2>/dev/null && exit 1; echo absent'
        attack_row "$way: another agent's directory on the host" fails:"No such file" \
            attack_as_root "$way" "ls '/host$b_dir'"
        attack_row "$way: the outer Docker socket" fails:"No such file" \
            attack_as_root "$way" "ls -l '/host${DOCKER_HOST#unix://}'"
        attack_row "$way: open_by_handle_at (shocker)" fails:"open_by_handle_at" \
            attack_as_root "$way" 'chroot /host perl -e "my \$h = pack(\"LLQ\", 8, 1, 2); syscall(304, -100, \$h, 0) >= 0 or die \"open_by_handle_at: \$!\n\""'
    done
    # Resource limits a namespace's root cannot raise (they need CAP_SYS_RESOURCE outside).
    attack_row "docker run --ulimit nofile above the agent's hard limit" fails:"rlimit" \
        $ATTACK_SSH docker run --rm --ulimit nofile=2000000:2000000 tiny:1 /bin/busybox true
    attack_row "docker run --oom-score-adj -1000 (escape the OOM killer)" works:"not -1000" \
        $ATTACK_SSH 'v=$(docker run --rm --oom-score-adj -1000 tiny:1 /bin/busybox cat /proc/self/oom_score_adj); [ "$v" != -1000 ] && echo "not -1000 ($v)"'
}

# Beyond root: the session's own confinement, a neighbour agent, egress, the disk limit, and
# the registry path (push; login and logout in two agents at once).
attack_neighbours() {
    local state=$1 b_out=$2 b_ssh b_ip gateway port registry dir=$IT_DIR/attack-registry
    b_ssh=$(attack_ssh_direct "$state" "$(jq -r .id <<<"$b_out")" "$(jq -r .ssh_command <<<"$b_out")")
    b_ip=$(docker inspect -f '{{.NetworkSettings.Networks.slipway.IPAddress}}' "$(jq -r .container <<<"$b_out")")
    attack_row "unshare -r (a user namespace), then mount" fails:"Operation not permitted" \
        $ATTACK_SSH unshare -r mount -t tmpfs none /tmp
    attack_row "mount -t tmpfs as jenkins" fails:"mount" $ATTACK_SSH mount -t tmpfs none /tmp
    attack_row "hard link of /etc/shadow into the workspace" fails:"hard link" \
        $ATTACK_SSH ln /etc/shadow agent/shadow
    # "unreachable" is printed in agent A: the row cannot pass because ssh to A itself failed.
    attack_row "connect to another agent's sshd across the bridge" works:unreachable \
        $ATTACK_SSH "timeout 3 bash -c 'exec 3<>/dev/tcp/$b_ip/22' 2>/dev/null && echo reached || echo unreachable"
    attack_row "no host Docker socket mounted in the agent" works \
        $ATTACK_SSH "! grep -q ' /var/run/docker.sock\| /run/docker.sock' /proc/self/mountinfo"
    attack_row "fill the disk beyond --disk-limit 512M" fails:"No space left on device" \
        $ATTACK_SSH 'dd if=/dev/zero of=agent/fill bs=1M count=700 status=none; rc=$?; rm -f agent/fill; exit $rc'
    attack_row "the neighbour still writes after A filled its disk" works \
        $b_ssh 'dd if=/dev/zero of=agent/ok bs=1M count=50 status=none && rm agent/ok'

    # A registry with a password on the agents' gateway (they cannot reach the host's loopback).
    gateway=$(docker network inspect slipway -f '{{(index .IPAM.Config 0).Gateway}}')
    port=$ATTACK_REGISTRY_PORT
    registry=$gateway:$port
    rm -rf "$dir"
    mkdir -p "$dir/data"
    # bcrypt, the only hash the registry takes (Python's crypt, through libxcrypt).
    python3 -W ignore -c 'import crypt; print("ci:" + crypt.crypt("p4ss-w0rd", crypt.mksalt(crypt.METHOD_BLOWFISH)))' >"$dir/htpasswd"
    printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\nauth:\n  htpasswd:\n    realm: it\n    path: %s\n' \
        "$dir/data" "$registry" "$dir/htpasswd" >"$dir/config.yml"
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    local registry_pid=$! tries=0
    # Our own server answers before anything is asked of it.
    until curl -s -o /dev/null "http://$registry/v2/"; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || fail "the test registry did not start: $(tail -3 "$dir/log")"
        sleep 0.1
    done
    it_tiny_image_tar | $b_ssh docker import - tiny:1 >/dev/null
    attack_row "docker push without logging in" fails:"no basic auth credentials" \
        $ATTACK_SSH "docker tag tiny:1 $registry/tiny:1 && docker push -q $registry/tiny:1"
    attack_row "docker login in agent A" works:"Login Succeeded" \
        $ATTACK_SSH "echo p4ss-w0rd | docker login -u ci --password-stdin $registry"
    attack_row "docker login in agent B, at the same time" works:"Login Succeeded" \
        $b_ssh "echo p4ss-w0rd | docker login -u ci --password-stdin $registry"
    attack_row "docker push to the registry (agent A)" works $ATTACK_SSH "docker push -q $registry/tiny:1"
    attack_row "docker logout in agent A" works $ATTACK_SSH "docker logout $registry"
    attack_row "agent B is still logged in: docker push" works \
        $b_ssh "docker tag tiny:1 $registry/tiny:2 && docker push -q $registry/tiny:2"
    attack_row "agent A is logged out: docker push" fails:"no basic auth credentials" \
        $ATTACK_SSH "docker push -q $registry/tiny:1"
    # Egress (A allows only the registry): the rules are on the agent's side of its inner
    # network, where root of the namespace cannot flush them. (The pattern does not match
    # grep's own command line.)
    attack_row "egress: the allowed destination answers" works:"HTTP" \
        $ATTACK_SSH "timeout 5 bash -c 'exec 3<>/dev/tcp/$gateway/$port; printf \"GET /v2/ HTTP/1.0\r\n\r\n\" >&3; head -c 12 <&3'"
    attack_row "egress: root of the namespace flushes its iptables, then connects" works:unreachable \
        $ATTACK_SSH "docker run --rm --privileged --net host -v /:/host tiny:1 /bin/busybox chroot /host sh -c 'iptables -F && iptables -P OUTPUT ACCEPT && iptables -t nat -F' >/dev/null 2>&1 || { echo 'the flush itself failed'; exit 1; }; timeout 3 bash -c 'exec 3<>/dev/tcp/$gateway/$ATTACK_BLOCKED_PORT' 2>/dev/null && echo reached || echo unreachable"
    attack_row "egress: a blocked port still answers the host (the row can fail)" works \
        timeout 3 bash -c "exec 3<>/dev/tcp/$gateway/$ATTACK_BLOCKED_PORT"
    # What a user namespace uses the kernel also charges to whoever made it: before, host
    # root (inotify instances went for the whole host: the host and agent B lost theirs).
    $ATTACK_SSH 'nohup perl -e "1 while syscall(294, 0) >= 0; sleep 30" >/dev/null 2>&1 &'
    sleep 2
    attack_row "jenkins takes every inotify instance it can: host root still gets one" works:"inotify ok" \
        python3 -c 'import ctypes,os,sys; fd=ctypes.CDLL(None,use_errno=True).inotify_init(); print("inotify ok" if fd>=0 else os.strerror(ctypes.get_errno())); sys.exit(fd<0)'
    attack_row "... and so does agent B's jenkins" works:"inotify ok" \
        $b_ssh 'perl -e "syscall(294, 0) >= 0 or die \"inotify: \$!\n\"; print \"inotify ok\n\""'
    $ATTACK_SSH 'pkill -x perl || true'
    attack_row "the registry password in no process of agent B" works \
        docker exec "$(jq -r .container <<<"$b_out")" /usr/sbin/slipway-init --enter root -- sh -c '! grep -ls "p4ss-w0r[d]" /proc/[0-9]*/environ /proc/[0-9]*/cmdline'
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
}

# What a build does legitimately: all of it works, --privileged and BuildKit included.
attack_legitimate_rows() {
    attack_row "docker run --privileged (contained)" works:"uid=0" \
        $ATTACK_SSH docker run --rm --privileged tiny:1 /bin/busybox id
    attack_row "docker build (BuildKit, the default)" works \
        $ATTACK_SSH 'mkdir -p ctx && printf "FROM tiny:1\nRUN [\"/bin/busybox\", \"touch\", \"/built\"]\n" >ctx/Dockerfile && docker build -q -t built:1 ctx && docker run --rm built:1 /bin/busybox ls /built'
    attack_row "BuildKit: RUN --mount=type=cache and type=secret, multi-stage, buildx --load" works:topsecret \
        $ATTACK_SSH 'mkdir -p bk && cd bk && printf "FROM tiny:1 AS a\nRUN --mount=type=cache,target=/c [\"/bin/busybox\",\"sh\",\"-c\",\"echo hi >> /c/x\"]\nRUN --mount=type=secret,id=s [\"/bin/busybox\",\"sh\",\"-c\",\"cat /run/secrets/s > /got\"]\nFROM tiny:1\nCOPY --from=a /got /got\n" >Dockerfile && echo topsecret >s.txt && docker buildx build --load -q --secret id=s,src=s.txt -t bk:1 . >/dev/null && docker run --rm bk:1 /bin/busybox cat /got'
    attack_row "BuildKit: the security.insecure entitlement is off" fails:"security.insecure" \
        $ATTACK_SSH 'cd bk && printf "FROM tiny:1\nRUN --security=insecure [\"/bin/busybox\",\"true\"]\n" >Insecure && docker buildx build --allow security.insecure -f Insecure .'
    attack_row "docker build (legacy builder) FROM a seeded image" works \
        $ATTACK_SSH 'printf "FROM tiny:1\nRUN [\"/bin/busybox\", \"rm\", \"/bin/sh\"]\n" >ctx/Legacy && DOCKER_BUILDKIT=0 docker build -q -f ctx/Legacy -t legacy:1 ctx >/dev/null && ! docker run --rm legacy:1 /bin/busybox ls /bin/sh'
    attack_row "docker run with a workspace bind mount" works:bound \
        $ATTACK_SSH 'mkdir -p agent/ws && docker run --rm -v /home/jenkins/agent/ws:/ws tiny:1 /bin/busybox sh -c "echo bound > /ws/out" && cat agent/ws/out'
    attack_row "docker run -v /var/run/docker.sock (Docker Pipeline's way)" works:docker.sock \
        $ATTACK_SSH docker run --rm -v /var/run/docker.sock:/var/run/docker.sock tiny:1 /bin/busybox ls /var/run/docker.sock
    attack_row "docker exec, docker cp, volumes, networks" works:copied \
        $ATTACK_SSH 'docker run -d --name victim tiny:1 /bin/busybox sleep 600 >/dev/null && docker exec victim /bin/busybox true && echo copied > cpin && docker cp cpin victim:/cpin && docker cp victim:/cpin cpout && docker volume create v1 >/dev/null && docker network create n1 >/dev/null && docker run --rm --network n1 -v v1:/v tiny:1 /bin/busybox true && docker rm -f victim >/dev/null && cat cpout'
    attack_row "docker commit of a change, docker save | docker load" works \
        $ATTACK_SSH 'docker run --name chg tiny:1 /bin/busybox sh -c "echo x > /changed" && docker commit chg chg:1 >/dev/null && docker rm chg >/dev/null && docker save chg:1 | docker load >/dev/null'
    attack_row "DNS through the agent's relay (Docker's resolver)" works:slipway- \
        $ATTACK_SSH 'getent hosts "$(hostname)"'
}

test_attacks() {
    local state=$IT_DIR/state-attack out id ssh b_out gateway blocked_pid
    rm -rf "$state"
    # A cache generation, so that the agent is seeded from one: its read-only view is attacked.
    it_cache_images
    "$SLIPWAY" --state-dir "$state" cache build --image tiny:1 >/dev/null 2>&1
    # Two ports on the agents' gateway: the registry's (allowed) and one that must stay blocked.
    gateway=$(docker network inspect slipway -f '{{(index .IPAM.Config 0).Gateway}}' 2>/dev/null || true)
    if [ -z "$gateway" ]; then
        # The network is made by the first agent: make it now the way slipway does.
        "$SLIPWAY" --state-dir "$state" rm "$("$SLIPWAY" --state-dir "$state" run --no-cache | head -n1)" >/dev/null
        gateway=$(docker network inspect slipway -f '{{(index .IPAM.Config 0).Gateway}}')
    fi
    ATTACK_REGISTRY_PORT=$(python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$gateway")
    rm -f "$IT_DIR/attack-blocked-port"
    python3 -c 'import socket,sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
while True: s.accept()[0].close()' "$gateway" >"$IT_DIR/attack-blocked-port" &
    blocked_pid=$!
    until [ -s "$IT_DIR/attack-blocked-port" ]; do sleep 0.05; done
    ATTACK_BLOCKED_PORT=$(cat "$IT_DIR/attack-blocked-port")
    [ -n "$ATTACK_BLOCKED_PORT" ] || fail "no port for the blocked listener"
    out=$("$SLIPWAY" --state-dir "$state" run --disk-limit 512M --dockerd-arg --insecure-registry=0.0.0.0/0 \
        --egress-allow "$gateway:$ATTACK_REGISTRY_PORT")
    id=$(sed -n 1p <<<"$out")
    ssh=$(sed -n 2p <<<"$out")
    ATTACK_SSH=$(attack_ssh_direct "$state" "$id" "$ssh")
    ATTACK_USERNS_BASE=$("$SLIPWAY" --state-dir "$state" inspect "$id" --json | jq -r .userns.base)
    ATTACK_ROWS=()
    ATTACK_FAILED=0
    it_tiny_image_tar | $ATTACK_SSH docker import - tiny:1 >/dev/null || fail "docker import in the agent"
    # A neighbour on the same host.
    b_out=$("$SLIPWAY" --state-dir "$state" run --json --dockerd-arg --insecure-registry=0.0.0.0/0)

    attack_root_rows "$state" "$state/agents/$(jq -r .id <<<"$b_out")"
    attack_legitimate_rows
    attack_neighbours "$state" "$b_out"
    # A nested container of agent B (no disk limit: its data root is a host directory that
    # `slipway rm` walks) leaves a tree deeper than any fd limit there: B is still removed
    # whole (below, assert_no_leaks). perl's relative chdir has no path length to run out of.
    local b_ssh
    b_ssh=$(attack_ssh_direct "$state" "$(jq -r .id <<<"$b_out")" "$(jq -r .ssh_command <<<"$b_out")")
    attack_row "a 12,000-level directory tree in a data root" works:12000 \
        $b_ssh 'docker volume create deep >/dev/null && docker run --rm --privileged -v /:/host -v deep:/host/tmp/deep tiny:1 /bin/busybox chroot /host perl -e '"'"'chdir "/tmp/deep" or die; for (1 .. 12000) { mkdir "a" or die "mkdir: $!"; chdir "a" or die } print "12000\n"'"'"
    # A build freezes one of its processes (cgroup v1 freezer, where SIGKILL waits for a
    # thaw): before, its agent could not be removed ("did not receive an exit event"), and its
    # directory and id range stayed.
    local f_out f_ssh f_id
    f_out=$("$SLIPWAY" --state-dir "$state" run --json --no-cache)
    f_id=$(jq -r .id <<<"$f_out")
    f_ssh=$(attack_ssh_direct "$state" "$f_id" "$(jq -r .ssh_command <<<"$f_out")")
    it_tiny_image_tar | $f_ssh docker import - tiny:1 >/dev/null
    $f_ssh 'docker run -d --privileged tiny:1 /bin/busybox sh -c "d=/sys/fs/cgroup/freezer/frz; mkdir -p \$d && echo \$\$ >\$d/cgroup.procs && echo FROZEN >\$d/freezer.state; sleep 1d"' >/dev/null
    sleep 2
    attack_row "freeze a process of the build, then slipway rm its agent" works:removed \
        bash -c '"$1" --state-dir "$2" rm "$3" >/dev/null && [ ! -e "$2/agents/$3" ] && echo removed' _ "$SLIPWAY" "$state" "$f_id"
    kill "$blocked_pid" 2>/dev/null || true
    wait "$blocked_pid" 2>/dev/null || true
    attack_table
    # The generation every later agent is seeded from is unchanged.
    assert_contains "$("$SLIPWAY" --state-dir "$state" cache verify 2>&1)" "unchanged"
    "$SLIPWAY" --state-dir "$state" rm "$id" "$(jq -r .id <<<"$b_out")" >/dev/null
    assert_no_leaks "$state"
    [ -z "$(ls -A "$state/userns" 2>/dev/null | grep -v '^\.lock$')" ] || fail "user namespace ranges left: $(ls "$state/userns")"
}

it_case "attack suite: hostile build as jenkins and as root of its namespace (host, generation, neighbours, egress, disk, registry)" test_attacks
