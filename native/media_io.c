/*
 * Batched UDP packet I/O for the media relay (Linux).
 *
 * Node's dgram module costs, per datagram, a libuv callback, a new
 * ArrayBuffer, an rinfo object with an address string, and on send an
 * address lookup, a nextTick and a SendWrap: several microseconds of CPU for
 * a 172-byte RTP packet, more than the kernel's own work. This module keeps
 * the media sockets out of libuv: all of them sit in one epoll set, whose
 * descriptor is the only thing libuv polls. When it is readable, every ready
 * socket is drained with recvmmsg(2) into one shared receive area, and
 * JavaScript is called once for the whole batch; what JavaScript queues for
 * sending meanwhile (descriptors in a shared send area, the payload either
 * still in the receive area, so a relayed packet is never copied, or copied
 * into the send area) is handed to the send queue when the callback returns:
 * copied out, and sent with sendmmsg(2) by a thread of its own (send_queue.h),
 * so that the kernel's send work runs beside the JavaScript of the next batch.
 * A socket with a forwarding rule (fast_path.h) has its plain RTP relayed and
 * captured here without JavaScript; only what the rule cannot handle is
 * delivered.
 *
 * Shared memory (all allocated by JavaScript and handed to init()):
 *   recvData  RECV_SLOTS x SLOT_BYTES            packet bytes, slot i at i * SLOT_BYTES
 *   recvMeta  int32 x RECV_SLOTS x RECV_FIELDS   per packet: fd, length (-1: truncated),
 *                                                family (4|6), port, address (4 words,
 *                                                IPv4 in word 0, network byte order)
 *   sendData  SEND_SLOTS x SLOT_BYTES            copies of packets that are not in recvData
 *   sendMeta  int32 x SEND_SLOTS x SEND_FIELDS   per packet: fd, area (0 recv, 1 send),
 *                                                offset, length, family, port, address (4 words)
 *   control   int32 x CONTROL_FIELDS             see enum control below
 *
 * Exports: init(callback, recvData, recvMeta, sendData, sendMeta, control[, sendThread = true])
 * -> whether a sender thread runs (false: sends are made inline, before flush returns),
 * open(host, port, receiveBufferBytes) -> fd, close(fd), flush(),
 * parseAddress(host, int32Array(5)) -> family, formatAddress(family, a0..a3) -> string,
 * forward(inFd, outFd, host, port, slowPayloadType, captureRequired) -> bool, unforward(inFd),
 * capture(inFd[, payload, index, cursor, baseOffset]) -> bool, forwarded(fd, float64Array(2)).
 * The callback is called as callback(count) with the packets in slots 0..count-1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "fast_path.h"
#include "send_queue.h"

#define RECV_SLOTS 256
#define SEND_SLOTS 256
/* Room per datagram: any audio RTP (L16 48 kHz stereo at 40 ms is 7,692 octets); larger ones are dropped and counted. */
#define SLOT_BYTES 8192
#define RECV_FIELDS 8
#define SEND_FIELDS 10
/* Datagrams taken from one socket per round: fairness between calls. */
#define PER_SOCKET 8
/* Rounds per wake-up, so timers and SIP get their turn under overload. */
#define MAX_ROUNDS 16
#define MAX_EVENTS 512

enum control {
  CTL_SEND_COUNT = 0,   /* descriptors queued in sendMeta (JavaScript increments) */
  CTL_SEND_USED = 1,    /* bytes of sendData in use (JavaScript increments) */
  CTL_SEND_ERRORS = 2,  /* datagrams the kernel refused (e.g. a full send buffer) */
  CTL_TRUNCATED = 3,    /* datagrams longer than SLOT_BYTES, dropped */
  CTL_BATCHES = 4,      /* callbacks made */
  CTL_RECEIVED = 5,     /* datagrams delivered to JavaScript */
  CTL_FORWARDED = 6,    /* datagrams the fast path relayed (fast_path.h) */
  CTL_FIELDS = 8
};

