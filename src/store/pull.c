/* pull.c - ig_store_pull: download a repo's model files from the Hugging
 * Face hub (or $HF_ENDPOINT) into the hub cache with libcurl. Each file goes
 * to blobs/ID.incomplete, resumes with a Range request after an interruption,
 * retries transient failures with backoff, is verified (LFS: sha256 = ID;
 * other files: git blob sha1 = ID) and only then renamed to blobs/ID and
 * linked from snapshots/COMMIT/PATH, as huggingface_hub lays it out. */
#define _DEFAULT_SOURCE
#include "format/json_file.h"
#include "store/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ERR(...) (ig_err(err, err_len, __VA_ARGS__))

int ig_pick_gguf(const char *const *files, int n, const char *quant, char *err, size_t err_len);
bool ig_store_spec(const char *name, char *repo, size_t rlen, char *quant, size_t qlen);

struct hfile {
    char *path;
    int64_t size;
    char id[65]; /* blob name: sha256 (LFS) or git sha1 */
    bool lfs;
};

struct puller {
    const struct ig_pull_params *p;
    char endpoint[512], auth[1100];
    CURL *curl;
    char *err;
    size_t err_len;
};

/* ------------------------------------------------------------ HTTP */

struct membuf {
    char *p;
    size_t n;
};

static size_t mem_write(char *ptr, size_t size, size_t nmemb, void *user) {
    struct membuf *b = user;
    size_t n = size * nmemb;
    if (b->n + n > (64u << 20)) return 0; /* an API answer this big is wrong */
    char *q = realloc(b->p, b->n + n + 1);
    if (!q) return 0;
    memcpy(q + b->n, ptr, n);
    b->n += n;
    q[b->n] = 0;
    b->p = q;
    return n;
}

static void setup(struct puller *pl, const char *url, struct curl_slist **hdrs) {
    CURL *c = pl->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ingot/" IG_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled transfer is a failure to retry */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    *hdrs = NULL;
    if (pl->auth[0]) *hdrs = curl_slist_append(*hdrs, pl->auth); /* curl drops it on redirects to other hosts */
    if (*hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
}

/* GET a JSON API URL; returns the parsed body or NULL with err and *st. */
static cJSON *get_json(struct puller *pl, const char *url, const char *what, enum ig_status *st) {
    char *err = pl->err;
    size_t err_len = pl->err_len;
    struct membuf b = {0};
    struct curl_slist *h;
    setup(pl, url, &h);
    curl_easy_setopt(pl->curl, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(pl->curl, CURLOPT_WRITEDATA, &b);
    long code = 0;
    cJSON *j = NULL;
    for (int attempt = 0;; attempt++) {
        b.n = 0;
        CURLcode rc = curl_easy_perform(pl->curl);
        curl_easy_getinfo(pl->curl, CURLINFO_RESPONSE_CODE, &code);
        bool transient = rc != CURLE_OK || code >= 500 || code == 429;
        if (!transient || attempt >= 3) {
            if (rc != CURLE_OK) {
                ERR("%s: %s (%s)", what, curl_easy_strerror(rc), url);
                *st = IG_ERR_NETWORK;
            }
            break;
        }
        usleep((useconds_t)(250000u << attempt));
    }
    curl_slist_free_all(h);
    if (*st == IG_ERR_NETWORK) goto out;
    if (code == 401 || code == 403) {
        ERR("%s: access denied (HTTP %ld): the repo is gated or private; %s", what, code,
            pl->auth[0] ? "the token (HF_TOKEN) was refused or has no access" : "set HF_TOKEN to a token with access");
        *st = IG_ERR_DENIED;
    } else if (code == 404) {
        ERR("%s: not found (HTTP 404): check the name (%s)", what, url);
        *st = IG_ERR_NOT_FOUND;
    } else if (code != 200) {
        ERR("%s: HTTP %ld from %s", what, code, url);
        *st = IG_ERR_NETWORK;
    } else if (!(j = b.p ? cJSON_Parse(b.p) : NULL)) {
        ERR("%s: the answer is not JSON (%s)", what, url);
        *st = IG_ERR_NETWORK;
    }
out:
    free(b.p);
    return j;
}

/* ------------------------------------------------------------ hashing */

/* sha256 (LFS) or git blob sha1 ("blob SIZE\\0" + content) of a file, hex. */
static bool file_hash(const char *path, bool git_sha1, int64_t size, char *hex, size_t hex_len) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, git_sha1 ? EVP_sha1() : EVP_sha256(), NULL);
    if (ok && git_sha1) {
        char hdr[64];
        int n = snprintf(hdr, sizeof hdr, "blob %lld", (long long)size);
        ok = EVP_DigestUpdate(ctx, hdr, (size_t)n + 1);
    }
    static unsigned char buf[1 << 20];
    size_t r;
    while (ok && (r = fread(buf, 1, sizeof buf, f)) > 0) ok = EVP_DigestUpdate(ctx, buf, r);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &ml);
    fclose(f);
    EVP_MD_CTX_free(ctx);
    if (!ok || hex_len < 2 * ml + 1) return false;
    for (unsigned int i = 0; i < ml; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return true;
}

