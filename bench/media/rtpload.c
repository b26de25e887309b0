/*
 * rtpload: RTP load generator and sink for the callrec media benchmark.
 *
 * One process, one thread. It binds M UDP sockets on 127.0.0.1 (kernel-chosen
 * ports), prints them, then takes commands on stdin:
 *
 *   CLEAR                         forget all flows
 *   FLOW <socket-index> <port> [<tx-key> <rx-key>]
 *                                 a flow: send from socket <socket-index> to
 *                                 127.0.0.1:<port> (flow ids count from 0);
 *                                 with keys (SRTP builds only, see below) the
 *                                 flow is SRTP AES_CM_128_HMAC_SHA1_80
 *   RUN <duration-ms> <drain-ms> <outfile> [<window-from-ms> <window-ms>]
 *                                 every flow sends one 172-byte PCMA RTP packet
 *                                 per ptime (default 20 ms) for duration-ms,
 *                                 the flows' send times spread evenly across the
 *                                 ptime; then it keeps receiving for drain-ms
 *                                 and writes a JSON result to <outfile>
 *   QUIT
 *
 * Output lines on stdout: "PORTS p0 p1 ...", "START" when the first packet of
 * a run is due, "DONE <outfile>" when the result is written, "ERR <text>".
 *
 * Each packet is a 12-byte RTP header (V=2, PT 8, sequence, timestamp += 160,
 * an SSRC per flow) and 160 bytes of payload that start with a magic, the
 * run id, the flow id, a 32-bit sequence and the send time (CLOCK_MONOTONIC
 * ns, taken right before the sendmmsg of its batch); the rest is A-law
 * silence (0xD5). Every bound socket is also a sink: what arrives is matched
 * to its flow by the payload, so loss, duplicates and reordering are counted
 * per flow (a bitmap of sequence numbers), whatever port it arrives on.
 *
 * Latency is receive time minus send time. The receive time is the kernel's
 * SO_TIMESTAMPNS stamp (CLOCK_REALTIME, converted to CLOCK_MONOTONIC with the
 * offset sampled at every loop iteration), so time the packet waits in this
 * process's socket queue is not counted; the time this process read it is
 * reported separately ("appLatencyUs"). "perSecond" has, per second of the
 * run by send time, the packets, those over 5 ms, and the worst latency: a
 * tail from one transient reads differently from one spread over the run.
 * With a window, "windowLatencyUs" is the histogram of the packets sent in
 * it (from window-from-ms after the first packet, for window-ms): the steady
 * state, after every flow's first packets.
 * SO_RXQ_OVFL counts packets the
 * kernel dropped on our own sockets: nonzero means the generator, not the
 * relay, lost them.
 *
 * SRTP (RFC 3711 AES_CM_128_HMAC_SHA1_80, on OpenSSL libcrypto): a keyed
 * flow protects what it sends with <tx-key> and what arrives for it is
 * authenticated, replay-checked and decrypted with <rx-key> (both the
 * 30-octet master key||salt in base64, as in an SDES inline: parameter)
 * before it is counted as above. The packet's flow is found by its SSRC
 * (sent in the clear; every flow has its own, and so its own sending and
 * receiving context). The packet index is ROC || sequence, the ROC
 * estimated from the 16-bit sequence on both sides (RFC 3711 §3.3.1), so a
 * wrap is handled. Session keys are derived once per run (kdr 0). libsrtp2
 * as Debian builds it (on NSS) costs ~10 us a packet, enough to starve the
 * relay on 2 cores; this costs well under 1 us.
 * The send time is written before the batch is protected, so the
 * protection of a batch counts as latency; a baseline run with the same keys
 * (rx-key = tx-key) carries the same cost. Plain flows take none of these
 * paths. Packets that fail authentication or replay checks are counted
 * ("srtp" in the result) and not received.
 *
 * Build: gcc -O2 -o rtpload rtpload.c   (Linux; epoll_pwait2 needs glibc 2.35)
 *   with SRTP: gcc -O2 -DRTPLOAD_SRTP -o rtpload rtpload.c -lcrypto   (libssl-dev)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#ifdef RTPLOAD_SRTP
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA1_Init & co.: HMAC from saved pad states, no per-packet set-up */
#include <openssl/evp.h>
#include <openssl/sha.h>
#endif

#define PKT_LEN 172
#ifdef RTPLOAD_SRTP
#define SRTP_TAG_LEN 10 /* HMAC-SHA1 truncated to 80 bits */
#define PKT_ROOM (PKT_LEN + SRTP_TAG_LEN)
#else
#define PKT_ROOM PKT_LEN
#endif
#define SRTP_KEY_LEN 30 /* AES_CM_128_HMAC_SHA1_80: 16-octet master key + 14-octet salt */
#define RTP_HDR 12
#define MAGIC 0x524c4431u /* "RLD1" */
#define SEND_BATCH_MAX 64
#define RECV_BATCH 64
#define RECV_BUF 2048
/* Latency histogram: 1 us buckets below 65.536 ms, then 1 ms buckets up to ~10 s (last bucket: more). */
#define HIST_FINE 65536
#define HIST_COARSE 10000
#define HIST_MAX_US (HIST_FINE + HIST_COARSE)

typedef struct {
  int sock;              /* index into socks[] */
  struct sockaddr_in dst;
  uint32_t ssrc;
  uint32_t sent;
  uint32_t received;
  uint32_t dups;
  uint32_t reordered;
  int32_t max_seq;
  uint8_t *seen;         /* bitmap, packets_per_flow bits */
} flow_t;

