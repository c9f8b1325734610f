/*
 * udp-io: batched UDP I/O for the dispatcher's UDP listeners (Linux), as a Node-API addon.
 *
 * Why: node:dgram makes one libuv read, one C++ → JS call, one ArrayBuffer and one rinfo object
 * per datagram, and one request object, callback and nextTick per send. Measured on the bench VM
 * (BENCHMARKS.md, session 9) that is ≈ 3.5 µs of user CPU per datagram, 14 datagrams per call.
 * Here a readable socket is drained with recvmmsg(2) into fixed buffers, and the whole batch goes
 * up to JavaScript in one call: a Buffer per datagram in an array, their lengths, ports and IPv4
 * addresses in a Uint32Array shared with JavaScript (IPv6 addresses as strings in an array). A send is one synchronous sendto(2) returning the byte count or -errno; JavaScript
 * queues what meets EAGAIN and asks for a writable callback.
 *
 * Memory safety: the receive buffers are owned here and copied out before JavaScript runs; a send
 * reads the caller's Buffer only during the call. After close() no callback reaches JavaScript:
 * the poll handle is stopped and closed first, and the Node-API references are let go at once
 * (never from libuv's close callback, which may run after the env is gone). The C state is freed
 * when both of its owners are done with it: the poll handle (closed) and the JavaScript handle
 * (garbage-collected).
 *
 * Limits: IPv6 link-local peers (fe80::/10 with a zone) are not supported: the zone is neither
 * reported nor accepted (node:dgram does both); use node.udpIo: node for such a listener.
 *
 * JavaScript side and the contract: native-udp-socket.ts. Build: scripts/build-native.sh.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Datagrams per recvmmsg(2) call; also the rows of the metadata array JavaScript passes in. */
#define BATCH 32
/* recvmmsg calls per readable event before yielding to the event loop (timers, other sockets). */
#define ROUNDS_PER_EVENT 4
/* Largest UDP payload (65535 - 8 - 20) fits: a datagram is never truncated. */
#define SLOT_BYTES 65536
/* Metadata row: length, port, IPv4 address (host order; 0 for IPv6, see `addrs`). */
#define META_FIELDS 3

typedef struct udp_io {
  int fd;
  int family;
  int closing;
  /* Inside on_poll's callback scope: its async context is destroyed when the scope is closed. */
  int in_callback;
  /* Owners of this state: the JavaScript handle (until finalized) and the poll handle (until closed). */
  int refs;
  uv_poll_t poll;
  int poll_events;
  napi_env env;
  napi_ref on_recv;
  napi_ref on_writable;
  napi_ref meta_ref;
  napi_ref bufs_ref;
  napi_ref addrs_ref;
  napi_async_context async_ctx;
  uint32_t *meta;
  char *slots;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_storage from[BATCH];
} udp_io;

static void on_poll(uv_poll_t *h, int status, int events);

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) return throw_last(env, #call);             \
  } while (0)

static napi_value throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, "UDP_IO_NAPI", info != NULL && info->error_message != NULL ? info->error_message : what);
  return NULL;
}

/* Throws an Error whose `code` is the errno's name (EADDRINUSE ...), as node:dgram's errors have. */
static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  const char *name = uv_err_name(uv_translate_sys_error(err));
  char msg[160];
  snprintf(msg, sizeof msg, "%s %s", syscall, name);
  napi_value code, message, error;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_throw(env, error);
  return NULL;
}

static void delete_ref(napi_env env, napi_ref *ref) {
  if (*ref != NULL) napi_delete_reference(env, *ref);
  *ref = NULL;
}

/*
 * Lets go of what Node-API holds for the socket. Only on the JavaScript thread while the env
 * lives: from close(), the handle's finalizer (also at env teardown) or a failed open; never from
 * the poll handle's close callback, which may run after the env is gone.
 */
static void drop_js(udp_io *s) {
  napi_env env = s->env;
  if (env == NULL) return;
  delete_ref(env, &s->on_recv);
  delete_ref(env, &s->on_writable);
  delete_ref(env, &s->meta_ref);
  delete_ref(env, &s->bufs_ref);
  delete_ref(env, &s->addrs_ref);
  if (s->async_ctx != NULL && !s->in_callback) {
    napi_async_destroy(env, s->async_ctx);
    s->async_ctx = NULL;
  }
  if (s->async_ctx == NULL) s->env = NULL;
}

static void unref(udp_io *s) {
  if (--s->refs == 0) free(s);
}

static void on_closed(uv_handle_t *h) {
  udp_io *s = h->data;
  free(s->slots);
  s->slots = NULL;
  unref(s);
}

