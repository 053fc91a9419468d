/* bench/bench_accuracy.h - `mpcllm-bench accuracy`: how much a KV-cache
 * policy costs in perplexity, against the full cache, on real text.
 *
 * The text is TinyStories (tinystories_valid800.txt), cut into windows of the
 * model's context; each window's first P tokens are the prompt and the rest
 * are scored teacher-forced (llm/eval.h), under the policy and under the full
 * cache. One run scores one policy; --sweep scores every budgeted policy at
 * budgets 0.1, 0.2 and 0.5 on the same windows, with one full-cache pass per
 * window, and writes accuracy.jsonl, accuracy.md and accuracy.png.
 * Engines: float (the reference), fixed (the fixed-point plain engine, every
 * policy), and secure (the three roles in this process, on a slice, checked
 * against the fixed engine bit for bit: bench_acc_secure.h).
 */
#ifndef BENCH_BENCH_ACCURACY_H
#define BENCH_BENCH_ACCURACY_H

/* Runs the benchmark; argv[0] is the subcommand name. Options:
 *   --policy NAME      the policy (required without --sweep)
 *   --budget R         fraction attended per step, 0 < R <= 1 (0.25)
 *   --static-keep S    MPCache's static keep fraction (0.5); R <= S
 *   --clusters A,B     MPCache's cluster sizes (32,16)
 *   --engine E         float (default); fixed: the fixed-point plain engine,
 *                      every policy; secure: P0, P1 and the dealer on threads
 *                      (full, streaming, h2o, mpcache), by default on one window
 *                      and 16 scored tokens, one thread
 *   --seed S           the test seed (1): the fixed engine's rounding stream
 *                      and the secure engine's dealer, as mpcllm generate's
 *                      --seed and --test-seed
 *   --model PATH       stories260K.bin in models/, ../shared/models/, ...
 *   --tokenizer PATH   tok512.bin beside the model, then the same lookup
 *   --data PATH        tinystories_valid800.txt in data/, ../shared/data/,
 *                      $MPCLLM_SHARED/data/
 *   --prefill P        prompt tokens per window (384)
 *   --windows W        the first W windows of the text are scored (64: 8128
 *                      tokens, about 10 s on 2 cores with stories260K)
 *   --scored N         tokens scored per window, after the prompt (all)
 *   --threads N        scoring threads, windows split between them (one per
 *                      online CPU); the figures do not depend on N
 *   --sweep            every policy at R = 0.1, 0.2, 0.5 (S = max(0.5, R))
 *   --out DIR          where --sweep writes its files (.)
 *   --json             one JSON object per result on stdout (keys engine,
 *                      policy, budget, ppl, ppl_full, kl, top1_agree,
 *                      scored_tokens; also static_keep, clusters,
 *                      attended_ratio, prefill, window_tokens, windows,
 *                      time_s (engine seconds of the policy's passes),
 *                      tok_per_s and full_tok_per_s (per thread), wall_s,
 *                      threads; fixed and secure: seed; secure: matches_fixed
 *                      (every forward call's logits equal the fixed engine's
 *                      with the same seed), max_logit_diff, compared_steps,
 *                      online_bytes and rounds over all its sessions)
 * Returns 0, 2 on bad usage (a policy the engine does not run included)
 * and 1 on a runtime error (missing files, a failed secure session), after
 * one line on stderr. */
int bench_accuracy_main(int argc, char **argv);

#endif
