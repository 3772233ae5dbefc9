// geoswarm-lb native data path: moves the bytes of established connections in the kernel with
// splice() through one pipe per direction, on a thread of its own (epoll, edge-triggered). JS
// keeps accept, balancing, access, PROXY headers and retries; it hands a connected pair over with
// relay() and hears back once, when the pair is closed (a thread-safe function), plus byte counts
// whenever it asks (collect()).
//
// Why a thread and not libuv's loop: the package node-api-headers ships the Node-API headers only
// (no uv.h), and a thread needs nothing else. Each JS thread (main, or a worker with workers = N)
// gets its own instance and relay thread.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#define PIPE_CHUNK (1 << 20)
// Splices per event and direction before the other connections get their turn; an unfinished
// direction goes on the ready list (edge-triggered epoll reports nothing new for it).
#define BUDGET 16
#define MAX_EVENTS 128
// A direction without a pipe (no descriptors left for one) copies through a buffer of this size.
#define COPY_CHUNK (64 * 1024)

enum { CLOSE_CLEAN = 0, CLOSE_ERROR = 1, CLOSE_TIMEOUT = 2, CLOSE_DESTROYED = 3 };

typedef struct dir {
  int pr, pw;          // the pipe (created when the source first has bytes, -1 before)
  size_t in_pipe;      // bytes read into the pipe and not yet written out
  char *buf;           // copy mode (pipe2() failed): bytes read and not yet written out
  size_t buf_off, buf_len;
  uint64_t bytes;      // bytes written to the destination (read by JS: atomic)
  uint64_t reported;   // part of `bytes` already handed to JS (under the state's lock)
  uint8_t eof, shut;
} dir;

typedef struct env_state env_state;

typedef struct conn {
  env_state *st;
  uint32_t id;
  int fd[2];  // 0: client, 1: backend (our duplicates)
  dir d[2];   // d[0]: client -> backend (tx), d[1]: backend -> client (rx)
  uint64_t idle_ms[2], last[2];
  char *prefix;  // client bytes JS read before the hand-over, written to the backend first
  size_t prefix_len, prefix_off;
  int closing, destroy_req;
  uint8_t again[2], queued;
  struct conn *ready_next, *dead_next, *gc_next;
  struct conn *prev, *next;  // the state's list (under its lock)
} conn;

typedef struct closed_msg {
  uint32_t id;
  int reason;
  double tx, rx;
} closed_msg;

