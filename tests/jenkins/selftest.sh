#!/bin/bash
# Self-test of the Jenkins emulator: HTTP semantics with curl, and the SSH launch path against a
# throwaway sshd (127.0.0.1, high port, its own host key and config; the host's sshd service is
# never touched). Run as root. Exits non-zero on any failure.
#
#   tests/jenkins/selftest.sh            (SELFTEST_KEEP=1 keeps the work directory)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PASS=0
FAIL=0
FAILED=()

[ "$(id -u)" = 0 ] || { echo "selftest: run as root (sshd must read its own config and keys)" >&2; exit 2; }
for c in curl jq ssh sftp scp ssh-keygen javac jar java python3; do
    command -v "$c" >/dev/null || { echo "selftest: $c is missing" >&2; exit 2; }
done

W=$(mktemp -d /tmp/jenkins-emulator-selftest.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ "${SELFTEST_KEEP:-}" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

log() { printf '    %s\n' "$*" >&2; }
ok() { PASS=$((PASS + 1)); printf 'ok   %s\n' "$1"; }
bad() { FAIL=$((FAIL + 1)); FAILED+=("$1"); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '     %s\n' "$2"; }
check() {   # check NAME COMMAND...
    local name=$1; shift
    if "$@"; then ok "$name"; else bad "$name" "command: $*"; fi
}
eq() { [ "$1" = "$2" ] || { log "expected '$2', got '$1'"; return 1; }; }
contains() { case $1 in *"$2"*) return 0 ;; esac; log "'$2' not in: ${1:0:400}"; return 1; }
lacks() { case $1 in *"$2"*) log "'$2' unexpectedly in: ${1:0:400}"; return 1 ;; esac; return 0; }
jqe() { jq -e "$1" >/dev/null <<<"$2" || { log "jq '$1' false for: ${2:0:400}"; return 1; }; }
wait_for() {   # wait_for SECONDS COMMAND...
    local deadline=$(( $(date +%s) + $1 )); shift
    until "$@"; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.2
    done
}
gone() { local p; for p in "$@"; do pgrep -f -- "$p" >/dev/null && return 1; done; return 0; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- an sshd of our own --------------------------------------------------------------------
SSHD=/usr/sbin/sshd
if [ ! -x "$SSHD" ]; then
    # Install it without letting the package start or reconfigure a system service: only with a
    # policy-rc.d that refuses service starts; otherwise unpack the binary into our work dir.
    if [ -x /usr/sbin/policy-rc.d ] && ! /usr/sbin/policy-rc.d ssh start >/dev/null 2>&1; then
        apt-get install -y openssh-server >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1; apt-get install -y openssh-server >/dev/null 2>&1; }
    else
        (cd "$W" && apt-get download openssh-server libwrap0 >/dev/null 2>&1 \
            && for d in ./*.deb; do dpkg-deb -x "$d" "$W/pkg"; done) && SSHD=$W/pkg/usr/sbin/sshd
        export LD_LIBRARY_PATH=$W/pkg/lib/x86_64-linux-gnu:$W/pkg/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    fi
fi
[ -x "$SSHD" ] || { echo "selftest: no sshd available" >&2; exit 2; }
mkdir -p /run/sshd   # sshd's privilege separation directory

cd "$W"
ssh-keygen -q -t ed25519 -N '' -C host -f hostkey
ssh-keygen -q -t ed25519 -N '' -C other -f otherhostkey
ssh-keygen -q -t ed25519 -N '' -C client -f client
ssh-keygen -q -t ed25519 -N '' -C junk -f junkclient
ssh-keygen -q -t ed25519 -N '' -C stranger -f stranger
{
    cat client.pub
    # A key whose forced command prints something: the plugin's "exit 0" check must catch it.
    printf 'command="echo this is a noisy login script" %s\n' "$(cat junkclient.pub)"
} >authorized_keys
chmod 600 authorized_keys

start_sshd() {   # start_sshd PORT NAME
    cat >"sshd-$2.conf" <<EOF
Port $1
ListenAddress 127.0.0.1
HostKey $W/hostkey
PidFile $W/sshd-$2.pid
AuthorizedKeysFile $W/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
PrintLastLog no
Banner none
X11Forwarding no
Subsystem sftp internal-sftp
EOF
    "$SSHD" -D -f "$W/sshd-$2.conf" -E "$W/sshd-$2.log" &
    PIDS+=($!)
    wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

SSH_PORT=$(free_port)
start_sshd "$SSH_PORT" main || { echo "selftest: sshd did not start" >&2; cat "$W/sshd-main.log" >&2; exit 1; }

# ---- the emulator ----------------------------------------------------------------------------
"$here/build-jar" "$W/remoting.jar" || { echo "selftest: build-jar failed" >&2; exit 1; }
TOKEN=11aabbccddeeff00112233445566778899
PASSWORD=secret-pw
/usr/bin/python3 "$here/emulator.py" --port-file "$W/port" --control-port-file "$W/cport" \
    --user admin --token "$TOKEN" --password "$PASSWORD" \
    --credential "agent-key:root:$W/client" --credential "junk-key:root:$W/junkclient" \
    --credential "stranger-key:root:$W/stranger" \
    --jar "$W/remoting.jar" --events "$W/events.jsonl" --log "$W/emulator.log" \
    --retention-period 3600 &
EMU_PID=$!
PIDS+=("$EMU_PID")
wait_for 15 test -s "$W/port" -a -s "$W/cport" || { echo "selftest: emulator did not start" >&2; cat "$W/emulator.log" >&2; exit 1; }
J=http://127.0.0.1:$(cat "$W/port")
C=http://127.0.0.1:$(cat "$W/cport")
HOSTKEY=$(cut -d' ' -f1,2 hostkey.pub)
OTHERKEY=$(cut -d' ' -f1,2 otherhostkey.pub)

api() { curl -sg -u "admin:$TOKEN" "$J$1"; }
code() { curl -sg -o /dev/null -w '%{http_code}' "$@"; }
node_json() {   # node_json NAME KEY CREDENTIAL PORT [RETRIES] [WAIT]
    jq -nc --arg n "$1" --arg key "$2" --arg cred "$3" --argjson port "$4" --arg fs "$W/fs-$1" \
        --argjson retries "${5:-3}" --argjson wait "${6:-1}" '{
        name: $n, nodeDescription: ("selftest agent " + $n), numExecutors: 1, remoteFS: $fs,
        labelString: "dind linux", mode: "EXCLUSIVE",
        launcher: {"$class": "hudson.plugins.sshslaves.SSHLauncher", host: "127.0.0.1", port: $port,
                   credentialsId: $cred, javaPath: "", jvmOptions: "", launchTimeoutSeconds: 20,
                   maxNumRetries: $retries, retryWaitTime: $wait,
                   sshHostKeyVerificationStrategy: {"$class": "hudson.plugins.sshslaves.verifiers.ManuallyProvidedKeyVerificationStrategy", key: $key}},
        retentionStrategy: {"$class": "hudson.slaves.RetentionStrategy$Always"},
        nodeProperties: {"stapler-class-bag": "true"}}'
}
create() {   # create NAME JSON [curl auth args...] -> prints status; headers in $W/h, body in $W/b
    local name=$1 json=$2; shift 2
    curl -sg -D "$W/h" -o "$W/b" -w '%{http_code}' "$@" -X POST "$J/computer/doCreateItem" \
        --data-urlencode "name=$name" --data-urlencode type=hudson.slaves.DumbSlave --data-urlencode "json=$json"
}
online() { [ "$(api "/computer/$1/api/json?tree=offline" | jq -r .offline)" = false ]; }
launch_state() { curl -s "$C/_emulator/nodes/$1" | jq -r '.launches[-1].result // "running"'; }
nlog() { curl -s "$C/_emulator/nodes/$1" | jq -r '.launch_log | join("\n")'; }
launch_done() { [ "$(launch_state "$1")" != running ] && [ "$(launch_state "$1")" != null ]; }

# ---- authentication and CSRF (BasicHeaderProcessor, HudsonAuthenticationEntryPoint, CrumbFilter)
echo "== auth"
h=$(curl -sg -D - -o /dev/null -u admin:wrong "$J/api/json")
check "wrong token -> 401" contains "$h" "HTTP/1.1 401"
check "401 carries WWW-Authenticate: Basic realm=\"Jenkins\"" contains "$h" 'WWW-Authenticate: Basic realm="Jenkins"'
check "wrong user -> 401" eq "$(code -u nobody:"$TOKEN" "$J/api/json")" 401
h=$(curl -sg -D - -o /dev/null "$J/api/json")
check "anonymous -> 403" contains "$h" "HTTP/1.1 403"
check "403 says who: X-You-Are-Authenticated-As: anonymous" contains "$h" "X-You-Are-Authenticated-As: anonymous"
check "403 says what: X-Required-Permission: hudson.model.Hudson.Read" contains "$h" "X-Required-Permission: hudson.model.Hudson.Read"
check "token GET /api/json -> 200" eq "$(code -u "admin:$TOKEN" "$J/api/json")" 200
check "password GET /api/json -> 200" eq "$(code -u "admin:$PASSWORD" "$J/api/json")" 200
root=$(api /api/json)
check "/api/json is hudson.model.Hudson with nodeName \"\"" eq "$(jq -r '._class + "|" + .nodeName + "|" + .mode' <<<"$root")" "hudson.model.Hudson||NORMAL"

echo "== crumbs"
st=$(create crumbless "$(node_json crumbless "$HOSTKEY" agent-key "$SSH_PORT")" -u "admin:$PASSWORD")
check "password POST without crumb -> 403" eq "$st" 403
check "403 says: No valid crumb was included in the request" contains "$(cat "$W/b")" "No valid crumb was included in the request"
crumb_json=$(curl -sg -c "$W/cookies" -u "admin:$PASSWORD" "$J/crumbIssuer/api/json")
check "crumbIssuer shape" eq "$(jq -r '._class + "|" + .crumbRequestField + "|" + (.crumb|length|tostring)' <<<"$crumb_json")" "hudson.security.csrf.DefaultCrumbIssuer|Jenkins-Crumb|64"
check "crumbIssuer sets a JSESSIONID.<id> cookie" grep -q 'JSESSIONID\.' "$W/cookies"
CRUMB=$(jq -r .crumb <<<"$crumb_json")
st=$(create crumbless "$(node_json crumbless "$HOSTKEY" agent-key "$SSH_PORT")" -u "admin:$PASSWORD" -H "Jenkins-Crumb: $CRUMB")
check "crumb without its session cookie -> 403" eq "$st" 403
st=$(create crumbed "$(node_json crumbed "$HOSTKEY" agent-key "$SSH_PORT")" -u "admin:$PASSWORD" -H "Jenkins-Crumb: $CRUMB" -b "$W/cookies")
check "password POST with crumb + session cookie -> 302" eq "$st" 302
check "302 Location is the node list" contains "$(cat "$W/h")" "Location: $J/computer/"
st=$(curl -sg -o /dev/null -w '%{http_code}' -u "admin:$PASSWORD" -H "Jenkins-Crumb: $CRUMB" -b "$W/cookies" -X POST "$J/computer/crumbed/doDelete")
check "doDelete with crumb -> 302" eq "$st" 302

# ---- nodes: create, names, launch ------------------------------------------------------------
echo "== create and launch"
st=$(create agent-1 "$(node_json agent-1 "$HOSTKEY" agent-key "$SSH_PORT")" -u "admin:$TOKEN")
check "token POST /computer/doCreateItem (no crumb needed) -> 302" eq "$st" 302
check "agent-1 comes online (SSH launch: exit 0, set, java -version, SFTP, agent)" wait_for 60 online agent-1
logtext=$(curl -s "$C/_emulator/nodes/agent-1" | jq -r '.launch_log | join("\n")')
check "launch log: host key matched" contains "$logtext" "[SSH] SSH host key matched the key required for this connection. Connection will be allowed."
check "launch log: remote environment dumped" contains "$logtext" "[SSH] The remote user's environment is:"
check "launch log: java version checked" contains "$logtext" "[SSH] java -version returned"
check "launch log: remoting.jar copied by SFTP" contains "$logtext" "[SSH] Copied "
check "launch log: the plugin's command line" contains "$logtext" "[SSH] Starting agent process: cd \"$W/fs-agent-1\" && java  -jar remoting.jar -workDir $W/fs-agent-1 -jar-cache $W/fs-agent-1/remoting/jarCache"
check "remoting.jar landed in remoteFS" test -s "$W/fs-agent-1/remoting.jar"

st=$(create agent-1 "$(node_json agent-1 "$HOSTKEY" agent-key "$SSH_PORT")" -u "admin:$TOKEN")
check "duplicate name -> 400" eq "$st" 400
check "duplicate name message (body)" contains "$(cat "$W/b")" "<p>Agent called ‘agent-1’ already exists</p>"
check "duplicate name message (X-Error header)" grep -q '^X-Error: Agent called .agent-1. already exists' "$W/h"
for n in 'bad/name' 'bad?name' 'a:b' 'semi;colon' 'pct%x'; do
    ch=$(python3 -c 'import sys; n=sys.argv[1]; print(next(c for c in n if c in "?*/\\%!@#$^&|<>[]:;"))' "$n")
    st=$(create "$n" "$(node_json x "$HOSTKEY" agent-key "$SSH_PORT")" -u "admin:$TOKEN")
    check "unsafe name '$n' -> 400 ‘$ch’ is an unsafe character" bash -c "[ $st = 400 ] && grep -q '<p>‘$ch’ is an unsafe character</p>' '$W/b'"
done
st=$(create "." "$(node_json x "$HOSTKEY" agent-key "$SSH_PORT")" -u "admin:$TOKEN")
check "name '.' -> 400 “.” is not an allowed name" bash -c "[ $st = 400 ] && grep -q '“.” is not an allowed name' '$W/b'"
st=$(create "trailing." "$(node_json x "$HOSTKEY" agent-key "$SSH_PORT")" -u "admin:$TOKEN")
check "trailing dot -> 400 A name cannot end with ‘.’" bash -c "[ $st = 400 ] && grep -q 'A name cannot end with ‘.’' '$W/b'"
st=$(create "" "$(node_json x "$HOSTKEY" agent-key "$SSH_PORT")" -u "admin:$TOKEN")
check "empty name -> 400" bash -c "[ $st = 400 ] && grep -q \"Query parameter 'name' is required\" '$W/b'"
st=$(create "$(printf 'ctl\001x')" "$(node_json x "$HOSTKEY" agent-key "$SSH_PORT")" -u "admin:$TOKEN")
check "control char -> 400 No control code is allowed" bash -c "[ $st = 400 ] && grep -q 'No control code is allowed: ctl' '$W/b'"
st=$(create zero "$(node_json zero "$HOSTKEY" agent-key "$SSH_PORT" | jq -c '.numExecutors=0')" -u "admin:$TOKEN")
check "numExecutors 0 -> 400 Invalid # of executors" bash -c "[ $st = 400 ] && grep -q 'Invalid agent configuration for zero. Invalid # of executors.' '$W/b'"
st=$(create jnlp "$(node_json jnlp "$HOSTKEY" agent-key "$SSH_PORT" | jq -c 'del(.launcher)')" -u "admin:$TOKEN")
check "missing launcher -> 400 (emulator-strict)" eq "$st" 400
st=$(create nokey "$(node_json nokey "$HOSTKEY" agent-key "$SSH_PORT" | jq -c '.launcher.sshHostKeyVerificationStrategy={"$class":"hudson.plugins.sshslaves.verifiers.NonVerifyingKeyVerificationStrategy"}')" -u "admin:$TOKEN")
check "non-manual host key strategy -> 400 (emulator-strict)" eq "$st" 400
st=$(curl -sg -o "$W/b" -w '%{http_code}' -u "admin:$TOKEN" -X POST "$J/computer/doCreateItem" --data-urlencode name=nojson --data-urlencode type=hudson.slaves.DumbSlave)
check "missing json form field -> 400 This page expects a form submission" bash -c "[ $st = 400 ] && grep -q 'This page expects a form submission' '$W/b'"
st=$(create badjson '{"name":' -u "admin:$TOKEN")
check "malformed json -> 500 (Stapler: Failed to parse JSON)" eq "$st" 500
check "GET on doCreateItem -> 405" eq "$(code -u "admin:$TOKEN" "$J/computer/doCreateItem")" 405

echo "== computer API"
check "unknown computer -> 404" eq "$(code -u "admin:$TOKEN" "$J/computer/no-such-agent/api/json")" 404
check "unknown computer doDelete -> 404" eq "$(code -u "admin:$TOKEN" -X POST "$J/computer/no-such-agent/doDelete")" 404
c=$(api "/computer/agent-1/api/json")
check "computer _class hudson.slaves.SlaveComputer" eq "$(jq -r ._class <<<"$c")" hudson.slaves.SlaveComputer
check "computer exports description" eq "$(jq -r .description <<<"$c")" "selftest agent agent-1"
check "computer assignedLabels include its own name" eq "$(jq -c '[.assignedLabels[].name]' <<<"$c")" '["agent-1","dind","linux"]'
check "computer fields" eq "$(jq -c '[.offline,.temporarilyOffline,.idle,.numExecutors,.jnlpAgent,.launchSupported,.manualLaunchAllowed,.offlineCauseReason]' <<<"$c")" '[false,false,true,1,false,true,true,""]'
c=$(api "/computer/api/json?tree=computer[displayName,executors[idle]]")
check "tree= keeps only the requested fields" eq "$(jq -c '[.computer[] | keys]' <<<"$c")" '[["_class","displayName","executors"],["_class","displayName","executors"]]'
check "built-in node listed first as Built-In Node" eq "$(jq -r '.computer[0]._class + "|" + .computer[0].displayName' <<<"$c")" 'hudson.model.Hudson$MasterComputer|Built-In Node'
check "tree= on nested arrays" eq "$(jq -c '.computer[1].executors' <<<"$c")" '[{"idle":true}]'
check "tree= range {0,1}" eq "$(api "/computer/api/json?tree=computer[displayName]{0,1}" | jq -c '[.computer[].displayName]')" '["Built-In Node"]'

# ---- queue, labels, builds -------------------------------------------------------------------
echo "== queue and labels"
qid=$(curl -s -X POST "$C/_emulator/builds" -d '{"name":"needs-gpu","label":"gpu && linux","steps":["true"]}' | jq .id)
q=$(api "/queue/api/json")
item=$(jq -c --argjson id "$qid" '.items[] | select(.id==$id)' <<<"$q")
check "queue _class" eq "$(jq -r ._class <<<"$q")" hudson.model.Queue
check "queued item is a BuildableItem" eq "$(jq -r ._class <<<"$item")" 'hudson.model.Queue$BuildableItem'
check "item fields" eq "$(jq -c '[.buildable,.blocked,.stuck,.url,(.inQueueSince|type)]' <<<"$item")" "[true,false,true,\"queue/item/$qid/\",\"number\"]"
check "why: There are no nodes with the label ‘gpu&&linux’" eq "$(jq -r .why <<<"$item")" "There are no nodes with the label ‘gpu&&linux’"
check "task is a FreeStyleProject with name and url" eq "$(jq -r '.task._class + "|" + .task.name' <<<"$item")" "hudson.model.FreeStyleProject|needs-gpu"
q=$(api "/queue/api/json?tree=items[id,why,task[name,labelExpression]]")
check "tree=task[labelExpression] exports the job's label (AbstractProject)" eq "$(jq -r --argjson id "$qid" '.items[] | select(.id==$id) | .task.labelExpression' <<<"$q")" "gpu && linux"
l=$(api "/label/gpu%20%26%26%20linux/api/json")
check "label API shape" eq "$(jq -c '[._class,.name,.offline,.idleExecutors,.busyExecutors,.totalExecutors,.nodes,.description,(.tiedJobs|length)]' <<<"$l")" '["hudson.model.labels.LabelExpression$And","gpu&&linux",true,0,0,0,[],"invalid label",1]'
l=$(api "/label/dind/api/json?tree=name,idleExecutors,totalExecutors,nodes[nodeName]")
check "label dind: agent-1 idle" eq "$(jq -c '[.name,.idleExecutors,.totalExecutors,[.nodes[].nodeName]]' <<<"$l")" '["dind",1,1,["agent-1"]]'
pid=$(curl -s -X POST "$C/_emulator/builds" -d '{"name":"pipe-gpu","label":"gpu","pipeline":true,"steps":["true"]}' | jq .id)
item=$(api "/queue/api/json" | jq -c --argjson id "$pid" '.items[] | select(.id==$id)')
check "pipeline node() item: PlaceholderTask, no name/label exported" eq "$(jq -c '.task' <<<"$item")" '{"_class":"org.jenkinsci.plugins.workflow.support.steps.ExecutorStepExecution$PlaceholderTask"}'
curl -s -X POST "$C/_emulator/builds/$qid/abort" >/dev/null
curl -s -X POST "$C/_emulator/builds/$pid/abort" >/dev/null
check "cancelled items leave the queue" eq "$(api "/queue/api/json" | jq '.items|length')" 0

echo "== builds"
bid=$(curl -s -X POST "$C/_emulator/builds" -d '{"name":"hello","label":"dind&&linux","steps":["echo node=$NODE_NAME job=$JOB_NAME build=$BUILD_NUMBER ws=$WORKSPACE","pwd"]}' | jq .id)
r=$(curl -s "$C/_emulator/builds/$bid/wait?timeout=30")
check "build ran and succeeded on agent-1" eq "$(jq -r '.state + "|" + .node' <<<"$r")" "succeeded|agent-1"
check "build env: NODE_NAME, JOB_NAME, BUILD_NUMBER, WORKSPACE" eq "$(jq -r '.steps[0].output' <<<"$r")" "node=agent-1 job=hello build=1 ws=$W/fs-agent-1/workspace/hello"
check "build timestamps" jqe '.queued_at <= .started_at and .started_at <= .first_step_at and .first_step_at <= .finished_at' "$r"
fid=$(curl -s -X POST "$C/_emulator/builds" -d '{"name":"failing","label":"dind","steps":["echo before","exit 7","echo never"]}' | jq .id)
r=$(curl -s "$C/_emulator/builds/$fid/wait?timeout=30")
check "failing step fails the build and stops it" eq "$(jq -c '[.state,.result,[.steps[].exit_code]]' <<<"$r")" '["failed","FAILURE",[0,7,null]]'
nid=$(curl -s -X POST "$C/_emulator/builds" -d '{"name":"unlabelled","steps":["true"]}' | jq .id)
sleep 0.5
check "EXCLUSIVE node refuses an unlabelled item: why names it" eq "$(api /queue/api/json | jq -r --argjson id "$nid" '.items[] | select(.id==$id) | .why')" "‘agent-1’ is reserved for jobs with matching label expression"
curl -s -X POST "$C/_emulator/builds/$nid/abort" >/dev/null

echo "== offline / online"
h=$(curl -sg -D - -o /dev/null -u "admin:$TOKEN" -X POST "$J/computer/agent-1/changeOfflineCause?offlineMessage=draining%20for%20slipway")
check "changeOfflineCause -> 302 to the computer page" contains "$h" "Location: $J/computer/agent-1/"
check "changeOfflineCause is idempotent" eq "$(code -u "admin:$TOKEN" -X POST "$J/computer/agent-1/changeOfflineCause?offlineMessage=draining%20for%20slipway")" 302
c=$(api "/computer/agent-1/api/json?tree=offline,temporarilyOffline,offlineCauseReason")
check "temporarily offline with the message as offlineCauseReason" eq "$(jq -c '[.offline,.temporarilyOffline,.offlineCauseReason]' <<<"$c")" '[true,true,"draining for slipway"]'
oid=$(curl -s -X POST "$C/_emulator/builds" -d '{"name":"waits","label":"dind","steps":["true"]}' | jq .id)
sleep 0.5
check "why while its only node is offline: ‘agent-1’ is offline" eq "$(api /queue/api/json | jq -r --argjson id "$oid" '.items[] | select(.id==$id) | .why')" "‘agent-1’ is offline"
check "toggleOffline -> 302" eq "$(code -u "admin:$TOKEN" -X POST "$J/computer/agent-1/toggleOffline")" 302
check "toggleOffline flipped it back online" eq "$(api "/computer/agent-1/api/json?tree=temporarilyOffline" | jq .temporarilyOffline)" false
r=$(curl -s "$C/_emulator/builds/$oid/wait?timeout=30")
check "the waiting build ran once the node came back" eq "$(jq -r .state <<<"$r")" succeeded

echo "== delete with a running build"
sid=$(curl -s -X POST "$C/_emulator/builds" -d '{"name":"sleeper","label":"dind","steps":["sleep 300"]}' | jq .id)
wait_for 20 bash -c "curl -s '$C/_emulator/builds/$sid' | jq -e '.first_step_at != null' >/dev/null"
check "executor busy while the build runs" eq "$(api "/computer/agent-1/api/json?tree=idle,executors[idle,currentExecutable[number]]" | jq -c '[.idle,.executors[0].idle,.executors[0].currentExecutable.number]')" '[false,false,1]'
h=$(curl -sg -D - -o /dev/null -u "admin:$TOKEN" -X POST "$J/computer/agent-1/doDelete")
check "doDelete -> 302 to /computer/" contains "$h" "Location: $J/computer/"
check "running build aborted" eq "$(curl -s "$C/_emulator/builds/$sid/wait?timeout=10" | jq -r .state)" aborted
check "deleted computer -> 404" eq "$(code -u "admin:$TOKEN" "$J/computer/agent-1/api/json")" 404
check "agent process gone (channel closed)" wait_for 10 gone "remoting.jar -workDir $W/fs-agent-1"
check "step process gone" wait_for 10 gone "sleep 300"

# ---- launch failures -------------------------------------------------------------------------
echo "== launch failures"
create wrongkey "$(node_json wrongkey "$OTHERKEY" agent-key "$SSH_PORT" 1 1)" -u "admin:$TOKEN" >/dev/null
check "wrong host key: the launch fails" wait_for 30 launch_done wrongkey
n=$(curl -s "$C/_emulator/nodes/wrongkey")
check "wrong host key: launch result failed" eq "$(jq -r '.launches[-1].result' <<<"$n")" failed
check "wrong host key: the plugin's warning is logged" contains "$(nlog wrongkey)" "[SSH] WARNING: The SSH key for this host does not match the key required in the connection configuration."
check "wrong host key: retried maxNumRetries times" contains "$(nlog wrongkey)" "There are 1 more retries left."
check "wrong host key: never authenticated" lacks "$(nlog wrongkey)" "Authentication successful"
c=$(api "/computer/wrongkey/api/json?tree=offline,offlineCauseReason")
check "failed launch: offline with the LaunchFailed cause" eq "$(jq -c '[.offline,.offlineCauseReason]' <<<"$c")" '[true,"This agent is offline because Jenkins failed to launch the agent process on it."]'

create stranger "$(node_json stranger "$HOSTKEY" stranger-key "$SSH_PORT" 3 1)" -u "admin:$TOKEN" >/dev/null
check "unknown client key: the launch fails" wait_for 30 launch_done stranger
check "unknown client key: [SSH] Authentication failed." contains "$(nlog stranger)" "[SSH] Authentication failed."
check "unknown client key: not retried" lacks "$(nlog stranger)" "retries left"

create noisy "$(node_json noisy "$HOSTKEY" junk-key "$SSH_PORT" 0 1)" -u "admin:$TOKEN" >/dev/null
check "output from 'exit 0': the launch fails" wait_for 30 launch_done noisy
check "output from 'exit 0': the plugin's junk message" contains "$(nlog noisy)" "SSH connection reports a garbage before a command execution."

LATE_PORT=$(free_port)
create late "$(node_json late "$HOSTKEY" agent-key "$LATE_PORT" 20 1)" -u "admin:$TOKEN" >/dev/null
sleep 2.5
start_sshd "$LATE_PORT" late
check "sshd up late: connection retried until it answers, then online" wait_for 40 online late
check "refused attempts were logged with the plugin's retry line" contains "$(nlog late)" "SSH Connection failed with IOException: \""

s=$(curl -s "$C/_emulator/stats")
check "stats" jqe '.nodes_created >= 6 and .nodes_deleted >= 2 and .launch_failures >= 3 and .max_online_at_once >= 1 and .nodes_now >= 4' "$s"
check "events file records node and build events" bash -c "grep -q '\"event\": \"node_online\"' '$W/events.jsonl' && grep -q '\"event\": \"build_finished\"' '$W/events.jsonl' && grep -q '\"event\": \"launch_failed\"' '$W/events.jsonl'"

# ---- faults --------------------------------------------------------------------------------
echo "== faults"
curl -s -X POST "$C/_emulator/fault" -d '{"mode":"error500"}' >/dev/null
check "error500 -> 500" eq "$(code -u "admin:$TOKEN" "$J/api/json")" 500
curl -s -X POST "$C/_emulator/fault" -d '{"mode":"slow","delay_ms":700}' >/dev/null
t=$(curl -sg -o /dev/null -w '%{time_total}' -u "admin:$TOKEN" "$J/api/json")
check "slow delays responses" python3 -c "import sys; sys.exit(0 if float('$t') >= 0.65 else 1)"
curl -s -X POST "$C/_emulator/fault" -d '{"mode":"down"}' >/dev/null
curl -sg -o /dev/null -u "admin:$TOKEN" "$J/api/json"
check "down -> connection refused (curl exit 7)" eq "$?" 7
curl -s -X POST "$C/_emulator/fault" -d '{"mode":"none"}' >/dev/null
check "back up on the same port" wait_for 5 bash -c "[ \$(curl -sg -o /dev/null -w '%{http_code}' -u 'admin:$TOKEN' '$J/api/json') = 200 ]"

# ---- shutdown -------------------------------------------------------------------------------
echo "== shutdown"
kill -TERM "$EMU_PID"
wait "$EMU_PID"
check "SIGTERM: emulator exits 0" eq "$?" 0
check "SIGTERM: no launcher ssh left" wait_for 10 gone "-p $LATE_PORT -l root" "-p $SSH_PORT -l root"
check "SIGTERM: agents gone" wait_for 10 gone "remoting.jar -workDir $W"

echo
[ "$FAIL" -eq 0 ] || printf 'failed: %s\n' "${FAILED[@]}"
echo "selftest: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
