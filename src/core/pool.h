/* pool.h - a persistent thread pool for the forward step: threads are made
 * once per context and woken per parallel region, never spawned per op. */
#ifndef IG_POOL_H
#define IG_POOL_H

#include "util.h"

struct ig_pool;

/* fn(arg, ith, nth) runs on every thread; ith in [0, nth). */
typedef void (*ig_pool_fn)(void *arg, int ith, int nth);

/* n_threads total, including the caller. NULL on failure. */
struct ig_pool *ig_pool_create(int n_threads);
void ig_pool_free(struct ig_pool *p);
int ig_pool_n_threads(const struct ig_pool *p);
/* Run fn on all threads and wait for all of them. */
void ig_pool_run(struct ig_pool *p, ig_pool_fn fn, void *arg);
/* Memory read bandwidth in GB/s with the pool's threads streaming disjoint
 * slices of a fresh buffer of `bytes`: best of 10 passes; 0 on failure
 * (membw.c; ig_measure_read_bandwidth makes a pool for it). */
double ig_pool_read_bandwidth(struct ig_pool *p, size_t bytes);

#endif
