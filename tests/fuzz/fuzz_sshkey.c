/* sshkey_public_valid: an authorized_keys text (the agent public key file slipway.conf names,
 * or --pubkey). The same text also goes in as a host key to jenkins_node_json, whose
 * normalize_host_key decodes the start of the base64 blob; that JSON must then parse. */
#include <jansson.h>

#include "fuzz.h"
#include "slipway/jenkins.h"
#include "slipway/sshkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = fuzz_string(data, size);
        struct sw_error err = { 0 };
        if (!sshkey_public_valid(text, &err))
                FUZZ_CHECK(err.code == EINVAL && strlen(err.message) > 0);
        /* The fingerprint slipway inspect shows: "SHA256:" and 43 base64 characters. */
        char fingerprint[SSHKEY_FINGERPRINT_MAX];
        int r = sshkey_fingerprint(text, fingerprint, sizeof(fingerprint));
        FUZZ_CHECK(r == 0 || r == -EINVAL);
        if (r == 0)
                FUZZ_CHECK(strncmp(fingerprint, "SHA256:", 7) == 0 && strlen(fingerprint) == 50);

        struct jenkins_node_spec spec = {
                .name = "fuzz-1", .remote_fs = "/home/jenkins/agent", .labels = "docker linux",
                .host = "127.0.0.1", .port = 2222, .credentials_id = "slipway-agent-ssh",
                .launch_timeout_s = 60, .max_retries = 3, .retry_wait_s = 5, .host_key = text,
        };
        char *json_text = jenkins_node_json(&spec, &err);
        if (json_text) {
                json_error_t jerr;
                json_t *json = json_loads(json_text, 0, &jerr);
                FUZZ_CHECK(json != NULL);
                json_decref(json);
                free(json_text);
        }
        free(text);
        return 0;
}
