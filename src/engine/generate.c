/* generate.c - ig_generate: the pick-decode loop of one sequence, pipelined
 * for a greedy sampler on a backend that picks on the device.
 *
 * Plain: pick (ig_sample) -> on_token -> decode, the device idle from the
 * end of one step until the host has read the pick and queued the next
 * (on a GPU a round trip of tens of microseconds per token). Pipelined: the
 * step that decodes pick k is queued, fed on the device with the pick of
 * the step before it, before the host reads pick k; while the device runs
 * it the host reads the pick, calls on_token and queues the step after. */
#include "engine/ctx.h"
#include "engine/sampler.h"

#include <stdlib.h>
#include <string.h>

/* INGOT_PIPELINE: 0 never, 1 wherever the backend can pick (the CPU too:
 * tests), unset where its ops queue work (a GPU) */
static bool pipeline_wanted(const struct ig_backend_ops *ops) {
    const char *e = getenv("INGOT_PIPELINE");
    return e && *e ? strcmp(e, "0") != 0 : ops->queues;
}

/* the pick buffers, once per context; false if the backend has no pick_feed
 * or no memory for them */
static bool pick_buffers(struct ig_ctx *c) {
    struct ig_backend *be = c->be;
    const struct ig_backend_ops *ops = be->ops;
    if (!ops->pick_feed || !ops->pick_wait) return false;
    if (c->d_pick) return true;
    int32_t *d = ops->alloc(be, 2 * sizeof(int32_t)), *h = ops->host_alloc(be, sizeof(int32_t));
    void *scr = ops->alloc(be, ops->topk_scratch ? ops->topk_scratch(be, 1, c->m->hp.n_vocab, 1) : 1);
    if (!d || !h || !scr) {
        if (d) ops->free(be, d);
        if (h) ops->host_free(be, h);
        if (scr) ops->free(be, scr);
        return false;
    }
    c->d_pick = d, c->h_pick = h, c->pick_scratch = scr;
    return true;
}

int32_t ig_generate(struct ig_ctx *c, int32_t row, int32_t seq, int32_t pos, int32_t n_max, struct ig_sampler *s,
                    ig_token_fn on_token, void *user) {
    if (!c || !s || !on_token || row < 0 || row >= c->n_logits || seq < 0 || seq >= c->n_seq_max || pos < 0)
        return -IG_ERR_ARG;
    ig_seq_drop(c, seq, pos);
    bool pipe = ig_sampler_greedy(s) && pipeline_wanted(c->be->ops) && pick_buffers(c);
    int32_t n = 0;
    while (n_max < 0 || n < n_max) {
        bool last = n_max >= 0 && n + 1 >= n_max; /* this pick is not decoded */
        /* queue the step of the pick before reading it (a full context: the
         * plain way, whose decode then fails once the pick is accepted) */
        ig_token zero = 0;
        struct ig_batch fb = {1, &zero, &pos, &seq, NULL};
        bool queued = pipe && !last && ig_decode_step(c, &fb, row) == IG_OK;
        ig_token t;
        if (queued) {
            c->be->ops->pick_wait(c->be);
            t = *c->h_pick;
        } else t = ig_sample(c, row, s);
        ig_sampler_accept(s, t);
        n++;
        if (!on_token(t, user) || last) {
            if (queued) {
                ig_seq_drop(c, seq, pos); /* the step of the refused pick */
                c->n_logits = 0;
            }
            break;
        }
        if (!queued) {
            struct ig_batch b = {1, &t, &pos, &seq, NULL};
            enum ig_status st = ig_decode(c, &b);
            if (st != IG_OK) return -(int32_t)st;
        }
        pos++;
        row = 0;
    }
    return n;
}
