/* parties/printer.h - printing generated text exactly as llama2.c's run.c
 * does: each piece decoded against the previous token, unprintable single
 * bytes skipped, nothing after BOS, then one newline. Used by the client and
 * by the in-process engines. */
#ifndef PARTIES_PRINTER_H
#define PARTIES_PRINTER_H

#include <stddef.h>
#include <stdio.h>

#include "llm/tokenizer.h"

typedef struct printer {
    const tok_t *tok;
    FILE *out;      /* stream the text here as it comes, or NULL */
    int prev;       /* the last token */
    int stopped;    /* BOS seen: print nothing more */
    char *text;     /* everything printed, NUL-terminated (owned) */
    size_t len, cap;
    int *tokens;    /* generated ids up to and excluding BOS (owned) */
    int n_tokens, cap_tokens;
} printer_t;

/* Starts a printer and prints the prompt's pieces (ids, n with BOS first).
 * Returns -1 when out of memory. */
int printer_start(printer_t *p, const tok_t *tok, FILE *out, const int *prompt, int n);
/* Prints one generated token (stops for good at BOS). */
void printer_token(printer_t *p, int token);
/* Prints the final newline. */
void printer_end(printer_t *p);
void printer_free(printer_t *p);
/* A party_token_fn for party_generate: arg is a printer_t. */
void printer_on_token(void *arg, int token);
/* Writes s as a JSON string (with quotes) to out. */
void printer_json_string(FILE *out, const char *s, size_t len);
/* Writes the JSON attended_tokens array of CLI.md to out: one array per
 * decode step of the n_layers counts of att (steps, n_layers), as the float
 * engine writes it. */
void printer_json_attended(FILE *out, const int *att, int steps, int n_layers);

#endif
