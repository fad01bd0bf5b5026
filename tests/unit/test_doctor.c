/* slipway doctor: the pure parts (parsing /proc files, classifying file systems, fixes) and
 * the shape of its results. */
#include <errno.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "slipway/cleanup.h"
#include "slipway/doctor.h"
#include "slipway/fsutil.h"

static void test_filesystems_has(void **state)
{
        (void) state;
        const char *text = "nodev\tsysfs\nnodev\ttmpfs\n\text3\n\text4\nnodev\toverlay\n\tbtrfs";
        assert_true(doctor_filesystems_has(text, "overlay"));
        assert_true(doctor_filesystems_has(text, "ext4"));
        assert_true(doctor_filesystems_has(text, "btrfs")); /* last line, no newline */
        assert_false(doctor_filesystems_has(text, "over"));
        assert_false(doctor_filesystems_has(text, "overlayfs"));
        assert_false(doctor_filesystems_has(text, "nodev"));
        assert_false(doctor_filesystems_has(text, "xfs"));
        assert_false(doctor_filesystems_has("", "overlay"));
        assert_false(doctor_filesystems_has("nodev\ttmpfs\n", "overlay"));
}

static void test_fs_type_names(void **state)
{
        (void) state;
        assert_string_equal(doctor_fs_type_name(EXT4_SUPER_MAGIC), "ext4");
        assert_string_equal(doctor_fs_type_name(XFS_SUPER_MAGIC), "xfs");
        assert_string_equal(doctor_fs_type_name(BTRFS_SUPER_MAGIC), "btrfs");
        assert_string_equal(doctor_fs_type_name(OVERLAYFS_SUPER_MAGIC), "overlayfs");
        assert_string_equal(doctor_fs_type_name(TMPFS_MAGIC), "tmpfs");
        assert_string_equal(doctor_fs_type_name(NFS_SUPER_MAGIC), "nfs");
        assert_null(doctor_fs_type_name(0x12345678UL));
}

static void test_state_fs_verdicts(void **state)
{
        (void) state;
        const char *why = "unset";
        assert_int_equal(doctor_state_fs_status(EXT4_SUPER_MAGIC, &why), DOCTOR_PASS);
        assert_null(why);
        assert_int_equal(doctor_state_fs_status(XFS_SUPER_MAGIC, NULL), DOCTOR_PASS);
        assert_int_equal(doctor_state_fs_status(BTRFS_SUPER_MAGIC, NULL), DOCTOR_PASS);
        /* The one DESIGN.md names: overlay2 refuses overlay upper dirs. */
        assert_int_equal(doctor_state_fs_status(OVERLAYFS_SUPER_MAGIC, &why), DOCTOR_FAIL);
        assert_non_null(strstr(why, "overlayfs"));
        assert_int_equal(doctor_state_fs_status(NFS_SUPER_MAGIC, &why), DOCTOR_FAIL);
        assert_non_null(strstr(why, "network"));
        assert_int_equal(doctor_state_fs_status(FUSE_SUPER_MAGIC, NULL), DOCTOR_FAIL);
        assert_int_equal(doctor_state_fs_status(TMPFS_MAGIC, &why), DOCTOR_WARN);
        assert_non_null(strstr(why, "memory"));
        assert_int_equal(doctor_state_fs_status(0x12345678UL, &why), DOCTOR_WARN);
        assert_non_null(why);
}

/* This machine's /proc/self/mountinfo (cgroup v1 hybrid), trimmed. */
static const char mountinfo_v1[] =
        "25 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
        "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
        "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
        "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
        "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static void test_cgroup_v1_all_mounted(void **state)
{
        (void) state;
        char missing[128];
        doctor_cgroup_missing(false, mountinfo_v1, missing, sizeof(missing));
        assert_string_equal(missing, "");
}