/* Stops polling, closes the socket, lets go of JavaScript; the C state goes when both owners are done. */
static void shut(udp_io *s) {
  if (s->closing) return;
  s->closing = 1;
  uv_poll_stop(&s->poll);
  close(s->fd);
  s->fd = -1;
  drop_js(s);
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

static int set_events(udp_io *s, int events) {
  if (s->closing || events == s->poll_events) return 0;
  s->poll_events = events;
  return uv_poll_start(&s->poll, events, on_poll);
}

/* An exception a JavaScript callback let escape: reported as uncaught, as Node does for its own callbacks. */
static void report_exception(napi_env env) {
  bool pending = false;
  napi_value exc;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
    napi_fatal_exception(env, exc);
  }
}

/*
 * One recvmmsg batch up to JavaScript; returns the datagrams read, 0 when there were none (EAGAIN,
 * or an error the read consumed: the poll is level-triggered, so nothing is lost), -1 to stop.
 */
static int read_batch(udp_io *s, napi_value recv_cb, napi_value bufs, napi_value addrs) {
  for (int i = 0; i < BATCH; i++) {
    s->iov[i].iov_base = s->slots + (size_t)i * SLOT_BYTES;
    s->iov[i].iov_len = SLOT_BYTES;
    memset(&s->msgs[i].msg_hdr, 0, sizeof(struct msghdr));
    s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
    s->msgs[i].msg_hdr.msg_iovlen = 1;
    s->msgs[i].msg_hdr.msg_name = &s->from[i];
    s->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
  }
  int n = recvmmsg(s->fd, s->msgs, BATCH, MSG_DONTWAIT, NULL);
  if (n <= 0) return 0;
  napi_env env = s->env;
  for (int i = 0; i < n; i++) {
    uint32_t len = s->msgs[i].msg_len;
    /* A Buffer of its own per datagram, as node:dgram gives: a message kept for long (a ringing
     * INVITE) then holds its own bytes, not a whole batch's. */
    napi_value buf;
    void *copy;
    if (napi_create_buffer_copy(env, len, s->iov[i].iov_base, &copy, &buf) != napi_ok) return -1;
    napi_set_element(env, bufs, (uint32_t)i, buf);
    uint32_t *row = s->meta + (size_t)i * META_FIELDS;
    row[0] = len;
    if (s->from[i].ss_family == AF_INET) {
      const struct sockaddr_in *a = (const struct sockaddr_in *)&s->from[i];
      row[1] = ntohs(a->sin_port);
      row[2] = ntohl(a->sin_addr.s_addr);
    } else {
      const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&s->from[i];
      char text[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
      row[1] = ntohs(a->sin6_port);
      row[2] = 0;
      napi_value str;
      napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &str);
      napi_set_element(env, addrs, (uint32_t)i, str);
    }
  }
  napi_value argv[1], undefined, result;
  napi_create_uint32(env, (uint32_t)n, &argv[0]);
  napi_get_undefined(env, &undefined);
  if (napi_call_function(env, undefined, recv_cb, 1, argv, &result) != napi_ok) {
    /* The JavaScript side catches its own errors; one escaping here is reported, not swallowed. */
    report_exception(env);
    return -1;
  }
  return n;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  udp_io *s = h->data;
  if (s->closing) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value resource;
  napi_callback_scope cscope;
  napi_create_object(env, &resource);
  if (napi_open_callback_scope(env, resource, s->async_ctx, &cscope) != napi_ok) {
    napi_close_handle_scope(env, scope);
    return;
  }
  s->in_callback = 1;
  /* An error on the socket (POLLERR): libuv has stopped the handle; a read reports (and clears) it. */
  if (status < 0) events = UV_READABLE;
  if ((events & UV_WRITABLE) && !s->closing) {
    napi_value cb, undefined, result;
    napi_get_reference_value(env, s->on_writable, &cb);
    napi_get_undefined(env, &undefined);
    if (napi_call_function(env, undefined, cb, 0, NULL, &result) != napi_ok) report_exception(env);
  }
  if ((events & UV_READABLE) && !s->closing) {
    napi_value cb, bufs, addrs;
    napi_get_reference_value(env, s->on_recv, &cb);
    napi_get_reference_value(env, s->bufs_ref, &bufs);
    napi_get_reference_value(env, s->addrs_ref, &addrs);
    for (int round = 0; round < ROUNDS_PER_EVENT && !s->closing; round++) {
      if (read_batch(s, cb, bufs, addrs) < BATCH) break;
    }
  }
  napi_close_callback_scope(env, cscope);
  napi_close_handle_scope(env, scope);
  s->in_callback = 0;
  if (s->closing) {
    drop_js(s); /* a close() from JavaScript inside this callback left the async context to here */
  } else if (status < 0) {
    int wanted = s->poll_events;
    s->poll_events = 0;
    set_events(s, wanted); /* re-arm the handle libuv stopped */
  }
}

