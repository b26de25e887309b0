/*
 * Ordered appends to files on one thread of the module's own (Linux, any POSIX).
 *
 * A recorded call writes each leg's spool once a second: a payload chunk, then
 * the index records that point into it. Through Node's fs.write every such
 * write is a libuv threadpool request: a wake-up of one of four pool threads,
 * a completion wake-up of the event loop and a JavaScript callback, two of
 * each per leg and second; at 1,000 calls that is thousands of cross-thread
 * wake-ups a second, and each one can preempt the thread that relays the RTP
 * on a busy two-core host. Here one writer thread takes every job that has
 * gathered, writes them in the order they came, then naps for NAP_MS before
 * it looks again, and the event loop hears of the finished jobs once per
 * round: about a hundred wake-ups a second at any load, none at idle. The
 * writer runs at a lower priority (nice +10) than the relay's threads.
 *
 * A job is up to two chunks, each (fd, bytes), written whole with write(2),
 * first chunk first; the files are meant to be opened for appending. The
 * bytes are not copied: the caller keeps the memory alive and unchanged
 * until the job's completion (JavaScript keeps the Buffer referenced).
 * Jobs are carried out in submission order. A job whose write fails reports
 * the errno; later jobs are still tried.
 *
 * Exports: init(callback), append(id, fd, buffer, length, fd2, buffer2, length2) (fd2 -1: none).
 * The callback is called as
 * callback([id, errno, id, errno, ...]) on the event-loop thread (errno 0: written).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <uv.h>

/* How long the writer waits, after a round, for more jobs to gather (a spool is written once a second). */
#define NAP_MS 10
/* The writer's nice value: its work can wait a few milliseconds, the relay's cannot. */
#define WRITER_NICE 10

typedef struct {
  int32_t id;
  int fd[2];
  const uint8_t *data[2];
  size_t length[2];
  int err;
} append_job;

/* A growable FIFO of jobs. */
typedef struct {
  append_job *jobs;
  size_t count, capacity;
} job_list;

typedef struct {
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  uv_async_t done_async;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t work;
  job_list queued;   /* submitted, not yet taken by the writer */
  job_list finished; /* written (or failed), not yet reported */
  uint32_t pending;  /* submitted and not reported (event-loop thread only) */
  int idle;          /* the writer waits on `work` (a submission must signal) */
  int stopping;
  int started;
} appender_state;

static appender_state *state;

static int push_job(job_list *l, const append_job *j) {
  if (l->count == l->capacity) {
    size_t cap = l->capacity ? l->capacity * 2 : 256;
    append_job *grown = realloc(l->jobs, cap * sizeof *grown);
    if (grown == NULL) return -1;
    l->jobs = grown;
    l->capacity = cap;
  }
  l->jobs[l->count++] = *j;
  return 0;
}

/* Writes the whole chunk at the file's end (O_APPEND) or position; 0 or an errno. */
static int write_all(int fd, const uint8_t *data, size_t length) {
  size_t done = 0;
  while (done < length) {
    ssize_t r = write(fd, data + done, length - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (r == 0) return EIO;
    done += (size_t)r;
  }
  return 0;
}

static void run_job(append_job *j) {
  j->err = 0;
  for (int c = 0; c < 2 && j->err == 0; c++) {
    if (j->fd[c] < 0) continue;
    j->err = write_all(j->fd[c], j->data[c], j->length[c]);
  }
}

static void nap(void) {
  struct timespec ts = {0, NAP_MS * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void *writer_main(void *arg) {
  appender_state *s = arg;
  job_list taken = {0};
  /* On Linux, setpriority on a thread id sets that thread's nice alone. At +10 the writer gets about a tenth
   * of a contended core: on a busy host it yields to the threads that relay RTP (a lower tail of the
   * relay's latency at 1,000 recorded calls) and still keeps up with the spool (a few % of a core). */
  if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WRITER_NICE) != 0) { /* not permitted: normal priority */
  }
  pthread_setname_np(pthread_self(), "spool-write"); /* as top -H and ps -L show it */
  for (;;) {
    pthread_mutex_lock(&s->lock);
    while (s->queued.count == 0 && !s->stopping) {
      s->idle = 1;
      pthread_cond_wait(&s->work, &s->lock);
    }
    s->idle = 0;
    if (s->queued.count == 0) { /* stopping, and everything written */
      pthread_mutex_unlock(&s->lock);
      break;
    }
    /* Take the whole queue (swap the lists, so neither side copies jobs under the lock). */
    job_list t = s->queued;
    s->queued = taken;
    s->queued.count = 0;
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < t.count; i++) run_job(&t.jobs[i]);
    pthread_mutex_lock(&s->lock);
    int reported = 0;
    for (size_t i = 0; i < t.count; i++) {
      if (push_job(&s->finished, &t.jobs[i]) != 0) break; /* out of memory: the caller never hears; nothing better to do */
      reported = 1;
    }
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    t.count = 0;
    taken = t;
    if (reported) uv_async_send(&s->done_async);
    if (!stopping) nap();
  }
  free(taken.jobs);
  return NULL;
}

