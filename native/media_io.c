/*
 * Batched UDP packet I/O for the media relay (Linux).
 *
 * Node's dgram module costs, per datagram, a libuv callback, a new
 * ArrayBuffer, an rinfo object with an address string, and on send an
 * address lookup, a nextTick and a SendWrap: several microseconds of CPU for
 * a 172-byte RTP packet, more than the kernel's own work. This module keeps
 * the media sockets out of libuv: all of them sit in one epoll set, read by a
 * thread of the engine's own (the reader) when init asks for one, else on the
 * event loop (callrec's default; see the end of this comment, and
 * select-media-io.ts for why). It drains every ready socket with
 * recvmmsg(2) into a ring. A socket with a forwarding rule (fast_path.h) has
 * its plain RTP relayed (sendmmsg(2), by the reader itself) and captured at
 * once, so the relay's latency depends neither on JavaScript nor on the
 * garbage collector. What the rule cannot handle, and every datagram of a
 * socket without one, stays in the ring; the reader wakes the event loop
 * (uv_async), which copies up to RECV_SLOTS of them into one shared receive
 * area and calls JavaScript once for the batch. What JavaScript queues for
 * sending meanwhile (descriptors in a shared send area, the payload either
 * still in the receive area, so a relayed packet is never copied, or copied
 * into the send area) is handed to the send queue when the callback returns:
 * copied out, and sent with sendmmsg(2) by a thread of its own (send_queue.h),
 * so that the kernel's send work runs beside the JavaScript of the next batch.
 *
 * Order: while any datagram of a socket waits for JavaScript, the socket is
 * not read (it leaves the reader's epoll interest; its later datagrams wait
 * in the kernel), and once JavaScript has had them, its sends are drained
 * before the socket is read again; nothing JavaScript relays or records is
 * overtaken by the fast path. Everything the two threads share (rules, capture
 * areas, the ring, which descriptors are media sockets) is under one mutex,
 * taken per socket read by the reader and per call by JavaScript; a socket is
 * closed only between the reader's rounds, so its number cannot be reused
 * under a read or send in flight.
 *
 * Without the reader (init's readerThread false, or it could not start),
 * libuv polls the epoll set and the same reading runs on the event loop.
 *
 * Shared memory (all allocated by JavaScript and handed to init()):
 *   recvData  RECV_SLOTS x SLOT_BYTES            packet bytes, slot i at i * SLOT_BYTES
 *   recvMeta  int32 x RECV_SLOTS x RECV_FIELDS   per packet: fd, length (-1: truncated),
 *                                                family (4|6), port, address (4 words,
 *                                                IPv4 in word 0, network byte order),
 *                                                relayed (1: the fast path relayed it; a
 *                                                rule's report of its first source)
 *   sendData  SEND_SLOTS x SLOT_BYTES            copies of packets that are not in recvData
 *   sendMeta  int32 x SEND_SLOTS x SEND_FIELDS   per packet: fd, area (0 recv, 1 send),
 *                                                offset, length, family, port, address (4 words)
 *   control   int32 x CONTROL_FIELDS             see enum control below
 *
 * Exports: init(callback, recvData, recvMeta, sendData, sendMeta, control[, sendThread = true[, readerThread = true]])
 * -> {sendThread, readerThread}: which threads run (no sender: sends are made inline, before flush
 * returns; no reader: sockets are read on the event loop),
 * open(host, port, receiveBufferBytes) -> fd, close(fd), flush(),
 * parseAddress(host, int32Array(5)) -> family, formatAddress(family, a0..a3) -> string,
 * forward(inFd, outFd, host, port, slowPayloadType, captureRequired[, notifySource]) -> bool, unforward(inFd),
 * capture(inFd[, payload, index, cursor, baseOffset]) -> bool, forwarded(fd, float64Array(2)).
 * The callback is called as callback(count) with the packets in slots 0..count-1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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
#define RECV_FIELDS 9
#define SEND_FIELDS 10
/* Datagrams taken from one socket per read: fairness between calls. */
#define PER_SOCKET 8
/* Delivery rounds per wake-up of the event loop, so timers and SIP get their turn under overload. */
#define MAX_ROUNDS 16
#define MAX_EVENTS 512
/* Datagrams read and waiting for JavaScript (a power of two): 5 ms of every packet at 1,000 calls
 * when all of them go to JavaScript (the reader waits when it is full); the fast path leaves it
 * nearly empty. */