struct env_state {
  napi_env env;
  pthread_mutex_t lock;
  conn *head;  // every open pair (under lock)
  uint32_t next_id;
  uint64_t relayed;  // pairs handed over since load: the tests' proof that this path ran
  uint64_t copying;  // directions that got no pipe (out of descriptors) and copy instead
  uint64_t active;
  int epfd, evfd;
  pthread_t thread;
  int started, stopping;
  uint64_t next_scan;  // earliest idle deadline (ms, monotonic); UINT64_MAX: none
  napi_threadsafe_function tsfn;
  napi_ref on_close;
  conn *ready;    // relay thread only: directions that spent their budget
  conn *garbage;  // relay thread only: closed pairs, freed after the batch that may name them
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void wake(env_state *st) {
  uint64_t one = 1;
  ssize_t r = write(st->evfd, &one, sizeof one);
  (void)r;
}

// Relay thread: closes a pair and reports it to JS (final byte counts not yet collected).
static void conn_close(conn *c, int reason, int report) {
  env_state *st = c->st;
  c->closing = 1;
  // Removed explicitly: JS may not have closed its own descriptors of these sockets yet, and
  // epoll forgets a socket only when its last descriptor closes.
  for (int k = 0; k < 2 && st->epfd >= 0; k++) epoll_ctl(st->epfd, EPOLL_CTL_DEL, c->fd[k], NULL);
  close_fd(&c->fd[0]);
  close_fd(&c->fd[1]);
  for (int i = 0; i < 2; i++) {
    close_fd(&c->d[i].pr);
    close_fd(&c->d[i].pw);
    free(c->d[i].buf);
    c->d[i].buf = NULL;
  }
  closed_msg *m = malloc(sizeof *m);
  pthread_mutex_lock(&st->lock);
  if (c->prev) c->prev->next = c->next;
  else st->head = c->next;
  if (c->next) c->next->prev = c->prev;
  st->active--;
  if (m) {
    m->id = c->id;
    m->reason = reason;
    m->tx = (double)(c->d[0].bytes - c->d[0].reported);
    m->rx = (double)(c->d[1].bytes - c->d[1].reported);
  }
  pthread_mutex_unlock(&st->lock);
  if (m && (!report || napi_call_threadsafe_function(st->tsfn, m, napi_tsfn_nonblocking) != napi_ok))
    free(m);
  if (report && !c->queued) {
    c->gc_next = st->garbage;
    st->garbage = c;
  }
}

// Writes what JS had already read from the client. 1: done, 0: wait for writable, -1: error.
static int flush_prefix(conn *c, uint64_t now) {
  while (c->prefix_off < c->prefix_len) {
    ssize_t n = write(c->fd[1], c->prefix + c->prefix_off, c->prefix_len - c->prefix_off);
    if (n > 0) {
      c->prefix_off += (size_t)n;
      c->last[1] = now;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return 0;
    } else {
      return -1;
    }
  }
  free(c->prefix);
  c->prefix = NULL;
  return 1;
}

// Moves what it can in direction i (0: client -> backend, 1: backend -> client) until a side
// would block. 0 ok, 1 budget spent (call again), -1 error.
static int pump(conn *c, int i, uint64_t now) {
  dir *d = &c->d[i];
  int src = c->fd[i], dst = c->fd[1 - i];
  if (i == 0 && c->prefix) {
    int r = flush_prefix(c, now);
    if (r <= 0) return r;
  }
  for (int iter = 0; iter < BUDGET; iter++) {
    if (d->in_pipe > 0) {
      ssize_t n = splice(d->pr, NULL, dst, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->in_pipe -= (size_t)n;
        __atomic_store_n(&d->bytes, d->bytes + (uint64_t)n, __ATOMIC_RELAXED);
        c->last[1 - i] = now;
        if (d->in_pipe > 0) continue;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        return 0;  // EPOLLOUT on dst resumes this direction
      } else {
        return -1;
      }
    }
    if (d->buf_off < d->buf_len) {
      ssize_t n = send(dst, d->buf + d->buf_off, d->buf_len - d->buf_off, MSG_NOSIGNAL);
      if (n > 0) {
        d->buf_off += (size_t)n;
        __atomic_store_n(&d->bytes, d->bytes + (uint64_t)n, __ATOMIC_RELAXED);
        c->last[1 - i] = now;
        continue;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        return 0;
      } else {
        return -1;
      }
    }
    if (d->eof) {
      if (!d->shut) {
        // Half-close: the source's FIN goes on, the other direction keeps flowing.
        shutdown(dst, SHUT_WR);
        d->shut = 1;
      }
      return 0;
    }
    if (d->pr < 0 && !d->buf) {
      // A pipe costs two descriptors, so it is made only once the source has bytes: an idle pair
      // holds two descriptors, as on the JS path (six made 5,000 idle pairs exceed 20,000).
      char b;
      ssize_t p = recv(src, &b, 1, MSG_PEEK | MSG_DONTWAIT);
      if (p == 0) {
        d->eof = 1;
        continue;
      } else if (p < 0 && errno == EINTR) {
        continue;
      } else if (p < 0 && errno == EAGAIN) {
        return 0;
      } else if (p < 0) {
        return -1;
      }
      int fds[2];
      if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
        d->pr = fds[0];
        d->pw = fds[1];
      } else {
        // No descriptor (EMFILE, ENFILE) or pipe memory left: the pair must not be dropped, so
        // this direction copies through a buffer; counted, and JS logs it (counters()).
        d->buf = malloc(COPY_CHUNK);
        if (!d->buf) return -1;
        pthread_mutex_lock(&c->st->lock);
        c->st->copying++;
        pthread_mutex_unlock(&c->st->lock);
      }
    }
    if (d->buf) {
      ssize_t n = read(src, d->buf, COPY_CHUNK);
      if (n > 0) {
        d->buf_off = 0;
        d->buf_len = (size_t)n;
        c->last[i] = now;
      } else if (n == 0) {
        d->eof = 1;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN) {
        return 0;
      } else {
        return -1;
      }
      continue;
    }
    ssize_t n = splice(src, NULL, d->pw, NULL, PIPE_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      d->in_pipe += (size_t)n;
      c->last[i] = now;
    } else if (n == 0) {
      d->eof = 1;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      return 0;  // EPOLLIN on src resumes this direction
    } else {
      return -1;
    }
  }
  return 1;
}