/* Event-loop thread: reports finished jobs to JavaScript. */
static void on_done(uv_async_t *handle) {
  appender_state *s = handle->data;
  pthread_mutex_lock(&s->lock);
  job_list f = s->finished;
  s->finished = (job_list){0};
  pthread_mutex_unlock(&s->lock);
  if (f.count == 0) {
    free(f.jobs);
    return;
  }
  s->pending -= (uint32_t)f.count;
  if (s->pending == 0) uv_unref((uv_handle_t *)&s->done_async);
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) {
    free(f.jobs);
    return;
  }
  napi_value list, v, fn, recv;
  napi_create_array_with_length(s->env, f.count * 2, &list);
  for (size_t i = 0; i < f.count; i++) {
    napi_create_int32(s->env, f.jobs[i].id, &v);
    napi_set_element(s->env, list, (uint32_t)(2 * i), v);
    napi_create_int32(s->env, f.jobs[i].err, &v);
    napi_set_element(s->env, list, (uint32_t)(2 * i + 1), v);
  }
  free(f.jobs);
  napi_get_reference_value(s->env, s->callback, &fn);
  napi_get_global(s->env, &recv); /* napi_make_callback needs an object as `this` */
  napi_value result;
  /* Runs the callback as a libuv callback should: microtasks after it, errors to 'uncaughtException'. */
  napi_make_callback(s->env, s->async, recv, fn, 1, &list, &result);
  napi_close_handle_scope(s->env, scope);
}

/* Environment teardown: what was submitted is written, then the thread ends. */
static void stop_writer(void *arg) {
  appender_state *s = arg;
  if (!s->started) return;
  pthread_mutex_lock(&s->lock);
  s->stopping = 1;
  pthread_cond_signal(&s->work);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->thread, NULL);
  s->started = 0;
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return throw_error(env, "file_appender.init(callback)");
  if (state != NULL) return throw_error(env, "file_appender: already initialised");
  appender_state *s = calloc(1, sizeof *s);
  if (s == NULL) return throw_error(env, "file_appender: out of memory");
  s->env = env;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->work, NULL);
  napi_value name;
  uv_loop_t *loop;
  if (napi_create_reference(env, argv[0], 1, &s->callback) != napi_ok ||
      napi_create_string_utf8(env, "callrec.file_appender", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &s->async) != napi_ok || napi_get_uv_event_loop(env, &loop) != napi_ok ||
      uv_async_init(loop, &s->done_async, on_done) != 0) {
    free(s);
    return throw_error(env, "file_appender.init failed");
  }
  s->done_async.data = s;
  /* Keeps the process alive only while jobs are pending (append refs it, on_done unrefs it). */
  uv_unref((uv_handle_t *)&s->done_async);
  if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
    uv_close((uv_handle_t *)&s->done_async, NULL); /* s is kept: the handle may still be referenced by the loop */
    return throw_error(env, "file_appender: cannot start the writer thread");
  }
  s->started = 1;
  napi_add_env_cleanup_hook(env, stop_writer, s);
  state = s;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

static int get_bytes(napi_env env, napi_value v, const uint8_t **data, size_t *length) {
  bool is;
  void *p = NULL;
  size_t len = 0;
  if (napi_is_buffer(env, v, &is) == napi_ok && is) {
    if (napi_get_buffer_info(env, v, &p, &len) != napi_ok) return 0;
  } else if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t elements, offset;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &elements, &p, &ab, &offset) != napi_ok || type != napi_uint8_array) return 0;
    len = elements;
  } else {
    return 0;
  }
  *data = p;
  *length = len;
  return 1;
}

/* append(id, fd, buffer, length, fd2, buffer2, length2) */
static napi_value append(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return throw_error(env, "file_appender.append(id, fd, buffer, length[, fd2, buffer2, length2])");
  appender_state *s = state;
  if (s == NULL || !s->started) return throw_error(env, "file_appender: not initialised");
  append_job j = {.fd = {-1, -1}};
  int32_t length;
  napi_get_value_int32(env, argv[0], &j.id);
  for (int c = 0; c < 2 && (size_t)(3 * c + 4) <= argc; c++) {
    int32_t fd;
    if (napi_get_value_int32(env, argv[3 * c + 1], &fd) != napi_ok) return throw_error(env, "file_appender.append: fd must be a number");
    if (fd < 0) continue;
    size_t have;
    if (!get_bytes(env, argv[3 * c + 2], &j.data[c], &have)) return throw_error(env, "file_appender.append: a Buffer or Uint8Array is needed");
    if (napi_get_value_int32(env, argv[3 * c + 3], &length) != napi_ok || length < 0 || (size_t)length > have)
      return throw_error(env, "file_appender.append: length outside the buffer");
    j.fd[c] = fd;
    j.length[c] = (size_t)length;
  }
  pthread_mutex_lock(&s->lock);
  int failed = push_job(&s->queued, &j);
  /* A writer that is napping or writing picks the job up on its own: no wake-up per job. */
  if (!failed && s->idle) pthread_cond_signal(&s->work);
  pthread_mutex_unlock(&s->lock);
  if (failed) return throw_error(env, "file_appender: out of memory");
  if (s->pending++ == 0) uv_ref((uv_handle_t *)&s->done_async);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

static napi_value module_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", NULL, init, NULL, NULL, NULL, napi_default, NULL},
      {"append", NULL, append, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