#define RING_SLOTS 1024

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

/* A datagram read and kept for JavaScript (its bytes in the ring's slot of the same number). */
typedef struct {
  int32_t fd;
  uint32_t generation;
  uint32_t length;
  int truncated;
  /* Already relayed (and captured) by the fast path: JavaScript only learns its source. */
  int relayed;
} ring_entry;

/* What the engine knows of a descriptor, by number: whether it is a media socket now, which one
 * (a closed number may be reused), and how many of its datagrams wait for JavaScript. */
typedef struct {
  int open;
  uint32_t generation;
  int32_t waiting;
  /* Taken out of the reader's epoll interest until JavaScript has had what waits (see read_round). */
  int paused;
} socket_info;

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
  /* JavaScript's sends (flush_sends), from the event-loop thread only. */
  send_queue *queue;

  /* Everything below is shared with the reading thread and guarded by `lock`. */
  pthread_mutex_t lock;
  forward_table forwards;
  socket_info *sockets;
  int socket_capacity;
  /* The ring: entries head .. head+count-1 (mod RING_SLOTS) wait for JavaScript. */
  uint8_t *ring_data;
  ring_entry ring[RING_SLOTS];
  struct sockaddr_storage ring_addr[RING_SLOTS];
  uint32_t head, count;
  /* The reader is between epoll_wait calls: reading, forwarding, sending (close waits for its end). */
  int in_round;
  pthread_cond_t round_done;
  pthread_cond_t room; /* the ring has room again */
  int stopping;

  /* The reader's own (the event-loop thread's when there is no reading thread). */
  int threaded;
  pthread_t reader;
  int wake_fd;          /* eventfd in the epoll set: tells the reading thread to stop */
  send_queue *fast_queue; /* what the fast path relays: sent by the reader itself */
  uv_async_t ready;     /* the reading thread kept datagrams for JavaScript */
  uv_poll_t poll;       /* no reading thread: libuv polls the epoll set */
  struct mmsghdr rmsgs[PER_SOCKET];
  struct iovec riov[PER_SOCKET];
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

static void count_up(int32_t *counter, int32_t n) { __atomic_fetch_add(counter, n, __ATOMIC_RELAXED); }

/* The descriptor's entry, grown on demand (under lock); NULL when out of memory. */
static socket_info *socket_slot(io_state *s, int fd) {
  if (fd < 0) return NULL;
  if (fd >= s->socket_capacity) {
    int capacity = s->socket_capacity == 0 ? 1024 : s->socket_capacity;
    while (capacity <= fd) capacity *= 2;
    socket_info *grown = realloc(s->sockets, (size_t)capacity * sizeof *grown);
    if (grown == NULL) return NULL;
    memset(grown + s->socket_capacity, 0, (size_t)(capacity - s->socket_capacity) * sizeof *grown);
    s->sockets = grown;
    s->socket_capacity = capacity;
  }
  return &s->sockets[fd];
}

/* The entry of an open media socket (under lock), or NULL. */
static socket_info *open_socket_info(io_state *s, int fd) {
  return fd >= 0 && fd < s->socket_capacity && s->sockets[fd].open ? &s->sockets[fd] : NULL;
}

/* The descriptor stops being a media socket (under lock): no rule, and what it read and JavaScript
 * has not had yet is dropped (its number may be reused at once). */
