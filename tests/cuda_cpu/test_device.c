// Device selection and memory (kernels/ops.c, kernels/cuda/device.cu): parsing [run] device with
// messages that fit this build, and host/device round trips on each usable device.
#include "parity.h"

static void parse(parity *t) {
    agir_err e = {0};
    agir_device d = AGIR_DEV_CUDA;
    parity_check(t, agir_device_parse("cpu", "a.ini:3", &d, &e) == AGIR_OK && d == AGIR_DEV_CPU, "cpu: %s", e.msg);
    agir_err_clear(&e);
    parity_check(t,
                 agir_device_parse("tpu", "a.ini:3", &d, &e) == AGIR_EINPUT && strstr(e.msg, "a.ini:3: ") == e.msg &&
                     strstr(e.msg, "'tpu'") && strstr(e.msg, "hint:"),
                 "tpu: %s", e.msg);
    agir_err_clear(&e);
    int rc = agir_device_parse("cuda", "a.ini:3", &d, &e);
#ifndef AGIR_HAVE_CUDA
    parity_check(t, rc == AGIR_EINPUT && strstr(e.msg, "without CUDA") && strstr(e.msg, "hint:"), "cuda: %s", e.msg);
#else
    if (agir_device_count(AGIR_DEV_CUDA) > 0)
        parity_check(t, rc == AGIR_OK && d == AGIR_DEV_CUDA, "cuda: %s", e.msg);
    else
        parity_check(t, rc == AGIR_EINPUT && strstr(e.msg, "no CUDA device") && strstr(e.msg, "hint:"), "cuda: %s",
                     e.msg);
#endif
    parity_check(t, !strcmp(agir_device_name(AGIR_DEV_CPU), "cpu") && !strcmp(agir_device_name(AGIR_DEV_CUDA), "cuda"),
                 "device names");
}

// Uploads a pattern, downloads it into a fresh buffer and compares; zero-byte copies are no-ops.
static void round_trip(parity *t, const agir_ctx *c) {
    agir_err e = {0};
    enum { N = 4099 };
    unsigned char src[N], back[N];
    for (int i = 0; i < N; i++) src[i] = (unsigned char)(i * 37 + 11);
    memset(back, 0, sizeof back);
    void *d = NULL, *empty = NULL;
    int rc = agir_dev_alloc(c, N, &d, &e);
    rc = rc ? rc : agir_dev_alloc(c, 0, &empty, &e);
    rc = rc ? rc : agir_dev_upload(c, d, src, N, &e);
    rc = rc ? rc : agir_dev_upload(c, empty, src, 0, &e);
    rc = rc ? rc : agir_ctx_sync(c, &e);
    rc = rc ? rc : agir_dev_download(c, back, d, N, &e);
    parity_check(t, rc == AGIR_OK, "%s round trip: %s", agir_device_name(c->dev), e.msg);
    parity_check(t, !memcmp(src, back, N), "%s round trip: bytes differ", agir_device_name(c->dev));
    agir_dev_free(c, d);
    agir_dev_free(c, empty);
}

int main(void) {
    parity t = {0};
    parse(&t);
    agir_err e = {0};
    if (agir_ctx_open(&t.cpu, AGIR_DEV_CPU, &e)) parity_die(&e);
    round_trip(&t, &t.cpu);
#ifdef AGIR_HAVE_CUDA
    if (!t.failures && agir_device_count(AGIR_DEV_CUDA) < 1) {
        printf("SKIPPED: no GPU (CPU checks passed)\n");
        return 77;
    }
    if (agir_ctx_open(&t.cuda, AGIR_DEV_CUDA, &e)) parity_die(&e);
    round_trip(&t, &t.cuda);
#endif
    return parity_close(&t);
}