/* The downloaded bytes are the file the hub listed. */
static bool verified(const char *part, const struct hfile *f) {
    char hex[129];
    return file_hash(part, !f->lfs, f->size, hex, sizeof hex) && !strcmp(hex, f->id);
}

/* ------------------------------------------------------------ one file */

struct dl {
    struct puller *pl;
    int fd;
    int64_t offset, total; /* bytes already in the file when the request began; expected size */
    int64_t written;
    bool checked;
    int write_errno;
    const char *name;
    int64_t t0;
};

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t file_write(char *ptr, size_t size, size_t nmemb, void *user) {
    struct dl *d = user;
    size_t n = size * nmemb;
    if (!d->checked) { /* a server that ignores Range answers 200: start over */
        long code = 0;
        curl_easy_getinfo(d->pl->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 400) return n; /* the error body is not the file */
        if (code == 200 && d->offset > 0) {
            if (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) != 0) return 0;
            d->offset = 0;
        }
        d->checked = true;
    }
    long code = 0;
    curl_easy_getinfo(d->pl->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 400) return n;
    for (size_t done = 0; done < n;) {
        ssize_t w = write(d->fd, ptr + done, n - done);
        if (w <= 0) {
            d->write_errno = w < 0 ? errno : ENOSPC;
            return 0;
        }
        done += (size_t)w;
    }
    d->written += (int64_t)n;
    return n;
}

static int xfer_info(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal, (void)ultotal, (void)ulnow;
    struct dl *d = user;
    const struct ig_pull_params *p = d->pl->p;
    if (p->cancel && *p->cancel) return 1;
    if (p->progress) {
        double s = (double)(now_us() - d->t0) / 1e6;
        p->progress(p->user, d->name, d->offset + (int64_t)dlnow, d->total, s > 0 ? (double)dlnow / s : 0);
    }
    return 0;
}


/* ------------------------------------------------------------ parallel chunks */

/* Large files come down as N byte ranges at once, written in place with
 * pwrite into a file of the final size; ID.incomplete.chunks records each
 * range's progress so an interrupted download resumes every range. */
#define N_CHUNKS 4

struct chunk {
    int64_t start, end, done; /* [start, end], bytes written from start */
    int retries;
    struct dl_chunk *ctx;
};

struct dl_chunk {
    struct puller *pl;
    struct chunk *c;
    int fd, write_errno;
    CURL *h;
    bool bad_status;
};

static bool save_chunks(const char *side, const struct chunk *c, int n) {
    char tmp[IG_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", side);
    FILE *f = fopen(tmp, "w");
    if (!f) return false;
    for (int i = 0; i < n; i++) fprintf(f, "%lld %lld %lld\n", (long long)c[i].start, (long long)c[i].end, (long long)c[i].done);
    return fclose(f) == 0 && rename(tmp, side) == 0;
}

static int load_chunks(const char *side, struct chunk *c, int64_t size) {
    FILE *f = fopen(side, "r");
    if (!f) return 0;
    int n = 0;
    long long a, b, d;
    while (n < N_CHUNKS && fscanf(f, "%lld %lld %lld", &a, &b, &d) == 3) {
        if (a < 0 || b < a || b >= size || d < 0 || d > b - a + 1) {
            n = 0;
            break;
        }
        c[n++] = (struct chunk){a, b, d, 0, NULL};
    }
    fclose(f);
    return n;
}

static size_t chunk_write(char *ptr, size_t size, size_t nmemb, void *user) {
    struct dl_chunk *d = user;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &code);
    if (code != 206) { /* an error, or a server that ignores Range: not this range's bytes */
        d->bad_status = true;
        return 0;
    }
    int64_t room = d->c->end - d->c->start + 1 - d->c->done;
    if ((int64_t)n > room) return 0;
    for (size_t w = 0; w < n;) {
        ssize_t r = pwrite(d->fd, ptr + w, n - w, (off_t)(d->c->start + d->c->done + (int64_t)w));
        if (r <= 0) {
            d->write_errno = r < 0 ? errno : ENOSPC;
            return 0;
        }
        w += (size_t)r;
    }
    d->c->done += (int64_t)n;
    return n;
}

