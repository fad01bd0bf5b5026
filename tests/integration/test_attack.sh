# The attack suite of issue 6: a build is hostile. Every attempt runs as `jenkins` over SSH in
# a live agent, exactly as a build would, and the legitimate path is checked in the same run.
# It prints a table "attempt | expected | outcome" and fails if any attack succeeds or any
# legitimate use breaks.
#
# Adding a row: call attack_row with what is tried, what must happen, and the command (run on
# this host; use "$ATTACK_SSH" to run it in the agent as jenkins):
#   attack_row "docker run --privileged" denied $ATTACK_SSH docker run --rm --privileged tiny:1 true
# Expected outcomes:
#   denied        fails, and its output holds "slipway policy:" (the proxy said no)
#   fails:TEXT    fails (non-zero exit), and its output holds TEXT
#   works         succeeds
#   works:TEXT    succeeds, and its output holds TEXT

ATTACK_ROWS=()
ATTACK_FAILED=0
ATTACK_SSH=

attack_row() {
    local attempt=$1 expect=$2 out rc=0 outcome ok=1 first
    shift 2
    out=$("$@" 2>&1) || rc=$?
    first=$(grep -m1 -o 'slipway policy: .*' <<<"$out" || head -n1 <<<"$out")
    first=${first%\"\}} # the end of a raw JSON error
    case $expect in
        denied)
            if [ "$rc" -ne 0 ] && grep -q 'slipway policy:' <<<"$out"; then outcome="denied: ${first:16:90}"
            else outcome="NOT DENIED (exit $rc): ${first:0:90}"; ok=0; fi ;;
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
    printf '    %-60s | %-8s | %s\n' attempt expected outcome >&2
    printf '    %s\n' "$(printf -- '-%.0s' {1..120})" >&2
    for row in "${ATTACK_ROWS[@]}"; do
        IFS='|' read -r attempt expect outcome <<<"$row"
        printf '    %-60s | %-8s | %s\n' "$attempt" "$expect" "$outcome" >&2
    done
    [ "$ATTACK_FAILED" = 0 ] || fail "an attack succeeded or a legitimate use broke (see the table)"
}

# A raw HTTP request (stdin: the exact bytes) to the agent's /run/docker.sock as jenkins,
# through perl's core Socket (perl-base is in every Debian image); prints the response.
ATTACK_RAW='use Socket; socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
connect($s, pack_sockaddr_un("/run/docker.sock")) or die "connect: $!";
binmode STDIN; local $/; my $r = <STDIN>; syswrite($s, $r);
my $buf; while (sysread($s, $buf, 65536)) { print $buf }'

# Send a raw request; exit 1 (printing the response) unless the status is 2xx.
attack_raw() {
    local response
    # Bounded: a proxy that let dockerd keep the connection open must fail the row, not hang.
    response=$($ATTACK_SSH timeout 20 perl -e "$(printf '%q' "$ATTACK_RAW")")
    echo "$response"
    head -n1 <<<"$response" | grep -q '^HTTP/1.[01] 2'
}

# An HTTP request with a chunked body.
chunked_request() {
    local path=$1 body=$2
    printf 'POST %s HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n' \
        "$path" "${#body}" "$body"
}

json_request() {
    local path=$1 body=$2
    printf 'POST %s HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
        "$path" "$(printf '%s' "$body" | wc -c)" "$body"
}

