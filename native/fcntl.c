// The few Linux system calls that Node has no binding for: file leases (which tell whether any
// process has a file open for writing, and warn us when one opens it) and advisory locks on the
// input directory (which no upstream writer ever waits on). Each function returns 0
// or a positive errno, never throws: the caller decides what each errno means.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>

// Reads n numeric arguments (descriptors, lock types, offsets up to 2^53).
static int num_args(napi_env env, napi_callback_info info, size_t n, double *out) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n) return -1;
  for (size_t i = 0; i < n; i++) {
    if (napi_get_value_double(env, argv[i], &out[i]) != napi_ok) return -1;
  }
  return 0;
}

static napi_value result(napi_env env, int32_t value) {
  napi_value out;
  napi_create_int32(env, value, &out);
  return out;
}

static napi_value bad_args(napi_env env) {
  napi_throw_type_error(env, NULL, "expected integer arguments");
  return NULL;
}

// setLease(fd, type): fcntl(F_SETLEASE); type is F_RDLCK, F_WRLCK or F_UNLCK. 0 or errno.
static napi_value set_lease(napi_env env, napi_callback_info info) {
  double a[2];
  if (num_args(env, info, 2, a) != 0) return bad_args(env);
  return result(env, fcntl((int)a[0], F_SETLEASE, (int)a[1]) == 0 ? 0 : errno);
}

// getLease(fd): fcntl(F_GETLEASE): the lease held, or the type it is being broken to
// (F_UNLCK while a writer waits for us to let go). -errno on failure.
static napi_value get_lease(napi_env env, napi_callback_info info) {
  double a[1];
  if (num_args(env, info, 1, a) != 0) return bad_args(env);
  int type = fcntl((int)a[0], F_GETLEASE);
  return result(env, type >= 0 ? type : -errno);
}

// ofdLock(fd, type, start, length): an open-file-description lock (F_OFD_SETLK, never waits),
// which unlike a POSIX record lock survives the process closing other descriptors of the same
// file (a scan's opendir of the locked directory). 0 or errno.
static napi_value ofd_lock(napi_env env, napi_callback_info info) {
  double a[4];
  if (num_args(env, info, 4, a) != 0) return bad_args(env);
  struct flock fl = {0};
  fl.l_type = (short)a[1];
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)a[2];
  fl.l_len = (off_t)a[3];
  return result(env, fcntl((int)a[0], F_OFD_SETLK, &fl) == 0 ? 0 : errno);
}

// ofdConflict(fd, type, start, length): F_OFD_GETLK. -errno on failure, -1 when the lock could
// be placed, otherwise the start of a conflicting lock held by another open file description.
static napi_value ofd_conflict(napi_env env, napi_callback_info info) {
  double a[4];
  if (num_args(env, info, 4, a) != 0) return bad_args(env);
  struct flock fl = {0};
  fl.l_type = (short)a[1];
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)a[2];
  fl.l_len = (off_t)a[3];
  napi_value out;
  if (fcntl((int)a[0], F_OFD_GETLK, &fl) != 0) {
    napi_create_double(env, -(double)errno - 1, &out);
  } else {
    napi_create_double(env, fl.l_type == F_UNLCK ? -1 : (double)fl.l_start, &out);
  }
  return out;
}

// dupFd(fd): a second descriptor of the same open file (F_DUPFD_CLOEXEC), or -errno. A lease
// belongs to the open file, not to one descriptor: a hashing thread hands the main thread a
// duplicate and closes its own, since Node closes on a thread's exit the descriptors the thread
// opened and warns when one it still counts as open is opened again.
static napi_value dup_fd(napi_env env, napi_callback_info info) {
  double a[1];
  if (num_args(env, info, 1, a) != 0) return bad_args(env);
  int fd = fcntl((int)a[0], F_DUPFD_CLOEXEC, 0);
  return result(env, fd >= 0 ? fd : -errno);
}

static napi_value constant(napi_env env, napi_value exports, const char *name, int32_t value) {
  napi_set_named_property(env, exports, name, result(env, value));
  return exports;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor fns[] = {
      {"setLease", NULL, set_lease, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getLease", NULL, get_lease, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ofdLock", NULL, ofd_lock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dupFd", NULL, dup_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ofdConflict", NULL, ofd_conflict, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  constant(env, exports, "F_RDLCK", F_RDLCK);
  constant(env, exports, "F_WRLCK", F_WRLCK);
  constant(env, exports, "F_UNLCK", F_UNLCK);
  return exports;
}