static void chunk_start(struct puller *pl, CURLM *m, const char *url, struct dl_chunk *d) {
    char range[64];
    snprintf(range, sizeof range, "%lld-%lld", (long long)(d->c->start + d->c->done), (long long)d->c->end);
    curl_easy_reset(d->h);
    curl_easy_setopt(d->h, CURLOPT_URL, url);
    curl_easy_setopt(d->h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(d->h, CURLOPT_USERAGENT, "ingot/" IG_VERSION);
    curl_easy_setopt(d->h, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(d->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(d->h, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(d->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(d->h, CURLOPT_RANGE, range);
    curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION, chunk_write);
    curl_easy_setopt(d->h, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(d->h, CURLOPT_PRIVATE, d);
    static struct curl_slist *auth_hdr; /* one token per process */
    if (pl->auth[0]) {
        if (!auth_hdr) auth_hdr = curl_slist_append(NULL, pl->auth);
        curl_easy_setopt(d->h, CURLOPT_HTTPHEADER, auth_hdr);
    }
    d->bad_status = false;
    curl_multi_add_handle(m, d->h);
}

/* IG_OK: every range is down. IG_ERR_UNSUPPORTED: the server does not do
 * ranges (fall back to one stream). */
static enum ig_status fetch_chunks(struct puller *pl, const char *url, const struct hfile *f, const char *part,
                                   const char *side) {
    char *err = pl->err;
    size_t err_len = pl->err_len;
    struct chunk c[N_CHUNKS];
    int n = load_chunks(side, c, f->size);
    if (n == 0) { /* fresh: N equal ranges of a file of the final size */
        n = N_CHUNKS;
        int64_t per = (f->size + n - 1) / n;
        for (int i = 0; i < n; i++) c[i] = (struct chunk){i * per, IG_MIN((i + 1) * per, f->size) - 1, 0, 0, NULL};
        int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || ftruncate(fd, (off_t)f->size) != 0) {
            ERR("%s: cannot write: %s", part, strerror(errno));
            if (fd >= 0) close(fd);
            return IG_ERR_IO;
        }
        close(fd);
        if (!save_chunks(side, c, n)) {
            ERR("%s: cannot write", side);
            return IG_ERR_IO;
        }
    }
    int fd = open(part, O_WRONLY);
    if (fd < 0) {
        ERR("%s: cannot write: %s", part, strerror(errno));
        return IG_ERR_IO;
    }
    CURLM *m = curl_multi_init();
    struct dl_chunk d[N_CHUNKS];
    int max_retries = pl->p->max_retries > 0 ? pl->p->max_retries : 5, running = 0;
    for (int i = 0; i < n; i++) {
        d[i] = (struct dl_chunk){pl, &c[i], fd, 0, curl_easy_init(), false};
        if (c[i].done < c[i].end - c[i].start + 1) chunk_start(pl, m, url, &d[i]), running++;
    }
    enum ig_status st = IG_OK;
    int64_t t0 = now_us(), last_save = t0, base = 0;
    for (int i = 0; i < n; i++) base += c[i].done;
    while (running > 0 && st == IG_OK) {
        int still;
        curl_multi_perform(m, &still);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            struct dl_chunk *x;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            long code = 0;
            curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
            curl_multi_remove_handle(m, x->h);
            running--;
            bool complete = x->c->done == x->c->end - x->c->start + 1;
            if (x->write_errno) {
                ERR("%s: writing %s failed: %s%s", f->path, part, strerror(x->write_errno),
                    x->write_errno == ENOSPC ? " (the disk is full: free space and pull again to resume)" : "");
                st = IG_ERR_IO;
            } else if (code == 200) {
                st = IG_ERR_UNSUPPORTED; /* no range support: one stream instead */
            } else if (code == 401 || code == 403) {
                ERR("%s: access denied (HTTP %ld)", f->path, code);
                st = IG_ERR_DENIED;
            } else if (code == 404) {
                ERR("%s: not found on the server (HTTP 404)", f->path);
                st = IG_ERR_NOT_FOUND;
            } else if (!complete) { /* transient: resume this range */
                if (++x->c->retries > max_retries) {
                    ERR("%s: a range failed %d times (%s, HTTP %ld); the partial file is kept: pull again to resume",
                        f->path, x->c->retries, curl_easy_strerror(msg->data.result), code);
                    st = IG_ERR_NETWORK;
                } else {
                    usleep((useconds_t)IG_MIN(100000u << x->c->retries, 4000000u));
                    chunk_start(pl, m, url, x);
                    running++;
                }
            }
        }
        int64_t done = 0, now = now_us();
        for (int i = 0; i < n; i++) done += c[i].done;
        if (pl->p->progress) {
            double s = (double)(now - t0) / 1e6;
            pl->p->progress(pl->p->user, f->path, done, f->size, s > 0 ? (double)(done - base) / s : 0);
        }
        if (now - last_save > 1000000) save_chunks(side, c, n), last_save = now;
        if (pl->p->cancel && *pl->p->cancel) {
            ERR("interrupted: %lld of %lld bytes of %s kept; run the same pull to resume", (long long)done,
                (long long)f->size, f->path);
            st = IG_ERR_INTERRUPTED;
        }
        if (running > 0 && st == IG_OK) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < n; i++) {
        curl_multi_remove_handle(m, d[i].h);
        curl_easy_cleanup(d[i].h);
    }
    curl_multi_cleanup(m);
    close(fd);
    save_chunks(side, c, n);
    return st;
}

static enum ig_status fetch_file(struct puller *pl, const char *repo, const char *commit, const struct hfile *f,
                                 const char *blob, const char *part) {
    char *err = pl->err;
    size_t err_len = pl->err_len;
    char *esc = curl_easy_escape(pl->curl, f->path, 0), url[2048];
    if (!esc) return IG_ERR_NOMEM;
    for (char *s = esc; (s = strstr(s, "%2F"));) { /* keep the path's slashes */
        *s = '/';
        memmove(s + 1, s + 3, strlen(s + 3) + 1);
    }
    snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", pl->endpoint, repo, commit, esc);
    curl_free(esc);
    int max_retries = pl->p->max_retries > 0 ? pl->p->max_retries : 5;
    /* large files: parallel ranges, unless a one-stream partial download is already there */
    const char *cm = getenv("INGOT_PULL_CHUNK_MIN");
    int64_t chunk_min = cm && *cm ? atoll(cm) : (int64_t)64 << 20;
    char side[IG_PATH_MAX];
    snprintf(side, sizeof side, "%s.chunks", part);
    struct stat sp;
    bool have_part = stat(part, &sp) == 0 && sp.st_size > 0, have_side = access(side, F_OK) == 0;
    if (f->size >= chunk_min && f->size >= N_CHUNKS && (!have_part || have_side)) {
        for (int attempt = 0;; attempt++) {
            enum ig_status st = fetch_chunks(pl, url, f, part, side);
            if (st == IG_ERR_UNSUPPORTED) { /* the server ignores ranges */
                unlink(side);
                if (truncate(part, 0) != 0) return IG_ERR_IO;
                break;
            }
            if (st != IG_OK) return st;
            if (verified(part, f)) {
                unlink(side);
                return IG_OK;
            }
            unlink(side); /* wrong bytes somewhere: all again */
            unlink(part);
            if (attempt >= max_retries) {
                ERR("%s: the download does not match its checksum (%s) after %d tries", f->path, f->id, attempt + 1);
                return IG_ERR_NETWORK;
            }
        }
    }
    for (int attempt = 0;; attempt++) {
        int fd = open(part, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0) {
            ERR("%s: cannot write: %s", part, strerror(errno));
            return IG_ERR_IO;
        }
        struct stat st;
        fstat(fd, &st);
        struct dl d = {pl, fd, (int64_t)st.st_size, f->size, 0, false, 0, f->path, now_us()};
        if (d.offset > f->size) { /* longer than the file: start over */
            if (ftruncate(fd, 0) != 0) {
                close(fd);
                return IG_ERR_IO;
            }
            d.offset = 0;
        }
        long code = 0;
        CURLcode rc = CURLE_OK;
        if (d.offset < f->size || f->size == 0) {
            struct curl_slist *h;
            setup(pl, url, &h);
            curl_easy_setopt(pl->curl, CURLOPT_WRITEFUNCTION, file_write);
            curl_easy_setopt(pl->curl, CURLOPT_WRITEDATA, &d);
            curl_easy_setopt(pl->curl, CURLOPT_XFERINFOFUNCTION, xfer_info);
            curl_easy_setopt(pl->curl, CURLOPT_XFERINFODATA, &d);
            curl_easy_setopt(pl->curl, CURLOPT_NOPROGRESS, 0L);
            char range[32];
            snprintf(range, sizeof range, "%lld-", (long long)d.offset);
            /* a plain Range header (not RESUME_FROM, which fails on a 200): a
             * server that ignores it sends the whole file and we start over */
            if (d.offset > 0) curl_easy_setopt(pl->curl, CURLOPT_RANGE, range);
            rc = curl_easy_perform(pl->curl);
            curl_easy_getinfo(pl->curl, CURLINFO_RESPONSE_CODE, &code);
            curl_slist_free_all(h);
        } else {
            code = 206;
        }
        close(fd);
        if (rc == CURLE_ABORTED_BY_CALLBACK && pl->p->cancel && *pl->p->cancel) {
            stat(part, &st);
            ERR("interrupted: %lld of %lld bytes of %s kept; run the same pull to resume", (long long)st.st_size,
                (long long)f->size, f->path);
            return IG_ERR_INTERRUPTED;
        }
        if (d.write_errno) {
            ERR("%s: writing %s failed: %s%s", f->path, part, strerror(d.write_errno),
                d.write_errno == ENOSPC ? " (the disk is full: free space and pull again to resume)" : "");
            return IG_ERR_IO;
        }
        if (code == 401 || code == 403) {
            ERR("%s: access denied (HTTP %ld): gated or private repo; %s", f->path, code,
                pl->auth[0] ? "HF_TOKEN was refused" : "set HF_TOKEN");
            return IG_ERR_DENIED;
        }
        if (code == 404) {
            ERR("%s: not found on the server (HTTP 404)", f->path);
            return IG_ERR_NOT_FOUND;
        }
        bool ok_http = rc == CURLE_OK && (code == 200 || code == 206 || code == 416);
        if (ok_http) {
            stat(part, &st);
            if ((int64_t)st.st_size == f->size) {
                if (verified(part, f)) return IG_OK;
                /* the bytes are wrong: throw them away and fetch again */
                if (truncate(part, 0) != 0) return IG_ERR_IO;
                if (attempt >= max_retries) {
                    ERR("%s: the download does not match its checksum (%s) after %d tries", f->path, f->id,
                        attempt + 1);
                    return IG_ERR_NETWORK;
                }
            } else if ((int64_t)st.st_size > f->size) {
                if (truncate(part, 0) != 0) return IG_ERR_IO;
            }
        }
        if (attempt >= max_retries) {
            if (rc != CURLE_OK) ERR("%s: %s after %d tries (partial file kept; pull again to resume)", f->path,
                                    curl_easy_strerror(rc), attempt + 1);
            else ERR("%s: HTTP %ld after %d tries (partial file kept; pull again to resume)", f->path, code, attempt + 1);
            return IG_ERR_NETWORK;
        }
        usleep((useconds_t)IG_MIN(250000u << attempt, 8000000u)); /* transient: back off and resume */
    }
}

/* snapshots/COMMIT/PATH -> ../../blobs/ID (one more ../ per directory in PATH) */
static bool link_file(const char *rd, const char *commit, const struct hfile *f) {
    char link[IG_PATH_MAX], target[IG_PATH_MAX] = "", dir[IG_PATH_MAX];
    snprintf(link, sizeof link, "%s/snapshots/%s/%s", rd, commit, f->path);
    snprintf(dir, sizeof dir, "%s", link);
    *strrchr(dir, '/') = 0;
    if (!ig_mkdirs(dir, 0755)) return false;
    strcat(target, "../../");
    for (const char *s = f->path; (s = strchr(s, '/')); s++) strcat(target, "../");
    strcat(target, "blobs/");
    strcat(target, f->id);
    unlink(link);
    return symlink(target, link) == 0;
}

static bool want_file(const char *path) {
    static const char *const names[] = {"config.json", "generation_config.json", "tokenizer.json",
                                        "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                                        "model.safetensors.index.json"};
    if (strchr(path, '/')) return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(path, names[i])) return true;
    size_t n = strlen(path);
    return n > 12 && !strcmp(path + n - 12, ".safetensors");
}

enum ig_status ig_store_pull(const char *name, const struct ig_pull_params *pp, char *path, size_t len, char *err,
                             size_t err_len) {
    struct ig_pull_params defaults = {0};
    const struct ig_pull_params *p = pp ? pp : &defaults;
    char repo[256], quant[64], rd[IG_PATH_MAX], url[1024];
    if (!name || !ig_store_spec(name, repo, sizeof repo, quant, sizeof quant)) {
        ERR("'%s' is not a model to pull: give ORG/NAME[:QUANT] or a known alias (ingot pull --help)", name ? name : "");
        return IG_ERR_ARG;
    }
    if (!ig_repo_dir(repo, rd, sizeof rd)) {
        ERR("no cache directory: set HF_HUB_CACHE, HF_HOME or HOME");
        return IG_ERR_IO;
    }
    static bool inited;
    if (!inited) curl_global_init(CURL_GLOBAL_DEFAULT), inited = true;
    struct puller pl = {p, "", "", curl_easy_init(), err, err_len};
    if (!pl.curl) return IG_ERR_NOMEM;
    const char *ep = p->endpoint ? p->endpoint : getenv("HF_ENDPOINT");
    snprintf(pl.endpoint, sizeof pl.endpoint, "%s", ep && *ep ? ep : "https://huggingface.co");
    for (size_t n = strlen(pl.endpoint); n > 0 && pl.endpoint[n - 1] == '/';) pl.endpoint[--n] = 0;
    const char *tok = p->token ? p->token : getenv("HF_TOKEN");
    if (tok && *tok) snprintf(pl.auth, sizeof pl.auth, "Authorization: Bearer %.1000s", tok);

    enum ig_status st = IG_OK;
    struct hfile *files = NULL;
    int nf = 0;
    const char **names = NULL;
    cJSON *info = NULL, *tree = NULL;
    snprintf(url, sizeof url, "%s/api/models/%s", pl.endpoint, repo);
    if (!(info = get_json(&pl, url, repo, &st))) goto done;
    const char *commit = ig_json_str(info, "sha");
    if (!commit || !ig_hex_id_ok(commit, 40)) {
        ERR("%s: the hub's answer has no commit id", repo);
        st = IG_ERR_NETWORK;
        goto done;
    }
    snprintf(url, sizeof url, "%s/api/models/%s/tree/%s?recursive=true", pl.endpoint, repo, commit);
    if (!(tree = get_json(&pl, url, repo, &st))) goto done;
    int cap = cJSON_GetArraySize(tree);
    files = calloc((size_t)cap + 1, sizeof *files);
    names = calloc((size_t)cap + 1, sizeof *names);
    if (!files || !names) {
        st = IG_ERR_NOMEM;
        goto done;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, tree) {
        const char *type = ig_json_str(e, "type"), *fp = ig_json_str(e, "path");
        if (!type || strcmp(type, "file") || !fp) continue;
        if (!ig_repo_path_ok(fp)) {
            ERR("%s: the file list has an unsafe path '%.80s'; refusing it", repo, fp);
            st = IG_ERR_NETWORK;
            goto done;
        }
        const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(e, "lfs");
        const char *id = lfs ? ig_json_str(lfs, "oid") : ig_json_str(e, "oid");
        double size = lfs ? ig_json_num(lfs, "size", -1) : ig_json_num(e, "size", -1);
        if (!id || !ig_hex_id_ok(id, lfs ? 64 : 40) || size < 0) continue; /* cannot verify: skip */
        struct hfile *f = &files[nf];
        f->path = strdup(fp);
        f->size = (int64_t)size;
        f->lfs = lfs != NULL;
        snprintf(f->id, sizeof f->id, "%s", id);
        names[nf++] = f->path;
    }
    /* which files: one GGUF, or what a safetensors folder needs */
    bool *take = calloc((size_t)nf + 1, sizeof *take);
    int k = ig_pick_gguf(names, nf, quant, err, err_len);
    if (k == -2) {
        st = IG_ERR_NOT_FOUND;
        free(take);
        goto done;
    }
    int n_take = 0;
    if (k >= 0) take[k] = true, n_take = 1;
    else if (quant[0]) {
        ERR("%s has no GGUF files, so :%s means nothing; pull %s", repo, quant, repo);
        st = IG_ERR_ARG;
        free(take);
        goto done;
    } else {
        bool weights = false;
        for (int i = 0; i < nf; i++)
            if (want_file(files[i].path)) {
                take[i] = true, n_take++;
                size_t l = strlen(files[i].path);
                weights |= l > 12 && !strcmp(files[i].path + l - 12, ".safetensors");
            }
        if (!weights) {
            ERR("%s has neither GGUF nor .safetensors weights", repo);
            st = IG_ERR_NOT_FOUND;
            free(take);
            goto done;
        }
    }
    char bd[IG_PATH_MAX];
    snprintf(bd, sizeof bd, "%s/blobs", rd);
    if (!ig_mkdirs(bd, 0755)) {
        ERR("%s: cannot create: %s", bd, strerror(errno));
        st = IG_ERR_IO;
        free(take);
        goto done;
    }
    for (int i = 0; i < nf && st == IG_OK; i++) {
        if (!take[i]) continue;
        struct hfile *f = &files[i];
        char blob[IG_PATH_MAX], part[IG_PATH_MAX];
        snprintf(blob, sizeof blob, "%s/%s", bd, f->id);
        snprintf(part, sizeof part, "%s/%s.incomplete", bd, f->id);
        struct stat sb;
        if (!(stat(blob, &sb) == 0 && (int64_t)sb.st_size == f->size)) {
            st = fetch_file(&pl, repo, commit, f, blob, part);
            if (st != IG_OK) break;
            if (rename(part, blob) != 0) {
                ERR("%s: cannot move into place: %s", blob, strerror(errno));
                st = IG_ERR_IO;
                break;
            }
        }
        if (p->progress) p->progress(p->user, f->path, f->size, f->size, 0);
        if (!link_file(rd, commit, f)) {
            ERR("%s: cannot link %s into the snapshot: %s", repo, f->path, strerror(errno));
            st = IG_ERR_IO;
        }
    }
    free(take);
    if (st == IG_OK) { /* refs/main, written whole */
        char ref[IG_PATH_MAX], tmp[IG_PATH_MAX];
        snprintf(ref, sizeof ref, "%s/refs", rd);
        ig_mkdirs(ref, 0755);
        snprintf(ref, sizeof ref, "%s/refs/main", rd);
        snprintf(tmp, sizeof tmp, "%s/refs/main.tmp", rd);
        FILE *rf = fopen(tmp, "w");
        if (!rf || fputs(commit, rf) < 0 || fclose(rf) != 0 || rename(tmp, ref) != 0) {
            ERR("%s: cannot write", ref);
            st = IG_ERR_IO;
        }
        if (st == IG_OK && path) {
            char dir[IG_PATH_MAX];
            snprintf(dir, sizeof dir, "%s/snapshots/%s", rd, commit);
            if (k >= 0) snprintf(path, len, "%s/%s", dir, files[k].path);
            else snprintf(path, len, "%s", dir);
        }
    }
done:
    for (int i = 0; i < nf; i++) free(files[i].path);
    free(files);
    free(names);
    cJSON_Delete(info);
    cJSON_Delete(tree);
    curl_easy_cleanup(pl.curl);
    return st;
}