static void run_dir(conn *c, int i, uint64_t now) {
  if (c->closing) return;
  int r = pump(c, i, now);
  if (r < 0) {
    conn_close(c, CLOSE_ERROR, 1);
  } else if (c->d[0].shut && c->d[1].shut) {
    conn_close(c, CLOSE_CLEAN, 1);
  } else if (r == 1) {
    c->again[i] = 1;
    if (!c->queued) {
      c->queued = 1;
      c->ready_next = c->st->ready;
      c->st->ready = c;
    }
  }
}

// Idle timeouts: a pair's deadlines only move later with traffic, so the earliest deadline of
// the last scan is when the next one can be due; scanning then (not on every wake-up) is enough.
static void scan_idle(env_state *st, uint64_t now, conn **dead) {
  uint64_t next = UINT64_MAX;
  pthread_mutex_lock(&st->lock);
  for (conn *c = st->head; c; c = c->next) {
    int expired = c->destroy_req;
    for (int k = 0; k < 2 && !expired; k++) {
      if (!c->idle_ms[k]) continue;
      uint64_t due = c->last[k] + c->idle_ms[k];
      if (due <= now) expired = 1;
      else if (due < next) next = due;
    }
    if (expired) {
      c->dead_next = *dead;  // closed after the lock is released
      *dead = c;
    }
  }
  st->next_scan = next;
  pthread_mutex_unlock(&st->lock);
}

static void *relay_main(void *arg) {
  env_state *st = arg;
  struct epoll_event ev[MAX_EVENTS];
  for (;;) {
    uint64_t now = now_ms();
    int timeout = -1;
    pthread_mutex_lock(&st->lock);
    uint64_t next_scan = st->next_scan;
    int stopping = st->stopping;
    pthread_mutex_unlock(&st->lock);
    if (stopping) break;
    if (st->ready) timeout = 0;
    else if (next_scan != UINT64_MAX) timeout = next_scan > now ? (int)(next_scan - now) : 0;
    int n = epoll_wait(st->epfd, ev, MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR) break;
    now = now_ms();
    int check = 0;
    for (int j = 0; j < n; j++) {
      uintptr_t tag = (uintptr_t)ev[j].data.u64;
      if (tag == 0) {
        uint64_t v;
        ssize_t r = read(st->evfd, &v, sizeof v);
        (void)r;
        check = 1;
        continue;
      }
      conn *c = (conn *)(tag & ~(uintptr_t)1);
      int k = (int)(tag & 1);
      uint32_t e = ev[j].events;
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) run_dir(c, k, now);
      if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) run_dir(c, 1 - k, now);
    }
    conn *ready = st->ready;
    st->ready = NULL;
    while (ready) {
      conn *c = ready;
      ready = c->ready_next;
      c->queued = 0;
      if (c->closing) {
        c->gc_next = st->garbage;
        st->garbage = c;
        continue;
      }
      for (int i = 0; i < 2; i++) {
        if (c->again[i]) {
          c->again[i] = 0;
          run_dir(c, i, now);
        }
      }
    }
    if (check || (st->next_scan != UINT64_MAX && now >= st->next_scan)) {
      conn *dead = NULL;
      scan_idle(st, now, &dead);
      while (dead) {
        conn *c = dead;
        dead = c->dead_next;
        conn_close(c, c->destroy_req ? CLOSE_DESTROYED : CLOSE_TIMEOUT, 1);
      }
    }
    // A pair closed while on the ready list joins the garbage when it is taken off it.
    while (st->garbage) {
      conn *c = st->garbage;
      st->garbage = c->gc_next;
      free(c->prefix);
      free(c);
    }
  }
  return NULL;
}

