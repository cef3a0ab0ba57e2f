/* hf_folder.h - a Hugging Face model folder (config.json, *.safetensors,
 * tokenizer.json, tokenizer_config.json, generation_config.json) seen as an
 * in-memory GGUF: metadata translated to GGUF keys, tensors renamed to GGUF
 * names and pointing into the mmapped safetensors files (no copy, no
 * conversion). model.c, `show` and `convert` then read one format. */
#ifndef IG_HF_FOLDER_H
#define IG_HF_FOLDER_H

#include "format/gguf.h"

/* True when path is a directory holding config.json. */
bool ig_hf_is_folder(const char *path);
enum ig_status ig_hf_open(const char *dir, struct ig_gguf **out, char *err, size_t err_len);

#endif
