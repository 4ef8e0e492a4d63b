/* frame — message reassembly and header codecs for gRPC (see frame.h). */
#include "kubelet/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Takes prefix bytes from *p; once the prefix is whole, checks it and
 * allocates the body. */
static enum kl_frame_rc take_prefix(struct kl_frame_rx *rx, const uint8_t **p, size_t *n)
{
    size_t k = min_size(KL_FRAME_PREFIX - rx->nhdr, *n);
    memcpy(rx->hdr + rx->nhdr, *p, k);
    rx->nhdr += k;
    *p += k;
    *n -= k;
    if (rx->nhdr < KL_FRAME_PREFIX)
        return KL_FRAME_OK;
    if (rx->hdr[0] != 0)
        return KL_FRAME_COMPRESSED;
    rx->len = (size_t)rx->hdr[1] << 24 | (size_t)rx->hdr[2] << 16 | (size_t)rx->hdr[3] << 8 |
              (size_t)rx->hdr[4];
    if (rx->len > rx->cap)
        return KL_FRAME_TOO_BIG;
    rx->buf = xmalloc(rx->len);
    return KL_FRAME_OK;
}

enum kl_frame_rc kl_frame_feed(struct kl_frame_rx *rx, const uint8_t *p, size_t n)
{
    if (n == 0)
        return KL_FRAME_OK;
    if (kl_frame_complete(rx))
        return KL_FRAME_EXTRA;
    if (rx->nhdr < KL_FRAME_PREFIX) {
        enum kl_frame_rc rc = take_prefix(rx, &p, &n);
        if (rc != KL_FRAME_OK || n == 0)
            return rc;
    }
    size_t k = min_size(rx->len - rx->got, n);
    memcpy(rx->buf + rx->got, p, k);
    rx->got += k;
    return k < n ? KL_FRAME_EXTRA : KL_FRAME_OK;
}

bool kl_frame_complete(const struct kl_frame_rx *rx)
{
    return rx->nhdr == KL_FRAME_PREFIX && rx->buf != NULL && rx->got == rx->len;
}

void kl_frame_rx_free(struct kl_frame_rx *rx)
{
    free(rx->buf);
    rx->buf = NULL;
}

void kl_frame_prefix(uint8_t out[KL_FRAME_PREFIX], size_t len)
{
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

char *kl_pct_encode(const char *msg, size_t max_in)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strnlen(msg, max_in);
    char *out = xmalloc(3 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c >= 0x20 && c <= 0x7e && c != '%') {
            out[o++] = (char)c;
            continue;
        }
        out[o++] = '%';
        out[o++] = hex[c >> 4];
        out[o++] = hex[c & 15];
    }
    out[o] = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *kl_pct_decode(const char *v, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = v[i] == '%' && i + 2 < n ? hexval(v[i + 1]) : -1;
        int lo = hi >= 0 ? hexval(v[i + 2]) : -1;
        if (lo >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
            continue;
        }
        out[o++] = v[i];
    }
    out[o] = '\0';
    return out;
}

int kl_grpc_timeout_parse(const char *v, size_t n, uint64_t *ns)
{
    if (n < 2 || n > 9)
        return -EINVAL;
    uint64_t x = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -EINVAL;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    uint64_t mul;
    switch (v[n - 1]) {
    case 'H':
        mul = 3600000000000ull;
        break;
    case 'M':
        mul = 60000000000ull;
        break;
    case 'S':
        mul = 1000000000ull;
        break;
    case 'm':
        mul = 1000000ull;
        break;
    case 'u':
        mul = 1000ull;
        break;
    case 'n':
        mul = 1ull;
        break;
    default:
        return -EINVAL;
    }
    *ns = x > UINT64_MAX / mul ? UINT64_MAX : x * mul;
    return 0;
}