static env_state *state_of(napi_env env) {
  env_state *st = NULL;
  napi_get_instance_data(env, (void **)&st);
  return st;
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

// JS thread: delivers one closed pair to the onClose callback.
static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  (void)context;
  closed_msg *m = data;
  if (env && cb) {
    napi_value argv[4], recv, result;
    napi_get_undefined(env, &recv);
    napi_create_uint32(env, m->id, &argv[0]);
    napi_create_double(env, m->tx, &argv[1]);
    napi_create_double(env, m->rx, &argv[2]);
    napi_create_int32(env, m->reason, &argv[3]);
    if (napi_call_function(env, recv, cb, 4, argv, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  free(m);
}

// 1 when the relay thread runs; 0 with a JS exception pending.
static int start_thread(napi_env env, env_state *st) {
  if (st->epfd < 0) st->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (st->epfd < 0) return throw_errno(env, "epoll_create1", errno), 0;
  if (st->evfd < 0) st->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (st->evfd < 0) return throw_errno(env, "eventfd", errno), 0;
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
  epoll_ctl(st->epfd, EPOLL_CTL_ADD, st->evfd, &ev);
  int err = pthread_create(&st->thread, NULL, relay_main, st);
  if (err) return throw_errno(env, "pthread_create", err), 0;
  st->started = 1;
  return 1;
}

// relay(clientFd, backendFd, clientIdleMs, backendIdleMs, prefix?: Buffer) -> id. The caller
// closes its own descriptors afterwards; the pair lives on duplicates.
static napi_value js_relay(napi_env env, napi_callback_info info) {
  env_state *st = state_of(env);
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t cfd, bfd, cidle, bidle;
  if (argc < 4 || napi_get_value_int64(env, argv[0], &cfd) != napi_ok ||
      napi_get_value_int64(env, argv[1], &bfd) != napi_ok ||
      napi_get_value_int64(env, argv[2], &cidle) != napi_ok ||
      napi_get_value_int64(env, argv[3], &bidle) != napi_ok) {
    napi_throw_type_error(env, NULL, "relay(clientFd, backendFd, clientIdleMs, backendIdleMs)");
    return NULL;
  }
  void *pdata = NULL;
  size_t plen = 0;
  if (argc >= 5) {
    napi_valuetype t;
    napi_typeof(env, argv[4], &t);
    if (t != napi_undefined && t != napi_null &&
        napi_get_buffer_info(env, argv[4], &pdata, &plen) != napi_ok) {
      napi_throw_type_error(env, NULL, "relay(): prefix must be a Buffer");
      return NULL;
    }
  }
  if (!st->tsfn) {
    napi_throw_error(env, NULL, "relay(): onClose() first");
    return NULL;
  }
  if (!st->started && !start_thread(env, st)) return NULL;
  conn *c = calloc(1, sizeof *c);
  if (!c) return throw_errno(env, "relay", ENOMEM);
  c->st = st;
  for (int i = 0; i < 2; i++) c->d[i].pr = c->d[i].pw = -1;
  c->fd[0] = fcntl((int)cfd, F_DUPFD_CLOEXEC, 3);
  c->fd[1] = c->fd[0] < 0 ? -1 : fcntl((int)bfd, F_DUPFD_CLOEXEC, 3);
  if (c->fd[0] < 0 || c->fd[1] < 0) {
    int err = errno;
    close_fd(&c->fd[0]);
    free(c);
    return throw_errno(env, "relay: dup", err);
  }
  for (int k = 0; k < 2; k++) {
    int fl = fcntl(c->fd[k], F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(c->fd[k], F_SETFL, fl | O_NONBLOCK);
  }
  if (plen > 0) {
    c->prefix = malloc(plen);
    if (c->prefix) memcpy(c->prefix, pdata, plen);
    c->prefix_len = plen;
  }
  c->idle_ms[0] = cidle > 0 ? (uint64_t)cidle : 0;
  c->idle_ms[1] = bidle > 0 ? (uint64_t)bidle : 0;
  uint64_t now = now_ms();
  c->last[0] = c->last[1] = now;
  int need_wake = 0;
  pthread_mutex_lock(&st->lock);
  c->id = ++st->next_id;
  if (c->id == 0) c->id = ++st->next_id;
  c->next = st->head;
  if (st->head) st->head->prev = c;
  st->head = c;
  st->active++;
  st->relayed++;
  for (int k = 0; k < 2; k++) {
    if (c->idle_ms[k] && now + c->idle_ms[k] < st->next_scan) {
      st->next_scan = now + c->idle_ms[k];
      need_wake = 1;
    }
  }
  uint32_t id = c->id;
  if (st->active == 1) napi_ref_threadsafe_function(env, st->tsfn);
  pthread_mutex_unlock(&st->lock);
  // Edge-triggered, registered once: what is already waiting in a socket is reported at once.
  for (int k = 0; k < 2; k++) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)((uintptr_t)c | (uintptr_t)k)};
    if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, c->fd[k], &ev) < 0) {
      // The relay thread may already run this pair: let it close it.
      pthread_mutex_lock(&st->lock);
      c->destroy_req = 1;
      pthread_mutex_unlock(&st->lock);
      need_wake = 1;
      break;
    }
  }
  if (need_wake) wake(st);
  napi_value out;
  napi_create_uint32(env, id, &out);
  return out;
}

