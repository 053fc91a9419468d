/* tests/net/test_key.c - CurveZMQ key files (net_keygen, net_key_load,
 * net_key_load_public) and the mpcllm-keygen program that writes them.
 *
 * The program is found through MPCLLM_BIN (set by CTest); without it those
 * tests are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "net/net.h"

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/mpcllm-key-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

/* Removes dir and the files of its subdirectories (two levels at most). */
static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[600];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                rm_tree(path);
            else
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static mode_t mode_of(const char *dir, const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s%s%s", dir, name ? "/" : "", name ? name : "");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 0777;
}

static void test_net_keygen_writes_a_pair_that_loads_back(void **state)
{
    (void)state;
    char *tmp = make_tmpdir();
    char dir[600];
    snprintf(dir, sizeof dir, "%s/role", tmp);
    char err[NET_ERR_BYTES];
    assert_int_equal(net_keygen(dir, err), MPC_OK);
    assert_int_equal(mode_of(dir, NULL), 0700);
    assert_int_equal(mode_of(dir, "secret.key"), 0600);

    uint8_t pub[NET_KEY_BYTES], sec[NET_KEY_BYTES], pub2[NET_KEY_BYTES];
    assert_int_equal(net_key_load(dir, pub, sec, err), MPC_OK);
    /* The public key is the one that belongs to the secret key. */
    char pub_z[41], sec_z[41], derived[41];
    assert_non_null(zmq_z85_encode(pub_z, pub, NET_KEY_BYTES));
    assert_non_null(zmq_z85_encode(sec_z, sec, NET_KEY_BYTES));
    assert_int_equal(zmq_curve_public(derived, sec_z), 0);
    assert_string_equal(derived, pub_z);

    assert_int_equal(net_key_load_public(dir, pub2, err), MPC_OK); /* a directory */
    assert_memory_equal(pub, pub2, NET_KEY_BYTES);
    char file[700];
    snprintf(file, sizeof file, "%s/public.key", dir);
    memset(pub2, 0, sizeof pub2);
    assert_int_equal(net_key_load_public(file, pub2, err), MPC_OK); /* a file */
    assert_memory_equal(pub, pub2, NET_KEY_BYTES);

    /* Two key pairs differ. */
    char dir2[600];
    snprintf(dir2, sizeof dir2, "%s/other", tmp);
    uint8_t opub[NET_KEY_BYTES], osec[NET_KEY_BYTES];
    assert_int_equal(net_keygen(dir2, err), MPC_OK);
    assert_int_equal(net_key_load(dir2, opub, osec, err), MPC_OK);
    assert_memory_not_equal(pub, opub, NET_KEY_BYTES);
    rm_tree(tmp);
    free(tmp);
}

static void test_net_keygen_refuses_to_overwrite_keys(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char err[NET_ERR_BYTES];
    uint8_t pub[NET_KEY_BYTES], sec[NET_KEY_BYTES], pub2[NET_KEY_BYTES], sec2[NET_KEY_BYTES];
    assert_int_equal(net_keygen(dir, err), MPC_OK);
    assert_int_equal(net_key_load(dir, pub, sec, err), MPC_OK);
    assert_int_not_equal(net_keygen(dir, err), MPC_OK);
    assert_non_null(strstr(err, "refusing to overwrite"));
    assert_int_equal(net_key_load(dir, pub2, sec2, err), MPC_OK);
    assert_memory_equal(pub, pub2, NET_KEY_BYTES);
    assert_memory_equal(sec, sec2, NET_KEY_BYTES);
    rm_tree(dir);
    free(dir);
}

static void test_net_key_load_refuses_a_loose_secret_file(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char err[NET_ERR_BYTES], path[600];
    assert_int_equal(net_keygen(dir, err), MPC_OK);
    snprintf(path, sizeof path, "%s/secret.key", dir);
    assert_int_equal(chmod(path, 0640), 0);
    uint8_t pub[NET_KEY_BYTES], sec[NET_KEY_BYTES];
    assert_int_equal(net_key_load(dir, pub, sec, err), MPC_EIO);
    assert_non_null(strstr(err, "chmod 600"));
    assert_int_equal(chmod(path, 0604), 0);
    assert_int_equal(net_key_load(dir, pub, sec, err), MPC_EIO);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(net_key_load(dir, pub, sec, err), MPC_OK);
    rm_tree(dir);
    free(dir);
}

