/* cli.h - shared pieces of the ingot command-line program. */
#ifndef INGOT_CLI_H
#define INGOT_CLI_H

#include "ingot.h"

#include <stdbool.h>
#include <stdio.h>

int cmd_run(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_render(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_import(int argc, char **argv);
struct run_opts;
int cmd_chat_opts(struct run_opts *o); /* chat with flags already parsed (`ingot run` on a terminal) */

/* Print "ingot: error: ..." as one line on stderr; returns 1 for `return die(...)`. */
int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse a whole-string number; false with a message on stderr if bad. */
bool arg_int(const char *flag, const char *s, long lo, long hi, long *out);
bool arg_float(const char *flag, const char *s, double lo, double hi, double *out);
/* Parse a --backend value; false with a message on stderr if unknown. */
bool arg_backend(const char *s, enum ig_backend_type *out);
/* The value after a flag, or NULL (and a message) if missing. */
const char *arg_value(int argc, char **argv, int *i);

/* Of the text buf[0..n), the bytes that can be sent now: up to the earliest
 * stop string (*hit set), else all but a tail that may begin one. */
size_t stop_scan(const char *buf, size_t n, const char *const *stops, int n_stop, bool *hit);
/* All of f into a malloc'ed, NUL-terminated buffer; NULL on no memory. */
char *read_all(FILE *f, size_t *len);

#endif
