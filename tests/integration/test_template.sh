# The agent image as a Jenkins Docker plugin "Docker cloud template" (issue 7): containers made
# through the Engine API exactly the way the plugin makes them, reached the way the SSH
# launcher reaches them, without slipway's supervisor.
#
# What the plugin (jenkinsci/docker-plugin, DockerTemplateBase.fillContainerConfig and
# DockerComputerSSHConnector) sends: Image, the template's Env, its labels, ExposedPorts 22/tcp,
# Tty false; HostConfig PortBindings 22/tcp, PublishAllPorts, Privileged false, CapAdd, CapDrop
# (docker-java names, without CAP_), SecurityOpt and Mounts as configured. It cannot send
# MaskedPaths, ReadonlyPaths or CgroupnsMode: the init copes without them. "Inject SSH key"
# sets Cmd to its sshd command and, before start, PUTs a tar with /root/authorized_key (mode
# 0700, uid 0) through the archive API; "Use configured SSH credentials" sets Cmd to
# `/usr/sbin/sshd -D -p 22` and the key comes from the template's environment.
#
# The published port is bound to 127.0.0.1 (the plugin binds every address; tests never do).
# ssh goes to the container's own address: every test daemon on this host rewrites the
# shared nat DOCKER chain when it starts, so a published port breaks when another one starts.

TPL_IMAGE=slipway/agent:latest
TPL_SSHD_INJECT='["/usr/sbin/sshd","-D","-p","22","-o","AuthorizedKeysCommand=/root/authorized_key","-o","AuthorizedKeysCommandUser=root"]'
TPL_SSHD_PLAIN='["/usr/sbin/sshd","-D","-p","22"]'