// destroy(id): closes both sockets soon (drain deadline, backend removed); onClose follows.
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  env_state *st = state_of(env);
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc == 1) napi_get_value_uint32(env, argv[0], &id);
  int found = 0;
  pthread_mutex_lock(&st->lock);
  for (conn *c = st->head; c; c = c->next) {
    if (c->id == id) {
      c->destroy_req = 1;
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&st->lock);
  if (found) wake(st);
  napi_value ok;
  napi_get_boolean(env, found, &ok);
  return ok;
}

// collect() -> Float64Array [id, tx, rx, ...]: bytes moved since the last collect, per pair.
static napi_value js_collect(napi_env env, napi_callback_info info) {
  (void)info;
  env_state *st = state_of(env);
  pthread_mutex_lock(&st->lock);
  size_t n = 0;
  for (conn *c = st->head; c; c = c->next) {
    if (__atomic_load_n(&c->d[0].bytes, __ATOMIC_RELAXED) != c->d[0].reported ||
        __atomic_load_n(&c->d[1].bytes, __ATOMIC_RELAXED) != c->d[1].reported)
      n++;
  }
  napi_value ab, arr;
  double *out = NULL;
  napi_create_arraybuffer(env, n * 3 * sizeof(double), (void **)&out, &ab);
  size_t i = 0;
  for (conn *c = st->head; c && i < n; c = c->next) {
    uint64_t tx = __atomic_load_n(&c->d[0].bytes, __ATOMIC_RELAXED);
    uint64_t rx = __atomic_load_n(&c->d[1].bytes, __ATOMIC_RELAXED);
    if (tx == c->d[0].reported && rx == c->d[1].reported) continue;
    out[i * 3] = c->id;
    out[i * 3 + 1] = (double)(tx - c->d[0].reported);
    out[i * 3 + 2] = (double)(rx - c->d[1].reported);
    c->d[0].reported = tx;
    c->d[1].reported = rx;
    i++;
  }
  pthread_mutex_unlock(&st->lock);
  napi_create_typedarray(env, napi_float64_array, i * 3, ab, 0, &arr);
  return arr;
}

// onClose(fn(id, tx, rx, reason)): tx/rx are the bytes not yet collected. Once, at load.
static napi_value js_on_close(napi_env env, napi_callback_info info) {
  env_state *st = state_of(env);
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (st->tsfn) {
    napi_throw_error(env, NULL, "onClose() was already called");
    return NULL;
  }
  napi_value name;
  napi_create_string_utf8(env, "geoswarm-lb.splice", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js,
                                      &st->tsfn) != napi_ok)
    return NULL;
  // Only open pairs keep the process alive (as their sockets would).
  napi_unref_threadsafe_function(env, st->tsfn);
  return NULL;
}

