/* An ABI-compatible stand-in for libnccl.so.2, used only to check llm.net's bindings on machines without
 * GPUs: the ranks are threads of one process and "device" buffers are host memory. Collectives are
 * enqueued (they return at once) and complete when the stream is synchronised through fakeStreamSync, like
 * the real library; ncclCommAbort releases this rank's pending synchronisation; fakeInjectAsyncError plays a dead peer. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct { char internal[128]; } ncclUniqueId;
typedef int ncclResult_t;

struct group {
    char id[128];
    int nranks, joined, arrived, async_error;
    long generation;
    double sum, results[2]; /* by generation parity: a rank syncs generation g before it joins g+1 */
    pthread_mutex_t m;
    pthread_cond_t c;
    struct group *next;
};

struct comm { int rank, aborted; struct group *g; long pending; double *recv; };
typedef struct comm *ncclComm_t;

static struct group *groups;
static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
static int id_counter;

ncclResult_t ncclGetVersion(int *version) { *version = 22105; return 0; }

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    memset(id, 0, sizeof *id);
    snprintf(id->internal, 64, "fake-%d-%d", (int)getpid(), __sync_add_and_fetch(&id_counter, 1));
    for (int i = 64; i < 128; i++) id->internal[i] = (char)i;
    return 0;
}

ncclResult_t ncclCommInitRank(ncclComm_t *out, int nranks, ncclUniqueId id, int rank) {
    const char *nvls = getenv("NCCL_NVLS_ENABLE");
    if (!nvls || strcmp(nvls, "0") != 0) return 5;              /* multicast must be off */
    for (int i = 64; i < 128; i++) if (id.internal[i] != (char)i) return 4; /* id mangled in transit */
    if (rank < 0 || rank >= nranks) return 4;
    pthread_mutex_lock(&groups_lock);
    struct group *g = groups;
    while (g && memcmp(g->id, id.internal, 128) != 0) g = g->next;
    if (!g) {
        g = calloc(1, sizeof *g);
        memcpy(g->id, id.internal, 128);
        g->nranks = nranks;
        pthread_mutex_init(&g->m, NULL);
        pthread_cond_init(&g->c, NULL);
        g->next = groups;
        groups = g;
    }
    pthread_mutex_unlock(&groups_lock);
    pthread_mutex_lock(&g->m);
    g->joined++;
    pthread_cond_broadcast(&g->c);
    while (g->joined < nranks) pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
    struct comm *c = calloc(1, sizeof *c);
    c->rank = rank; c->g = g; c->pending = -1;
    *out = c;
    return 0;
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, int datatype, int op, ncclComm_t c, void *stream) {
    (void)stream;
    if (count != 1 || datatype != 8 /* ncclFloat64 */ || op != 0 /* ncclSum */) return 5;
    struct group *g = c->g;
    pthread_mutex_lock(&g->m);
    c->pending = g->generation;
    c->recv = recv;
    g->sum += *(const double *)send;
    if (++g->arrived == g->nranks) {
        g->results[g->generation % 2] = g->sum; g->sum = 0; g->arrived = 0; g->generation++;
        pthread_cond_broadcast(&g->c);
    }
    pthread_mutex_unlock(&g->m);
    return 0;
}

/* Stands in for cudaStreamSynchronize: 0 when the pending collective completed, -1 when aborted. */
int fakeStreamSync(ncclComm_t c) {
    struct group *g = c->g;
    pthread_mutex_lock(&g->m);
    while (g->generation <= c->pending && !c->aborted) pthread_cond_wait(&g->c, &g->m);
    int rc = g->generation > c->pending ? 0 : -1;
    if (rc == 0 && c->recv) *c->recv = g->results[c->pending % 2];
    c->pending = -1;
    pthread_mutex_unlock(&g->m);
    return rc;
}

void fakeInjectAsyncError(ncclComm_t c, int code) {
    pthread_mutex_lock(&c->g->m);
    c->g->async_error = code;
    pthread_mutex_unlock(&c->g->m);
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t c, ncclResult_t *err) {
    pthread_mutex_lock(&c->g->m);
    *err = c->g->async_error;
    pthread_mutex_unlock(&c->g->m);
    return 0;
}

ncclResult_t ncclCommAbort(ncclComm_t c) {
    pthread_mutex_lock(&c->g->m);
    c->aborted = 1; /* like NCCL, an abort is local: the other ranks find out for themselves */
    pthread_cond_broadcast(&c->g->c);
    pthread_mutex_unlock(&c->g->m);
    return 0;
}

ncclResult_t ncclCommDestroy(ncclComm_t c) { free(c); return 0; }
ncclResult_t ncclGroupStart(void) { return 0; }
ncclResult_t ncclGroupEnd(void) { return 0; }

ncclResult_t ncclReduceScatter(const void *s, void *r, size_t n, int t, int op, ncclComm_t c, void *st) {
    (void)s; (void)r; (void)n; (void)t; (void)op; (void)c; (void)st; return 5;
}
ncclResult_t ncclAllGather(const void *s, void *r, size_t n, int t, ncclComm_t c, void *st) {
    (void)s; (void)r; (void)n; (void)t; (void)c; (void)st; return 5;
}
ncclResult_t ncclBroadcast(const void *s, void *r, size_t n, int t, int root, ncclComm_t c, void *st) {
    (void)s; (void)r; (void)n; (void)t; (void)root; (void)c; (void)st; return 5;
}

const char *ncclGetErrorString(ncclResult_t r) {
    switch (r) {
    case 0: return "no error";
    case 5: return "fake: invalid usage";
    case 6: return "fake: remote process exited or there was a network error";
    default: return "fake: other error";
    }
}

const char *ncclGetLastError(ncclComm_t c) { (void)c; return "fake detail"; }
