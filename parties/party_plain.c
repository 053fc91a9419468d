/* parties/party_plain.c - greedy generation with the plain float engine
 * (party_plain.h).
 *
 * The loop is run.c's: forward the current token at pos, take the next token
 * from the prompt while there is one and from the argmax after that, stop at
 * BOS or after steps positions, and print each next piece (decoded against
 * the token before it) if run.c's safe-print rule allows. Every buffer the
 * loop touches is sized before it starts from steps and the tokenizer's
 * longest piece.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "llm/fwd.h"
#include "llm/model.h"
#include "llm/tokenizer.h"
#include "parties/party_plain.h"

#define PATH_BYTES 4096

static mpc_err_t fail(char *err, mpc_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static mpc_err_t fail(char *err, mpc_err_t code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, CHAN_ERR_BYTES, fmt, ap);
        va_end(ap);
    }
    return code;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

mpc_err_t plain_find(const char *name, char *path, size_t cap, char *err)
{
    const char *shared = getenv("MPCLLM_SHARED");
    const char *dirs[3] = {"models", "../shared/models", NULL};
    for (int i = 0; i < 3; i++) {
        int n;
        if (i < 2)
            n = snprintf(path, cap, "%s/%s", dirs[i], name);
        else if (shared && shared[0])
            n = snprintf(path, cap, "%s/models/%s", shared, name);
        else
            break;
        if (n < 0 || (size_t)n >= cap)
            return fail(err, MPC_EARG, "the path of %s does not fit in %zu bytes", name, cap);
        if (access(path, R_OK) == 0) return MPC_OK;
    }
    if (cap) path[0] = '\0';
    return fail(err, MPC_EIO,
                "%s not found in models/, ../shared/models/ or "
                "$MPCLLM_SHARED/models/; download stories260K.bin and tok512.bin from "
                "huggingface.co/karpathy/tinyllamas (stories260K/), tokenizer.bin from "
                "github.com/karpathy/llama2.c",
                name);
}

/* The tokenizer path for model_path when none is given: tok512.bin in the
 * model's folder if readable, else the default lookup. */
static mpc_err_t default_tokenizer(const char *model_path, char *path, size_t cap, char *err)
{
    const char *slash = strrchr(model_path, '/');
    int dir_len = slash ? (int)(slash - model_path) + 1 : 0;
    int n = snprintf(path, cap, "%.*s%s", dir_len, model_path, PLAIN_DEFAULT_TOKENIZER);
    if (n >= 0 && (size_t)n < cap && access(path, R_OK) == 0) return MPC_OK;
    return plain_find(PLAIN_DEFAULT_TOKENIZER, path, cap, err);
}

void plain_result_clear(plain_result_t *r)
{
    free(r->prompt_ids);
    free(r->tokens);
    free(r->text);
    free(r->attended);
    free(r->attended_layer);
    memset(r, 0, sizeof *r);
}

/* Makes the policy's cache for this run (kv_cfg with the model's dims,
 * steps positions and the prompt's length) and attaches it to f. */
static mpc_err_t attach_kv(const kv_config_t *kv_cfg, const model_t *m, fwd_t *f, int steps,
                           int n_prompt, kv_t **kv, char *err)
{
    kv_config_t c = *kv_cfg;
    c.n_layers = m->cfg.n_layers;
    c.n_heads = m->cfg.n_heads;
    c.n_kv_heads = m->cfg.n_kv_heads;
    c.head_size = model_head_size(&m->cfg);
    c.seq_len = steps;
    c.prompt_len = n_prompt < steps ? n_prompt : steps;
    char msg[CHAN_ERR_BYTES] = "";
    mpc_err_t e = MPC_OK;
    *kv = kv_new(&c, &e, msg, sizeof msg);
    if (!*kv)
        return fail(err, e != MPC_OK ? e : MPC_ENOMEM, "KV cache (%s): %s",
                    kv_policy_name(c.policy), e == MPC_ENOMEM ? "out of memory" : msg);
    return fwd_set_kv(f, *kv, err);
}