static int nsocks = 4;
static int *socks;
static uint16_t *ports;
static uint32_t *ovfl_last;  /* last SO_RXQ_OVFL value seen per socket */
static uint32_t *ovfl_start; /* value at run start */
static long rcvbuf = 16 << 20;
static int send_batch = 32;
static long tick_us = 200;
static long ptime_ms = 20;

static flow_t *flows;
static int nflows, cap_flows;

static uint64_t *hist_kernel, *hist_app, *hist_window;
static uint64_t window_from_ns, window_to_ns; /* send times (after run_t0) the window histogram takes */
/* Per second of the run (by send time): packets, packets over 5 ms, worst latency (kernel stamp).
 * Shows whether a tail is a transient (all media starting at once) or steady. */
#define TIMELINE_SECONDS 600
static uint64_t run_t0;
static uint64_t tl_packets[TIMELINE_SECONDS], tl_over5[TIMELINE_SECONDS];
static int64_t tl_max[TIMELINE_SECONDS];

#ifdef RTPLOAD_SRTP
/* One direction of one flow: session keys and index state (RFC 3711). */
typedef struct {
  EVP_CIPHER_CTX *aes;        /* AES-128-ECB with the session key: counter blocks -> keystream */
  SHA_CTX hmac_in, hmac_out;  /* SHA-1 states after the HMAC inner and outer pad blocks */
  uint8_t salt[14];           /* session salt */
  int started;
  uint32_t roc;               /* rollover counter */
  uint16_t s_l;               /* highest sequence number seen (with roc) */
  uint64_t top, window;       /* receiver replay window: highest index, bit k = index top - k seen */
} sctx_t;

/* Per flow, beside flows[] (so the plain path's flow_t stays as it is). */
typedef struct {
  int keyed;
  uint8_t tx_key[SRTP_KEY_LEN], rx_key[SRTP_KEY_LEN];
  sctx_t *tx, *rx;       /* made at RUN for the run */
} flow_srtp_t;
static flow_srtp_t *fsrtp;

typedef struct {
  uint64_t protect_errors, auth_failures, replay_failures, no_context, other_errors, unprotected;
} srtp_stats_t;
static srtp_stats_t sst;

enum { SRTP_OK = 0, SRTP_AUTH_FAIL, SRTP_REPLAY_FAIL, SRTP_MALFORMED };

static int b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decodes base64 into exactly `want` octets; 0 on success. */
static int b64_decode(const char *in, uint8_t *out, int want) {
  int n = 0, bits = 0;
  uint32_t acc = 0;
  for (; *in && *in != '='; in++) {
    int v = b64val((unsigned char)*in);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n == want) return -1;
      out[n++] = (uint8_t)(acc >> bits);
    }
  }
  return n == want ? 0 : -1;
}

static EVP_CIPHER_CTX *aes_ecb(const uint8_t *key) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (!c) return NULL;
  if (EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, key, NULL) != 1) {
    EVP_CIPHER_CTX_free(c);
    return NULL;
  }
  EVP_CIPHER_CTX_set_padding(c, 0);
  return c;
}

/* AES-CM keystream: blocks iv, iv+1, ... (the counter in the low 16 bits; iv's are zero). */
static int aes_cm(EVP_CIPHER_CTX *c, const uint8_t iv[16], uint8_t *ks, int nblocks) {
  static uint8_t ctr[RECV_BUF + 16];
  for (int j = 0; j < nblocks; j++) {
    memcpy(ctr + 16 * j, iv, 14);
    ctr[16 * j + 14] = (uint8_t)(j >> 8);
    ctr[16 * j + 15] = (uint8_t)j;
  }
  int outl = 0;
  return EVP_EncryptUpdate(c, ks, &outl, ctr, nblocks * 16) == 1 && outl == nblocks * 16 ? 0 : -1;
}

static void sctx_free(sctx_t *x) {
  if (!x) return;
  EVP_CIPHER_CTX_free(x->aes);
  OPENSSL_cleanse(x, sizeof *x);
  free(x);
}

static void srtp_free_flow(flow_srtp_t *x) {
  sctx_free(x->tx);
  sctx_free(x->rx);
  x->tx = x->rx = NULL;
}

/* Session keys from a master key||salt (RFC 3711 §4.3.1, kdr 0): labels 0 cipher, 1 auth, 2 salt. */
static sctx_t *sctx_new(const uint8_t *master) {
  uint8_t ks[32], ckey[16], akey[20], iv[16], pad[64];
  EVP_CIPHER_CTX *m = aes_ecb(master);
  if (!m) return NULL;
  sctx_t *x = calloc(1, sizeof *x);
  int bad = !x;
  for (int label = 0; label < 3 && !bad; label++) {
    memset(iv, 0, sizeof iv);
    memcpy(iv, master + 16, 14);
    iv[7] ^= (uint8_t)label; /* key_id = label || r (48 bits, 0), right-aligned to the 112-bit salt */
    bad = aes_cm(m, iv, ks, 2);
    if (label == 0) memcpy(ckey, ks, 16);
    else if (label == 1) memcpy(akey, ks, 20);
    else memcpy(x->salt, ks, 14);
  }
  EVP_CIPHER_CTX_free(m);
  if (!bad) bad = !(x->aes = aes_ecb(ckey));
  if (!bad) {
    memset(pad, 0x36, 64);
    for (int i = 0; i < 20; i++) pad[i] ^= akey[i];
    SHA1_Init(&x->hmac_in);
    SHA1_Update(&x->hmac_in, pad, 64);
    memset(pad, 0x5c, 64);
    for (int i = 0; i < 20; i++) pad[i] ^= akey[i];
    SHA1_Init(&x->hmac_out);
    SHA1_Update(&x->hmac_out, pad, 64);
  }
  OPENSSL_cleanse(ks, sizeof ks);
  OPENSSL_cleanse(ckey, sizeof ckey);
  OPENSSL_cleanse(akey, sizeof akey);
  OPENSSL_cleanse(pad, sizeof pad);
  if (bad) {
    sctx_free(x);
    return NULL;
  }
  return x;
}