typedef struct {
  napi_env env;
  napi_ref callback;
  napi_ref keep[5];
  napi_async_context async;
  uint8_t *recv_data;
  int32_t *recv_meta;
  uint8_t *send_data;
  int32_t *send_meta;
  int32_t *control;
  int epfd;
  uv_poll_t poll;
  /* A socket was closed during a callback: the rest of the epoll result may name a reused descriptor. */
  int closed_in_batch;
  struct mmsghdr rmsgs[RECV_SLOTS];
  struct iovec riov[RECV_SLOTS];
  struct sockaddr_storage raddr[RECV_SLOTS];
  send_queue *queue;
  forward_table forwards;
  struct epoll_event events[MAX_EVENTS];
} io_state;

static io_state *state;

#define CHECK(env, call)                                   \
  do {                                                     \
    if ((call) != napi_ok) {                               \
      napi_throw_error((env), NULL, "media_io: " #call);   \
      return NULL;                                         \
    }                                                      \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char code[32];
  char message[160];
  snprintf(code, sizeof code, "%s", err == EADDRINUSE ? "EADDRINUSE" : err == EACCES ? "EACCES" : err == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : "EIO");
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, code, message);
  return NULL;
}

/* Hands what JavaScript queued to the send queue (see send_queue.h): copied, so both shared areas
 * are free again when this returns. */
static void flush_sends(io_state *s) {
  int32_t n = s->control[CTL_SEND_COUNT];
  if (n > SEND_SLOTS) n = SEND_SLOTS;
  for (int32_t i = 0; i < n; i++) {
    const int32_t *m = s->send_meta + i * SEND_FIELDS;
    const uint8_t *base = m[1] == 0 ? s->recv_data : s->send_data;
    int32_t offset = m[2], length = m[3];
    int32_t limit = m[1] == 0 ? RECV_SLOTS * SLOT_BYTES : SEND_SLOTS * SLOT_BYTES;
    if (offset < 0 || length < 0 || offset > limit - length) length = 0, offset = 0;
    send_queue_append(s->queue, m[0], base + offset, (size_t)length, m[4], (uint16_t)m[5], &m[6]);
  }
  send_queue_submit(s->queue);
  s->control[CTL_SEND_COUNT] = 0;
  s->control[CTL_SEND_USED] = 0;
}

static void deliver(io_state *s, int32_t count) {
  napi_env env = s->env;
  napi_value cb, recv, argv[1], result;
  s->control[CTL_BATCHES]++;
  s->control[CTL_RECEIVED] += count;
  if (napi_get_reference_value(env, s->callback, &cb) != napi_ok) return;
  napi_get_global(env, &recv); /* napi_make_callback needs an object as receiver */
  napi_create_int32(env, count, &argv[0]);
  napi_status st = napi_make_callback(env, s->async, recv, cb, 1, argv, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  flush_sends(s);
}

/* Describes the datagram read into slot `from` in the metadata of slot `slot` (its data moved there). */
static void fill_meta(io_state *s, int32_t slot, int32_t from, int fd, unsigned len, int flags) {
  int32_t *m = s->recv_meta + slot * RECV_FIELDS;
  m[0] = fd;
  m[1] = (flags & MSG_TRUNC) ? -1 : (int32_t)len;
  if (flags & MSG_TRUNC) s->control[CTL_TRUNCATED]++;
  const struct sockaddr_storage *a = &s->raddr[from];
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
    m[2] = 6;
    m[3] = ntohs(a6->sin6_port);
    memcpy(&m[4], &a6->sin6_addr, 16);
  } else {
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)a;
    m[2] = 4;
    m[3] = ntohs(a4->sin_port);
    memcpy(&m[4], &a4->sin_addr, 4);
    m[5] = m[6] = m[7] = 0;
  }
}

/* Wall-clock milliseconds, whole like Date.now(): the spool's arrival times (spool-format.ts). */
static double wall_clock_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000000);
}

/* Sends what the fast path relayed so far in this round, before JavaScript runs (its latency does
 * not include the batch's), and counts it. */
