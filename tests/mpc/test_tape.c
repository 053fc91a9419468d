/* tests/mpc/test_tape.c - file tapes: the offline/online split, refusal of a
 * replayed tape, exhaustion, and the exact-consumption check; plus the
 * counters and the arena. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mpc/arena.h"
#include "mpc/stats.h"
#include "mpc/tape.h"

static void tape_path(char *buf, size_t cap, int party)
{
    snprintf(buf, cap, "/tmp/mpcllm-test-tape-%d-p%d", (int)getpid(), party);
}

/* Writes a tape for party 1 holding n words 0..n-1 after drawing `draw`
 * seed words. */
static void write_tape(const char *path, const uint8_t session[16], const uint8_t seed[16],
                       size_t n, size_t draw)
{
    char err[CHAN_ERR_BYTES];
    tape_t *t = tape_writer_file(path, 1, session, seed, err);
    assert_non_null(t);
    uint64_t junk[16];
    for (size_t i = 0; i < draw; i++) prg_u64(tape_prg(t), junk, 1);
    for (uint64_t i = 0; i < n; i++) assert_int_equal(tape_write(t, &i, 8), MPC_OK);
    assert_int_equal(tape_finish(t), MPC_OK);
    tape_free(&t);
}

static void test_tape_file_round_trip_then_replay_is_refused(void **state)
{
    (void)state;
    char path[128], err[CHAN_ERR_BYTES];
    tape_path(path, sizeof path, 1);
    uint8_t session[16], seed[16], got_session[16];
    tu_seed(session);
    tu_seed(seed);
    enum { N = 300000 }; /* spans several 1 MiB records */
    write_tape(path, session, seed, N, 5);

    tape_t *t = tape_reader_file(path, 1, got_session, err);
    assert_non_null(t);
    assert_memory_equal(got_session, session, 16);
    assert_memory_equal(tape_seed(t), seed, 16);
    uint64_t junk;
    for (int i = 0; i < 5; i++) prg_u64(tape_prg(t), &junk, 1);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t v;
        assert_int_equal(tape_read(t, &v, 8), MPC_OK);
        assert_int_equal(v, i);
    }
    assert_int_equal(tape_finish(t), MPC_OK);
    tape_free(&t);

    /* the same file again: refused, it was marked consumed on first use */
    t = tape_reader_file(path, 1, got_session, err);
    assert_null(t);
    assert_non_null(strstr(err, "already consumed"));
    /* and a tape for P1 is not P0's */
    write_tape(path, session, seed, 1, 0);
    assert_null(tape_reader_file(path, 0, got_session, err));
    assert_non_null(strstr(err, "party 1"));
    unlink(path);
}

static void test_tape_read_past_end_is_exhausted(void **state)
{
    (void)state;
    char path[128], err[CHAN_ERR_BYTES];
    tape_path(path, sizeof path, 1);
    uint8_t session[16], seed[16];
    tu_seed(session);
    tu_seed(seed);
    write_tape(path, session, seed, 3, 0);
    tape_t *t = tape_reader_file(path, 1, session, err);
    assert_non_null(t);
    uint64_t v[4];
    assert_int_equal(tape_read(t, v, 24), MPC_OK);
    assert_int_equal(tape_read(t, v, 8), MPC_EEXHAUSTED);
    assert_non_null(strstr(tape_error(t), "exhausted"));
    tape_free(&t);
    unlink(path);
}

static void test_tape_finish_detects_unused_or_overdrawn_correlations(void **state)
{
    (void)state;
    char path[128], err[CHAN_ERR_BYTES];
    tape_path(path, sizeof path, 1);
    uint8_t session[16], seed[16];
    tu_seed(session);
    tu_seed(seed);
    uint64_t v;

    write_tape(path, session, seed, 4, 2);
    tape_t *t = tape_reader_file(path, 1, session, err);
    assert_int_equal(tape_read(t, &v, 8), MPC_OK);
    assert_int_equal(tape_finish(t), MPC_EFORMAT); /* 3 words left */
    assert_non_null(strstr(tape_error(t), "left unread"));
    tape_free(&t);

    write_tape(path, session, seed, 1, 2);
    t = tape_reader_file(path, 1, session, err);
    assert_int_equal(tape_read(t, &v, 8), MPC_OK);
    for (int i = 0; i < 3; i++) prg_u64(tape_prg(t), &v, 1); /* one word too many */
    assert_int_equal(tape_finish(t), MPC_EFORMAT);
    assert_non_null(strstr(tape_error(t), "not used exactly"));
    tape_free(&t);
    unlink(path);
}

static void test_stats_charge_innermost_op_and_phase(void **state)
{
    (void)state;
    stats_t s;
    stats_init(&s);
    stats_phase(&s, PHASE_DECODE);
    stats_push(&s, "matmul");
    stats_cur(&s)->bytes_sent += 100;
    stats_push(&s, "trunc");
    stats_cur(&s)->bytes_sent += 7;
    stats_cur(&s)->rounds += 1;
    stats_pop(&s);
    stats_pop(&s);
    stats_phase(&s, PHASE_SETUP);
    stats_cur(&s)->bytes_sent += 1000;
    assert_int_equal(stats_op(&s, "matmul").bytes_sent, 100);
    assert_int_equal(stats_op(&s, "trunc").bytes_sent, 7);
    assert_int_equal(stats_op(&s, "trunc").rounds, 1);
    assert_int_equal(stats_total(&s, PHASE_DECODE).bytes_sent, 107);
    assert_int_equal(stats_total(&s, PHASE_SETUP).bytes_sent, 1000);
    assert_int_equal(stats_total(&s, -1).bytes_sent, 1107);
    assert_int_equal(stats_op(&s, "matmul").calls, 1);
}

static void test_arena_reset_reuses_memory(void **state)
{
    (void)state;
    arena_t a;
    arena_init(&a);
    arena_mark_t m = arena_mark(&a);
    for (int step = 0; step < 3; step++) {
        uint64_t *x = arena_alloc(&a, 3u << 20); /* bigger than a chunk */
        uint64_t *y = arena_zalloc(&a, 100);
        assert_non_null(x);
        assert_non_null(y);
        assert_int_equal((uintptr_t)x % 64, 0);
        assert_int_equal(y[0], 0);
        x[0] = 1;
        arena_reset(&a, m);
    }
    assert_true(a.peak >= (3u << 20));
    arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tape_file_round_trip_then_replay_is_refused),
        cmocka_unit_test(test_tape_read_past_end_is_exhausted),
        cmocka_unit_test(test_tape_finish_detects_unused_or_overdrawn_correlations),
        cmocka_unit_test(test_stats_charge_innermost_op_and_phase),
        cmocka_unit_test(test_arena_reset_reuses_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