static int get_string(napi_env env, napi_value v, char *out, size_t size) {
  size_t len = 0;
  if (napi_get_value_string_latin1(env, v, out, size, &len) != napi_ok) return -1;
  return len + 1 >= size ? -1 : 0;
}

/* Fills `sa` from an IP literal for a socket of `family` (IPv4 on an IPv6 socket: v4-mapped). */
static int to_sockaddr(int family, const char *ip, uint32_t port, struct sockaddr_storage *sa, socklen_t *len) {
  memset(sa, 0, sizeof *sa);
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)sa;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) return -1;
    *len = sizeof *a;
    return 0;
  }
  struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;
  a->sin6_family = AF_INET6;
  a->sin6_port = htons((uint16_t)port);
  if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1) {
    struct in_addr v4;
    if (inet_pton(AF_INET, ip, &v4) != 1) return -1;
    a->sin6_addr.s6_addr[10] = 0xff;
    a->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
  }
  *len = sizeof *a;
  return 0;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  /* Collected, or the env is being torn down, without close(): close now (on the loop's thread). */
  udp_io *s = data;
  if (!s->closing) shut(s);
  drop_js(s); /* Node runs Node-API finalizers outside callbacks: no on_poll is under way */
  unref(s);
}

/*
 * open(family 4|6, address, port, reusePort, recvBufferBytes, onRecv(n), onWritable(),
 *      meta Uint32Array(BATCH * 3), bufs Array, addrs Array) → handle. Throws an Error with
 * `code` on failure. onRecv(n): datagrams 0..n-1 are bufs[i], with meta row i (length, port,
 * IPv4 address) and, on an IPv6 socket, addrs[i].
 */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 10) {
    napi_throw_type_error(env, NULL, "open: 10 arguments expected");
    return NULL;
  }
  uint32_t fam, port, rcvbuf;
  bool reuse;
  char ip[INET6_ADDRSTRLEN + 1];
  CHECK(napi_get_value_uint32(env, argv[0], &fam));
  if (get_string(env, argv[1], ip, sizeof ip) < 0) {
    napi_throw_type_error(env, NULL, "open: address must be an IP literal");
    return NULL;
  }
  CHECK(napi_get_value_uint32(env, argv[2], &port));
  CHECK(napi_get_value_bool(env, argv[3], &reuse));
  CHECK(napi_get_value_uint32(env, argv[4], &rcvbuf));
  napi_typedarray_type type;
  size_t length;
  void *meta;
  napi_value ab;
  size_t offset;
  CHECK(napi_get_typedarray_info(env, argv[7], &type, &length, &meta, &ab, &offset));
  if (type != napi_uint32_array || length < BATCH * META_FIELDS) {
    napi_throw_type_error(env, NULL, "open: meta must be a Uint32Array of 96 or more");
    return NULL;
  }
  int family = fam == 6 ? AF_INET6 : AF_INET;
  struct sockaddr_storage sa;
  socklen_t salen;
  if (to_sockaddr(family, ip, port, &sa, &salen) < 0 || port > 65535) {
    napi_throw_type_error(env, NULL, "open: address must be an IP literal of the family, port 0-65535");
    return NULL;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "setsockopt", err);
  }
  if (rcvbuf > 0) {
    int size = (int)rcvbuf;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size); /* best effort: capped by rmem_max */
  }
  if (bind(fd, (struct sockaddr *)&sa, salen) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  udp_io *s = calloc(1, sizeof(udp_io));
  if (s == NULL || (s->slots = malloc((size_t)BATCH * SLOT_BYTES)) == NULL) {
    free(s);
    close(fd);
    return throw_errno(env, "malloc", ENOMEM);
  }
  s->fd = fd;
  s->family = family;
  s->env = env;
  s->meta = meta;
  napi_value name;
  uv_loop_t *loop;
  if (napi_create_reference(env, argv[5], 1, &s->on_recv) != napi_ok || napi_create_reference(env, argv[6], 1, &s->on_writable) != napi_ok ||
      napi_create_reference(env, argv[7], 1, &s->meta_ref) != napi_ok || napi_create_reference(env, argv[8], 1, &s->bufs_ref) != napi_ok ||
      napi_create_reference(env, argv[9], 1, &s->addrs_ref) != napi_ok ||
      napi_create_string_utf8(env, "sipfleet.udp", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &s->async_ctx) != napi_ok || napi_get_uv_event_loop(env, &loop) != napi_ok ||
      uv_poll_init(loop, &s->poll, fd) != 0) {
    close(fd);
    drop_js(s);
    free(s->slots);
    free(s);
    return throw_last(env, "open");
  }
  s->poll.data = s;
  s->refs = 1; /* the poll handle's */
  int err = set_events(s, UV_READABLE);
  if (err != 0) {
    shut(s);
    napi_throw_error(env, uv_err_name(err), "uv_poll_start failed");
    return NULL;
  }
  napi_value handle;
  if (napi_create_external(env, s, finalize, NULL, &handle) != napi_ok) {
    shut(s);
    return throw_last(env, "open");
  }
  s->refs++; /* the JavaScript handle's */
  return handle;
}

