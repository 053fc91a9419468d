/* tests/llm/llmtest.h - helpers of the llm/ tests: a scratch folder for the
 * corrupt files they write, and the shared model files.
 *
 * Header-only, so that it stays inside tests/llm/; the scratch folder is
 * flat, which is all the tests need.
 */
#ifndef TESTS_LLM_LLMTEST_H
#define TESTS_LLM_LLMTEST_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makes a fresh folder /tmp/mpcllm-<tag>-XXXXXX into dir (64 bytes); 0 on
 * success, for a cmocka group setup. */
static inline int llmtest_mkdtemp(char dir[64], const char *tag)
{
    snprintf(dir, 64, "/tmp/mpcllm-%s-XXXXXX", tag);
    return mkdtemp(dir) ? 0 : -1;
}

/* Removes the files of the flat folder dir, then dir; 0 on success. */
static inline int llmtest_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int rc = 0;
    char path[512];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rc |= unlink(path);
    }
    closedir(d);
    return rc | rmdir(dir);
}

#endif