/* HMAC-SHA1(auth key, p[0..len) || ROC), first 10 octets. */
static void srtp_tag(const sctx_t *x, const uint8_t *p, int len, uint32_t roc, uint8_t out[SRTP_TAG_LEN]) {
  uint8_t r[4] = {(uint8_t)(roc >> 24), (uint8_t)(roc >> 16), (uint8_t)(roc >> 8), (uint8_t)roc}, d[20];
  SHA_CTX c = x->hmac_in;
  SHA1_Update(&c, p, (size_t)len);
  SHA1_Update(&c, r, 4);
  SHA1_Final(d, &c);
  c = x->hmac_out;
  SHA1_Update(&c, d, 20);
  SHA1_Final(d, &c);
  memcpy(out, d, SRTP_TAG_LEN);
}

/* Header length (fixed part, CSRCs, extension), or -1 when `len` cannot hold it. */
static int rtp_header_len(const uint8_t *p, int len) {
  if (len < RTP_HDR || (p[0] >> 6) != 2) return -1;
  int h = RTP_HDR + 4 * (p[0] & 0x0f);
  if (p[0] & 0x10) {
    if (len < h + 4) return -1;
    h += 4 + 4 * ((p[h + 2] << 8) | p[h + 3]);
  }
  return h <= len ? h : -1;
}

/* XORs the payload p[h..h+n) with the AES-CM keystream of this packet index (RFC 3711 §4.1.1). */
static int srtp_crypt(sctx_t *x, uint8_t *p, int h, int n, uint64_t index) {
  static uint8_t ks[RECV_BUF + 16];
  uint8_t iv[16];
  memcpy(iv, x->salt, 14);
  iv[14] = iv[15] = 0;
  for (int i = 0; i < 4; i++) iv[4 + i] ^= p[8 + i];                        /* SSRC * 2^64 */
  for (int i = 0; i < 6; i++) iv[8 + i] ^= (uint8_t)(index >> (40 - 8 * i)); /* index * 2^16 */
  if (aes_cm(x->aes, iv, ks, (n + 15) / 16)) return -1;
  for (int i = 0; i < n; i++) p[h + i] ^= ks[i];
  return 0;
}

/* RFC 3711 §3.3.1: the ROC this sequence number most likely belongs to. */
static uint32_t roc_guess(const sctx_t *x, uint16_t seq) {
  if (!x->started) return x->roc;
  if (x->s_l < 32768) return (int)seq - (int)x->s_l > 32768 ? x->roc - 1 : x->roc;
  return (int)x->s_l - 32768 > (int)seq ? x->roc + 1 : x->roc;
}

static void roc_update(sctx_t *x, uint32_t v, uint16_t seq) {
  if (!x->started) {
    x->started = 1;
    x->roc = v;
    x->s_l = seq;
  } else if (v == x->roc + 1) {
    x->roc = v;
    x->s_l = seq;
  } else if (v == x->roc && seq > x->s_l) {
    x->s_l = seq;
  }
}

/* Protects the RTP packet p[0..*len) in place (room for the tag behind it). */
static int srtp_protect_pkt(sctx_t *x, uint8_t *p, int *len) {
  int h = rtp_header_len(p, *len);
  if (h < 0) return SRTP_MALFORMED;
  uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
  uint32_t v = roc_guess(x, seq);
  roc_update(x, v, seq);
  if (srtp_crypt(x, p, h, *len - h, (uint64_t)v << 16 | seq)) return SRTP_MALFORMED;
  srtp_tag(x, p, *len, v, p + *len);
  *len += SRTP_TAG_LEN;
  return SRTP_OK;
}

/* Authenticates, replay-checks and decrypts the SRTP packet p[0..*len) in place. */
static int srtp_unprotect_pkt(sctx_t *x, uint8_t *p, int *len) {
  int n = *len - SRTP_TAG_LEN;
  int h = rtp_header_len(p, n);
  if (h < 0) return SRTP_MALFORMED;
  uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
  uint32_t v = roc_guess(x, seq);
  uint64_t index = (uint64_t)v << 16 | seq;
  if (x->started && index <= x->top) {
    uint64_t d = x->top - index;
    if (d >= 64 || (x->window >> d & 1)) return SRTP_REPLAY_FAIL;
  }
  uint8_t tag[SRTP_TAG_LEN];
  srtp_tag(x, p, n, v, tag);
  if (CRYPTO_memcmp(tag, p + n, SRTP_TAG_LEN) != 0) return SRTP_AUTH_FAIL;
  if (srtp_crypt(x, p, h, n - h, index)) return SRTP_MALFORMED;
  if (!x->started) {
    x->top = index;
    x->window = 1;
  } else if (index > x->top) {
    uint64_t shift = index - x->top;
    x->window = shift >= 64 ? 1 : (x->window << shift) | 1;
    x->top = index;
  } else {
    x->window |= 1ull << (x->top - index);
  }
  roc_update(x, v, seq);
  *len = n;
  return SRTP_OK;
}
#endif

