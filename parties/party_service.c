/* parties/party_service.c - log lines, status counters and signals of the
 * server and the dealer (party_service.h). */
#include "parties/party_service.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mpc/stats.h"

static const char *level_names[] = {"error", "warn", "info", "debug"};
static const char *refusal_names[SVC_REF_COUNT] = {"malformed", "key",      "program", "limit",
                                                   "replay",    "draining", "internal"};

void svc_init(svc_t *s, const char *prog, int level)
{
    memset(s, 0, sizeof *s);
    s->prog = prog;
    s->level = level;
    s->started = stats_now();
    pthread_mutex_init(&s->lock, NULL);
}

int svc_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, level_names[i])) return i;
    return -1;
}

void svc_log(svc_t *s, svc_level_t level, const char *fmt, ...)
{
    if ((int)level > s->level) return;
    char stamp[32], line[1024];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* one write per line, so that the lines of two sessions never mix */
    fprintf(stderr, "%s %s %s: %s\n", stamp, s->prog, level_names[level], line);
}

void svc_refused(svc_t *s, svc_refusal_t why, const char *reason)
{
    pthread_mutex_lock(&s->lock);
    s->refused[why]++;
    pthread_mutex_unlock(&s->lock);
    svc_log(s, SVC_INFO, "refused (%s): %s", refusal_names[why], reason);
}

int svc_open(svc_t *s, int delta)
{
    pthread_mutex_lock(&s->lock);
    s->open += delta;
    int n = s->open;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void svc_ended(svc_t *s, int ok, uint64_t tokens, uint64_t online_bytes, uint64_t offline_bytes)
{
    pthread_mutex_lock(&s->lock);
    s->open--;
    if (ok)
        s->served++;
    else
        s->failed++;
    s->tokens += tokens;
    s->online_bytes += online_bytes;
    s->offline_bytes += offline_bytes;
    pthread_mutex_unlock(&s->lock);
}

void svc_drain(svc_t *s)
{
    pthread_mutex_lock(&s->lock);
    s->draining = 1;
    pthread_mutex_unlock(&s->lock);
}

size_t svc_status_json(svc_t *s, char *out, size_t cap, const char *extra)
{
    pthread_mutex_lock(&s->lock);
    svc_t c = *s; /* the counters, as of now */
    pthread_mutex_unlock(&s->lock);
    int n = snprintf(out, cap,
                     "{\"program\":\"%s\",\"uptime_s\":%.3f,\"draining\":%s,\"sessions_open\":%d,"
                     "\"sessions_served\":%llu,\"sessions_failed\":%llu,\"tokens_generated\":%llu,"
                     "\"online_bytes\":%llu,\"offline_bytes\":%llu,\"refused\":{",
                     c.prog, stats_now() - c.started, c.draining ? "true" : "false", c.open,
                     (unsigned long long)c.served, (unsigned long long)c.failed,
                     (unsigned long long)c.tokens, (unsigned long long)c.online_bytes,
                     (unsigned long long)c.offline_bytes);
    for (int i = 0; i < SVC_REF_COUNT && n > 0 && (size_t)n < cap; i++)
        n += snprintf(out + n, cap - (size_t)n, "%s\"%s\":%llu", i ? "," : "", refusal_names[i],
                      (unsigned long long)c.refused[i]);
    if (n > 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, "}%s%s}", extra ? "," : "", extra ? extra : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int svc_is_status_query(const void *hello, size_t len)
{
    return len == 8 && memcmp(hello, PARTY_STATUS_MAGIC, 8) == 0;
}

void svc_answer_status(svc_t *s, net_listener_t *l, net_request_t **r, const char *extra)
{
    char json[4096];
    size_t n = svc_status_json(s, json, sizeof json, extra);
    svc_log(s, SVC_DEBUG, "answered a status query");
    net_request_answer(l, r, json, n);
}

static svc_signals_t sig_state;

static void on_signal(int sig)
{
    if (sig == SIGINT && sig_state.drain) sig_state.now = 1;
    sig_state.drain = 1;
}

svc_signals_t *svc_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return &sig_state;
}