static void submit_forwarded(io_state *s, int32_t *forwarded) {
  if (*forwarded == 0) return;
  send_queue_submit(s->queue);
  s->control[CTL_FORWARDED] += *forwarded;
  *forwarded = 0;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  io_state *s = (io_state *)handle->data;
  if (status < 0) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  for (int round = 0; round < MAX_ROUNDS; round++) {
    int n = epoll_wait(s->epfd, s->events, MAX_EVENTS, 0);
    if (n <= 0) break;
    int32_t count = 0, forwarded = 0;
    double now_ms = -1;
    /* Another round only if this one may have left datagrams behind; otherwise the
     * next one would be an epoll_wait that finds nothing (a wasted system call per
     * wake-up). Whatever arrives later wakes libuv again: the epoll set is level-triggered. */
    int more = n == MAX_EVENTS;
    for (int e = 0; e < n; e++) {
      int fd = s->events[e].data.fd;
      if (count + PER_SOCKET > RECV_SLOTS) {
        submit_forwarded(s, &forwarded);
        s->closed_in_batch = 0;
        deliver(s, count);
        count = 0;
        if (s->closed_in_batch) {
          more = 1; /* the sockets after this one were not read */
          break;    /* the next epoll_wait names only open sockets */
        }
      }
      for (int j = 0; j < PER_SOCKET; j++) {
        int32_t slot = count + j;
        s->riov[slot].iov_base = s->recv_data + slot * SLOT_BYTES;
        s->riov[slot].iov_len = SLOT_BYTES;
        memset(&s->rmsgs[slot].msg_hdr, 0, sizeof s->rmsgs[slot].msg_hdr);
        s->rmsgs[slot].msg_hdr.msg_iov = &s->riov[slot];
        s->rmsgs[slot].msg_hdr.msg_iovlen = 1;
        s->rmsgs[slot].msg_hdr.msg_name = &s->raddr[slot];
        s->rmsgs[slot].msg_hdr.msg_namelen = sizeof s->raddr[slot];
      }
      int r = recvmmsg(fd, &s->rmsgs[count], PER_SOCKET, MSG_DONTWAIT, NULL);
      if (r <= 0) continue; /* EAGAIN (taken meanwhile) or a reported ICMP error: nothing to read */
      if (r == PER_SOCKET) more = 1;
      forward_rule *rule = fast_path_rule(&s->forwards, fd);
      int32_t kept = count;
      for (int j = 0; j < r; j++) {
        int32_t slot = count + j;
        unsigned len = s->rmsgs[slot].msg_len;
        int flags = s->rmsgs[slot].msg_hdr.msg_flags;
        if (rule != NULL && !(flags & MSG_TRUNC)) {
          if (now_ms < 0) now_ms = wall_clock_ms();
          if (fast_path_forward(rule, s->recv_data + slot * SLOT_BYTES, len, s->queue, now_ms)) {
            forwarded++;
            continue;
          }
          rule = NULL; /* the rest of this read goes to JavaScript too: order kept */
        }
        if (kept != slot && !(flags & MSG_TRUNC)) memcpy(s->recv_data + kept * SLOT_BYTES, s->recv_data + slot * SLOT_BYTES, len);
        fill_meta(s, kept, slot, fd, len, flags);
        kept++;
      }
      count = kept;
    }
    submit_forwarded(s, &forwarded);
    if (count > 0) deliver(s, count);
    if (!more) break;
  }
  napi_close_handle_scope(s->env, scope);
}

static int get_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_ab = false;
  if (napi_is_arraybuffer(env, v, &is_ab) != napi_ok || !is_ab) return 0;
  return napi_get_arraybuffer_info(env, v, data, len) == napi_ok;
}

