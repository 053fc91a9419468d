/* bench/bench_model.h - `mpcllm-bench decode` and `mpcllm-bench prefill`:
 * the secure transformer on a model shape, per decode step or per prefill.
 *
 * The dealer runs first into one tape file per party (offline_s), or beside
 * the parties as a third thread streaming its tapes (--dealer stream). The
 * parties run over tcp://127.0.0.1 with CurveZMQ. A decode benchmark at T
 * fills the cache with fresh shares of seeded random rows (their masks are
 * opened as on append, and reported as setup), then times one decode step
 * at position T. A prefill benchmark times the prompt of T random tokens as
 * one batch. */
#ifndef BENCH_BENCH_MODEL_H
#define BENCH_BENCH_MODEL_H

int bench_decode_main(int argc, char **argv);
int bench_prefill_main(int argc, char **argv);

#endif
