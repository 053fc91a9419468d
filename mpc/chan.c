/* mpc/chan.c - helpers shared by channel implementations. */
#include "mpc/chan.h"

void chan_tag_str(char out[5], uint32_t tag)
{
    for (int i = 0; i < 4; i++) {
        char ch = (char)(tag >> (24 - 8 * i));
        out[i] = (ch >= 32 && ch < 127) ? ch : '?';
    }
    out[4] = '\0';
}
