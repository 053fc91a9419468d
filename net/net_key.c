/* net/net_key.c - CurveZMQ key pairs in files.
 *
 * A key directory holds public.key and secret.key, each one Z85 line (40
 * characters, the 32-byte key). The secret file is created with O_EXCL and
 * mode 0600 inside a 0700 directory, so it is never readable by anyone else
 * even for an instant, and an existing key is never overwritten. Loading
 * refuses a secret file that group or others may read, checks that the
 * public key belongs to the secret one, and zeroes every buffer that held
 * the secret.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "net/net_impl.h"

#define Z85_KEY_CHARS 40
#define KEY_FILE_MAX  128 /* a key line with room for stray whitespace */

static mpc_err_t key_path(char *out, size_t cap, const char *dir, const char *name, char *err)
{
    int w = snprintf(out, cap, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= cap)
        return net_fail(err, MPC_EARG, "path %s/%s is too long", dir, name);
    return MPC_OK;
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        buf += w, n -= (size_t)w;
    }
    return 0;
}

/* Creates path (which must not exist) with mode and the line z85 + '\n'. */
static mpc_err_t write_key(const char *path, const char *z85, mode_t mode, char *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return net_fail(err, MPC_EIO, "%s exists; refusing to overwrite a key", path);
        return net_fail(err, MPC_EIO, "cannot create %s: %s", path, strerror(errno));
    }
    char line[Z85_KEY_CHARS + 2];
    memcpy(line, z85, Z85_KEY_CHARS);
    line[Z85_KEY_CHARS] = '\n';
    int bad =
        fchmod(fd, mode) != 0 || write_all(fd, line, Z85_KEY_CHARS + 1) != 0 || fsync(fd) != 0;
    sodium_memzero(line, sizeof line);
    if (close(fd) != 0) bad = 1;
    if (bad) {
        int saved = errno;
        unlink(path);
        return net_fail(err, MPC_EIO, "cannot write %s: %s", path, strerror(saved));
    }
    return MPC_OK;
}

mpc_err_t net_keygen(const char *dir, char *err)
{
    if (!dir) return net_fail(err, MPC_EARG, "no key directory");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return net_fail(err, MPC_EIO, "cannot create %s: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return net_fail(err, MPC_EIO, "%s is not a directory", dir);
    char pub_path[4096], sec_path[4096];
    mpc_err_t e = key_path(pub_path, sizeof pub_path, dir, "public.key", err);
    if (!e) e = key_path(sec_path, sizeof sec_path, dir, "secret.key", err);
    if (e) return e;
    if (access(pub_path, F_OK) == 0)
        return net_fail(err, MPC_EIO, "%s exists; refusing to overwrite a key", pub_path);

    char pub[Z85_KEY_CHARS + 1], sec[Z85_KEY_CHARS + 1];
    if (zmq_curve_keypair(pub, sec) != 0) {
        return net_fail(err, MPC_EIO, "cannot make a CURVE key pair: %s", zmq_strerror(errno));
    }
    e = write_key(sec_path, sec, 0600, err);
    sodium_memzero(sec, sizeof sec);
    if (e) return e;
    e = write_key(pub_path, pub, 0644, err);
    if (e) unlink(sec_path); /* a secret without its public half is useless */
    return e;
}

/* Reads the one Z85 line of path into z85 (NUL-terminated). With private,
 * refuses a file that group or others may read. Zeroes its buffer. */
static mpc_err_t read_key(const char *path, int private, char z85[Z85_KEY_CHARS + 1], char *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return net_fail(err, MPC_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return net_fail(err, MPC_EIO, "%s is not a regular file", path);
    }
    if (private && (st.st_mode & 077)) {
        close(fd);
        return net_fail(err, MPC_EIO, "%s may be read by group or others (mode %03o); chmod 600 it",
                        path, (unsigned)(st.st_mode & 0777));
    }
    char buf[KEY_FILE_MAX];
    ssize_t got;
    do {
        got = read(fd, buf, sizeof buf);
    } while (got < 0 && errno == EINTR);
    close(fd);
    mpc_err_t e = MPC_OK;
    size_t a = 0, b = got > 0 ? (size_t)got : 0;
    while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\n' || buf[a] == '\r'))
        a++;
    while (b > a &&
           (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\n' || buf[b - 1] == '\r'))
        b--;
    if (got < 0)
        e = net_fail(err, MPC_EIO, "cannot read %s: %s", path, strerror(errno));
    else if (b - a != Z85_KEY_CHARS || got == (ssize_t)sizeof buf)
        e = net_fail(err, MPC_EFORMAT, "%s does not hold one Z85 key of %d characters", path,
                     Z85_KEY_CHARS);
    else {
        memcpy(z85, buf + a, Z85_KEY_CHARS);
        z85[Z85_KEY_CHARS] = '\0';
    }
    sodium_memzero(buf, sizeof buf);
    return e;
}

/* Decodes the Z85 text of a key read from path. */
static mpc_err_t decode_key(const char *path, const char *z85, uint8_t key[NET_KEY_BYTES],
                            char *err)
{
    if (!zmq_z85_decode(key, z85))
        return net_fail(err, MPC_EFORMAT, "%s does not hold a valid Z85 key", path);
    return MPC_OK;
}

mpc_err_t net_key_load(const char *dir, uint8_t pub[NET_KEY_BYTES], uint8_t sec[NET_KEY_BYTES],
                       char *err)
{
    if (!dir) return net_fail(err, MPC_EARG, "no key directory");
    char pub_path[4096], sec_path[4096];
    mpc_err_t e = key_path(pub_path, sizeof pub_path, dir, "public.key", err);
    if (!e) e = key_path(sec_path, sizeof sec_path, dir, "secret.key", err);
    if (e) return e;
    char pub_z[Z85_KEY_CHARS + 1], sec_z[Z85_KEY_CHARS + 1], derived[Z85_KEY_CHARS + 1];
    e = read_key(sec_path, 1, sec_z, err);
    if (!e) e = read_key(pub_path, 0, pub_z, err);
    if (!e) e = decode_key(sec_path, sec_z, sec, err);
    if (!e) e = decode_key(pub_path, pub_z, pub, err);
    if (!e && (zmq_curve_public(derived, sec_z) != 0 || strcmp(derived, pub_z) != 0))
        e = net_fail(err, MPC_EFORMAT, "%s is not the public half of %s", pub_path, sec_path);
    sodium_memzero(sec_z, sizeof sec_z);
    if (e) sodium_memzero(sec, NET_KEY_BYTES);
    return e;
}

mpc_err_t net_key_load_public(const char *file, uint8_t pub[NET_KEY_BYTES], char *err)
{
    if (!file) return net_fail(err, MPC_EARG, "no key file");
    char path[4096];
    struct stat st;
    mpc_err_t e = MPC_OK;
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode))
        e = key_path(path, sizeof path, file, "public.key", err);
    else
        snprintf(path, sizeof path, "%s", file);
    char z[Z85_KEY_CHARS + 1];
    if (!e) e = read_key(path, 0, z, err);
    if (!e) e = decode_key(path, z, pub, err);
    return e;
}