static void forget_socket(io_state *s, int fd) {
  socket_info *info = open_socket_info(s, fd);
  if (info == NULL) return;
  fast_path_forget(&s->forwards, fd);
  info->open = 0;
  info->generation++;
  info->waiting = 0;
  info->paused = 0;
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

/* Describes a datagram kept in the ring in the metadata of receive slot `slot`. */
static void fill_meta(io_state *s, int32_t slot, const ring_entry *e, const struct sockaddr_storage *a) {
  int32_t *m = s->recv_meta + slot * RECV_FIELDS;
  m[0] = e->fd;
  m[1] = e->truncated ? -1 : (int32_t)e->length;
  m[8] = e->relayed;
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

/*
 * Reads up to PER_SOCKET datagrams of one socket into the ring's free slots (under lock). Those
 * its rule relays are sent through `q` and their slots reused; the others are kept, in order, for
 * JavaScript. Returns the number read (PER_SOCKET: there may be more).
 */
static int read_socket(io_state *s, int fd, send_queue *q, double *now_ms, int32_t *forwarded) {
  socket_info *info = open_socket_info(s, fd);
  if (info == NULL) return 0; /* closed after epoll_wait named it */
  uint32_t tail = s->head + s->count;
  for (int j = 0; j < PER_SOCKET; j++) {
    uint32_t slot = (tail + j) & (RING_SLOTS - 1);
    s->riov[j].iov_base = s->ring_data + (size_t)slot * SLOT_BYTES;
    s->riov[j].iov_len = SLOT_BYTES;
    memset(&s->rmsgs[j].msg_hdr, 0, sizeof s->rmsgs[j].msg_hdr);
    s->rmsgs[j].msg_hdr.msg_iov = &s->riov[j];
    s->rmsgs[j].msg_hdr.msg_iovlen = 1;
    s->rmsgs[j].msg_hdr.msg_name = &s->ring_addr[slot];
    s->rmsgs[j].msg_hdr.msg_namelen = sizeof s->ring_addr[slot];
  }
  int r = recvmmsg(fd, s->rmsgs, PER_SOCKET, MSG_DONTWAIT, NULL);
  if (r <= 0) return 0; /* EAGAIN (taken meanwhile) or a reported ICMP error: nothing to read */
  forward_rule *rule = fast_path_rule(&s->forwards, fd); /* nothing of this socket waits (read_round) */
  uint32_t kept = 0;
  int32_t waiting = 0;
  for (int j = 0; j < r; j++) {
    uint32_t slot = (tail + j) & (RING_SLOTS - 1);
    uint8_t *data = s->ring_data + (size_t)slot * SLOT_BYTES;
    unsigned len = s->rmsgs[j].msg_len;
    int truncated = (s->rmsgs[j].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    int relayed = 0;
    if (rule != NULL && !truncated) {
      if (*now_ms < 0) *now_ms = wall_clock_ms();
      if (fast_path_forward(rule, data, len, q, *now_ms)) {
        (*forwarded)++;
        if (!rule->notify_source) continue;
        rule->notify_source = 0; /* the first one: JavaScript latches its source */
        relayed = 1;
      } else {
        rule = NULL; /* the rest of this read goes to JavaScript too: order kept */
      }
    }
    uint32_t to = (tail + kept) & (RING_SLOTS - 1);
    if (to != slot) {
      if (!truncated) memcpy(s->ring_data + (size_t)to * SLOT_BYTES, data, len);
      s->ring_addr[to] = s->ring_addr[slot];
    }
    if (truncated) count_up(&s->control[CTL_TRUNCATED], 1);
    s->ring[to] = (ring_entry){.fd = fd, .generation = info->generation, .length = len, .truncated = truncated, .relayed = relayed};
    kept++;
    /* A report of a relayed datagram has no order to keep: the socket is read on meanwhile. */
    if (!relayed) waiting++;
  }
  s->count += kept;
  info->waiting += waiting;
  return r;
}

/*
 * One pass over what epoll_wait reported: every ready socket read once. Ends early when the ring
 * has no room for another read (JavaScript must take some first). Returns 1 if datagrams may have
 * been left behind (another pass is worth it), and sets *kept when some wait for JavaScript.
 */
static int read_round(io_state *s, int n, int *kept) {
  int32_t forwarded = 0;
  double now_ms = -1;
  int more = n == MAX_EVENTS;
  for (int e = 0; e < n; e++) {
    int fd = s->events[e].data.fd;
    if (fd == s->wake_fd) continue;
    pthread_mutex_lock(&s->lock);
    if (RING_SLOTS - s->count < PER_SOCKET) {
      pthread_mutex_unlock(&s->lock);
      more = 1;
      break;
    }
    socket_info *info = open_socket_info(s, fd);
    if (info != NULL && info->waiting > 0) {
      /* Datagrams of this socket still wait for JavaScript: later ones stay in the kernel until
       * it has had them (then the socket is read again, see drain_ring). Reading them now would
       * only queue them behind, in order, for JavaScript too; left in the kernel, they find the
       * rule JavaScript is about to install (a call's first packet latches and sets it up). */
      if (!info->paused) {
        struct epoll_event ev = {.events = 0, .data.fd = fd};
        if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) info->paused = 1;
      }
      pthread_mutex_unlock(&s->lock);
      continue;
    }
    uint32_t before = s->count;
    if (read_socket(s, fd, s->fast_queue, &now_ms, &forwarded) == PER_SOCKET) more = 1;
    if (s->count != before) *kept = 1;
    pthread_mutex_unlock(&s->lock);
  }
  /* Sent before anything else runs: the relay's latency does not include JavaScript's. */
  if (forwarded > 0) {
    send_queue_submit(s->fast_queue);
    count_up(&s->control[CTL_FORWARDED], forwarded);
  }
  return more;
}

/* Whether any of the n entries from `head` that JavaScript handled came from a socket with a rule. */
static int handled_ruled_socket(io_state *s, uint32_t head, uint32_t n) {
  int ruled = 0;
  pthread_mutex_lock(&s->lock);
  for (uint32_t i = 0; i < n && !ruled; i++) {
    const ring_entry *e = &s->ring[(head + i) & (RING_SLOTS - 1)];
    ruled = !e->relayed && fast_path_rule(&s->forwards, e->fd) != NULL;
  }
  pthread_mutex_unlock(&s->lock);
  return ruled;
}

/*
 * Hands the datagrams kept in the ring to JavaScript, RECV_SLOTS at a time (event-loop thread).
 * A datagram of a socket closed meanwhile is dropped (its descriptor number may name another
 * socket by now). Once JavaScript has handled them, the sockets' later datagrams may take the fast
 * path again; JavaScript's sends go out first, so none is overtaken. Returns whether some are left.
 */
static int drain_ring(io_state *s) {
  for (int round = 0; round < MAX_ROUNDS; round++) {
    pthread_mutex_lock(&s->lock);
    uint32_t head = s->head, n = s->count < RECV_SLOTS ? s->count : RECV_SLOTS;
    pthread_mutex_unlock(&s->lock);
    if (n == 0) return 0;
    /* The reader only writes free slots and only this thread opens and closes sockets, so the
     * entries can be read without the lock. */
    int32_t count = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t slot = (head + i) & (RING_SLOTS - 1);
      const ring_entry *e = &s->ring[slot];
      const socket_info *info = open_socket_info(s, e->fd);
      if (info == NULL || info->generation != e->generation) continue;
      if (!e->truncated) memcpy(s->recv_data + (size_t)count * SLOT_BYTES, s->ring_data + (size_t)slot * SLOT_BYTES, e->length);
      fill_meta(s, count, e, &s->ring_addr[slot]);
      count++;
    }
    if (count > 0) deliver(s, count);
    /* The reader sends what it relays itself: JavaScript's sends for a socket with a rule go out
     * before it reads the socket again. (Without the reader, one queue keeps them in order.) */
    if (s->threaded && handled_ruled_socket(s, head, n)) send_queue_drain(s->queue);
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < n; i++) {
      const ring_entry *e = &s->ring[(head + i) & (RING_SLOTS - 1)];
      socket_info *info = open_socket_info(s, e->fd);
      if (e->relayed || info == NULL || info->generation != e->generation || info->waiting == 0) continue;
      if (--info->waiting == 0 && info->paused) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = e->fd};
        epoll_ctl(s->epfd, EPOLL_CTL_MOD, e->fd, &ev);
        info->paused = 0;
      }
    }
    s->head = (head + n) & (RING_SLOTS - 1);
    s->count -= n;
    pthread_cond_signal(&s->room);
    pthread_mutex_unlock(&s->lock);
  }
  pthread_mutex_lock(&s->lock);
  int left = s->count > 0;
  pthread_mutex_unlock(&s->lock);
  return left;
}