static napi_value init(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (state != NULL) {
    napi_throw_error(env, NULL, "media_io: already initialised");
    return NULL;
  }
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "media_io.init(callback, recvData, recvMeta, sendData, sendMeta, control[, sendThread])");
    return NULL;
  }
  static const size_t need[5] = {RECV_SLOTS * SLOT_BYTES, RECV_SLOTS * RECV_FIELDS * 4, SEND_SLOTS * SLOT_BYTES,
                                 SEND_SLOTS * SEND_FIELDS * 4, CTL_FIELDS * 4};
  void *areas[5];
  for (int i = 0; i < 5; i++) {
    size_t len = 0;
    if (!get_buffer(env, argv[i + 1], &areas[i], &len) || len < need[i]) {
      napi_throw_type_error(env, NULL, "media_io.init: shared area missing or too small");
      return NULL;
    }
  }
  io_state *s = (io_state *)calloc(1, sizeof *s);
  if (s == NULL) return throw_errno(env, "media_io.init", ENOMEM);
  s->env = env;
  s->recv_data = areas[0];
  s->recv_meta = areas[1];
  s->send_data = areas[2];
  s->send_meta = areas[3];
  s->control = areas[4];
  bool send_thread = true;
  if (argc >= 7) napi_get_value_bool(env, argv[6], &send_thread);
  s->queue = send_queue_create(send_thread, &s->control[CTL_SEND_ERRORS]);
  if (s->queue == NULL) return throw_errno(env, "media_io.init", ENOMEM);
  CHECK(env, napi_create_reference(env, argv[0], 1, &s->callback));
  for (int i = 0; i < 5; i++) CHECK(env, napi_create_reference(env, argv[i + 1], 1, &s->keep[i]));
  napi_value name;
  CHECK(env, napi_create_string_utf8(env, "callrec.media_io", NAPI_AUTO_LENGTH, &name));
  CHECK(env, napi_async_init(env, NULL, name, &s->async));
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->epfd < 0) return throw_errno(env, "epoll_create1", errno);
  uv_loop_t *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  if (uv_poll_init(loop, &s->poll, s->epfd) != 0) return throw_errno(env, "uv_poll_init", EIO);
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  /* The media sockets alone must not keep the process alive (like unref'd timers). */
  uv_unref((uv_handle_t *)&s->poll);
  state = s;
  napi_value threaded;
  CHECK(env, napi_get_boolean(env, send_queue_threaded(s->queue), &threaded));
  return threaded;
}

static int parse_address(const char *host, struct sockaddr_storage *out, int port) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *a4 = (struct sockaddr_in *)out;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    return 4;
  }
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    return 6;
  }
  return 0;
}

/* The address octets (network order) of what parse_address filled in: 4 for IPv4, 16 for IPv6. */
static const void *address_bytes(const struct sockaddr_storage *a, int family) {
  return family == 6 ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr : (const void *)&((const struct sockaddr_in *)a)->sin_addr;
}

static napi_value open_socket(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (state == NULL) {
    napi_throw_error(env, NULL, "media_io: not initialised");
    return NULL;
  }
  char host[64];
  size_t hlen = 0;
  int32_t port = 0, rcvbuf = 0;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hlen) != napi_ok ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok || napi_get_value_int32(env, argv[2], &rcvbuf) != napi_ok) {
    napi_throw_type_error(env, NULL, "media_io.open(host, port, receiveBufferBytes)");
    return NULL;
  }
  struct sockaddr_storage addr;
  int family = parse_address(host, &addr, port);
  if (family == 0) {
    napi_throw_type_error(env, "EINVAL", "media_io.open: host must be an IPv4 or IPv6 address");
    return NULL;
  }
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (family == 6) {
    int only = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only);
  }
  socklen_t alen = family == 6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (bind(fd, (struct sockaddr *)&addr, alen) != 0) {
    int err = errno;
    close(fd);
    char what[96];
    snprintf(what, sizeof what, "bind %s:%d", host, port);
    return throw_errno(env, what, err);
  }
  fast_path_forget(&state->forwards, fd); /* a reused descriptor number starts without rule or counters */
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  if (epoll_ctl(state->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "epoll_ctl", err);
  }
  napi_value result;
  CHECK(env, napi_create_int32(env, fd, &result));
  return result;
}

