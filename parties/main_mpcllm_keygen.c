/* parties/main_mpcllm_keygen.c - mpcllm-keygen: a CurveZMQ key pair for one
 * role.
 *
 *   mpcllm-keygen --out DIR
 *
 * Writes DIR/public.key and DIR/secret.key (mode 0600; DIR is created 0700
 * if missing) and prints the path of the public key, the file to hand to the
 * other roles (--server-key, --dealer-key, or an --allow directory). Existing
 * keys are never overwritten. Exit 0 on success, 2 on bad usage, 1 on a
 * runtime error, with a one-line reason on stderr.
 */
#include <stdio.h>
#include <string.h>

#include "net/net.h"

static const char usage[] =
    "usage: mpcllm-keygen --out DIR\n"
    "\n"
    "Makes a CurveZMQ key pair for one role: DIR/public.key, to give to the\n"
    "others, and DIR/secret.key (mode 0600), to keep. DIR is created (mode\n"
    "0700) if missing; existing keys are never overwritten. Prints the path\n"
    "of the public key.\n";

int main(int argc, char **argv)
{
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc && !out) {
            out = argv[++i];
        } else if (strncmp(argv[i], "--out=", 6) == 0 && !out) {
            out = argv[i] + 6;
        } else {
            fprintf(stderr, "mpcllm-keygen: unexpected argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!out || !*out) {
        fputs("mpcllm-keygen: --out DIR is required (see --help)\n", stderr);
        return 2;
    }
    char err[NET_ERR_BYTES];
    if (net_keygen(out, err) != MPC_OK) {
        fprintf(stderr, "mpcllm-keygen: %s\n", err);
        return 1;
    }
    printf("%s/public.key\n", out);
    return 0;
}