static void test_cgroup_v1_missing_and_combined(void **state)
{
        (void) state;
        /* systemd's usual layout: cpu and cpuacct share a hierarchy (with optional fields
         * before the separator); no devices, no freezer; a directory called "memory" that is
         * cgroup2, and a source named "pids", count for nothing. */
        const char *text =
                "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 master:2 - cgroup cgroup rw,cpu,cpuacct\n"
                "34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
                "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup2 cgroup2 rw,memory\n"
                "38 31 0:35 / /sys/fs/cgroup/net_cls,blkio rw - cgroup cgroup rw,net_cls,blkio\n"
                "39 31 0:36 / /x rw - cgroup pids rw,nosuid\n";
        char missing[128];
        doctor_cgroup_missing(false, text, missing, sizeof(missing));
        assert_string_equal(missing, "memory devices freezer pids");
        doctor_cgroup_missing(false, "", missing, sizeof(missing));
        assert_string_equal(missing, "cpu cpuacct cpuset memory devices freezer pids blkio");
}

static void test_cgroup_v2(void **state)
{
        (void) state;
        char missing[128];
        doctor_cgroup_missing(true, "cpuset cpu io memory hugetlb pids rdma misc\n", missing,
                              sizeof(missing));
        assert_string_equal(missing, "");
        doctor_cgroup_missing(true, "cpuset cpu io\n", missing, sizeof(missing));
        assert_string_equal(missing, "memory pids");
        /* "cpuset" is not "cpu". */
        doctor_cgroup_missing(true, "cpuset memory pids\n", missing, sizeof(missing));
        assert_string_equal(missing, "cpu");
}

static void test_cgroup_missing_bounded(void **state)
{
        (void) state;
        char missing[8];
        memset(missing, 'x', sizeof(missing));
        doctor_cgroup_missing(false, "", missing, sizeof(missing));
        assert_int_equal(strlen(missing), sizeof(missing) - 1);
        assert_memory_equal(missing, "cpu cpu", 7);
}

static void test_critical_capabilities(void **state)
{
        (void) state;
        assert_true(doctor_capability_critical("CAP_SYS_ADMIN"));
        assert_true(doctor_capability_critical("CAP_NET_ADMIN"));
        assert_true(doctor_capability_critical("CAP_MKNOD"));
        /* This machine lacks CAP_SYS_RESOURCE, and agents work there. */
        assert_false(doctor_capability_critical("CAP_SYS_RESOURCE"));
        assert_false(doctor_capability_critical("CAP_SYS_MODULE"));
        assert_false(doctor_capability_critical("cap_sys_admin"));
}

static void test_free_space(void **state)
{
        (void) state;
        const uint64_t gib = UINT64_C(1) << 30;
        assert_int_equal(doctor_free_space_status(100 * gib, 200 * gib, 900, 1000), DOCTOR_PASS);
        assert_int_equal(doctor_free_space_status(1 * gib, 200 * gib, 900, 1000), DOCTOR_FAIL);
        assert_int_equal(doctor_free_space_status(10 * gib, 200 * gib, 900, 1000), DOCTOR_WARN);
        /* Plenty of bytes, but under 5 % of the file system, or of its inodes. */
        assert_int_equal(doctor_free_space_status(40 * gib, 1000 * gib, 900, 1000), DOCTOR_WARN);
        assert_int_equal(doctor_free_space_status(100 * gib, 200 * gib, 10, 1000), DOCTOR_WARN);
        assert_int_equal(doctor_free_space_status(100 * gib, 200 * gib, 0, 1000), DOCTOR_FAIL);
        /* btrfs reports no inode counts. */
        assert_int_equal(doctor_free_space_status(100 * gib, 200 * gib, 0, 0), DOCTOR_PASS);
}