# One Engine API request on the test daemon, at the version it speaks (the plugin's client
# negotiates too). Prints the body; fails on any status but 2xx.
tpl_api() {
    local method=$1 path=$2 out code version
    shift 2
    version=$(curl -sS --unix-socket "${DOCKER_HOST#unix://}" http://d/version | jq -r .ApiVersion)
    out=$(curl -sS --unix-socket "${DOCKER_HOST#unix://}" -X "$method" -w '\n%{http_code}' "$@" \
        "http://d/v$version$path")
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    [ "$code" -ge 200 ] && [ "$code" -lt 300 ] || fail "$method $path: HTTP $code: $out"
    printf '%s' "$out"
}

# What to put in the template's "Capabilities to drop": every capability the host's bounding
# set lacks, as slipway computes it (caps.c), in docker-java's spelling. dockerd before API
# 1.42 knows capabilities up to CAP_AUDIT_READ (37) only and rejects the others by name.
tpl_cap_drop() {
    local version last=37 missing
    version=$(curl -sS --unix-socket "${DOCKER_HOST#unix://}" http://d/version | jq -r .ApiVersion)
    [ "$(printf '%s\n1.42\n' "$version" | sort -V | head -n1)" = 1.42 ] && last=$(cat /proc/sys/kernel/cap_last_cap)
    missing=$(( ~0x$(awk '/^CapBnd/ {print $2}' /proc/self/status) & ((1 << (last + 1)) - 1) ))
    capsh --decode="$(printf '%x' "$missing")" | cut -d= -f2 | tr ',' '\n' | sed -n 's/^cap_//p' |
        tr a-z A-Z | jq -R . | jq -sc .
}

# tpl_create CMD_JSON ENV_JSON MOUNTS_JSON LABELS_JSON: the plugin's create request; prints the id.
tpl_create() {
    local cmd=$1 env=$2 mounts=$3 labels=$4 body
    body=$(jq -n --arg image "$TPL_IMAGE" --argjson cmd "$cmd" --argjson env "$env" \
        --argjson mounts "$mounts" --argjson labels "$labels" --argjson drop "$(tpl_cap_drop)" '{
        Image: $image, Cmd: $cmd, Env: $env, Tty: false,
        Labels: ({"com.nirima.jenkins.plugins.docker.JenkinsId": "slipway-it",
                  "com.nirima.jenkins.plugins.docker.JenkinsServerUrl": "http://127.0.0.1:8080/",
                  "com.nirima.jenkins.plugins.docker.JenkinsContainerImage": $image,
                  "com.nirima.jenkins.plugins.docker.JenkinsTemplateName": "dind",
                  "com.nirima.jenkins.plugins.docker.JenkinsRemoveVolumes": "true",
                  "com.nirima.jenkins.plugins.docker.JenkinsNodeName": "dind-slipway-it"} + $labels),
        ExposedPorts: {"22/tcp": {}},
        HostConfig: {
            PortBindings: {"22/tcp": [{HostIp: "127.0.0.1", HostPort: ""}]},
            PublishAllPorts: false, Privileged: false,
            CapAdd: ["ALL"], CapDrop: $drop,
            SecurityOpt: ["seccomp=unconfined", "apparmor=unconfined"],
            Mounts: $mounts}}')
    tpl_api POST /containers/create -H 'Content-Type: application/json' -d "$body" | jq -r .Id
}

# The plugin's "Inject SSH key" upload: /root/authorized_key in a tar, mode 0700, uid/gid 0
# (commons-compress defaults), PUT to /root before start. Its script, byte for byte.
tpl_inject_key() {
    local id=$1 user=$2 pubkey=$3 dir
    dir=$(mktemp -d)
    printf '#!/bin/sh\n[ "$1" = "%s" ] && echo '"'"'%s'"'"'|| :' "$user" "$pubkey" >"$dir/authorized_key"
    chmod 0700 "$dir/authorized_key"
    tar --owner=0 --group=0 --numeric-owner -C "$dir" -cf "$dir/key.tar" authorized_key
    tpl_api PUT "/containers/$id/archive?path=/root" -H 'Content-Type: application/x-tar' \
        --data-binary @"$dir/key.tar" >/dev/null
    rm -rf "$dir"
}

# Start, then wait as the plugin does for sshd (TCP, then SSH); prints the container address.
tpl_start() {
    local id=$1 ip tries=0
    tpl_api POST "/containers/$id/start" >/dev/null
    ip=$(tpl_api GET "/containers/$id/json" | jq -r .NetworkSettings.IPAddress)
    until timeout 1 bash -c "exec 3<>/dev/tcp/$ip/22" 2>/dev/null; do
        tries=$((tries + 1))
        [ "$(tpl_api GET "/containers/$id/json" | jq -r .State.Running)" = true ] ||
            fail "agent exited: $(docker logs "$id" 2>&1 | tail -5)"
        [ "$tries" -lt 150 ] || fail "sshd did not listen within 30 s"
        sleep 0.2
    done
    echo "$ip"
}

# The ssh command the launcher's equivalent uses: the given key, the host key read from the
# container, strict checking.
tpl_ssh_command() {
    local id=$1 ip=$2 key=$3 user=${4:-jenkins} known
    known=$(dirname "$key")/known_hosts.$id
    echo "$ip $(docker exec "$id" cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f1,2)" >"$known"
    echo "timeout 60 ssh -i $key -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=$known -o StrictHostKeyChecking=yes $user@$ip"
}

# The plugin's end of an agent: stop within its stop timeout, then remove with its volumes.
tpl_remove() {
    local id=$1
    tpl_api POST "/containers/$id/stop?t=10" >/dev/null
    assert_eq "$(tpl_api GET "/containers/$id/json" | jq -r .State.ExitCode)" 0 "agent exit code after stop"
    tpl_api DELETE "/containers/$id?v=1" >/dev/null
}

# A build inside, FROM an image imported over the same ssh session kind.
tpl_build_inside() {
    local ssh=$1
    it_tiny_image_tar | $ssh docker import - tiny:1 >/dev/null
    $ssh 'mkdir -p ctx && printf "FROM tiny:1\nRUN [\"/bin/busybox\", \"touch\", \"/built\"]\n" > ctx/Dockerfile && docker build -q -t built:1 ctx' >/dev/null
    assert_eq "$($ssh docker run --rm built:1 /bin/busybox ls /built)" "/built" "nested build"
}

test_template_inject_ssh_key() {
    local dir=$IT_DIR/template-inject id ip ssh logs
    rm -rf "$dir" && mkdir -p "$dir"
    # Jenkins' instance identity is an RSA key; the plugin injects "ssh-rsa BASE64".
    ssh-keygen -q -t rsa -b 2048 -N '' -f "$dir/identity"
    id=$(tpl_create "$TPL_SSHD_INJECT" '[]' '[]' '{}')
    trap "docker rm -f -v $id >/dev/null 2>&1 || true" EXIT
    tpl_inject_key "$id" jenkins "$(cut -d' ' -f1,2 "$dir/identity.pub")"
    ip=$(tpl_start "$id")
    ssh=$(tpl_ssh_command "$id" "$ip" "$dir/identity")
    # The SSH launcher aborts on any output from `exit 0`.
    assert_eq "$($ssh exit 0 2>&1)" "" "ssh exit 0 must print nothing"
    assert_eq "$($ssh id -un)" jenkins
    assert_eq "$(docker exec "$id" stat -c '%u %a' /root/authorized_key)" "0 700" "uploaded script"
    # sshd runs the plugin's command line, in the foreground, with our sshd_config, in the
    # user namespace; the keys command ran once before (sshd in there refuses any: it wants /
    # and every directory to it owned by root, and they are the host's).
    assert_contains "$(docker exec "$id" /usr/sbin/slipway-init --enter root -- ps -o args= -C sshd)" \
        "/usr/sbin/sshd -e -D -p 22"
    assert_contains "$(docker logs "$id" 2>&1)" "authorized keys for jenkins: from sshd's AuthorizedKeysCommand, run once"
    if ${ssh/jenkins@/root@} true 2>/dev/null; then fail "root logged in"; fi
    tpl_build_inside "$ssh"
    # Builds run inside the agent's cgroup, not beside it: Docker's default on cgroup v1 is the
    # host's cgroup namespace, which the plugin cannot change, and the init makes its own.
    local cgroups agent_cgroup nested
    cgroups=/proc/$(tpl_api GET "/containers/$id/json" | jq -r .State.Pid)/cgroup
    if grep -q '^[0-9]*:pids:' "$cgroups"; then
        agent_cgroup=/pids$(awk -F: '$2 == "pids" {print $3}' "$cgroups")
    else
        agent_cgroup=$(awk -F: '$1 == "0" {print $3}' "$cgroups")
    fi
    nested=$($ssh docker run -d tiny:1 /bin/busybox sleep 60)
    # (Below the cgroup the init delegates to the user namespace, "inner".)
    [ -d "/sys/fs/cgroup$agent_cgroup/inner/docker/$nested" ] ||
        fail "nested container not below the agent's cgroup $agent_cgroup/inner"
    $ssh docker rm -f "$nested" >/dev/null
    logs=$(docker logs "$id" 2>&1)
    assert_contains "$logs" "authorized keys for jenkins: from the Jenkins Docker plugin's /root/authorized_key"
    assert_contains "$logs" "no cache generation at /var/lib/slipway-seed: starting cold"
    tpl_remove "$id"
    trap - EXIT
    assert_no_leaks "$dir"
}

test_template_env_key() {
    local dir=$IT_DIR/template-env id ip ssh
    rm -rf "$dir" && mkdir -p "$dir"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/agent_key"
    id=$(tpl_create "$TPL_SSHD_PLAIN" "$(jq -nc --arg key "$(cat "$dir/agent_key.pub")" '["JENKINS_AGENT_SSH_PUBKEY=" + $key]')" '[]' '{}')
    trap "docker rm -f -v $id >/dev/null 2>&1 || true" EXIT
    ip=$(tpl_start "$id")
    ssh=$(tpl_ssh_command "$id" "$ip" "$dir/agent_key")
    assert_eq "$($ssh exit 0 2>&1)" "" "ssh exit 0 must print nothing"
    # The launcher logs `set`: the key variable must not reach the session.
    case $($ssh env) in *JENKINS_AGENT_SSH_PUBKEY*) fail "the key variable reached the session" ;; esac
    tpl_build_inside "$ssh"
    assert_contains "$(docker logs "$id" 2>&1)" "authorized keys for jenkins from JENKINS_AGENT_SSH_PUBKEY"
    tpl_remove "$id"
    trap - EXIT
    assert_no_leaks "$dir"
}

# The plugin's "Inject SSH key as container argument" (and jenkins/ssh-agent's convention):
# the public key is the container's only argument.
test_template_key_as_argument() {
    local dir=$IT_DIR/template-argument id ip ssh
    rm -rf "$dir" && mkdir -p "$dir"
    ssh-keygen -q -t rsa -b 2048 -N '' -f "$dir/identity"
    id=$(tpl_create "$(jq -nc --arg key "$(cut -d' ' -f1,2 "$dir/identity.pub")" '[$key]')" '[]' '[]' '{}')
    trap "docker rm -f -v $id >/dev/null 2>&1 || true" EXIT
    ip=$(tpl_start "$id")
    ssh=$(tpl_ssh_command "$id" "$ip" "$dir/identity")
    assert_eq "$($ssh exit 0 2>&1)" "" "ssh exit 0 must print nothing"
    assert_eq "$($ssh docker info --format '{{.Driver}}')" overlay2 "inner dockerd"
    assert_contains "$(docker logs "$id" 2>&1)" "authorized keys for jenkins from the container's command (a public key)"
    tpl_remove "$id"
    trap - EXIT
    assert_no_leaks "$dir"
}

test_template_seeded_from_generation() {
    local state=$IT_DIR/state-template gen root dir=$IT_DIR/template-seed id ip ssh mounts labels logs
    rm -rf "$state" "$dir" && mkdir -p "$dir"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/agent_key"
    it_cache_images
    gen=$("$SLIPWAY" --state-dir "$state" cache build --image tiny:1 2>/dev/null)
    root=$state/cache/generations/$gen/data-root
    mounts=$(jq -nc --arg src "$root" '[{Type: "bind", Source: $src, Target: "/var/lib/slipway-seed", ReadOnly: true}]')
    # The labels that pin the generation against `slipway cache gc` (README).
    labels=$(jq -nc --arg state "$state" --arg gen "$gen" '{"io.slipway.state-dir": $state, "io.slipway.generation": $gen}')
    id=$(tpl_create "$TPL_SSHD_PLAIN" \
        "$(jq -nc --arg key "$(cat "$dir/agent_key.pub")" '["JENKINS_SLAVE_SSH_PUBKEY=" + $key]')" "$mounts" "$labels")
    trap "docker rm -f -v $id >/dev/null 2>&1 || true" EXIT
    ip=$(tpl_start "$id")
    ssh=$(tpl_ssh_command "$id" "$ip" "$dir/agent_key")
    assert_eq "$($ssh exit 0 2>&1)" "" "ssh exit 0 must print nothing"
    logs=$(docker logs "$id" 2>&1)
    assert_contains "$logs" "seeded the data root from the cache generation at /var/lib/slipway-seed (layer-link): 1 layers"
    assert_contains "$logs" "authorized keys for jenkins from JENKINS_SLAVE_SSH_PUBKEY"
    # The seeded image is there at once and runs: no load, no pull (--pull never).
    assert_eq "$($ssh docker images --format '{{.Repository}}:{{.Tag}}')" "tiny:1" "seeded images"
    assert_eq "$($ssh docker run --rm --pull never tiny:1 /bin/busybox echo seeded-ok)" "seeded-ok"
    # Nobody in the agent can write to the generation.
    local rc=0
    docker exec "$id" touch /var/lib/slipway-seed/x 2>/dev/null || rc=$?
    [ "$rc" -ne 0 ] || fail "root wrote into the generation"
    # gc keeps the generation this container pins, even once it is no longer current.
    "$SLIPWAY" --state-dir "$state" cache build --image tiny:1 >/dev/null 2>&1
    "$SLIPWAY" --state-dir "$state" cache gc >/dev/null
    [ -d "$root" ] || fail "gc removed the generation a template container uses"
    tpl_remove "$id"
    trap - EXIT
    assert_contains "$("$SLIPWAY" --state-dir "$state" cache verify "$gen")" "$gen unchanged"

    # A generation mounted writable is refused: it is shared by every agent seeded from it.
    mounts=$(jq -nc --arg src "$root" '[{Type: "bind", Source: $src, Target: "/var/lib/slipway-seed"}]')
    id=$(tpl_create "$TPL_SSHD_PLAIN" '[]' "$mounts" "$labels")
    trap "docker rm -f -v $id >/dev/null 2>&1 || true" EXIT
    tpl_api POST "/containers/$id/start" >/dev/null
    assert_eq "$(tpl_api POST "/containers/$id/wait" | jq .StatusCode)" 1 "exit status with a writable generation"
    assert_contains "$(docker logs "$id" 2>&1)" "/var/lib/slipway-seed is writable: mount the cache generation read-only"
    tpl_api DELETE "/containers/$id?v=1" >/dev/null
    trap - EXIT
    "$SLIPWAY" --state-dir "$state" cache gc >/dev/null
    assert_no_leaks "$state"
    assert_no_leaks "$dir"
}

it_case "template: Docker plugin 'Inject SSH key' container, ssh, nested build" test_template_inject_ssh_key
it_case "template: Docker plugin container with JENKINS_AGENT_SSH_PUBKEY" test_template_env_key
it_case "template: public key as the container's argument (jenkins/ssh-agent convention)" test_template_key_as_argument
it_case "template: seeded from a read-only generation at /var/lib/slipway-seed" test_template_seeded_from_generation