static uint64_t now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  printf("ERR %s: %s\n", what, strerror(errno));
  fflush(stdout);
  exit(1);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void hist_add(uint64_t *h, int64_t ns) {
  if (ns < 0) ns = 0;
  uint64_t us = (uint64_t)ns / 1000;
  if (us >= HIST_FINE) {
    us = HIST_FINE + (us - HIST_FINE) / 1000;
    if (us >= HIST_MAX_US) us = HIST_MAX_US - 1;
  }
  h[us]++;
}

/* Middle of bucket i in microseconds. */
static double bucket_us(int i) {
  return i < HIST_FINE ? i + 0.5 : HIST_FINE + (double)(i - HIST_FINE) * 1000.0 + 500.0;
}

/* Percentile in microseconds (bucket upper edge minus 0.5 us), -1 when empty. */
static double hist_pct(const uint64_t *h, uint64_t total, double p) {
  if (total == 0) return -1;
  uint64_t want = (uint64_t)(p * (double)total);
  if (want >= total) want = total - 1;
  uint64_t acc = 0;
  for (int i = 0; i < HIST_MAX_US; i++) {
    acc += h[i];
    if (acc > want) return bucket_us(i);
  }
  return bucket_us(HIST_MAX_US - 1);
}

static void hist_json(FILE *f, const char *name, const uint64_t *h) {
  uint64_t total = 0, max = 0;
  double sum = 0;
  for (int i = 0; i < HIST_MAX_US; i++) {
    if (h[i]) { total += h[i]; sum += (double)h[i] * bucket_us(i); max = i; }
  }
  fprintf(f, "  \"%s\": {\"count\": %llu, \"mean\": %.2f, \"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f},\n",
          name, (unsigned long long)total, total ? sum / (double)total : -1.0, hist_pct(h, total, 0.5),
          hist_pct(h, total, 0.9), hist_pct(h, total, 0.99), hist_pct(h, total, 0.999), total ? bucket_us((int)max) + 0.5 : -1.0);
}

static void open_sockets(void) {
  socks = calloc(nsocks, sizeof *socks);
  ports = calloc(nsocks, sizeof *ports);
  ovfl_last = calloc(nsocks, sizeof *ovfl_last);
  ovfl_start = calloc(nsocks, sizeof *ovfl_start);
  for (int i = 0; i < nsocks; i++) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket");
    int v = (int)rcvbuf;
    /* SO_RCVBUFFORCE ignores rmem_max (needs CAP_NET_ADMIN); fall back to SO_RCVBUF. */
    if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0) setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    v = 4 << 20;
    if (setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v) < 0) setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    v = 1;
    setsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &v, sizeof v);
    setsockopt(s, SOL_SOCKET, SO_RXQ_OVFL, &v, sizeof v);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    socks[i] = s;
    ports[i] = ntohs(a.sin_port);
  }
}

static void clear_flows(void) {
  for (int i = 0; i < nflows; i++) {
    free(flows[i].seen);
#ifdef RTPLOAD_SRTP
    srtp_free_flow(&fsrtp[i]);
#endif
  }
  nflows = 0;
}