// Called by JS once a close report was handled and no pair is left.
static napi_value js_unref(napi_env env, napi_callback_info info) {
  (void)info;
  env_state *st = state_of(env);
  pthread_mutex_lock(&st->lock);
  int idle = st->active == 0;
  pthread_mutex_unlock(&st->lock);
  if (idle && st->tsfn) napi_unref_threadsafe_function(env, st->tsfn);
  return NULL;
}

static napi_value js_counters(napi_env env, napi_callback_info info) {
  (void)info;
  env_state *st = state_of(env);
  napi_value o, v;
  pthread_mutex_lock(&st->lock);
  double relayed = (double)st->relayed, active = (double)st->active;
  double copying = (double)st->copying;
  pthread_mutex_unlock(&st->lock);
  napi_create_object(env, &o);
  napi_create_double(env, relayed, &v);
  napi_set_named_property(env, o, "relayed", v);
  napi_create_double(env, active, &v);
  napi_set_named_property(env, o, "active", v);
  napi_create_double(env, copying, &v);
  napi_set_named_property(env, o, "copying", v);
  return o;
}

// selfTest(): splices bytes socket -> pipe -> socket; false when the kernel (or a seccomp
// filter) refuses splice on sockets, so the loader falls back to JS instead of failing later.
static napi_value js_self_test(napi_env env, napi_callback_info info) {
  (void)info;
  int ok = 0, s[2] = {-1, -1}, t[2] = {-1, -1}, p[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0 &&
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t) == 0 &&
      pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0) {
    const char msg[] = "geoswarm";
    char got[sizeof msg] = {0};
    if (write(s[0], msg, sizeof msg) == (ssize_t)sizeof msg &&
        splice(s[1], NULL, p[1], NULL, sizeof msg, SPLICE_F_MOVE | SPLICE_F_NONBLOCK) ==
            (ssize_t)sizeof msg &&
        splice(p[0], NULL, t[0], NULL, sizeof msg, SPLICE_F_MOVE | SPLICE_F_NONBLOCK) ==
            (ssize_t)sizeof msg &&
        read(t[1], got, sizeof got) == (ssize_t)sizeof msg && memcmp(got, msg, sizeof msg) == 0)
      ok = 1;
  }
  int *fds[] = {s, t, p};
  for (int i = 0; i < 3; i++) {
    close_fd(&fds[i][0]);
    close_fd(&fds[i][1]);
  }
  napi_value r;
  napi_get_boolean(env, ok, &r);
  return r;
}

// The env (main thread or a worker) goes away: stop the thread, close every pair silently.
static void teardown(void *arg) {
  env_state *st = arg;
  if (st->started) {
    pthread_mutex_lock(&st->lock);
    st->stopping = 1;
    pthread_mutex_unlock(&st->lock);
    wake(st);
    pthread_join(st->thread, NULL);
    while (st->head) {
      conn *c = st->head;
      conn_close(c, CLOSE_DESTROYED, 0);
      free(c->prefix);
      free(c);
    }
    close(st->epfd);
    close(st->evfd);
  }
  if (st->tsfn) napi_release_threadsafe_function(st->tsfn, napi_tsfn_abort);
  st->tsfn = NULL;
}

static void finalize_state(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  env_state *st = data;
  pthread_mutex_destroy(&st->lock);
  free(st);
}

NAPI_MODULE_INIT() {
  env_state *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->env = env;
  st->epfd = st->evfd = -1;
  st->next_scan = UINT64_MAX;
  pthread_mutex_init(&st->lock, NULL);
  napi_set_instance_data(env, st, finalize_state, NULL);
  napi_add_env_cleanup_hook(env, teardown, st);
  napi_property_descriptor props[] = {
      {"relay", NULL, js_relay, NULL, NULL, NULL, napi_default, NULL},
      {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_default, NULL},
      {"collect", NULL, js_collect, NULL, NULL, NULL, napi_default, NULL},
      {"onClose", NULL, js_on_close, NULL, NULL, NULL, napi_default, NULL},
      {"unref", NULL, js_unref, NULL, NULL, NULL, napi_default, NULL},
      {"counters", NULL, js_counters, NULL, NULL, NULL, napi_default, NULL},
      {"selfTest", NULL, js_self_test, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
