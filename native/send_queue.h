/*
 * Outgoing datagrams of the media engine, sent by a thread of their own.
 *
 * On loopback and on a busy host, sendmmsg(2) is the largest single cost of
 * the relay: the kernel builds, routes and delivers every datagram inside the
 * sending call (about 40 % of the relay thread's time at 1,000 calls). The
 * sender thread takes that work off the thread that runs JavaScript, so the
 * two halves of the relay use two cores and neither saturates.
 *
 * The engine fills a batch (payload copied in, so the receive area can be
 * reused at once), submits it, and goes on; the thread sends batches in the
 * order they were submitted, grouping runs of the same socket into one
 * sendmmsg(2). With no thread (it could not be started, or was not wanted),
 * the same batch is sent by the caller before send_queue_submit returns; so
 * is a small batch while the sender is idle (light load: waking a thread on
 * another core would cost more than the sends).
 */
#ifndef CALLREC_SEND_QUEUE_H
#define CALLREC_SEND_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define BATCH_MESSAGES 256
/* Room for 256 audio packets of up to 1 KiB, or one of the largest datagram the engine takes. */
#define BATCH_BYTES (256 * 1024)

typedef struct {
  int32_t count;
  size_t used;
  int fds[BATCH_MESSAGES];
  struct mmsghdr msgs[BATCH_MESSAGES];
  struct iovec iov[BATCH_MESSAGES];
  struct sockaddr_storage addr[BATCH_MESSAGES];
  uint8_t data[BATCH_BYTES];
} send_batch;

typedef struct send_queue send_queue;

/* A queue whose batches are sent by a new thread when `threaded` (and the thread starts), else by
 * the caller. `errors` counts datagrams the kernel refused; it is updated atomically. */
send_queue *send_queue_create(int threaded, int32_t *errors);

/* 1 when a thread sends, 0 when the caller does. */
int send_queue_threaded(const send_queue *q);

/* The batch being filled (empty or partly filled). Never NULL. */
send_batch *send_queue_current(send_queue *q);

/* Appends one datagram to the current batch, submitting it first when full; family is 4 or 6,
 * address in network byte order (4 or 16 octets). Returns 0, or -1 if the datagram can never fit. */
int send_queue_append(send_queue *q, int fd, const uint8_t *payload, size_t length, int family, uint16_t port,
                      const void *address);

/* Hands the current batch over (or sends it, without a thread) and starts a new one. */
void send_queue_submit(send_queue *q);

/* Returns once every submitted datagram has been handed to the kernel (before a socket is closed:
 * its descriptor number may be reused at once). */
void send_queue_drain(send_queue *q);

#endif
