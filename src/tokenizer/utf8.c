/* utf8.c - UTF-8 helpers and GPT-2's byte-level mapping (every byte gets a
 * printable code point: printable Latin-1 bytes map to themselves, the rest
 * to 256, 257, ... in byte order). */
#include "tokenizer/vocab.h"

int ig_utf8_len(uint8_t c) {
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) return 2;
    if ((c & 0xf0) == 0xe0) return 3;
    if ((c & 0xf8) == 0xf0) return 4;
    return 1;
}

int ig_utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const uint8_t *u = (const uint8_t *)s;
    int len = ig_utf8_len(u[0]);
    if (len == 1) {
        *cp = u[0] < 0x80 ? u[0] : 0xfffd;
        return 1;
    }
    if ((size_t)len > n) {
        *cp = 0xfffd;
        return 1;
    }
    uint32_t c = u[0] & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xc0) != 0x80) {
            *cp = 0xfffd;
            return 1;
        }
        c = (c << 6) | (u[i] & 0x3f);
    }
    *cp = c;
    return len;
}

int ig_utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static bool byte_is_direct(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174); }

/* The bytes that are not printable map, in order, to 256..: 0-32 -> 256-288,
 * 127-160 -> 289-322, 173 -> 323. */
uint32_t ig_byte_to_cp(uint8_t b) {
    if (byte_is_direct(b)) return b;
    if (b <= 32) return 256u + b;
    if (b <= 160) return (uint32_t)b + 162u;
    return 323; /* 173, the soft hyphen */
}

int ig_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_direct((int)cp) ? (int)cp : -1;
    if (cp <= 288) return (int)(cp - 256);
    if (cp <= 322) return (int)(cp - 162);
    return cp == 323 ? 173 : -1;
}