/* tx_key/rx_key: base64 SRTP keys, or NULL for a plain flow. */
static void add_flow(int sock, int port, const char *tx_key, const char *rx_key) {
  if (sock < 0 || sock >= nsocks || port <= 0 || port > 65535) {
    printf("ERR bad FLOW %d %d\n", sock, port);
    fflush(stdout);
    return;
  }
#ifdef RTPLOAD_SRTP
  uint8_t txk[SRTP_KEY_LEN], rxk[SRTP_KEY_LEN];
  if (tx_key && (b64_decode(tx_key, txk, SRTP_KEY_LEN) || b64_decode(rx_key, rxk, SRTP_KEY_LEN))) {
    printf("ERR bad FLOW key (want %d octets of key and salt in base64)\n", SRTP_KEY_LEN);
    fflush(stdout);
    return;
  }
#else
  if (tx_key) {
    printf("ERR FLOW with keys: this rtpload is built without SRTP (-DRTPLOAD_SRTP -lcrypto)\n");
    fflush(stdout);
    return;
  }
#endif
  if (nflows == cap_flows) {
    cap_flows = cap_flows ? cap_flows * 2 : 1024;
    flows = realloc(flows, (size_t)cap_flows * sizeof *flows);
#ifdef RTPLOAD_SRTP
    fsrtp = realloc(fsrtp, (size_t)cap_flows * sizeof *fsrtp);
#endif
  }
#ifdef RTPLOAD_SRTP
  flow_srtp_t *x = &fsrtp[nflows];
  memset(x, 0, sizeof *x);
  if (tx_key) {
    x->keyed = 1;
    memcpy(x->tx_key, txk, SRTP_KEY_LEN);
    memcpy(x->rx_key, rxk, SRTP_KEY_LEN);
  }
#endif
  flow_t *f = &flows[nflows++];
  memset(f, 0, sizeof *f);
  f->sock = sock;
  f->dst.sin_family = AF_INET;
  f->dst.sin_port = htons((uint16_t)port);
  f->dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Sort key for the send order: flows of one socket next to each other, so batches fill. */
static int by_socket(const void *a, const void *b) {
  const int ia = *(const int *)a, ib = *(const int *)b;
  if (flows[ia].sock != flows[ib].sock) return flows[ia].sock - flows[ib].sock;
  return ia - ib;
}

typedef struct {
  uint32_t run_id;
  uint32_t per_flow;        /* packets each flow sends */
  uint64_t foreign;         /* packets that are not ours or not of this run */
  uint64_t sent_total;
  uint64_t recv_total;
  uint64_t late_sends;      /* sent more than 5 ms after their due time */
  uint64_t max_lag_ns;
  uint64_t sendmmsg_calls, recvmmsg_calls, wakeups;
  uint32_t ssrc_base;       /* flow i sends with SSRC ssrc_base + i */
  int srtp_flows;           /* keyed flows in this run (0: all plain) */
} run_stats_t;

static uint8_t rbufs[RECV_BATCH][RECV_BUF];
static char rctl[RECV_BATCH][128];
static struct mmsghdr rmsgs[RECV_BATCH];
static struct iovec riov[RECV_BATCH];

static void receive_socket(int si, run_stats_t *st, int64_t rt_minus_mono) {
  for (int round = 0; round < 8; round++) {
    for (int i = 0; i < RECV_BATCH; i++) {
      riov[i].iov_base = rbufs[i];
      riov[i].iov_len = RECV_BUF;
      memset(&rmsgs[i].msg_hdr, 0, sizeof rmsgs[i].msg_hdr);
      rmsgs[i].msg_hdr.msg_iov = &riov[i];
      rmsgs[i].msg_hdr.msg_iovlen = 1;
      rmsgs[i].msg_hdr.msg_control = rctl[i];
      rmsgs[i].msg_hdr.msg_controllen = sizeof rctl[i];
    }
    int n = recvmmsg(socks[si], rmsgs, RECV_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    st->recvmmsg_calls++;
    uint64_t app = now_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < n; i++) {
      const uint8_t *p = rbufs[i];
      uint64_t krx = 0;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&rmsgs[i].msg_hdr); c; c = CMSG_NXTHDR(&rmsgs[i].msg_hdr, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SO_TIMESTAMPNS) {
          struct timespec ts;
          memcpy(&ts, CMSG_DATA(c), sizeof ts);
          krx = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        } else if (c->cmsg_type == SO_RXQ_OVFL) {
          uint32_t d;
          memcpy(&d, CMSG_DATA(c), sizeof d);
          ovfl_last[si] = d;
        }
      }
#ifdef RTPLOAD_SRTP
      if (st->srtp_flows && rmsgs[i].msg_len >= RTP_HDR) {
        /* The flow by its SSRC; a keyed flow's packet is authenticated and decrypted in place. */
        uint32_t fid = ((uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11]) - st->ssrc_base;
        if (fid >= (uint32_t)nflows) {
          sst.no_context++; /* no flow of ours has this SSRC: counted as foreign below */
        } else if (fsrtp[fid].rx) {
          int len = (int)rmsgs[i].msg_len;
          int e = srtp_unprotect_pkt(fsrtp[fid].rx, rbufs[i], &len);
          if (e != SRTP_OK) {
            if (e == SRTP_AUTH_FAIL) sst.auth_failures++;
            else if (e == SRTP_REPLAY_FAIL) sst.replay_failures++;
            else sst.other_errors++;
            st->foreign++;
            continue;
          }
          rmsgs[i].msg_len = (unsigned)len;
          sst.unprotected++;
        }
      }
#endif
      if (rmsgs[i].msg_len < RTP_HDR + 24 || get32(p + RTP_HDR) != MAGIC || get32(p + RTP_HDR + 4) != st->run_id) {
        st->foreign++;
        continue;
      }
      uint32_t fid = get32(p + RTP_HDR + 8), seq = get32(p + RTP_HDR + 12);
      uint64_t sent = get64(p + RTP_HDR + 16);
      if (fid >= (uint32_t)nflows || seq >= st->per_flow) {
        st->foreign++;
        continue;
      }
      flow_t *f = &flows[fid];
      uint8_t bit = (uint8_t)(1u << (seq & 7));
      if (f->seen[seq >> 3] & bit) {
        f->dups++;
        continue;
      }
      f->seen[seq >> 3] |= bit;
      f->received++;
      st->recv_total++;
      if ((int32_t)seq < f->max_seq) f->reordered++;
      else f->max_seq = (int32_t)seq;
      int64_t kmono = krx ? (int64_t)krx - rt_minus_mono : (int64_t)app;
      hist_add(hist_kernel, kmono - (int64_t)sent);
      hist_add(hist_app, (int64_t)app - (int64_t)sent);
      if (sent >= run_t0) {
        uint64_t sec = (sent - run_t0) / 1000000000ull;
        int64_t lat = kmono - (int64_t)sent;
        if (sent - run_t0 >= window_from_ns && sent - run_t0 < window_to_ns) hist_add(hist_window, lat);
        if (sec < TIMELINE_SECONDS) {
          tl_packets[sec]++;
          if (lat > 5000000) tl_over5[sec]++;
          if (lat > tl_max[sec]) tl_max[sec] = lat;
        }
      }
    }
    if (n < RECV_BATCH) return;
  }
}

