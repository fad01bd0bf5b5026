# The Jenkins emulator itself (tests/jenkins/selftest.sh): status codes, crumbs, tree
# filtering, queue and label JSON, and its SSH launcher against a throwaway sshd, including a
# wrong host key. The serve tests rely on it behaving like Jenkins.

test_jenkins_emulator_selftest() {
    local out rc=0
    out=$("$here/../jenkins/selftest.sh" 2>&1) || rc=$?
    it_log "$(tail -1 <<<"$out")"
    [ "$rc" -eq 0 ] || { printf '%s\n' "$out" | grep -i fail | head -20 >&2; fail "emulator self-test failed"; }
}

it_case "jenkins emulator: self-test" test_jenkins_emulator_selftest
