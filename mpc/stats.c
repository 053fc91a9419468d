/* mpc/stats.c - per-operation, per-phase counters. */
#include "mpc/stats.h"

#include <string.h>
#include <time.h>

#include "mpc/err.h"

double stats_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void stats_init(stats_t *s)
{
    memset(s, 0, sizeof *s);
    s->op_names[0] = "other";
    s->n_ops = 1;
    s->phase = PHASE_OTHER;
    s->mark = stats_now();
}

void stats_tick(stats_t *s)
{
    double now = stats_now();
    s->rows[s->phase][s->stack[s->top]].time_s += now - s->mark;
    s->mark = now;
}

static int stats_find(const stats_t *s, const char *name)
{
    for (int i = 0; i < s->n_ops; i++)
        if (s->op_names[i] == name || strcmp(s->op_names[i], name) == 0) return i;
    return -1;
}

void stats_push(stats_t *s, const char *name)
{
    MPC_ASSERT(s->top + 1 < STATS_MAX_DEPTH);
    stats_tick(s);
    int i = stats_find(s, name);
    if (i < 0) {
        MPC_ASSERT(s->n_ops < STATS_MAX_OPS);
        i = s->n_ops++;
        s->op_names[i] = name;
    }
    s->stack[++s->top] = i;
    s->rows[s->phase][i].calls++;
}

void stats_pop(stats_t *s)
{
    MPC_ASSERT(s->top > 0);
    stats_tick(s);
    s->top--;
}

void stats_phase(stats_t *s, mpc_phase_t phase)
{
    MPC_ASSERT(phase < PHASE_COUNT);
    stats_tick(s);
    s->phase = phase;
}

stats_row_t *stats_cur(stats_t *s)
{
    return &s->rows[s->phase][s->stack[s->top]];
}

void stats_row_add(stats_row_t *a, const stats_row_t *b)
{
    a->bytes_sent += b->bytes_sent;
    a->bytes_recv += b->bytes_recv;
    a->msgs_sent += b->msgs_sent;
    a->msgs_recv += b->msgs_recv;
    a->rounds += b->rounds;
    a->offline_bytes += b->offline_bytes;
    a->calls += b->calls;
    a->time_s += b->time_s;
}

stats_row_t stats_total(const stats_t *s, int phase)
{
    stats_row_t t = {0};
    for (int p = 0; p < PHASE_COUNT; p++) {
        if (phase >= 0 && p != phase) continue;
        for (int i = 0; i < s->n_ops; i++) stats_row_add(&t, &s->rows[p][i]);
    }
    return t;
}

stats_row_t stats_op(const stats_t *s, const char *name)
{
    stats_row_t t = {0};
    int i = stats_find(s, name);
    if (i < 0) return t;
    for (int p = 0; p < PHASE_COUNT; p++) stats_row_add(&t, &s->rows[p][i]);
    return t;
}

const char *stats_phase_name(mpc_phase_t phase)
{
    static const char *names[PHASE_COUNT] = {"setup", "prefill", "decode", "select", "other"};
    return phase < PHASE_COUNT ? names[phase] : "?";
}

void stats_report(const stats_t *s, FILE *out)
{
    fprintf(out, "%-8s %-16s %8s %12s %12s %8s %12s %10s\n", "phase", "op", "calls", "sent_B",
            "recv_B", "rounds", "offline_B", "time_s");
    for (int p = 0; p < PHASE_COUNT; p++)
        for (int i = 0; i < s->n_ops; i++) {
            const stats_row_t *r = &s->rows[p][i];
            if (!r->calls && !r->bytes_sent && !r->bytes_recv && !r->offline_bytes) continue;
            fprintf(out, "%-8s %-16s %8llu %12llu %12llu %8llu %12llu %10.4f\n",
                    stats_phase_name((mpc_phase_t)p), s->op_names[i],
                    (unsigned long long)r->calls, (unsigned long long)r->bytes_sent,
                    (unsigned long long)r->bytes_recv, (unsigned long long)r->rounds,
                    (unsigned long long)r->offline_bytes, r->time_s);
        }
    stats_row_t t = stats_total(s, -1);
    fprintf(out, "%-8s %-16s %8s %12llu %12llu %8llu %12llu %10.4f\n", "total", "", "",
            (unsigned long long)t.bytes_sent, (unsigned long long)t.bytes_recv,
            (unsigned long long)t.rounds, (unsigned long long)t.offline_bytes, t.time_s);
}