/* The loop itself, with everything loaded and every buffer of r sized. */
static void run_loop(const plain_opts_t *o, const tok_t *t, fwd_t *f, int vocab, int steps,
                     plain_result_t *r)
{
    const double t0 = now_s();
    double t_first = t0, t_prefill = 0.0;
    int token = r->prompt_ids[0], pos = 0;
    while (pos < steps) {
        const float *logits = fwd_step(f, token, pos);
        long sum = 0;
        for (int l = 0; l < r->n_layers; l++) {
            const int a = fwd_attended(f, l);
            r->attended_layer[(size_t)r->n_steps * (size_t)r->n_layers + (size_t)l] = a;
            sum += a;
        }
        r->attended[r->n_steps++] = sum;
        int next;
        if (pos < r->n_prompt - 1) {
            next = r->prompt_ids[pos + 1];
        } else {
            next = fwd_argmax(logits, vocab);
            if (next != TOK_BOS) r->tokens[r->n_tokens++] = next;
        }
        pos++;
        if (pos == r->n_prompt) t_prefill = now_s() - t0;
        if (next == TOK_BOS) break;
        const char *piece = tok_decode(t, token, next);
        if (tok_piece_printable(piece)) {
            size_t len = strlen(piece);
            memcpy(r->text + r->text_len, piece, len);
            r->text_len += len;
            if (o->out) {
                fputs(piece, o->out);
                fflush(o->out);
            }
        }
        token = next;
        if (pos == 1) t_first = now_s();
    }
    const double t_end = now_s();
    r->text[r->text_len++] = '\n';
    r->text[r->text_len] = '\0';
    if (o->out) fputc('\n', o->out);
    if (pos < r->n_prompt) t_prefill = t_end - t0;
    r->prefill_s = t_prefill;
    if (r->n_steps > r->n_prompt)
        r->decode_s_per_token = (t_end - t0 - t_prefill) / (double)(r->n_steps - r->n_prompt);
    if (pos > 1 && t_end > t_first) r->tok_per_s = (double)(pos - 1) / (t_end - t_first);
}

mpc_err_t plain_generate(const plain_opts_t *o, plain_result_t *r, char *err)
{
    memset(r, 0, sizeof *r);
    if (o->steps < 0) return fail(err, MPC_EARG, "steps is %d, not 0 or more", o->steps);
    char mbuf[PATH_BYTES], tbuf[PATH_BYTES];
    const char *mpath = o->model_path, *tpath = o->tokenizer_path;
    model_t *m = NULL;
    tok_t *t = NULL;
    fwd_t *f = NULL;
    kv_t *kv = NULL;
    mpc_err_t e = MPC_OK;
    if (!mpath) {
        e = plain_find(PLAIN_DEFAULT_MODEL, mbuf, sizeof mbuf, err);
        mpath = mbuf;
    }
    if (e == MPC_OK) e = model_load(&m, mpath, err);
    if (e == MPC_OK && !tpath) {
        e = default_tokenizer(mpath, tbuf, sizeof tbuf, err);
        tpath = tbuf;
    }
    if (e == MPC_OK) e = tok_load(&t, tpath, m->cfg.vocab_size, err);
    if (e == MPC_OK) e = fwd_new(&f, m, err);
    if (e != MPC_OK) goto done;

    const int seq = m->cfg.seq_len;
    const int steps = o->steps == 0 || o->steps > seq ? seq : o->steps;
    const char *prompt = o->prompt ? o->prompt : "";
    r->n_layers = m->cfg.n_layers;
    r->prompt_ids = malloc(tok_encode_cap(prompt) * sizeof *r->prompt_ids);
    r->tokens = malloc((size_t)steps * sizeof *r->tokens);
    r->attended = malloc((size_t)steps * sizeof *r->attended);
    r->attended_layer = malloc((size_t)steps * (size_t)r->n_layers * sizeof *r->attended_layer);
    r->text = malloc((size_t)steps * (size_t)tok_max_token_length(t) + 2);
    if (!r->prompt_ids || !r->tokens || !r->attended || !r->attended_layer || !r->text) {
        e = fail(err, MPC_ENOMEM, "out of memory for %d steps", steps);
        goto done;
    }
    e = tok_encode(t, prompt, 1, 0, r->prompt_ids, &r->n_prompt, err);
    if (e == MPC_OK && o->kv) e = attach_kv(o->kv, m, f, steps, r->n_prompt, &kv, err);
    if (e != MPC_OK) goto done;
    run_loop(o, t, f, m->cfg.vocab_size, steps, r);
    if (o->out && (fflush(o->out) != 0 || ferror(o->out)))
        e = fail(err, MPC_EIO, "writing the generated text failed");
done:
    fwd_free(&f);
    kv_free(&kv);
    tok_free(&t);
    model_free(&m);
    if (e != MPC_OK) plain_result_clear(r);
    return e;
}