/* fn(s) inside a handle scope (N-API values made by deliver() are released with it); 0 if none opens. */
static int with_scope(io_state *s, int (*fn)(io_state *)) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return 0;
  int result = fn(s);
  napi_close_handle_scope(s->env, scope);
  return result;
}

/* The reading thread kept datagrams: deliver them; if more are left, come back after other events. */
static void on_ready(uv_async_t *handle) {
  io_state *s = (io_state *)handle->data;
  if (with_scope(s, drain_ring)) uv_async_send(&s->ready);
}

/*
 * The reading thread: reads every ready socket, relays and records what the fast path takes, and
 * leaves the rest for JavaScript, which it wakes. The relay's latency then depends neither on
 * the garbage collector nor on what JavaScript does in the meantime (call set-up, a first
 * packet's latching, writing the spool), only on this thread being scheduled.
 */
static void *reader_main(void *arg) {
  io_state *s = (io_state *)arg;
  pthread_setname_np(pthread_self(), "media-read"); /* as top -H and ps -L show it */
  for (;;) {
    pthread_mutex_lock(&s->lock);
    while (RING_SLOTS - s->count < PER_SOCKET && !s->stopping) pthread_cond_wait(&s->room, &s->lock);
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    if (stopping) break;
    int n = epoll_wait(s->epfd, s->events, MAX_EVENTS, -1);
    if (n < 0 && errno != EINTR) break;
    pthread_mutex_lock(&s->lock);
    stopping = s->stopping;
    s->in_round = !stopping;
    pthread_mutex_unlock(&s->lock);
    if (stopping) break;
    int kept = 0;
    if (n > 0) read_round(s, n, &kept);
    pthread_mutex_lock(&s->lock);
    s->in_round = 0;
    pthread_cond_broadcast(&s->round_done);
    pthread_mutex_unlock(&s->lock);
    if (kept) uv_async_send(&s->ready);
  }
  return NULL;
}

