// The few Linux system calls that Node has no binding for: file leases (which tell whether any
// process has a file open for writing, and warn us when one opens it) and advisory locks on the
// input directory (which no upstream writer ever waits on). Each function returns 0
// or a positive errno, never throws: the caller decides what each errno means.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

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

// Reads the whole of /proc/self/cmdline: this process's argv as the kernel got it (bytes, not
// Node's UTF-8 reading of them, which replaces what is not UTF-8). NULL on failure.
static char *read_cmdline(size_t *size) {
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (buf == NULL) break;
    if (len == cap) {
      char *bigger = realloc(buf, cap * 2);
      if (bigger == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
    ssize_t got = read(fd, buf + len, cap - len);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      free(buf);
      buf = NULL;
      break;
    }
    if (got == 0) break;
    len += (size_t)got;
  }
  close(fd);
  *size = len;
  return buf;
}

// execSelf(flags): replaces this process by the same node binary and the same arguments, with
// `flags` inserted after the program name, keeping the pid: a daemon started without heap
// limits restarts itself with them before doing any work, and a supervisor, a shell's job
// control and kill -9 still see one process. The arguments are the kernel's bytes, so a path
// that is not UTF-8 survives. Returns an errno only if it failed; on success it does not
// return. The signal mask is cleared first: blocked signals would stay blocked across execve.
static napi_value exec_self(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  uint32_t nflags = 0;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_array_length(env, args[0], &nflags) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected an array of flags");
    return NULL;
  }
  size_t size = 0;
  char *cmdline = read_cmdline(&size);
  if (cmdline == NULL || size == 0) {
    free(cmdline);
    return result(env, errno != 0 ? errno : EIO);
  }
  size_t nargs = 0;
  for (size_t i = 0; i < size; i++) nargs += cmdline[i] == '\0';
  if (cmdline[size - 1] != '\0') nargs++;
  char **argv = calloc(nargs + nflags + 1, sizeof(char *));
  int err = argv == NULL ? ENOMEM : 0;
  size_t at = 0;
  if (err == 0) argv[at++] = cmdline;
  for (uint32_t i = 0; i < nflags && err == 0; i++) {
    napi_value item;
    size_t len = 0;
    if (napi_get_element(env, args[0], i, &item) != napi_ok ||
        napi_get_value_string_utf8(env, item, NULL, 0, &len) != napi_ok) {
      err = EINVAL;
      break;
    }
    argv[at] = malloc(len + 1);
    if (argv[at] == NULL) {
      err = ENOMEM;
      break;
    }
    napi_get_value_string_utf8(env, item, argv[at++], len + 1, &len);
  }
  if (err == 0) {
    // The rest of the arguments, each NUL-terminated in place (the last one may not be).
    char *terminated = realloc(cmdline, size + 1);
    if (terminated == NULL) err = ENOMEM;
    else cmdline = terminated;
  }
  if (err == 0) {
    cmdline[size] = '\0';
    argv[0] = cmdline;
    for (size_t i = strlen(cmdline) + 1; i < size; i += strlen(cmdline + i) + 1) {
      argv[at++] = cmdline + i;
    }
    argv[at] = NULL;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    // Node marks its standard streams close-on-exec: the new image would find them closed
    // (and open /dev/null in their place). They are the one thing that must carry over.
    for (int fd = 0; fd <= 2; fd++) {
      int flags = fcntl(fd, F_GETFD);
      if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
    }
    // The binary's own path, not /proc/self/exe: the process's name (comm, what ps -C and
    // pgrep match) is taken from the path executed.
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) self[len] = '\0';
    const char *deleted = " (deleted)";
    size_t dlen = strlen(deleted);
    int usable = len > 0 && !((size_t)len >= dlen && strcmp(self + len - dlen, deleted) == 0);
    execve(usable ? self : "/proc/self/exe", argv, environ);
    err = errno;
  }
  if (argv != NULL) {
    for (size_t i = 1; i <= nflags && i < nargs + nflags; i++) free(argv[i]);
    free(argv);
  }
  free(cmdline);
  return result(env, err);
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
      {"execSelf", NULL, exec_self, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  constant(env, exports, "F_RDLCK", F_RDLCK);
  constant(env, exports, "F_WRLCK", F_WRLCK);
  constant(env, exports, "F_UNLCK", F_UNLCK);
  return exports;
}
