/* vocab.h - tokenizer state loaded from GGUF metadata: token texts, scores
 * and types, merges, special tokens, pre-tokenizer regexes. Token texts point
 * into the model file's mapping. */
#ifndef IG_VOCAB_H
#define IG_VOCAB_H

#include "format/gguf.h"
#include "tokenizer/strmap.h"

enum ig_vocab_type { IG_VOCAB_NONE = 0, IG_VOCAB_SPM, IG_VOCAB_BPE };

/* GGUF tokenizer.ggml.token_type values */
enum ig_token_type {
    IG_TOKEN_TYPE_UNDEFINED = 0, IG_TOKEN_TYPE_NORMAL = 1, IG_TOKEN_TYPE_UNKNOWN = 2,
    IG_TOKEN_TYPE_CONTROL = 3, IG_TOKEN_TYPE_USER_DEFINED = 4, IG_TOKEN_TYPE_UNUSED = 5,
    IG_TOKEN_TYPE_BYTE = 6,
};

#define IG_MAX_PRE_REGEX 8

struct ig_vocab {
    enum ig_vocab_type type;
    int32_t n;                      /* tokens */
    struct ig_gguf_str *text;       /* [n] */
    float *score;                   /* [n] (SPM) */
    uint8_t *ttype;                 /* [n] enum ig_token_type */
    struct ig_strmap tok;           /* text -> id */
    struct ig_strmap merges;        /* "left right" -> rank (BPE) */
    int32_t *special;               /* ids matched in text, longest text first */
    int32_t n_special;
    int32_t byte_tok[256];          /* SPM <0xXX> tokens, -1 when absent */
    int32_t bos, eos, eot, eom, unk, pad; /* -1 when absent */
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
    char pre[32];                   /* tokenizer.ggml.pre */
    void *re[IG_MAX_PRE_REGEX];     /* compiled pcre2_code* */
    int32_t n_re;
    int32_t max_piece;              /* longest decoded piece in bytes */
};

/* Load the tokenizer from g. n_vocab_expected < 0: no check. */
enum ig_status ig_vocab_load(struct ig_vocab *v, const struct ig_gguf *g, char *err, size_t err_len);
void ig_vocab_free(struct ig_vocab *v);

/* Encode text into a growing array (*out, *n, *cap); false on no memory. */
bool ig_vocab_tokenize(const struct ig_vocab *v, const char *text, size_t len, bool add_bos,
                       bool parse_special, int32_t **out, int32_t *n, int32_t *cap);
/* Bytes of a token into buf; returns length or -(needed). */
int32_t ig_vocab_piece(const struct ig_vocab *v, int32_t t, char *buf, int32_t len, bool special);

/* Internal pieces shared by spm.c / bpe.c and vocab.c */
struct ig_tokvec {
    int32_t *v;
    int32_t n, cap;
};
bool ig_tokvec_push(struct ig_tokvec *tv, int32_t t);
bool ig_spm_encode(const struct ig_vocab *v, const char *text, size_t len, struct ig_tokvec *out);
bool ig_bpe_encode(const struct ig_vocab *v, const char *text, size_t len, struct ig_tokvec *out);
/* Compile the pre-tokenizer regexes for v->pre; false with err on failure. */
bool ig_bpe_init_regex(struct ig_vocab *v, char *err, size_t err_len);
void ig_bpe_free_regex(struct ig_vocab *v);
/* GPT-2 byte-level mapping: byte -> code point, and back (-1 if none). */
uint32_t ig_byte_to_cp(uint8_t b);
int ig_cp_to_byte(uint32_t cp);
/* Length of the UTF-8 sequence starting with byte c (1 for invalid). */
int ig_utf8_len(uint8_t c);
/* Decode one code point at s[0..n); returns bytes used (>= 1), cp = 0xFFFD on error. */
int ig_utf8_decode(const char *s, size_t n, uint32_t *cp);
int ig_utf8_encode(uint32_t cp, char *out);

#endif