/* Without a reading thread: libuv reports the epoll set readable; read, relay, deliver. */
static int read_and_deliver(io_state *s) {
  for (int round = 0; round < MAX_ROUNDS; round++) {
    int n = epoll_wait(s->epfd, s->events, MAX_EVENTS, 0);
    if (n <= 0) break;
    int kept = 0, more = read_round(s, n, &kept);
    if (kept) drain_ring(s);
    /* Otherwise the next pass would be an epoll_wait that finds nothing (a wasted system call per
     * wake-up); what arrives later wakes libuv again: the epoll set is level-triggered. */
    if (!more) break;
  }
  return 0;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  if (status < 0) return;
  with_scope((io_state *)handle->data, read_and_deliver);
}

/* Environment teardown: the reading thread stops before the loop and the module go away. */
static void stop_reader(void *arg) {
  io_state *s = (io_state *)arg;
  if (!s->threaded) return;
  pthread_mutex_lock(&s->lock);
  s->stopping = 1;
  pthread_cond_broadcast(&s->room);
  pthread_mutex_unlock(&s->lock);
  uint64_t one = 1;
  if (write(s->wake_fd, &one, sizeof one) < 0) { /* the thread also stops at its next wake-up */ }
  pthread_join(s->reader, NULL);
  s->threaded = 0;
}