static napi_value close_socket(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || state == NULL) return NULL;
  /* Sends still queued for this socket go out first: they were accepted before the close. And
   * the sender thread must be done with the descriptor before its number can be reused. */
  if (state->control[CTL_SEND_COUNT] > 0) flush_sends(state);
  send_queue_drain(state->queue);
  epoll_ctl(state->epfd, EPOLL_CTL_DEL, fd, NULL);
  fast_path_forget(&state->forwards, fd);
  close(fd);
  state->closed_in_batch = 1;
  return NULL;
}

static napi_value flush(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  if (state != NULL) flush_sends(state);
  return NULL;
}

static int get_int32(napi_env env, napi_value v, int32_t *out) { return napi_get_value_int32(env, v, out) == napi_ok; }

/* forward(inFd, outFd, host, port, slowPayloadType, captureRequired) -> whether the rule is in place. */
static napi_value forward(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t in_fd = -1, out_fd = -1, port = 0, slow_pt = -1;
  bool capture_required = false;
  char host[64];
  size_t hlen = 0;
  int ok = state != NULL && argc >= 6 && get_int32(env, argv[0], &in_fd) && get_int32(env, argv[1], &out_fd) &&
           napi_get_value_string_utf8(env, argv[2], host, sizeof host, &hlen) == napi_ok && get_int32(env, argv[3], &port) &&
           get_int32(env, argv[4], &slow_pt) && napi_get_value_bool(env, argv[5], &capture_required) == napi_ok;
  struct sockaddr_storage addr;
  int family = ok ? parse_address(host, &addr, port) : 0;
  if (family != 0) {
    ok = fast_path_install(&state->forwards, in_fd, out_fd, family, (uint16_t)port, address_bytes(&addr, family), slow_pt, capture_required) == 0;
  } else {
    ok = 0;
  }
  napi_value result;
  CHECK(env, napi_get_boolean(env, ok, &result));
  return result;
}

/* unforward(inFd): its datagrams go to JavaScript again. */
static napi_value unforward(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (state != NULL && argc >= 1 && get_int32(env, argv[0], &fd)) fast_path_remove(&state->forwards, fd);
  return NULL;
}

static void *typed_array_data(napi_env env, napi_value v, napi_typedarray_type want, size_t *length) {
  napi_typedarray_type type;
  void *data = NULL;
  napi_value ab;
  size_t offset;
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return NULL;
  if (napi_get_typedarray_info(env, v, &type, length, &data, &ab, &offset) != napi_ok || type != want) return NULL;
  return data;
}

/*
 * capture(inFd, payload: Uint8Array, index: Uint8Array, cursor: Int32Array(2), baseOffset) hands the
 * rule a capture area; capture(inFd) takes it back. JavaScript keeps the arrays alive while they
 * are handed over. -> whether the area is in place.
 */
static napi_value capture(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t fd = -1;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int ok = 0;
  forward_rule *r = state != NULL && argc >= 1 && get_int32(env, argv[0], &fd) ? fast_path_rule(&state->forwards, fd) : NULL;
  if (r != NULL) {
    r->has_area = 0;
    size_t payload_len = 0, index_len = 0, cursor_len = 0;
    double base = 0;
    uint8_t *payload = argc >= 5 ? typed_array_data(env, argv[1], napi_uint8_array, &payload_len) : NULL;
    uint8_t *index = payload != NULL ? typed_array_data(env, argv[2], napi_uint8_array, &index_len) : NULL;
    int32_t *cursor = index != NULL ? typed_array_data(env, argv[3], napi_int32_array, &cursor_len) : NULL;
    if (cursor != NULL && cursor_len >= 2 && napi_get_value_double(env, argv[4], &base) == napi_ok && payload_len <= UINT32_MAX) {
      r->area.payload = payload;
      r->area.payload_capacity = (uint32_t)payload_len;
      r->area.index = index;
      r->area.max_records = (uint32_t)(index_len / CAPTURE_RECORD_BYTES);
      r->area.cursor = cursor;
      r->area.base_offset = base;
      r->has_area = 1;
      ok = 1;
    }
  }
  napi_value result;
  CHECK(env, napi_get_boolean(env, ok, &result));
  return result;
}