static void run(long duration_ms, long drain_ms, const char *outfile, long window_from_ms, long window_ms) {
  static uint32_t run_counter;
  run_stats_t st;
  memset(&st, 0, sizeof st);
  st.run_id = ((uint32_t)getpid() << 8) ^ ++run_counter;
  if (nflows == 0) {
    printf("ERR no flows\n");
    fflush(stdout);
    return;
  }
  const uint64_t ptime_ns = (uint64_t)ptime_ms * 1000000ull;
  st.per_flow = (uint32_t)((duration_ms + ptime_ms - 1) / ptime_ms);
  for (int i = 0; i < nflows; i++) {
    flow_t *f = &flows[i];
    free(f->seen);
    f->seen = calloc((st.per_flow + 7) / 8, 1);
    f->sent = f->received = f->dups = f->reordered = 0;
    f->max_seq = -1;
    f->ssrc = st.run_id * 2654435761u + (uint32_t)i;
  }
  st.ssrc_base = st.run_id * 2654435761u;
#ifdef RTPLOAD_SRTP
  memset(&sst, 0, sizeof sst);
  for (int i = 0; i < nflows; i++) {
    flow_srtp_t *x = &fsrtp[i];
    srtp_free_flow(x);
    if (!x->keyed) continue;
    if (!(x->tx = sctx_new(x->tx_key)) || !(x->rx = sctx_new(x->rx_key))) {
      printf("ERR cannot make the SRTP contexts of flow %d\n", i);
      fflush(stdout);
      return;
    }
    st.srtp_flows++;
  }
#endif
  memset(hist_kernel, 0, HIST_MAX_US * sizeof *hist_kernel);
  memset(hist_app, 0, HIST_MAX_US * sizeof *hist_app);
  memset(hist_window, 0, HIST_MAX_US * sizeof *hist_window);
  window_from_ns = window_from_ms > 0 ? (uint64_t)window_from_ms * 1000000ull : 0;
  window_to_ns = window_ms > 0 ? window_from_ns + (uint64_t)window_ms * 1000000ull : 0;
  memset(tl_packets, 0, sizeof tl_packets);
  memset(tl_over5, 0, sizeof tl_over5);
  memset(tl_max, 0, sizeof tl_max);
  memcpy(ovfl_start, ovfl_last, (size_t)nsocks * sizeof *ovfl_start);

  int *order = malloc((size_t)nflows * sizeof *order);
  for (int i = 0; i < nflows; i++) order[i] = i;
  qsort(order, (size_t)nflows, sizeof *order, by_socket);
  /* Position k of the send order is due at t0 + round * ptime + k * ptime / nflows. */
  uint64_t *phase = malloc((size_t)nflows * sizeof *phase);
  for (int k = 0; k < nflows; k++) phase[k] = (uint64_t)k * ptime_ns / (uint64_t)nflows;

  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < nsocks; i++) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, socks[i], &ev);
  }
  struct epoll_event events[256];

  static uint8_t sbufs[SEND_BATCH_MAX][PKT_ROOM];
  static struct mmsghdr smsgs[SEND_BATCH_MAX];
  static struct iovec siov[SEND_BATCH_MAX];
  int batch_flow[SEND_BATCH_MAX];
  int nbatch = 0, batch_sock = -1;

  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  const uint64_t wall0 = now_ns(CLOCK_MONOTONIC);
  const uint64_t t0 = wall0 + 20000000ull; /* first packet 20 ms from now */
  run_t0 = t0;
  uint32_t round = 0;
  int cursor = 0;
  int sending = 1;
  uint64_t end_drain = 0;
  uint64_t last_send_wake = 0;
  printf("START\n");
  fflush(stdout);

#ifdef RTPLOAD_SRTP
  /* After the send time is in: protect the keyed flows' packets in place (tag appended). */
#define PROTECT_BATCH()                                                                 \
  do {                                                                                  \
    if (st.srtp_flows) {                                                                \
      for (int b = 0; b < nbatch; b++) {                                                \
        flow_srtp_t *x = &fsrtp[batch_flow[b]];                                         \
        if (!x->tx) continue;                                                           \
        int len = PKT_LEN;                                                              \
        if (srtp_protect_pkt(x->tx, sbufs[b], &len) == SRTP_OK) siov[b].iov_len = (size_t)len; \
        else sst.protect_errors++;                                                      \
      }                                                                                 \
    }                                                                                   \
  } while (0)
#else
#define PROTECT_BATCH() do {} while (0)
#endif