static udp_io *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "not a udp-io handle");
    return NULL;
  }
  return p;
}

/* A call on a handle: its `n` arguments, argv[0] the handle; NULL (a JavaScript exception pending) when not. */
static udp_io *handle_call(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    throw_last(env, "arguments");
    return NULL;
  }
  if (argc < n) {
    napi_throw_type_error(env, NULL, "udp-io: too few arguments");
    return NULL;
  }
  return unwrap(env, argv[0]);
}

/* send(handle, buf, address, port) → bytes sent, or -errno (EAGAIN: queue and wait for writable). */
static napi_value Send(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  udp_io *s = handle_call(env, info, 4, argv);
  if (s == NULL) return NULL;
  napi_value out;
  if (s->closing) {
    napi_create_int32(env, -EBADF, &out);
    return out;
  }
  void *data;
  size_t len;
  CHECK(napi_get_buffer_info(env, argv[1], &data, &len));
  char ip[INET6_ADDRSTRLEN + 1];
  uint32_t port;
  CHECK(napi_get_value_uint32(env, argv[3], &port));
  struct sockaddr_storage sa;
  socklen_t salen;
  if (get_string(env, argv[2], ip, sizeof ip) < 0 || port > 65535 || to_sockaddr(s->family, ip, port, &sa, &salen) < 0) {
    napi_create_int32(env, -EINVAL, &out);
    return out;
  }
  ssize_t r;
  do r = sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
  while (r < 0 && errno == EINTR);
  napi_create_int32(env, r < 0 ? -errno : (int32_t)r, &out);
  return out;
}

/* watchWritable(handle, on): call onWritable once the socket can take a datagram again. */
static napi_value WatchWritable(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  udp_io *s = handle_call(env, info, 2, argv);
  if (s == NULL) return NULL;
  bool on;
  CHECK(napi_get_value_bool(env, argv[1], &on));
  set_events(s, UV_READABLE | (on ? UV_WRITABLE : 0));
  return NULL;
}

/* localAddress(handle) → [address, port] (getsockname). */
static napi_value LocalAddress(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  udp_io *s = handle_call(env, info, 1, argv);
  if (s == NULL) return NULL;
  if (s->closing) return throw_errno(env, "getsockname", EBADF);
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  if (getsockname(s->fd, (struct sockaddr *)&sa, &len) < 0) return throw_errno(env, "getsockname", errno);
  char text[INET6_ADDRSTRLEN];
  uint32_t port;
  if (sa.ss_family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&sa;
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  napi_value arr, str, num;
  CHECK(napi_create_array_with_length(env, 2, &arr));
  CHECK(napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &str));
  CHECK(napi_create_uint32(env, port, &num));
  napi_set_element(env, arr, 0, str);
  napi_set_element(env, arr, 1, num);
  return arr;
}

/* close(handle): no callback reaches JavaScript afterwards; idempotent. */
static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  udp_io *s = handle_call(env, info, 1, argv);
  if (s == NULL) return NULL;
  shut(s);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value batch;
  napi_create_uint32(env, BATCH, &batch);
  napi_property_descriptor props[] = {
    {"open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"send", NULL, Send, NULL, NULL, NULL, napi_enumerable, NULL},
    {"watchWritable", NULL, WatchWritable, NULL, NULL, NULL, napi_enumerable, NULL},
    {"localAddress", NULL, LocalAddress, NULL, NULL, NULL, napi_enumerable, NULL},
    {"close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL},
    {"BATCH", NULL, NULL, NULL, NULL, batch, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
