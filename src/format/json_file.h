/* json_file.h - small helpers over cJSON for the JSON files of a Hugging Face
 * model folder (config.json, tokenizer.json, ...). */
#ifndef IG_JSON_FILE_H
#define IG_JSON_FILE_H

#include "core/util.h"

#include <cjson/cJSON.h>

/* The whole file at path, NUL-terminated (len without the NUL). Missing
 * file: NULL with *missing = true (when missing is non-NULL) and no error. */
char *ig_read_file(const char *path, size_t *len, bool *missing, char *err, size_t err_len);
/* Parse the file at path. Missing file: NULL with *missing = true (when
 * missing is non-NULL) and no error; unreadable or invalid JSON: NULL with err. */
cJSON *ig_json_read(const char *path, bool *missing, char *err, size_t err_len);
/* Typed member lookups; def when absent or of another type. */
const char *ig_json_str(const cJSON *o, const char *key);
double ig_json_num(const cJSON *o, const char *key, double def);
bool ig_json_bool(const cJSON *o, const char *key, bool def);
/* A token given as "text" or {"content": "text"} (tokenizer_config.json). */
const char *ig_json_token_text(const cJSON *o, const char *key);
/* dir + "/" + name into buf; false when it does not fit. */
bool ig_path_join(char *buf, size_t len, const char *dir, const char *name);

#endif
