/* Outgoing datagrams of the media engine; see send_queue.h. */
#define _GNU_SOURCE
#include "send_queue.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Batches in the ring: one being filled, the rest in flight. Four give the sender room to fall a
 * little behind (a burst, a descheduled thread) before the engine waits for it. */
#define QUEUE_BATCHES 4
/* Batches smaller than this are sent by the engine itself when the sender is idle (see submit). */
#define INLINE_BELOW 32

struct send_queue {
  int threaded;
  int32_t *errors;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t submitted; /* the sender waits for work */
  pthread_cond_t sent;      /* the engine waits for a free batch, or for the queue to drain */
  unsigned head;            /* the batch being filled (engine only) */
  unsigned tail;            /* the next batch to send (sender only) */
  unsigned pending;         /* batches submitted and not yet sent; under lock */
  send_batch batches[QUEUE_BATCHES];
};

/* Sends a batch, one sendmmsg(2) per run of the same socket. A datagram the kernel refuses (EAGAIN
 * on a full buffer, ECONNREFUSED after an ICMP error ...) is counted and skipped. */
static void send_batch_now(send_batch *b, int32_t *errors) {
  int32_t i = 0;
  while (i < b->count) {
    int fd = b->fds[i];
    int32_t run = 1;
    while (i + run < b->count && b->fds[i + run] == fd) run++;
    int32_t done = 0;
    while (done < run) {
      int r = sendmmsg(fd, &b->msgs[i + done], (unsigned)(run - done), MSG_DONTWAIT);
      if (r > 0) {
        done += r;
      } else if (!(r < 0 && errno == EINTR)) {
        __atomic_fetch_add(errors, 1, __ATOMIC_RELAXED);
        done++;
      }
    }
    i += run;
  }
}

static void *sender_main(void *arg) {
  send_queue *q = arg;
  /* Signals are Node's business, on its own threads. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  pthread_setname_np(pthread_self(), "media-send"); /* as top -H and ps -L show it */
  for (;;) {
    pthread_mutex_lock(&q->lock);
    while (q->pending == 0) pthread_cond_wait(&q->submitted, &q->lock);
    pthread_mutex_unlock(&q->lock);
    send_batch_now(&q->batches[q->tail], q->errors);
    q->tail = (q->tail + 1) % QUEUE_BATCHES;
    pthread_mutex_lock(&q->lock);
    q->pending--;
    pthread_cond_broadcast(&q->sent);
    pthread_mutex_unlock(&q->lock);
  }
  return NULL;
}

send_queue *send_queue_create(int threaded, int32_t *errors) {
  send_queue *q = calloc(1, sizeof *q);
  if (q == NULL) return NULL;
  q->errors = errors;
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->submitted, NULL);
  pthread_cond_init(&q->sent, NULL);
  if (threaded) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    q->threaded = pthread_create(&q->thread, &attr, sender_main, q) == 0;
    pthread_attr_destroy(&attr);
  }
  return q;
}

int send_queue_threaded(const send_queue *q) { return q->threaded; }

send_batch *send_queue_current(send_queue *q) { return &q->batches[q->head]; }

int send_queue_append(send_queue *q, int fd, const uint8_t *payload, size_t length, int family, uint16_t port,
                      const void *address) {
  if (length > BATCH_BYTES) return -1;
  send_batch *b = &q->batches[q->head];
  if (b->count == BATCH_MESSAGES || b->used + length > BATCH_BYTES) {
    send_queue_submit(q);
    b = &q->batches[q->head];
  }
  int32_t i = b->count++;
  memcpy(b->data + b->used, payload, length);
  b->iov[i].iov_base = b->data + b->used;
  b->iov[i].iov_len = length;
  b->used += length;
  b->fds[i] = fd;
  struct msghdr *h = &b->msgs[i].msg_hdr;
  memset(h, 0, sizeof *h);
  h->msg_iov = &b->iov[i];
  h->msg_iovlen = 1;
  h->msg_name = &b->addr[i];
  if (family == 6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&b->addr[i];
    memset(a, 0, sizeof *a);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    memcpy(&a->sin6_addr, address, 16);
    h->msg_namelen = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&b->addr[i];
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    memcpy(&a->sin_addr, address, 4);
    h->msg_namelen = sizeof *a;
  }
  return 0;
}

void send_queue_submit(send_queue *q) {
  send_batch *b = &q->batches[q->head];
  if (b->count == 0) return;
  int inline_send = !q->threaded;
  if (q->threaded) {
    pthread_mutex_lock(&q->lock);
    /* A small batch with nothing in flight is sent here: at light load the hand-over (a wake-up on
     * another core) costs more than the sending. Order is kept: the engine is the only producer, so
     * nothing can be queued behind this batch while it is sent. */
    inline_send = q->pending == 0 && b->count < INLINE_BELOW;
    if (inline_send) pthread_mutex_unlock(&q->lock);
  }
  if (inline_send) {
    send_batch_now(b, q->errors);
  } else {
    q->pending++;
    pthread_cond_signal(&q->submitted);
    q->head = (q->head + 1) % QUEUE_BATCHES;
    /* The next batch is free once fewer than all are in flight. */
    while (q->pending == QUEUE_BATCHES) pthread_cond_wait(&q->sent, &q->lock);
    pthread_mutex_unlock(&q->lock);
    b = &q->batches[q->head];
  }
  b->count = 0;
  b->used = 0;
}

void send_queue_drain(send_queue *q) {
  send_queue_submit(q);
  if (!q->threaded) return;
  pthread_mutex_lock(&q->lock);
  while (q->pending > 0) pthread_cond_wait(&q->sent, &q->lock);
  pthread_mutex_unlock(&q->lock);
}
