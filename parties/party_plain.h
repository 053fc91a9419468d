/* parties/party_plain.h - greedy generation with the plain float engine, as
 * `mpcllm generate --engine float` runs it.
 *
 * plain_generate loads a llama2.c checkpoint and tokenizer, encodes the prompt
 * with BOS, and runs llama2.c run.c's loop at temperature 0: the prompt's
 * tokens are forced, then each next token is the argmax of the logits; steps
 * counts every position, the prompt's included; the text stops at BOS. It
 * prints exactly what run.c prints on stdout, piece by piece as generated and
 * flushed, then a newline, so the output can be compared with run.c's byte for
 * byte. Nothing is allocated per token. With a KV-cache policy (mpcache/kv.h)
 * attention runs over what the policy selects; without one it is llama2.c's.
 *
 * Default files (plain_find): stories260K.bin and tok512.bin, looked up in
 * models/ under the current directory, then ../shared/models/, then
 * $MPCLLM_SHARED/models/.
 */
#ifndef PARTIES_PARTY_PLAIN_H
#define PARTIES_PARTY_PLAIN_H

#include <stddef.h>
#include <stdio.h>

#include "mpcache/kv.h"
#include "mpc/chan.h"
#include "mpc/err.h"

#define PLAIN_DEFAULT_MODEL     "stories260K.bin"
#define PLAIN_DEFAULT_TOKENIZER "tok512.bin"

typedef struct plain_opts {
    const char *model_path;     /* NULL: plain_find(PLAIN_DEFAULT_MODEL) */
    const char *tokenizer_path; /* NULL: tok512.bin beside the model, else plain_find */
    const char *prompt;         /* NULL: "" */
    int steps;                  /* positions, prompt included; 0 or above seq_len: seq_len */
    FILE *out;                  /* where the text goes as it is generated, or NULL */
    /* KV-cache policy and its knobs, or NULL for llama2.c's full attention.
     * The model dims, seq_len (= the steps run) and prompt_len (the prompt's
     * tokens, at most the steps) are filled in from the run. */
    const kv_config_t *kv;
} plain_opts_t;

/* What a generation produced. Filled by plain_generate, freed by
 * plain_result_clear. */
typedef struct plain_result {
    int *prompt_ids; /* (n_prompt) the encoded prompt, BOS first */
    int n_prompt;
    int *tokens; /* (n_tokens) generated ids, up to and excluding BOS */
    int n_tokens;
    char *text; /* (text_len + 1) what was printed, final newline included */
    size_t text_len;
    long *attended;      /* (n_steps) positions attended, summed over layers and KV heads */
    int *attended_layer; /* (n_steps, n_layers) positions attended, summed over KV heads */
    int n_steps;         /* forward passes run */
    int n_layers;
    double prefill_s;          /* forward passes over the prompt, the first argmax included */
    double decode_s_per_token; /* mean time of each later forward pass and argmax; 0 if none */
    double tok_per_s;          /* run.c's figure: steps after the first over the time since it */
} plain_result_t;

/* Finds the file name in models/, ../shared/models/ and $MPCLLM_SHARED/models/,
 * in that order, and writes the first readable path to path (cap bytes).
 * Fails with MPC_EIO when none is readable, and err (CHAN_ERR_BYTES, may be
 * NULL) says where it looked and where to download the stories260K files;
 * MPC_EARG when a path does not fit in cap. */
mpc_err_t plain_find(const char *name, char *path, size_t cap, char *err) MPC_WUR;

/* Runs the generation that o describes and fills *r, which the caller then
 * owns (plain_result_clear); text goes to o->out as it is generated. Fails
 * with the model's or the tokenizer's error (MPC_EIO, MPC_EFORMAT; a
 * tokenizer for another vocabulary is MPC_EFORMAT), MPC_EARG for negative
 * steps or a KV configuration that kv_config_check refuses, MPC_EIO when writing to o->out fails,
 * or MPC_ENOMEM; err (CHAN_ERR_BYTES, may be NULL) says why, and *r is left empty. */
mpc_err_t plain_generate(const plain_opts_t *o, plain_result_t *r, char *err) MPC_WUR;

/* Frees what *r owns and zeroes it; accepts a zeroed result. */
void plain_result_clear(plain_result_t *r);

#endif
