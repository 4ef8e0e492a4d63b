/* frame — the pure parts of gRPC over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md):
 * reassembly of one Length-Prefixed-Message from DATA chunks whose boundaries
 * have nothing to do with message boundaries, the 5-byte prefix of an answer,
 * percent-encoding of grpc-message, and the grpc-timeout header.
 *
 * No I/O, no logging; everything here is fed bytes and bounded by a cap.
 * Threads: none of it shares state. */
#ifndef SLICER_KUBELET_FRAME_H
#define SLICER_KUBELET_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define KL_FRAME_PREFIX 5 /* compressed flag (1 byte) + big-endian length (4 bytes) */

/* What kl_frame_feed found wrong; KL_FRAME_OK otherwise. */
enum kl_frame_rc {
    KL_FRAME_OK = 0,
    KL_FRAME_TOO_BIG,    /* the prefix announces more than the cap */
    KL_FRAME_COMPRESSED, /* compressed flag set: we never offer an encoding */
    KL_FRAME_EXTRA,      /* bytes after the first message: a unary call has one */
};

/* One unary request message being reassembled. Zero-initialise, set `cap`
 * (the largest message accepted, prefix excluded), feed, then free. */
struct kl_frame_rx {
    size_t cap;
    uint8_t hdr[KL_FRAME_PREFIX];
    size_t nhdr;  /* prefix bytes seen */
    uint8_t *buf; /* the message, allocated once the prefix is complete */
    size_t len;   /* announced length */
    size_t got;   /* message bytes seen */
};

/* Appends n bytes of the stream. Returns KL_FRAME_OK or the first problem;
 * after a problem the reassembler keeps its state and must not be fed again. */
enum kl_frame_rc kl_frame_feed(struct kl_frame_rx *rx, const uint8_t *p, size_t n);

/* True once one whole message (prefix and body) has been fed. */
bool kl_frame_complete(const struct kl_frame_rx *rx);

/* Releases the buffer; the reassembler may be reused after zeroing. */
void kl_frame_rx_free(struct kl_frame_rx *rx);

/* Writes the prefix of an uncompressed message of `len` bytes (len < 2^32). */
void kl_frame_prefix(uint8_t out[KL_FRAME_PREFIX], size_t len);

/* The grpc-message value for `msg`: bytes outside 0x20..0x7e and '%' become
 * %XX (uppercase hex), as PROTOCOL-HTTP2.md asks. At most `max_in` bytes of
 * msg are encoded (a long message is cut, not refused). Returns a heap string
 * the caller frees. */
char *kl_pct_encode(const char *msg, size_t max_in);

/* Decodes a percent-encoded grpc-message (the inverse, lenient: a bad escape
 * is kept as is). Returns a heap string the caller frees. For tests and
 * clients. */
char *kl_pct_decode(const char *v, size_t n);

/* Parses a grpc-timeout value: 1 to 8 ASCII digits and a unit among
 * H M S m u n. Stores nanoseconds (saturating) in *ns; returns 0, or
 * -EINVAL on a malformed value. */
int kl_grpc_timeout_parse(const char *v, size_t n, uint64_t *ns) WARN_UNUSED;

#endif
