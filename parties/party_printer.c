/* parties/party_printer.c - run.c-style text output. */
#include "parties/printer.h"

#include <stdlib.h>
#include <string.h>

#define TOK_BOS_ID 1

static void append(printer_t *p, const char *s)
{
    size_t n = strlen(s);
    if (p->len + n + 2 > p->cap) {
        size_t cap = (p->cap + n + 2) * 2;
        char *t = realloc(p->text, cap);
        if (!t) return; /* the stream still gets it; the copy is best effort */
        p->text = t;
        p->cap = cap;
    }
    memcpy(p->text + p->len, s, n);
    p->len += n;
    p->text[p->len] = '\0';
    if (p->out) {
        fputs(s, p->out);
        fflush(p->out);
    }
}

static void piece(printer_t *p, int next)
{
    const char *s = tok_decode(p->tok, p->prev, next);
    if (tok_piece_printable(s)) append(p, s);
    p->prev = next;
}

int printer_start(printer_t *p, const tok_t *tok, FILE *out, const int *prompt, int n)
{
    memset(p, 0, sizeof *p);
    p->tok = tok;
    p->out = out;
    p->cap = 256;
    p->text = calloc(p->cap, 1);
    p->cap_tokens = 256;
    p->tokens = malloc((size_t)p->cap_tokens * sizeof *p->tokens);
    if (!p->text || !p->tokens) return -1;
    p->prev = prompt[0];
    for (int i = 1; i < n; i++) piece(p, prompt[i]);
    return 0;
}

void printer_token(printer_t *p, int token)
{
    if (p->stopped) return;
    if (token == TOK_BOS_ID) {
        p->stopped = 1;
        return;
    }
    if (p->n_tokens == p->cap_tokens) {
        int *t = realloc(p->tokens, (size_t)p->cap_tokens * 2 * sizeof *t);
        if (t) {
            p->tokens = t;
            p->cap_tokens *= 2;
        }
    }
    if (p->n_tokens < p->cap_tokens) p->tokens[p->n_tokens++] = token;
    piece(p, token);
}

void printer_end(printer_t *p)
{
    append(p, "\n");
}

void printer_free(printer_t *p)
{
    free(p->text);
    free(p->tokens);
    memset(p, 0, sizeof *p);
}

void printer_on_token(void *arg, int token)
{
    printer_token(arg, token);
}

void printer_json_string(FILE *out, const char *s, size_t len)
{
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') fprintf(out, "\\%c", ch);
        else if (ch < 0x20) fprintf(out, "\\u%04x", ch);
        else fputc(ch, out);
    }
    fputc('"', out);
}

void printer_json_attended(FILE *out, const int *att, int steps, int n_layers)
{
    fputc('[', out);
    for (int i = 0; i < steps; i++) {
        fprintf(out, "%s[", i ? "," : "");
        for (int l = 0; l < n_layers; l++)
            fprintf(out, "%s%d", l ? "," : "", att[(size_t)i * (size_t)n_layers + (size_t)l]);
        fputc(']', out);
    }
    fputc(']', out);
}