static int get_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_ab = false;
  if (napi_is_arraybuffer(env, v, &is_ab) != napi_ok || !is_ab) return 0;
  return napi_get_arraybuffer_info(env, v, data, len) == napi_ok;
}

/* Starts the reading thread; 0 if it could not be started (libuv then polls the epoll set). */
static int start_reader(io_state *s) {
  s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->wake_fd < 0) return 0;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = s->wake_fd};
  s->fast_queue = send_queue_create(0, &s->control[CTL_SEND_ERRORS]);
  if (s->fast_queue == NULL || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wake_fd, &ev) != 0 ||
      pthread_create(&s->reader, NULL, reader_main, s) != 0) {
    close(s->wake_fd);
    s->wake_fd = -1;
    s->fast_queue = NULL; /* a few KiB left behind on a path that does not happen */
    return 0;
  }
  return 1;
}

/* init(callback, recvData, recvMeta, sendData, sendMeta, control[, sendThread[, readerThread]]) */
static napi_value init(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (state != NULL) {
    napi_throw_error(env, NULL, "media_io: already initialised");
    return NULL;
  }
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "media_io.init(callback, recvData, recvMeta, sendData, sendMeta, control[, sendThread[, readerThread]])");
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
  s->ring_data = malloc((size_t)RING_SLOTS * SLOT_BYTES);
  if (s->ring_data == NULL) {
    free(s);
    return throw_errno(env, "media_io.init", ENOMEM);
  }
  s->env = env;
  s->recv_data = areas[0];
  s->recv_meta = areas[1];
  s->send_data = areas[2];
  s->send_meta = areas[3];
  s->control = areas[4];
  s->wake_fd = -1;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->round_done, NULL);
  pthread_cond_init(&s->room, NULL);
  bool send_thread = true, reader_thread = true;
  if (argc >= 7) napi_get_value_bool(env, argv[6], &send_thread);
  if (argc >= 8) napi_get_value_bool(env, argv[7], &reader_thread);
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
  if (reader_thread) {
    if (uv_async_init(loop, &s->ready, on_ready) != 0) return throw_errno(env, "uv_async_init", EIO);
    s->ready.data = s;
    /* The media sockets alone must not keep the process alive (like unref'd timers). */
    uv_unref((uv_handle_t *)&s->ready);
    s->threaded = start_reader(s);
  }
  if (!s->threaded) {
    s->fast_queue = s->queue; /* relayed on this thread: one queue keeps every send in order */
    if (uv_poll_init(loop, &s->poll, s->epfd) != 0) return throw_errno(env, "uv_poll_init", EIO);
    s->poll.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_readable);
    uv_unref((uv_handle_t *)&s->poll);
  }
  napi_add_env_cleanup_hook(env, stop_reader, s);
  state = s;
  napi_value result, v;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_get_boolean(env, send_queue_threaded(s->queue), &v));
  CHECK(env, napi_set_named_property(env, result, "sendThread", v));
  CHECK(env, napi_get_boolean(env, s->threaded, &v));
  CHECK(env, napi_set_named_property(env, result, "readerThread", v));
  return result;
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
  pthread_mutex_lock(&state->lock);
  socket_info *known = socket_slot(state, fd);
  if (known != NULL) {
    fast_path_forget(&state->forwards, fd); /* a reused descriptor number starts without rule or counters */
    known->open = 1;
    known->generation++;
    known->waiting = 0;
    known->paused = 0;
  }
  pthread_mutex_unlock(&state->lock);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  if (known == NULL || epoll_ctl(state->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = known == NULL ? ENOMEM : errno;
    pthread_mutex_lock(&state->lock);
    forget_socket(state, fd);
    pthread_mutex_unlock(&state->lock);
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
  io_state *s = state;
  /* Sends still queued for this socket go out first: they were accepted before the close. And
   * the sender thread must be done with the descriptor before its number can be reused. */
  if (s->control[CTL_SEND_COUNT] > 0) flush_sends(s);
  send_queue_drain(s->queue);
  pthread_mutex_lock(&s->lock);
  epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
  forget_socket(s, fd);
  /* So is the reading thread, which may be reading it or sending from it in its current round. */
  while (s->in_round) pthread_cond_wait(&s->round_done, &s->lock);
  close(fd);
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

static napi_value flush(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  if (state != NULL) flush_sends(state);
  return NULL;
}

static int get_int32(napi_env env, napi_value v, int32_t *out) { return napi_get_value_int32(env, v, out) == napi_ok; }

/* forward(inFd, outFd, host, port, slowPayloadType, captureRequired[, notifySource]) -> whether the rule is in place. */
static napi_value forward(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t in_fd = -1, out_fd = -1, port = 0, slow_pt = -1;
  bool capture_required = false, notify_source = false;
  char host[64];
  size_t hlen = 0;
  int ok = state != NULL && argc >= 6 && get_int32(env, argv[0], &in_fd) && get_int32(env, argv[1], &out_fd) &&
           napi_get_value_string_utf8(env, argv[2], host, sizeof host, &hlen) == napi_ok && get_int32(env, argv[3], &port) &&
           get_int32(env, argv[4], &slow_pt) && napi_get_value_bool(env, argv[5], &capture_required) == napi_ok;
  if (ok && argc >= 7) napi_get_value_bool(env, argv[6], &notify_source);
  struct sockaddr_storage addr;
  int family = ok ? parse_address(host, &addr, port) : 0;
  if (family != 0) {
    pthread_mutex_lock(&state->lock);
    ok = fast_path_install(&state->forwards, in_fd, out_fd, family, (uint16_t)port, address_bytes(&addr, family), slow_pt,
                           capture_required, notify_source) == 0;
    pthread_mutex_unlock(&state->lock);
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
  if (state != NULL && argc >= 1 && get_int32(env, argv[0], &fd)) {
    pthread_mutex_lock(&state->lock);
    fast_path_remove(&state->forwards, fd);
    pthread_mutex_unlock(&state->lock);
  }
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
  if (state == NULL || argc < 1 || !get_int32(env, argv[0], &fd)) fd = -1;
  size_t payload_len = 0, index_len = 0, cursor_len = 0;
  double base = 0;
  uint8_t *payload = argc >= 5 ? typed_array_data(env, argv[1], napi_uint8_array, &payload_len) : NULL;
  uint8_t *index = payload != NULL ? typed_array_data(env, argv[2], napi_uint8_array, &index_len) : NULL;
  int32_t *cursor = index != NULL ? typed_array_data(env, argv[3], napi_int32_array, &cursor_len) : NULL;
  if (cursor != NULL && napi_get_value_double(env, argv[4], &base) != napi_ok) cursor = NULL;
  /* Under the lock: once this returns, the reading thread no longer appends to the old area, so
   * JavaScript may read its cursors and write it out. */
  if (fd >= 0) pthread_mutex_lock(&state->lock);
  forward_rule *r = fd >= 0 ? fast_path_rule(&state->forwards, fd) : NULL;
  if (r != NULL) {
    r->has_area = 0;
    if (cursor != NULL && cursor_len >= 2 && payload_len <= UINT32_MAX) {
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
  if (fd >= 0) pthread_mutex_unlock(&state->lock);
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
  if (state != NULL && fd >= 0) {
    pthread_mutex_lock(&state->lock);
    if (fd < state->forwards.capacity) {
      out[0] = state->forwards.rules[fd].packets;
      out[1] = state->forwards.rules[fd].octets;
    }
    pthread_mutex_unlock(&state->lock);
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