static void test_docker_fixes(void **state)
{
        (void) state;
        char fix[1024];
        assert_non_null(strstr(doctor_docker_fix(-ENOENT, "unix:///x.sock", fix, sizeof(fix)),
                               "systemctl enable --now docker"));
        assert_non_null(strstr(fix, "unix:///x.sock"));
        assert_non_null(strstr(doctor_docker_fix(-ECONNREFUSED, "unix:///x.sock", fix, sizeof(fix)),
                               "start dockerd"));
        assert_non_null(strstr(doctor_docker_fix(-EACCES, "unix:///x.sock", fix, sizeof(fix)),
                               "root"));
        assert_non_null(strstr(doctor_docker_fix(-ENOTSUP, "unix:///x.sock", fix, sizeof(fix)),
                               "upgrade dockerd"));
        /* Bounded like every message. */
        char small[16];
        doctor_docker_fix(-ENOENT, "unix:///x.sock", small, sizeof(small));
        assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_jenkins_fixes(void **state)
{
        (void) state;
        char fix[1024];
        doctor_jenkins_fix(-EACCES, "http://j:8080/", "slipway", "/etc/slipway/jenkins-token", fix,
                           sizeof(fix));
        assert_non_null(strstr(fix, "\"slipway\""));
        assert_non_null(strstr(fix, "API token"));
        assert_non_null(strstr(fix, "/etc/slipway/jenkins-token"));
        doctor_jenkins_fix(-ECONNREFUSED, "http://j:8080/", "slipway", NULL, fix, sizeof(fix));
        assert_non_null(strstr(fix, "curl -sI http://j:8080/login"));
        doctor_jenkins_fix(-ENOENT, "http://j:8080/", "slipway", NULL, fix, sizeof(fix));
        assert_non_null(strstr(fix, "path prefix"));
}

static void test_add_and_count(void **state)
{
        (void) state;
        _cleanup_json_ json_t *results = json_array();
        assert_int_equal(doctor_add(results, "a", DOCTOR_PASS, "ignored", "fine %d", 1), 0);
        assert_int_equal(doctor_add(results, "b", DOCTOR_WARN, "do this", "meh"), 0);
        assert_int_equal(doctor_add(results, "c", DOCTOR_FAIL, "do that", "bad: %s", "x"), 0);
        assert_int_equal(doctor_add(results, "d", DOCTOR_FAIL, NULL, "no fix known"), 0);
        assert_int_equal(json_array_size(results), 4);
        json_t *pass = json_array_get(results, 0);
        assert_string_equal(json_string_value(json_object_get(pass, "check")), "a");
        assert_string_equal(json_string_value(json_object_get(pass, "status")), "PASS");
        assert_string_equal(json_string_value(json_object_get(pass, "detail")), "fine 1");
        assert_null(json_object_get(pass, "fix")); /* a PASS needs no fix */
        json_t *fail = json_array_get(results, 2);
        assert_string_equal(json_string_value(json_object_get(fail, "detail")), "bad: x");
        assert_string_equal(json_string_value(json_object_get(fail, "fix")), "do that");
        assert_null(json_object_get(json_array_get(results, 3), "fix"));
        assert_int_equal(doctor_count(results, DOCTOR_PASS), 1);
        assert_int_equal(doctor_count(results, DOCTOR_WARN), 1);
        assert_int_equal(doctor_count(results, DOCTOR_FAIL), 2);
        assert_string_equal(doctor_status_name(DOCTOR_WARN), "WARN");
}

static json_t *find_check(json_t *results, const char *check)
{
        size_t i;
        json_t *result;
        json_array_foreach(results, i, result) {
                if (strcmp(json_string_value(json_object_get(result, "check")), check) == 0)
                        return result;
        }
        return NULL;
}

/* The whole run without a daemon or a configuration: every failure has its fix, the image
 * check says it could not run, and nothing is left in the state dir by the reflink probe. */
static void test_run_without_daemon(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-doctor-test-XXXXXX";
        assert_non_null(mkdtemp(dir));
        struct doctor_options options = {
                .docker_host = "unix:///nonexistent/slipway-doctor-test.sock",
                .state_dir = dir,
                .config_path = "/nonexistent/slipway.conf",
        };
        _cleanup_json_ json_t *results = NULL;
        struct sw_error err = { 0 };
        assert_int_equal(doctor_run(&options, &results, &err), 0);
        size_t i;
        json_t *result;
        json_array_foreach(results, i, result) {
                const char *status = json_string_value(json_object_get(result, "status"));
                assert_non_null(status);
                assert_non_null(json_string_value(json_object_get(result, "detail")));
                if (strcmp(status, "PASS") == 0)
                        assert_null(json_object_get(result, "fix"));
                else
                        assert_non_null(json_string_value(json_object_get(result, "fix")));
        }
        json_t *config = find_check(results, "config");
        assert_non_null(config);
        assert_string_equal(json_string_value(json_object_get(config, "status")), "FAIL");
        json_t *docker = find_check(results, "docker");
        assert_string_equal(json_string_value(json_object_get(docker, "status")), "FAIL");
        assert_non_null(strstr(json_string_value(json_object_get(docker, "fix")), "start dockerd"));
        json_t *image = find_check(results, "image");
        assert_string_equal(json_string_value(json_object_get(image, "status")), "WARN");
        assert_non_null(strstr(json_string_value(json_object_get(image, "detail")), "not checked"));
        assert_null(find_check(results, "jenkins")); /* no valid configuration */
        assert_non_null(find_check(results, "reflink"));
        assert_true(doctor_count(results, DOCTOR_FAIL) >= 2);
        assert_int_equal(rmdir(dir), 0); /* empty: the probe files are gone */
}

static void test_plugin_versions(void **state)
{
        (void) state;
        assert_true(doctor_plugin_version_compare("1.29.0", "1.29.0") == 0);
        assert_true(doctor_plugin_version_compare("1.29", "1.29.0") == 0);
        assert_true(doctor_plugin_version_compare("1.28.1", "1.29.0") < 0);
        assert_true(doctor_plugin_version_compare("1.30", "1.29.0") > 0);
        assert_true(doctor_plugin_version_compare("1.100", "1.29.0") > 0); /* numeric, not text */
        /* Today's incremental versions: the numbers before the commit part. */
        assert_true(doctor_plugin_version_compare("2.948.vb_8050d697fec", "1.29.0") > 0);
        assert_true(doctor_plugin_version_compare("1.0.12", "1.0.13") < 0);
        assert_true(doctor_plugin_version_compare("2.147.vb_73cc728a_32e", "1.0.13") > 0);

        char out[256];
        _cleanup_json_ json_t *current = json_loads(
                "[{\"shortName\":\"trilead-api\",\"version\":\"2.147.vb_73cc728a_32e\"},"
                "{\"shortName\":\"ssh-slaves\",\"version\":\"3.1031.v72c6b_883b_869\"}]", 0, NULL);
        assert_int_equal(doctor_ssh_plugins_status(current, out, sizeof(out)), DOCTOR_PASS);
        assert_string_equal(out, "ssh-slaves 3.1031.v72c6b_883b_869, trilead-api 2.147.vb_73cc728a_32e");
        _cleanup_json_ json_t *old = json_loads(
                "[{\"shortName\":\"ssh-slaves\",\"version\":\"1.28.1\"}]", 0, NULL);
        assert_int_equal(doctor_ssh_plugins_status(old, out, sizeof(out)), DOCTOR_WARN);
        assert_string_equal(out, "ssh-slaves 1.28.1 is older than 1.29.0; trilead-api is not installed");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_filesystems_has),
                cmocka_unit_test(test_fs_type_names),
                cmocka_unit_test(test_state_fs_verdicts),
                cmocka_unit_test(test_cgroup_v1_all_mounted),
                cmocka_unit_test(test_cgroup_v1_missing_and_combined),
                cmocka_unit_test(test_cgroup_v2),
                cmocka_unit_test(test_cgroup_missing_bounded),
                cmocka_unit_test(test_critical_capabilities),
                cmocka_unit_test(test_free_space),
                cmocka_unit_test(test_docker_fixes),
                cmocka_unit_test(test_jenkins_fixes),
                cmocka_unit_test(test_add_and_count),
                cmocka_unit_test(test_run_without_daemon),
                cmocka_unit_test(test_plugin_versions),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