# Two requests in one write: an exec start that dockerd answers without taking the connection
# over (unknown id), then a privileged create. Only the first may reach dockerd: fails (saying
# so) when the smuggled container exists afterwards.
smuggle_after_exec_start() {
    {
        printf 'POST /v1.45/exec/nosuch/start HTTP/1.1\r\nHost: d\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'
        json_request '/v1.45/containers/create?name=smuggled' '{"Image":"tiny:1","HostConfig":{"Privileged":true}}'
    } | attack_raw >/dev/null || true
    if [ -n "$($ATTACK_SSH docker ps -aq --filter name=^smuggled\$)" ]; then
        echo "the smuggled container was created"
        return 1
    fi
    echo "not created"
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

# Beyond the proxy: the session's own confinement, the cache generation, a neighbour agent, the
# outer Docker socket, the disk limit, and the registry path (push; login and logout in two
# agents at once). Agent A is the suite's ($ATTACK_SSH): seeded, with a 512M disk limit.
attack_beyond_proxy() {
    local state=$1 b_out b_id b_ssh b_ip b_dir gateway port registry dir=$IT_DIR/attack-registry
    attack_row "unshare -r (a user namespace), then mount" fails:"Operation not permitted" \
        $ATTACK_SSH unshare -r mount -t tmpfs none /tmp
    attack_row "mount -t tmpfs as jenkins" fails:"mount" $ATTACK_SSH mount -t tmpfs none /tmp
    attack_row "write into the cache generation" fails:"touch" $ATTACK_SSH touch /var/lib/slipway-seed/poison
    attack_row "remount the cache generation read-write" fails:"mount" \
        $ATTACK_SSH mount -o remount,rw /var/lib/slipway-seed
    attack_row "docker run -v /var/lib/slipway-seed (the generation)" denied \
        $ATTACK_SSH docker run --rm -v /var/lib/slipway-seed:/s tiny:1 /bin/busybox touch /s/poison

    # A neighbour on the same host.
    b_out=$("$SLIPWAY" --state-dir "$state" run --json --dockerd-arg --insecure-registry=0.0.0.0/0)
    b_id=$(jq -r .id <<<"$b_out")
    b_ssh=$(attack_ssh_direct "$state" "$b_id" "$(jq -r .ssh_command <<<"$b_out")")
    b_ip=$(docker inspect -f '{{.NetworkSettings.Networks.slipway.IPAddress}}' "$(jq -r .container <<<"$b_out")")
    b_dir=$state/agents/$b_id
    attack_row "read another agent's data root (its host path)" fails:"No such file" \
        $ATTACK_SSH ls "$b_dir/data-root"
    attack_row "docker run -v <another agent's directory>" denied $ATTACK_SSH docker run --rm -v "$b_dir:/b" tiny:1 true
    # "unreachable" is printed in agent A: the row cannot pass because ssh to A itself failed.
    attack_row "connect to another agent's sshd across the bridge" works:unreachable \
        $ATTACK_SSH "timeout 3 bash -c 'exec 3<>/dev/tcp/$b_ip/22' 2>/dev/null && echo reached || echo unreachable"
    # The outer daemon's socket (the test daemon's here) is not in the agent at all.
    attack_row "reach the outer Docker socket" fails:"No such file" $ATTACK_SSH ls -l "${DOCKER_HOST#unix://}"
    attack_row "no host Docker socket mounted in the agent" works \
        $ATTACK_SSH "! grep -q docker.sock /proc/self/mountinfo"
    attack_row "fill the disk beyond --disk-limit 512M" fails:"No space left on device" \
        $ATTACK_SSH 'dd if=/dev/zero of=agent/fill bs=1M count=700 status=none; rc=$?; rm -f agent/fill; exit $rc'
    attack_row "the neighbour still writes after A filled its disk" works \
        $b_ssh 'dd if=/dev/zero of=agent/ok bs=1M count=50 status=none && rm agent/ok'

    # A registry with a password on the agents' gateway (they cannot reach the host's loopback).
    gateway=$(docker network inspect slipway -f '{{(index .IPAM.Config 0).Gateway}}')
    port=$(python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$gateway")
    registry=$gateway:$port
    rm -rf "$dir"
    mkdir -p "$dir/data"
    # bcrypt, the only hash the registry takes (Python's crypt, through libxcrypt).
    python3 -W ignore -c 'import crypt; print("ci:" + crypt.crypt("p4ss-w0rd", crypt.mksalt(crypt.METHOD_BLOWFISH)))' >"$dir/htpasswd"
    printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\nauth:\n  htpasswd:\n    realm: it\n    path: %s\n' \
        "$dir/data" "$registry" "$dir/htpasswd" >"$dir/config.yml"
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    local registry_pid=$!
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
    # (The pattern does not match grep's own command line.)
    attack_row "the registry password in no process of agent B" works \
        docker exec "$(jq -r .container <<<"$b_out")" sh -c '! grep -ls "p4ss-w0r[d]" /proc/[0-9]*/environ /proc/[0-9]*/cmdline'
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    "$SLIPWAY" --state-dir "$state" rm "$b_id" >/dev/null
}

test_attacks() {
    local state=$IT_DIR/state-attack out id ssh
    rm -rf "$state"
    # A cache generation, so that the agent is seeded from one: its read-only mount is attacked.
    it_cache_images
    "$SLIPWAY" --state-dir "$state" cache build --image tiny:1 >/dev/null 2>&1
    out=$("$SLIPWAY" --state-dir "$state" run --disk-limit 512M --dockerd-arg --insecure-registry=0.0.0.0/0)
    id=$(sed -n 1p <<<"$out")
    ssh=$(sed -n 2p <<<"$out")
    ATTACK_SSH=$(attack_ssh_direct "$state" "$id" "$ssh")
    ATTACK_ROWS=()
    ATTACK_FAILED=0
    it_tiny_image_tar | $ATTACK_SSH docker import - tiny:1 >/dev/null || fail "docker import through the proxy"
    $ATTACK_SSH 'mkdir -p agent/ws && ln -sfn / agent/ws/rootlink'

    # Attacks: each one gave root in the agent before the proxy.
    attack_row "docker run --privileged" denied $ATTACK_SSH docker run --rm --privileged tiny:1 true
    attack_row "docker run -v /:/host" denied $ATTACK_SSH docker run --rm -v /:/host tiny:1 true
    attack_row "docker run --mount type=bind,src=/,dst=/h" denied \
        $ATTACK_SSH docker run --rm --mount type=bind,src=/,dst=/h tiny:1 true
    attack_row "bind of a workspace symlink to /" denied \
        $ATTACK_SSH docker run --rm -v /home/jenkins/agent/ws/rootlink:/h tiny:1 true
    attack_row "bind of /home/jenkins/../../etc" denied \
        $ATTACK_SSH docker run --rm -v /home/jenkins/../../etc:/h tiny:1 true
    attack_row "bind dir swapped for a symlink to / before start" denied \
        $ATTACK_SSH 'mkdir -p agent/ws/d && docker create --name swapped -v /home/jenkins/agent/ws/d:/h tiny:1 /bin/busybox ls /h >/dev/null && rmdir agent/ws/d && ln -s / agent/ws/d && docker start -a swapped'
    # docker cp and --volumes-from mount binds too: both are re-checked like start.
    attack_row "docker cp through a bind swapped for a symlink to /" denied \
        $ATTACK_SSH 'mkdir -p agent/ws/cpd && docker create --name cpswap -v /home/jenkins/agent/ws/cpd:/m tiny:1 /bin/busybox true >/dev/null && rmdir agent/ws/cpd && ln -s / agent/ws/cpd && docker cp cpswap:/m/etc/hostname -'
    attack_row "--volumes-from a bind swapped for a symlink to /, start" denied \
        $ATTACK_SSH 'mkdir -p agent/ws/vf && docker create --name vfa -v /home/jenkins/agent/ws/vf:/x tiny:1 /bin/busybox true >/dev/null && docker create --name vfb --volumes-from vfa tiny:1 /bin/busybox ls /x >/dev/null && rmdir agent/ws/vf && ln -s / agent/ws/vf && docker start -a vfb'
    attack_row "docker run --restart always (restarts skip the proxy)" denied \
        $ATTACK_SSH docker run -d --restart always tiny:1 /bin/busybox true
    attack_row "raw: exec start of an unknown id, then a privileged create" works:"not created" \
        smuggle_after_exec_start
    # A bind is judged by path: a hard link to a root file in the workspace would pass. The
    # workspace is its own mount (link(2) across mounts fails), and fs.protected_hardlinks.
    attack_row "hard link of /etc/shadow into the workspace" fails:"failed to create hard link" \
        $ATTACK_SSH ln /etc/shadow agent/ws/shadow
    attack_row "docker run --pid host" denied $ATTACK_SSH docker run --rm --pid host tiny:1 true
    attack_row "docker run --net host" denied $ATTACK_SSH docker run --rm --net host tiny:1 true
    attack_row "docker run --ipc host" denied $ATTACK_SSH docker run --rm --ipc host tiny:1 true
    attack_row "docker run --uts host" denied $ATTACK_SSH docker run --rm --uts host tiny:1 true
    attack_row "docker run --userns host" denied $ATTACK_SSH docker run --rm --userns host tiny:1 true
    attack_row "docker run --cap-add SYS_ADMIN" denied $ATTACK_SSH docker run --rm --cap-add SYS_ADMIN tiny:1 true
    attack_row "docker run --cap-add ALL" denied $ATTACK_SSH docker run --rm --cap-add ALL tiny:1 true
    attack_row "docker run --device /dev/null:/dev/x" denied \
        $ATTACK_SSH docker run --rm --device /dev/null:/dev/x tiny:1 true
    attack_row "docker run --security-opt seccomp=unconfined" denied \
        $ATTACK_SSH docker run --rm --security-opt seccomp=unconfined tiny:1 true
    attack_row "docker run --security-opt apparmor=unconfined" denied \
        $ATTACK_SSH docker run --rm --security-opt apparmor=unconfined tiny:1 true
    attack_row "docker run --sysctl kernel.shmmax=1" denied \
        $ATTACK_SSH docker run --rm --sysctl kernel.shmmax=1 tiny:1 true
    attack_row "docker exec --privileged" denied \
        $ATTACK_SSH 'docker run -d --name victim tiny:1 /bin/busybox sleep 600 >/dev/null && docker exec --privileged victim true'
    attack_row "docker volume create -o type=none,o=bind,device=/" denied \
        $ATTACK_SSH docker volume create -d local -o type=none -o o=bind -o device=/ rootvol
    attack_row "docker network create -d macvlan" denied $ATTACK_SSH docker network create -d macvlan mv
    attack_row "docker build --network host" denied \
        $ATTACK_SSH 'mkdir -p b && printf "FROM tiny:1\n" >b/Dockerfile && DOCKER_BUILDKIT=0 docker build --network host b'
    attack_row "BuildKit session (docker buildx / DOCKER_BUILDKIT=1)" denied \
        attack_raw < <(printf 'POST /session HTTP/1.1\r\nHost: d\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n')
    attack_row "docker plugin install" denied attack_raw < <(json_request /plugins/pull '[]')
    attack_row "swarm init" denied attack_raw < <(json_request /swarm/init '{}')
    attack_row "raw: chunked body, Privileged" denied \
        attack_raw < <(chunked_request /containers/create '{"Image":"tiny:1","HostConfig":{"Privileged":true}}')
    attack_row "raw: lowercase \"privileged\" key" denied \
        attack_raw < <(json_request /v1.45/containers/create '{"Image":"tiny:1","HostConfig":{"privileged":true}}')
    attack_row "raw: \"Privileged\" and \"privileged\" keys" denied \
        attack_raw < <(json_request /containers/create '{"Image":"tiny:1","HostConfig":{"Privileged":false,"privileged":true}}')
    attack_row "raw: U+017F-folded \"Bindſ\" key, /:/h" denied \
        attack_raw < <(json_request /containers/create '{"Image":"tiny:1","HostConfig":{"Bind\u017f":["/:/h"]}}')
    attack_row "raw: U+212A-folded \"NetworKMode\": host" denied \
        attack_raw < <(json_request /containers/create "{\"Image\":\"tiny:1\",\"HostConfig\":{\"Networ"$'\xe2\x84\xaa'"Mode\":\"host\"}}")
    attack_row "raw: top-level (legacy) \"Privileged\": true" denied \
        attack_raw < <(json_request /containers/create '{"Image":"tiny:1","Privileged":true}')
    attack_row "raw: unknown HostConfig key" denied \
        attack_raw < <(json_request /containers/create '{"Image":"tiny:1","HostConfig":{"Privileged2":true}}')
    # Content-Length: 0 and the body after it: the proxy judges (and forwards) an empty body;
    # dockerd must never see the privileged config.
    attack_row "raw: empty body (Content-Length: 0) then a privileged config" fails:"HTTP/1.1 400" \
        attack_raw < <(printf 'POST /containers/create?name=smuggled HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n{"Image":"tiny:1","HostConfig":{"Privileged":true}}')
    attack_row "raw: no body at all on create" fails:"HTTP/1.1 400" \
        attack_raw < <(printf 'POST /containers/create HTTP/1.1\r\nHost: d\r\n\r\n')
    attack_row "raw: Content-Length and chunked together" fails:"HTTP/1.1 400" \
        attack_raw < <(printf 'POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
    attack_row "raw: Transfer-Encoding: gzip, chunked" fails:"HTTP/1.1 501" \
        attack_raw < <(printf 'POST /containers/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n')
    attack_row "raw: 5 MiB JSON body" fails:"HTTP/1.1 413" \
        attack_raw < <(json_request /containers/create "{\"Image\":\"tiny:1\",\"Labels\":{\"a\":\"$(head -c 5242880 /dev/zero | tr '\0' a)\"}}")
    attack_row "raw: query with ';' (networkmode=host smuggled)" denied \
        attack_raw < <(printf 'POST /build?t=x;networkmode=host HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n')
    attack_row "raw: build networkmode given twice" denied \
        attack_raw < <(printf 'POST /build?networkmode=default&networkmode=host HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n')
    attack_row "raw: urlencoded form body on /build" denied \
        attack_raw < <(printf 'POST /build HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 16\r\n\r\nnetworkmode=host')
    attack_row "raw: the dockerd socket itself" fails:"Permission denied" \
        $ATTACK_SSH ls /run/slipway/dockerd/
    # A container's root writes setuid files where jenkins can run them: those mounts ignore setuid.
    attack_row "workspace and /tmp mounted nosuid,nodev" works \
        $ATTACK_SSH 'for m in /home/jenkins /tmp; do awk -v m=$m '"'"'$5==m && $6 ~ /nosuid/ && $6 ~ /nodev/ {f=1} END {exit !f}'"'"' /proc/self/mountinfo || exit 1; done'

    # The legitimate path, through the same proxy.
    attack_row "docker build (legacy builder) FROM a local image" works \
        $ATTACK_SSH 'mkdir -p ctx && printf "FROM tiny:1\nRUN [\"/bin/busybox\", \"touch\", \"/built\"]\n" >ctx/Dockerfile && DOCKER_BUILDKIT=0 docker build -q -t built:1 ctx && docker run --rm built:1 /bin/busybox ls /built'
    attack_row "docker run with a workspace bind mount" works:bound \
        $ATTACK_SSH 'docker run --rm -v /home/jenkins/agent/ws:/ws tiny:1 /bin/busybox sh -c "echo bound > /ws/out" && cat agent/ws/out'
    attack_row "docker run --mount type=bind of the workspace" works \
        $ATTACK_SSH 'docker run --rm --mount type=bind,src=/home/jenkins/agent/ws,dst=/ws tiny:1 /bin/busybox test -f /ws/out'
    attack_row "docker run -v /var/run/docker.sock (the proxy)" works:docker.sock \
        $ATTACK_SSH docker run --rm -v /var/run/docker.sock:/var/run/docker.sock tiny:1 /bin/busybox ls /var/run/docker.sock
    attack_row "docker exec" works:exec-ok $ATTACK_SSH docker exec victim /bin/busybox echo exec-ok
    attack_row "docker run -i with stdin (attach)" works:through-stdin \
        $ATTACK_SSH 'echo through-stdin | docker run -i --rm tiny:1 /bin/busybox cat'
    attack_row "docker cp into and out of a container" works:copied \
        $ATTACK_SSH 'echo copied > cpin && docker cp cpin victim:/cpin && docker cp victim:/cpin cpout && cat cpout'
    attack_row "docker volume create and use" works:vol \
        $ATTACK_SSH 'docker volume create v1 >/dev/null && docker run --rm -v v1:/v tiny:1 /bin/busybox sh -c "echo vol > /v/f; cat /v/f"'
    attack_row "docker network create (bridge) and run on it" works \
        $ATTACK_SSH 'docker network create n1 >/dev/null && docker run --rm --network n1 tiny:1 /bin/busybox true'
    attack_row "docker ps / images / logs / inspect / rm" works \
        $ATTACK_SSH 'docker ps -a >/dev/null && docker images >/dev/null && docker logs victim && docker inspect victim >/dev/null && docker rm -f victim >/dev/null'
    attack_row "docker save, then docker load" works \
        $ATTACK_SSH 'docker save tiny:1 | docker load >/dev/null'

    # docker-policy trusted: no proxy, as documented (root-equivalent in the agent).
    local trusted_out trusted_ssh
    trusted_out=$("$SLIPWAY" --state-dir "$state" run --docker-policy trusted --json 2>/dev/null)
    trusted_ssh=$(attack_ssh_direct "$state" "$(jq -r .id <<<"$trusted_out")" "$(jq -r .ssh_command <<<"$trusted_out")")
    it_tiny_image_tar | $trusted_ssh docker import - tiny:1 >/dev/null
    attack_row "trusted agent: --cap-add SYS_ADMIN (no proxy, by design)" works \
        $trusted_ssh docker run --rm --cap-add SYS_ADMIN tiny:1 /bin/busybox true
    attack_row "trusted agent: dockerd itself on /run/docker.sock" works:"API listen on /run/docker.sock" \
        "$SLIPWAY" --state-dir "$state" logs "$(jq -r .id <<<"$trusted_out")" --dockerd
    assert_eq "$("$SLIPWAY" --state-dir "$state" inspect "$(jq -r .id <<<"$trusted_out")" --json | jq -r .docker_policy)" \
        trusted "inspect shows the policy"
    assert_eq "$("$SLIPWAY" --state-dir "$state" inspect "$id" --json | jq -r .docker_policy)" standard \
        "inspect shows the policy"
    "$SLIPWAY" --state-dir "$state" rm "$(jq -r .id <<<"$trusted_out")" >/dev/null

    # The proxy is restarted when it dies, on the same socket (slipway-init keeps it open).
    local container proxy_pid
    container=$("$SLIPWAY" --state-dir "$state" ps --json | jq -r ".[] | select(.id==\"$id\") | .container")
    proxy_pid=$(docker logs "$container" 2>&1 | sed -n 's/.*docker policy: standard (proxy pid \([0-9]*\) .*/\1/p')
    docker exec "$container" kill -9 "$proxy_pid"
    attack_row "proxy killed: restarted, docker works again" works:"docker proxy exited: restarted" \
        sh -c "$ATTACK_SSH docker version >/dev/null && docker logs $container 2>&1"
    attack_row "proxy killed: still no direct socket for jenkins" denied \
        $ATTACK_SSH docker run --rm --privileged tiny:1 /bin/busybox true

    attack_beyond_proxy "$state"
    attack_table
    # Denials are logged by the proxy in the agent's log.
    assert_contains "$(docker logs "$container" 2>&1)" "slipway-init: docker proxy: denied POST"
    "$SLIPWAY" --state-dir "$state" rm "$id" >/dev/null
    assert_no_leaks "$state"
}

it_case "attack suite: hostile build as jenkins (proxy, session, cache, neighbours, disk, registry)" test_attacks
