/* bench/bench_op.h - `mpcllm-bench op`: one protocol at a time, measured as
 * the parties would run it.
 *
 * The dealer generates the correlations first, into one tape file per party
 * (the offline phase, timed as offline_s). Then P0 and P1 run the online
 * phase on two threads, connected over tcp://127.0.0.1 with CurveZMQ, reading
 * their tapes from those files; time_s is the online wall time. Bytes and
 * rounds come from the parties' counters; errors are measured against
 * float64 on the same inputs. LAN and WAN times are modelled as in
 * DESIGN.md §5: time + max-direction bytes / bandwidth + rounds * RTT / 2.
 */
#ifndef BENCH_BENCH_OP_H
#define BENCH_BENCH_OP_H

int bench_op_main(int argc, char **argv);

#endif