#define FLUSH_BATCH()                                                                   \
  do {                                                                                  \
    if (nbatch > 0) {                                                                   \
      uint64_t ts = now_ns(CLOCK_MONOTONIC);                                            \
      for (int b = 0; b < nbatch; b++) put64(sbufs[b] + RTP_HDR + 16, ts);              \
      PROTECT_BATCH();                                                                  \
      int done = 0;                                                                     \
      while (done < nbatch) {                                                           \
        int r = sendmmsg(socks[batch_sock], smsgs + done, (unsigned)(nbatch - done), 0); \
        st.sendmmsg_calls++;                                                            \
        if (r < 0) {                                                                    \
          if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) continue;         \
          done++; /* e.g. ECONNREFUSED from an ICMP error: skip this message */         \
          continue;                                                                     \
        }                                                                               \
        for (int b = done; b < done + r; b++) flows[batch_flow[b]].sent++;              \
        st.sent_total += (uint64_t)r;                                                   \
        done += r;                                                                      \
      }                                                                                 \
      nbatch = 0;                                                                       \
    }                                                                                   \
  } while (0)

  for (;;) {
    uint64_t mono = now_ns(CLOCK_MONOTONIC);
    int64_t rt_minus_mono = (int64_t)now_ns(CLOCK_REALTIME) - (int64_t)mono;
    st.wakeups++;
    if (sending && mono >= t0 && mono >= last_send_wake + (uint64_t)tick_us * 1000ull) {
      last_send_wake = mono;
      for (;;) {
        uint64_t due = t0 + (uint64_t)round * ptime_ns + phase[cursor];
        if (due > mono) break;
        int fi = order[cursor];
        flow_t *f = &flows[fi];
        uint64_t lag = mono - due;
        if (lag > st.max_lag_ns) st.max_lag_ns = lag;
        if (lag > 5000000ull) st.late_sends++;
        if (f->sock != batch_sock || nbatch == send_batch) {
          FLUSH_BATCH();
          batch_sock = f->sock;
        }
        uint8_t *p = sbufs[nbatch];
        uint32_t seq = round;
        p[0] = 0x80;
        p[1] = (uint8_t)(8 | (seq == 0 ? 0x80 : 0)); /* PT 8 PCMA, marker on the first packet */
        p[2] = (uint8_t)(seq >> 8);
        p[3] = (uint8_t)seq;
        uint32_t ts = seq * 160u;
        p[4] = (uint8_t)(ts >> 24); p[5] = (uint8_t)(ts >> 16); p[6] = (uint8_t)(ts >> 8); p[7] = (uint8_t)ts;
        uint32_t ssrc = f->ssrc;
        p[8] = (uint8_t)(ssrc >> 24); p[9] = (uint8_t)(ssrc >> 16); p[10] = (uint8_t)(ssrc >> 8); p[11] = (uint8_t)ssrc;
        put32(p + RTP_HDR, MAGIC);
        put32(p + RTP_HDR + 4, st.run_id);
        put32(p + RTP_HDR + 8, (uint32_t)fi);
        put32(p + RTP_HDR + 12, seq);
        memset(p + RTP_HDR + 24, 0xD5, PKT_LEN - RTP_HDR - 24);
        siov[nbatch].iov_base = p;
        siov[nbatch].iov_len = PKT_LEN;
        memset(&smsgs[nbatch].msg_hdr, 0, sizeof smsgs[nbatch].msg_hdr);
        smsgs[nbatch].msg_hdr.msg_name = &f->dst;
        smsgs[nbatch].msg_hdr.msg_namelen = sizeof f->dst;
        smsgs[nbatch].msg_hdr.msg_iov = &siov[nbatch];
        smsgs[nbatch].msg_hdr.msg_iovlen = 1;
        batch_flow[nbatch] = fi;
        nbatch++;
        if (++cursor == nflows) {
          cursor = 0;
          if (++round >= st.per_flow) {
            sending = 0;
            break;
          }
        }
      }
      FLUSH_BATCH();
      if (!sending) end_drain = now_ns(CLOCK_MONOTONIC) + (uint64_t)drain_ms * 1000000ull;
    }
    mono = now_ns(CLOCK_MONOTONIC);
    if (!sending && mono >= end_drain) break;
    /* Sleep until the next send is due (at least one tick after the last send wake-up). */
    uint64_t wake;
    if (sending) {
      uint64_t due = t0 + (uint64_t)round * ptime_ns + phase[cursor];
      uint64_t tick = last_send_wake + (uint64_t)tick_us * 1000ull;
      wake = due > tick ? due : tick;
    } else {
      wake = end_drain;
    }
    struct timespec to = {0, 0};
    if (wake > mono) {
      uint64_t d = wake - mono;
      to.tv_sec = (time_t)(d / 1000000000ull);
      to.tv_nsec = (long)(d % 1000000000ull);
    }
    int n = epoll_pwait2(ep, events, 256, &to, NULL);
    if (n < 0 && errno != EINTR) die("epoll_pwait2");
    for (int i = 0; i < n; i++) receive_socket((int)events[i].data.u32, &st, rt_minus_mono);
  }