static void test_net_key_load_refuses_a_public_key_of_another_pair(void **state)
{
    (void)state;
    char *a = make_tmpdir(), *b = make_tmpdir();
    char err[NET_ERR_BYTES], from[600], to[600];
    assert_int_equal(net_keygen(a, err), MPC_OK);
    assert_int_equal(net_keygen(b, err), MPC_OK);
    snprintf(from, sizeof from, "%s/public.key", b);
    snprintf(to, sizeof to, "%s/public.key", a);
    assert_int_equal(rename(from, to), 0);
    uint8_t pub[NET_KEY_BYTES], sec[NET_KEY_BYTES];
    assert_int_equal(net_key_load(a, pub, sec, err), MPC_EFORMAT);
    assert_non_null(strstr(err, "not the public half"));
    rm_tree(a);
    rm_tree(b);
    free(a);
    free(b);
}

static void test_net_key_load_public_refuses_garbage(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char err[NET_ERR_BYTES], path[600];
    snprintf(path, sizeof path, "%s/bad.key", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("too short\n", f);
    fclose(f);
    uint8_t pub[NET_KEY_BYTES];
    assert_int_equal(net_key_load_public(path, pub, err), MPC_EFORMAT);
    snprintf(path, sizeof path, "%s/missing.key", dir);
    assert_int_equal(net_key_load_public(path, pub, err), MPC_EIO);
    rm_tree(dir);
    free(dir);
}

/* Runs the shell command cmd and returns its exit status. */
static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_mpcllm_keygen_cli_exit_codes_and_output(void **state)
{
    (void)state;
    const char *bin = getenv("MPCLLM_BIN");
    char exe[512];
    snprintf(exe, sizeof exe, "%s/mpcllm-keygen", bin ? bin : "");
    if (!bin || access(exe, X_OK) != 0) skip();
    char *tmp = make_tmpdir();
    char cmd[2048], out[700], line[700] = "";
    snprintf(out, sizeof out, "%s/out.txt", tmp);

    snprintf(cmd, sizeof cmd, "%s --help > /dev/null", exe);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s 2> /dev/null", exe);
    assert_int_equal(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s --out %s/k --bogus 2> /dev/null", exe, tmp);
    assert_int_equal(run(cmd), 2);

    snprintf(cmd, sizeof cmd, "%s --out %s/k > %s", exe, tmp, out);
    assert_int_equal(run(cmd), 0);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    char want[700];
    snprintf(want, sizeof want, "%s/k/public.key\n", tmp);
    assert_string_equal(line, want);
    char keys[600];
    snprintf(keys, sizeof keys, "%s/k", tmp);
    assert_int_equal(mode_of(keys, "secret.key"), 0600);
    uint8_t pub[NET_KEY_BYTES], sec[NET_KEY_BYTES];
    char err[NET_ERR_BYTES];
    assert_int_equal(net_key_load(keys, pub, sec, err), MPC_OK);

    /* A second run must not overwrite: runtime error, one line on stderr. */
    snprintf(cmd, sizeof cmd, "%s --out %s/k 2> %s", exe, tmp, out);
    assert_int_equal(run(cmd), 1);
    f = fopen(out, "r");
    assert_non_null(f);
    int lines = 0;
    while (fgets(line, sizeof line, f))
        lines++;
    fclose(f);
    assert_int_equal(lines, 1);
    assert_non_null(strstr(line, "refusing to overwrite"));
    rm_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_keygen_writes_a_pair_that_loads_back),
        cmocka_unit_test(test_net_keygen_refuses_to_overwrite_keys),
        cmocka_unit_test(test_net_key_load_refuses_a_loose_secret_file),
        cmocka_unit_test(test_net_key_load_refuses_a_public_key_of_another_pair),
        cmocka_unit_test(test_net_key_load_public_refuses_garbage),
        cmocka_unit_test(test_mpcllm_keygen_cli_exit_codes_and_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
