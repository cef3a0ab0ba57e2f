/* store.h - the model store's insides: the Hugging Face hub cache layout
 * (models--ORG--NAME/{blobs,refs,snapshots}), name checks that keep every
 * path inside the cache, and ingot's own config directory. */
#ifndef IG_STORE_H
#define IG_STORE_H

#include "core/util.h"

#include <sys/types.h>

#define IG_PATH_MAX 4096

/* $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
bool ig_hub_dir(char *buf, size_t len);
/* $INGOT_HOME, else ~/.ingot (created on demand by writers). */
bool ig_ingot_home(char *buf, size_t len);

/* ORG/NAME with each part [A-Za-z0-9._-], not starting with '.', no "..". */
bool ig_repo_id_ok(const char *repo);
/* A file path inside a repo: relative, no "..", no "." or empty components,
 * no backslashes or control characters. */
bool ig_repo_path_ok(const char *path);
/* A 40-hex commit or a 40/64-hex blob id. */
bool ig_hex_id_ok(const char *s, size_t want_len);

/* <hub>/models--ORG--NAME */
bool ig_repo_dir(const char *repo, char *buf, size_t len);
/* The commit refs/main points to, or the only snapshot; false if none. */
bool ig_repo_snapshot(const char *repo, char *commit, size_t commit_len, char *dir, size_t dir_len);

/* mkdir -p */
bool ig_mkdirs(const char *path, mode_t mode);

#endif
