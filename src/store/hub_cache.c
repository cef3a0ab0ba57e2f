/* hub_cache.c - locating the Hugging Face hub cache and the snapshot of a
 * repo in it, with every name checked so nothing resolves outside. */
#define _POSIX_C_SOURCE 200809L
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static bool put(char *buf, size_t len, const char *fmt, const char *a, const char *b) {
    int n = snprintf(buf, len, fmt, a, b);
    return n >= 0 && (size_t)n < len;
}

bool ig_hub_dir(char *buf, size_t len) {
    const char *c = getenv("HF_HUB_CACHE"), *h = getenv("HF_HOME"), *home = getenv("HOME"), *xdg = getenv("XDG_CACHE_HOME");
    if (c && *c) return put(buf, len, "%s%s", c, "");
    if (h && *h) return put(buf, len, "%s%s", h, "/hub");
    if (xdg && *xdg) return put(buf, len, "%s%s", xdg, "/huggingface/hub");
    if (home && *home) return put(buf, len, "%s%s", home, "/.cache/huggingface/hub");
    return false;
}

bool ig_ingot_home(char *buf, size_t len) {
    const char *i = getenv("INGOT_HOME"), *home = getenv("HOME");
    if (i && *i) return put(buf, len, "%s%s", i, "");
    if (home && *home) return put(buf, len, "%s%s", home, "/.ingot");
    return false;
}

static bool part_ok(const char *s, size_t n) {
    if (n == 0 || n > 96 || s[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
        if (c == '.' && i + 1 < n && s[i + 1] == '.') return false;
    }
    return true;
}

bool ig_repo_id_ok(const char *repo) {
    const char *slash = repo ? strchr(repo, '/') : NULL;
    return slash && !strchr(slash + 1, '/') && part_ok(repo, (size_t)(slash - repo)) &&
           part_ok(slash + 1, strlen(slash + 1));
}

bool ig_repo_path_ok(const char *path) {
    if (!path || !*path || path[0] == '/' || strlen(path) > 1024) return false;
    const char *p = path;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 32 || p[i] == '\\' || p[i] == 127) return false;
        if (!e) return true;
        p = e + 1;
    }
}

bool ig_hex_id_ok(const char *s, size_t want_len) {
    if (!s || strlen(s) != want_len) return false;
    for (size_t i = 0; i < want_len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

bool ig_repo_dir(const char *repo, char *buf, size_t len) {
    char hub[IG_PATH_MAX], org[128];
    if (!ig_repo_id_ok(repo) || !ig_hub_dir(hub, sizeof hub)) return false;
    const char *slash = strchr(repo, '/');
    snprintf(org, sizeof org, "%.*s", (int)(slash - repo), repo);
    int n = snprintf(buf, len, "%s/models--%s--%s", hub, org, slash + 1);
    return n >= 0 && (size_t)n < len;
}

bool ig_repo_snapshot(const char *repo, char *commit, size_t commit_len, char *dir, size_t dir_len) {
    char rd[IG_PATH_MAX], p[IG_PATH_MAX], c[64] = "";
    if (!ig_repo_dir(repo, rd, sizeof rd)) return false;
    snprintf(p, sizeof p, "%s/refs/main", rd);
    FILE *f = fopen(p, "r");
    if (f) {
        if (!fgets(c, sizeof c, f)) c[0] = 0;
        fclose(f);
        c[strcspn(c, "\r\n")] = 0;
        if (!ig_hex_id_ok(c, 40)) c[0] = 0;
    }
    if (!c[0]) { /* no ref: the one snapshot there is */
        snprintf(p, sizeof p, "%s/snapshots", rd);
        DIR *d = opendir(p);
        int n = 0;
        for (struct dirent *e; d && (e = readdir(d));)
            if (e->d_name[0] != '.' && strlen(e->d_name) < sizeof c) {
                snprintf(c, sizeof c, "%s", e->d_name);
                n++;
            }
        if (d) closedir(d);
        if (n != 1) return false;
    }
    struct stat st;
    int n = snprintf(p, sizeof p, "%s/snapshots/%s", rd, c);
    if (n < 0 || (size_t)n >= sizeof p || stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) return false;
    if (commit) snprintf(commit, commit_len, "%s", c);
    if (dir) snprintf(dir, dir_len, "%s", p);
    return true;
}

bool ig_mkdirs(const char *path, mode_t mode) {
    char tmp[IG_PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return false;
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, mode) != 0 && errno != EEXIST) return false;
            *p = '/';
        }
    return mkdir(tmp, mode) == 0 || errno == EEXIST;
}