#undef FLUSH_BATCH
#undef PROTECT_BATCH
  const uint64_t wall1 = now_ns(CLOCK_MONOTONIC);
  getrusage(RUSAGE_SELF, &ru1);
  close(ep);

  uint64_t lost = 0, dups = 0, reordered = 0, flows_with_loss = 0, max_flow_lost = 0, own_drops = 0;
  for (int i = 0; i < nflows; i++) {
    flow_t *f = &flows[i];
    uint64_t l = f->sent - f->received;
    lost += l;
    dups += f->dups;
    reordered += f->reordered;
    if (l) flows_with_loss++;
    if (l > max_flow_lost) max_flow_lost = l;
  }
  for (int i = 0; i < nsocks; i++) own_drops += (uint32_t)(ovfl_last[i] - ovfl_start[i]);

  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%.4000s.tmp", outfile);
  FILE *o = fopen(tmp, "w");
  if (!o) {
    printf("ERR cannot write %s: %s\n", tmp, strerror(errno));
    fflush(stdout);
    free(order);
    free(phase);
    return;
  }
  double ucpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1e3 + (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e3;
  double scpu = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e3 + (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e3;
  fprintf(o, "{\n");
  fprintf(o, "  \"runId\": %u,\n  \"flows\": %d,\n  \"sockets\": %d,\n  \"ptimeMs\": %ld,\n  \"durationMs\": %ld,\n  \"drainMs\": %ld,\n",
          st.run_id, nflows, nsocks, ptime_ms, duration_ms, drain_ms);
  fprintf(o, "  \"packetsPerFlow\": %u,\n  \"sent\": %llu,\n  \"received\": %llu,\n  \"lost\": %llu,\n  \"lossRatio\": %.9f,\n",
          st.per_flow, (unsigned long long)st.sent_total, (unsigned long long)st.recv_total, (unsigned long long)lost,
          st.sent_total ? (double)lost / (double)st.sent_total : 0.0);
  fprintf(o, "  \"duplicates\": %llu,\n  \"reordered\": %llu,\n  \"foreign\": %llu,\n  \"flowsWithLoss\": %llu,\n  \"maxLostInOneFlow\": %llu,\n",
          (unsigned long long)dups, (unsigned long long)reordered, (unsigned long long)st.foreign,
          (unsigned long long)flows_with_loss, (unsigned long long)max_flow_lost);
  fprintf(o, "  \"generatorSocketDrops\": %llu,\n", (unsigned long long)own_drops);
#ifdef RTPLOAD_SRTP
  if (st.srtp_flows)
    fprintf(o, "  \"srtp\": {\"flows\": %d, \"unprotected\": %llu, \"protectErrors\": %llu, \"authFailures\": %llu, "
               "\"replayFailures\": %llu, \"noContext\": %llu, \"otherErrors\": %llu},\n",
            st.srtp_flows, (unsigned long long)sst.unprotected, (unsigned long long)sst.protect_errors,
            (unsigned long long)sst.auth_failures, (unsigned long long)sst.replay_failures,
            (unsigned long long)sst.no_context, (unsigned long long)sst.other_errors);
#endif
  hist_json(o, "latencyUs", hist_kernel);
  hist_json(o, "appLatencyUs", hist_app);
  if (window_to_ns > 0) hist_json(o, "windowLatencyUs", hist_window);
  int seconds = 0;
  for (int i = 0; i < TIMELINE_SECONDS; i++)
    if (tl_packets[i]) seconds = i + 1;
  fprintf(o, "  \"perSecond\": {\"packets\": [");
  for (int i = 0; i < seconds; i++) fprintf(o, "%s%llu", i ? "," : "", (unsigned long long)tl_packets[i]);
  fprintf(o, "], \"over5ms\": [");
  for (int i = 0; i < seconds; i++) fprintf(o, "%s%llu", i ? "," : "", (unsigned long long)tl_over5[i]);
  fprintf(o, "], \"maxUs\": [");
  for (int i = 0; i < seconds; i++) fprintf(o, "%s%.0f", i ? "," : "", (double)tl_max[i] / 1e3);
  fprintf(o, "]},\n");
  fprintf(o, "  \"sendLagMaxUs\": %.1f,\n  \"lateSends\": %llu,\n", (double)st.max_lag_ns / 1e3, (unsigned long long)st.late_sends);
  fprintf(o, "  \"syscalls\": {\"sendmmsg\": %llu, \"recvmmsg\": %llu, \"wakeups\": %llu},\n",
          (unsigned long long)st.sendmmsg_calls, (unsigned long long)st.recvmmsg_calls, (unsigned long long)st.wakeups);
  fprintf(o, "  \"wallMs\": %.1f,\n  \"cpuMs\": {\"user\": %.1f, \"system\": %.1f}\n}\n", (double)(wall1 - wall0) / 1e6, ucpu, scpu);
  fclose(o);
  rename(tmp, outfile);
  free(order);
  free(phase);
  printf("DONE %s\n", outfile);
  fflush(stdout);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--sockets") && v) nsocks = atoi(argv[++i]);
    else if (!strcmp(a, "--rcvbuf") && v) rcvbuf = atol(argv[++i]);
    else if (!strcmp(a, "--batch") && v) send_batch = atoi(argv[++i]);
    else if (!strcmp(a, "--tick-us") && v) tick_us = atol(argv[++i]);
    else if (!strcmp(a, "--ptime-ms") && v) ptime_ms = atol(argv[++i]);
    else {
      fprintf(stderr, "usage: rtpload [--sockets M] [--rcvbuf BYTES] [--batch N] [--tick-us US] [--ptime-ms MS]\n");
      return 2;
    }
  }
  if (nsocks < 1 || send_batch < 1 || send_batch > SEND_BATCH_MAX || ptime_ms < 1 || tick_us < 0) {
    fprintf(stderr, "rtpload: bad option value\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  hist_kernel = calloc(HIST_MAX_US, sizeof *hist_kernel);
  hist_app = calloc(HIST_MAX_US, sizeof *hist_app);
  hist_window = calloc(HIST_MAX_US, sizeof *hist_window);
  open_sockets();
  printf("PORTS");
  for (int i = 0; i < nsocks; i++) printf(" %u", ports[i]);
  printf("\n");
  fflush(stdout);

  char line[8192];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[16], out[4096], k1[128], k2[128];
    int a1, a2, nf;
    long d1, d2;
    if (sscanf(line, "%15s", cmd) != 1) continue;
    if (!strcmp(cmd, "FLOW") && (nf = sscanf(line, "FLOW %d %d %127s %127s", &a1, &a2, k1, k2)) >= 2 && nf != 3)
      add_flow(a1, a2, nf == 4 ? k1 : NULL, nf == 4 ? k2 : NULL);
    else if (!strcmp(cmd, "CLEAR")) clear_flows();
    else if (!strcmp(cmd, "RUN") && sscanf(line, "RUN %ld %ld %4095s", &d1, &d2, out) == 3) {
      long from = 0, len = 0;
      sscanf(line, "RUN %*d %*d %*s %ld %ld", &from, &len);
      run(d1, d2, out, from, len);
    }
    else if (!strcmp(cmd, "QUIT")) break;
    else {
      printf("ERR unknown command\n");
      fflush(stdout);
    }
  }
  return 0;
}