/* forwarded(fd, out: Float64Array(2)): datagrams and octets received on fd that the fast path relayed. */
static napi_value forwarded(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t len = 0;
  double *out = argc >= 2 ? typed_array_data(env, argv[1], napi_float64_array, &len) : NULL;
  if (out == NULL || len < 2 || !get_int32(env, argv[0], &fd)) return NULL;
  out[0] = out[1] = 0;
  if (state != NULL && fd >= 0 && fd < state->forwards.capacity) {
    out[0] = state->forwards.rules[fd].packets;
    out[1] = state->forwards.rules[fd].octets;
  }
  return NULL;
}

/* parseAddress(host, out: Int32Array(5)) -> 4 | 6 | 0; out = [family, a0, a1, a2, a3] in network byte order. */
static napi_value parse_address_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char host[64];
  size_t hlen = 0, length = 0;
  int family = 0;
  int32_t *out = argc >= 2 ? typed_array_data(env, argv[1], napi_int32_array, &length) : NULL;
  if (out != NULL && length >= 5 && napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hlen) == napi_ok) {
    struct sockaddr_storage a;
    family = parse_address(host, &a, 0);
    memset(out, 0, 5 * sizeof(int32_t));
    out[0] = family;
    if (family != 0) memcpy(&out[1], address_bytes(&a, family), family == 6 ? 16 : 4);
  }
  napi_value result;
  CHECK(env, napi_create_int32(env, family, &result));
  return result;
}

/* formatAddress(family, a0, a1, a2, a3) -> the address as text (inet_ntop). */
static napi_value format_address(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t v[5] = {0, 0, 0, 0, 0};
  for (size_t i = 0; i < argc && i < 5; i++) napi_get_value_int32(env, argv[i], &v[i]);
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(v[0] == 6 ? AF_INET6 : AF_INET, &v[1], text, sizeof text);
  napi_value result;
  CHECK(env, napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result));
  return result;
}

static napi_value constants(napi_env env) {
  napi_value o, v;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  const struct { const char *name; int32_t value; } list[] = {
      {"RECV_SLOTS", RECV_SLOTS}, {"SEND_SLOTS", SEND_SLOTS}, {"SLOT_BYTES", SLOT_BYTES}, {"RECV_FIELDS", RECV_FIELDS},
      {"SEND_FIELDS", SEND_FIELDS}, {"CONTROL_FIELDS", CTL_FIELDS}, {"CTL_SEND_COUNT", CTL_SEND_COUNT},
      {"CTL_SEND_USED", CTL_SEND_USED}, {"CTL_SEND_ERRORS", CTL_SEND_ERRORS}, {"CTL_TRUNCATED", CTL_TRUNCATED},
      {"CTL_BATCHES", CTL_BATCHES}, {"CTL_RECEIVED", CTL_RECEIVED},
      {"CTL_FORWARDED", CTL_FORWARDED}};
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
    napi_create_int32(env, list[i].value, &v);
    napi_set_named_property(env, o, list[i].name, v);
  }
  return o;
}

static napi_value module_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", NULL, init, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, open_socket, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_socket, NULL, NULL, NULL, napi_default, NULL},
      {"flush", NULL, flush, NULL, NULL, NULL, napi_default, NULL},
      {"forward", NULL, forward, NULL, NULL, NULL, napi_default, NULL},
      {"unforward", NULL, unforward, NULL, NULL, NULL, napi_default, NULL},
      {"capture", NULL, capture, NULL, NULL, NULL, napi_default, NULL},
      {"forwarded", NULL, forwarded, NULL, NULL, NULL, napi_default, NULL},
      {"parseAddress", NULL, parse_address_js, NULL, NULL, NULL, napi_default, NULL},
      {"formatAddress", NULL, format_address, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value c = constants(env);
  if (c != NULL) napi_set_named_property(env, exports, "constants", c);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
