/* cuda_stub.c - linked when ingot is built without CUDA (-DINGOT_CUDA=OFF). */
#include "backend/backend.h"

const struct ig_backend_ops *ig_cuda_ops(void) { return NULL; }
