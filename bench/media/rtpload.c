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
 *   RUN <duration-ms> <drain-ms> <outfile>
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
 * reported separately ("appLatencyUs"). SO_RXQ_OVFL counts packets the
 * kernel dropped on our own sockets: nonzero means the generator, not the
 * relay, lost them.
 *
 * SRTP (RFC 3711, libsrtp2): a keyed flow protects what it sends with
 * <tx-key> and what arrives for it is authenticated and decrypted with
 * <rx-key> (both the 30-octet master key||salt in base64, as in an SDES
 * inline: parameter) before it is counted as above. The packet's flow is
 * found by its SSRC (sent in the clear; every flow has its own, and so its
 * own sending and receiving context); the packet index (ROC and sequence)
 * is libsrtp's, estimated from the 16-bit sequence, so a wrap is handled.
 * The send time is written before the batch is protected, so the
 * protection of a batch counts as latency; a baseline run with the same keys
 * (rx-key = tx-key) carries the same cost. Plain flows take none of these
 * paths. Packets that fail authentication or replay checks are counted
 * ("srtp" in the result) and not received.
 *
 * Build: gcc -O2 -o rtpload rtpload.c   (Linux; epoll_pwait2 needs glibc 2.35)
 *   with SRTP: gcc -O2 -DRTPLOAD_SRTP -o rtpload rtpload.c -lsrtp2   (libsrtp2-dev)
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
#include <srtp2/srtp.h>
#endif

#define PKT_LEN 172
#ifdef RTPLOAD_SRTP
#define PKT_ROOM (PKT_LEN + SRTP_MAX_TRAILER_LEN)
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

static uint64_t *hist_kernel, *hist_app;

#ifdef RTPLOAD_SRTP
/* Per flow, beside flows[] (so the plain path's flow_t stays as it is). */
typedef struct {
  int keyed;
  uint8_t tx_key[SRTP_KEY_LEN], rx_key[SRTP_KEY_LEN];
  srtp_t tx, rx;         /* made at RUN for the run's SSRC */
} flow_srtp_t;
static flow_srtp_t *fsrtp;

typedef struct {
  uint64_t protect_errors, auth_failures, replay_failures, no_context, other_errors, unprotected;
} srtp_stats_t;
static srtp_stats_t sst;

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

static void srtp_free_flow(flow_srtp_t *x) {
  if (x->tx) srtp_dealloc(x->tx);
  if (x->rx) srtp_dealloc(x->rx);
  x->tx = x->rx = NULL;
}

static int srtp_make(srtp_t *ctx, const uint8_t *key, uint32_t ssrc) {
  srtp_policy_t pol;
  memset(&pol, 0, sizeof pol);
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
  pol.ssrc.type = ssrc_specific;
  pol.ssrc.value = ssrc;
  pol.key = (unsigned char *)key;
  pol.window_size = 1024;
  pol.next = NULL;
  return srtp_create(ctx, &pol) == srtp_err_status_ok ? 0 : -1;
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
    printf("ERR FLOW with keys: this rtpload is built without SRTP (-DRTPLOAD_SRTP -lsrtp2)\n");
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
        if (fid < (uint32_t)nflows && fsrtp[fid].rx) {
          int len = (int)rmsgs[i].msg_len;
          srtp_err_status_t e = srtp_unprotect(fsrtp[fid].rx, rbufs[i], &len);
          if (e != srtp_err_status_ok) {
            if (e == srtp_err_status_auth_fail) sst.auth_failures++;
            else if (e == srtp_err_status_replay_fail || e == srtp_err_status_replay_old) sst.replay_failures++;
            else if (e == srtp_err_status_no_ctx) sst.no_context++;
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
    }
    if (n < RECV_BATCH) return;
  }
}

static void run(long duration_ms, long drain_ms, const char *outfile) {
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
    if (srtp_make(&x->tx, x->tx_key, flows[i].ssrc) || srtp_make(&x->rx, x->rx_key, flows[i].ssrc)) {
      printf("ERR cannot make the SRTP contexts of flow %d\n", i);
      fflush(stdout);
      return;
    }
    st.srtp_flows++;
  }
#endif
  memset(hist_kernel, 0, HIST_MAX_US * sizeof *hist_kernel);
  memset(hist_app, 0, HIST_MAX_US * sizeof *hist_app);
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
        if (srtp_protect(x->tx, sbufs[b], &len) == srtp_err_status_ok) siov[b].iov_len = (size_t)len; \
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
#ifdef RTPLOAD_SRTP
  if (srtp_init() != srtp_err_status_ok) {
    printf("ERR srtp_init failed\n");
    fflush(stdout);
    return 1;
  }
#endif
  hist_kernel = calloc(HIST_MAX_US, sizeof *hist_kernel);
  hist_app = calloc(HIST_MAX_US, sizeof *hist_app);
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
    else if (!strcmp(cmd, "RUN") && sscanf(line, "RUN %ld %ld %4095s", &d1, &d2, out) == 3) run(d1, d2, out);
    else if (!strcmp(cmd, "QUIT")) break;
    else {
      printf("ERR unknown command\n");
      fflush(stdout);
    }
  }
  return 0;
}
