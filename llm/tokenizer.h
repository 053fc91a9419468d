/* llm/tokenizer.h - the llama2.c byte-level BPE tokenizer (.bin format).
 *
 * The file is an int32 max_token_length, then for each of the model's
 * vocab_size tokens a float32 merge score, an int32 byte length and the bytes
 * (shared/models/README.md); the vocabulary size comes from the model, not
 * the file. Ids 0, 1 and 2 are <unk>, BOS and EOS, and ids 3..258 are the
 * byte tokens "<0x00>".."<0xFF>".
 *
 * Encoding follows llama2.c's run.c step for step, so that prompts give the
 * same ids: optional BOS, then the " " token as a dummy prefix when the text is
 * not empty, then one token per UTF-8 code point (at most 4 bytes) that is in
 * the vocabulary, or its bytes as byte tokens (byte + 3) when it is not; then,
 * repeatedly, the adjacent pair whose concatenation is a token with the
 * highest score (ties to the leftmost pair; scores at or below -1e10 never
 * merge) is merged, until no pair merges; then optional EOS. Decoding drops the
 * leading space of a piece that follows BOS and turns a byte token into its
 * raw byte. run.c prints a piece only if it is not a single byte that is
 * neither printable nor whitespace (tok_piece_printable).
 *
 *     tok_t *t = NULL;
 *     if (tok_load(&t, "tok512.bin", 512, err) != MPC_OK) ...
 *     int ids[64], n;
 *     tok_encode(t, "Once upon a time", 1, 0, ids, &n, err);  // 1 403 407 261 378
 *     fputs(tok_decode(t, ids[0], ids[1]), stdout);             // "Once"
 */
#ifndef LLM_TOKENIZER_H
#define LLM_TOKENIZER_H

#include <stddef.h>

#include "mpc/chan.h"
#include "mpc/err.h"

#define TOK_BOS 1
#define TOK_EOS 2
/* Bounds past which a tokenizer file is treated as malformed. */
#define TOK_MAX_TOKEN_LENGTH 4096
#define TOK_MIN_VOCAB        259 /* <unk>, BOS, EOS and the 256 byte tokens */

typedef struct tok tok_t;

/* Reads the tokenizer at path for a model of vocab_size tokens. The caller
 * owns *out (tok_free). Fails with MPC_EIO when the file cannot be read,
 * MPC_EARG when vocab_size is below TOK_MIN_VOCAB, and MPC_EFORMAT when the
 * file is malformed: max_token_length outside 1..TOK_MAX_TOKEN_LENGTH, a
 * negative length or one above max_token_length, a token containing a NUL
 * byte, a file that ends before vocab_size tokens (truncated) or goes on
 * after them (a tokenizer for another vocabulary); err (CHAN_ERR_BYTES, may
 * be NULL) names the file, the token and the problem, and *out stays NULL. */
mpc_err_t tok_load(tok_t **out, const char *path, int vocab_size, char *err) MPC_WUR;

/* Frees *t and sets it to NULL; accepts NULL and *t == NULL. */
void tok_free(tok_t **t);

/* The vocabulary size given to tok_load. */
int tok_vocab_size(const tok_t *t);

/* max_token_length from the file: no piece is longer. */
int tok_max_token_length(const tok_t *t);

/* The stored bytes of token id (0 <= id < vocab size), NUL-terminated, owned
 * by t. */
const char *tok_piece(const tok_t *t, int id);

/* The capacity tok_encode needs for text: strlen(text) + 3 ids. */
size_t tok_encode_cap(const char *text);

/* Encodes the NUL-terminated text as described above into tokens, which must
 * hold tok_encode_cap(text) ids, and sets *n_tokens. bos and eos (0 or 1)
 * add BOS first and EOS last. Fails only with MPC_ENOMEM (scratch space), with
 * *n_tokens 0. */
mpc_err_t tok_encode(const tok_t *t, const char *text, int bos, int eos, int *tokens, int *n_tokens,
                     char *err) MPC_WUR;

/* The text of token following prev: a NUL-terminated string owned by t, valid
 * until tok_free. After BOS a leading space is dropped; a byte token spelled
 * exactly "<0xHH>" gives its single raw byte (byte 0 gives ""). token must be
 * a valid id. */
const char *tok_decode(const tok_t *t, int prev, int token);

/* 1 when run.c would print piece: it is not empty, and if it is one byte,
 * that byte is printable ASCII or whitespace (as isprint/isspace in the C
 * locale, whatever the current locale). */
int tok_piece_printable(const char *piece);

#endif
