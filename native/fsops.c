/* berth-fsops: performs, inside one layer directory, the file operations that Node.js lacks
 * (mknod, mkfifo, setxattr, hard links by fd, lchown with setuid modes kept) and the plain ones
 * too, so that a layer is written by one process fed one stream.
 *
 *   berth-fsops apply DIR      operations (fsops.h) on stdin, applied in order under DIR
 *   berth-fsops xattrs DIR     NUL-terminated paths on stdin; for each, its extended attributes
 *                              on stdout: u32 path_len, path, u32 count, {u32 len, name,
 *                              u32 len, value}...
 *
 * It decides nothing: the TypeScript side has already validated names, refused escapes,
 * converted whiteouts and ordered the operations. As a second line of defence every path is
 * resolved with openat2(RESOLVE_BENEATH), so that no symlink, "..", or absolute path in the
 * layer can make it touch anything outside DIR, whatever it is sent. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsops.h"

static int root_fd = -1;
static unsigned long op_index;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "berth-fsops: operation %lu: ", op_index);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (saved) fprintf(stderr, ": %s", strerror(saved));
  fputc('\n', stderr);
  exit(1);
}

static void read_exact(void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(STDIN_FILENO, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = 0;
      die("input ended inside an operation");
    }
    p += n;
    len -= (size_t)n;
  }
}

static void write_exact(const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(STDOUT_FILENO, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("write output");
    p += n;
    len -= (size_t)n;
  }
}

/* Opens a directory under the layer root. RESOLVE_BENEATH makes the kernel refuse (EXDEV) any
 * resolution that would leave root_fd: "..", absolute symlinks, relative symlinks climbing out;
 * RESOLVE_NO_MAGICLINKS refuses /proc-style links. O_PATH: we only need it as a dirfd. */
static int open_beneath(const char *path, int flags) {
  if (path[0] == 0) return dup(root_fd);
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
  int fd;
  do fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN);
  return fd;
}

/* The parent directory of the last operation stays open: layers list a directory's entries
 * together, so most operations reuse it. */
static char cached_parent[FSOP_MAX_PATH + 1];
static int cached_fd = -1;

static void forget_parent(void) {
  if (cached_fd >= 0) close(cached_fd);
  cached_fd = -1;
  cached_parent[0] = 0;
}

/* Splits `path` into an fd for its parent (beneath root) and its last component. */
static int parent_of(char *path, const char **base) {
  char *slash = strrchr(path, '/');
  const char *parent = "";
  if (slash) {
    *slash = 0;
    parent = path;
    *base = slash + 1;
  } else {
    *base = path;
  }
  if (strcmp(**base ? *base : ".", ".") == 0 || strcmp(*base, "..") == 0) {
    errno = 0;
    die("bad last path component \"%s\"", *base);
  }
  if (cached_fd >= 0 && strcmp(parent, cached_parent) == 0) return cached_fd;
  forget_parent();
  int fd = open_beneath(parent, O_PATH | O_DIRECTORY);
  if (fd < 0) die("open parent directory \"%s\" beneath the layer", parent);
  snprintf(cached_parent, sizeof cached_parent, "%s", parent);
  cached_fd = fd;
  return fd;
}

static void set_owner_mode(int dirfd, const char *base, const struct fsop_header *h, int symlink) {
  /* fchownat before fchmodat: chown clears setuid/setgid bits, so the mode is set last. */
  if (fchownat(dirfd, base, h->uid, h->gid, AT_SYMLINK_NOFOLLOW) < 0) die("lchown %s", base);
  if (!symlink && fchmodat(dirfd, base, h->mode & 07777, 0) < 0) die("chmod %s", base);
}

/* Removes `name` in `dirfd`, recursively when it is a directory. Never follows symlinks:
 * subdirectories are opened with O_NOFOLLOW relative to their parent's fd. */
static void remove_at(int dirfd, const char *name) {
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return;
  if (errno != EISDIR) die("unlink %s", name);
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("open %s", name);
  DIR *dir = fdopendir(fd);
  if (!dir) die("fdopendir %s", name);
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    remove_at(fd, e->d_name);
  }
  closedir(dir);
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) die("rmdir %s", name);
}

static int in_list(const char *name, const char *list, size_t len) {
  for (size_t i = 0; i < len;) {
    if (strcmp(list + i, name) == 0) return 1;
    i += strlen(list + i) + 1;
  }
  return 0;
}

static void clear_dir(const char *path, const char *keep, size_t keep_len) {
  int fd = open_beneath(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) die("open directory \"%s\"", path);
  DIR *dir = fdopendir(fd);
  if (!dir) die("fdopendir %s", path);
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (!in_list(e->d_name, keep, keep_len)) remove_at(fd, e->d_name);
  }
  closedir(dir);
}

/* Copies `len` bytes of stdin into fd: splice moves pipe pages into the page cache without a
 * trip through user space; read/write is the fallback when stdin is not a pipe. */
static void copy_data(int fd, uint64_t len, const char *name) {
  static char buf[1 << 16];
  /* Node gives its children a socket pair, not a pipe, as stdin: splice then fails once with
   * EINVAL, and read/write serves the rest of the batch. */
  static int can_splice = 1;
  while (len > 0) {
    size_t want = len > (1 << 20) ? (1 << 20) : (size_t)len;
    ssize_t n;
    if (can_splice) {
      n = splice(STDIN_FILENO, NULL, fd, NULL, want, SPLICE_F_MOVE);
      if (n < 0 && (errno == EINVAL || errno == ESPIPE)) {
        can_splice = 0;
        continue;
      }
    } else {
      n = read(STDIN_FILENO, buf, want > sizeof buf ? sizeof buf : want);
      if (n > 0 && write(fd, buf, (size_t)n) != n) die("write %s", name);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("write %s", name);
    if (n == 0) {
      errno = 0;
      die("input ended inside the data of %s", name);
    }
    len -= (uint64_t)n;
  }
}

/* Tar semantics: a later entry replaces an earlier one of the same name (but not a directory). */
static void make_room(int dirfd, const char *base) {
  if (unlinkat(dirfd, base, 0) < 0 && errno != ENOENT) die("replace %s", base);
}

static void apply_one(const struct fsop_header *h, char *path, char *arg) {
  const char *base;
  if (h->op == FSOP_CLEAR) {
    clear_dir(path, arg, h->arg_len);
    return;
  }
  int root_itself = path[0] == 0;
  int dirfd = root_itself ? root_fd : parent_of(path, &base);
  if (root_itself) base = "";
  switch (h->op) {
  case FSOP_MKDIR:
    if (!root_itself && mkdirat(dirfd, base, 0700) < 0) {
      struct stat st;
      if (errno != EEXIST || fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) die("mkdir %s", path);
      if (S_ISDIR(st.st_mode) && (h->flags & FSOP_KEEP_EXISTING)) return;
      if (!S_ISDIR(st.st_mode)) {
        make_room(dirfd, base);
        if (mkdirat(dirfd, base, 0700) < 0) die("mkdir %s", path);
      }
    }
    if (root_itself) {
      if (fchown(root_fd, h->uid, h->gid) < 0 || fchmod(root_fd, h->mode & 07777) < 0) die("chown/chmod layer root");
    } else {
      set_owner_mode(dirfd, base, h, 0);
    }
    return;
  case FSOP_FILE: {
    int fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
      make_room(dirfd, base);
      fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd < 0) die("create %s", path);
    copy_data(fd, h->data_len, path);
    if (fchown(fd, h->uid, h->gid) < 0 || fchmod(fd, h->mode & 07777) < 0) die("chown/chmod %s", path);
    close(fd);
    return;
  }
  case FSOP_SYMLINK:
    if (symlinkat(arg, dirfd, base) < 0) {
      if (errno != EEXIST) die("symlink %s", path);
      make_room(dirfd, base);
      if (symlinkat(arg, dirfd, base) < 0) die("symlink %s", path);
    }
    set_owner_mode(dirfd, base, h, 1);
    return;
  case FSOP_LINK: {
    /* The target is opened beneath root too, as O_PATH without following a final symlink, and
     * linked by fd (AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, which root has): no path to race. */
    int target = open_beneath(arg, O_PATH | O_NOFOLLOW);
    if (target < 0) die("open hard link target \"%s\"", arg);
    if (linkat(target, "", dirfd, base, AT_EMPTY_PATH) < 0) {
      if (errno != EEXIST) die("link %s", path);
      make_room(dirfd, base);
      if (linkat(target, "", dirfd, base, AT_EMPTY_PATH) < 0) die("link %s", path);
    }
    close(target);
    return;
  }
  case FSOP_MKNOD: {
    dev_t dev = makedev(h->major, h->minor);
    if (mknodat(dirfd, base, h->mode & (S_IFMT | 0777), dev) < 0) {
      if (errno != EEXIST) die("mknod %s", path);
      make_room(dirfd, base);
      if (mknodat(dirfd, base, h->mode & (S_IFMT | 0777), dev) < 0) die("mknod %s", path);
    }
    set_owner_mode(dirfd, base, h, 0);
    return;
  }
  case FSOP_XATTR: {
    /* No *at() form of setxattr exists: go through the verified parent fd's /proc link, with
     * lsetxattr so that a final symlink is not followed. */
    char proc[64 + FSOP_MAX_PATH];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", dirfd, base);
    static char value[FSOP_MAX_ARG];
    if (h->data_len > sizeof value) die("xattr %s on %s: value too large", arg, path);
    read_exact(value, (size_t)h->data_len);
    int r = root_itself ? fsetxattr(root_fd, arg, value, (size_t)h->data_len, 0)
                        : lsetxattr(proc, arg, value, (size_t)h->data_len, 0);
    if (r < 0) die("setxattr %s on %s", arg, path);
    return;
  }
  case FSOP_TIMES: {
    struct timespec ts[2] = {{h->mtime_sec, h->mtime_nsec}, {h->mtime_sec, h->mtime_nsec}};
    int r = root_itself ? futimens(root_fd, ts) : utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW);
    if (r < 0) die("set times of %s", path);
    return;
  }
  case FSOP_REMOVE:
    if (root_itself) {
      errno = 0;
      die("refusing to remove the layer root");
    }
    remove_at(dirfd, base);
    return;
  default:
    errno = 0;
    die("unknown operation %u", h->op);
  }
}

static int apply(int durable) {
  static char path[FSOP_MAX_PATH + 1];
  static char arg[FSOP_MAX_ARG + 1];
  for (op_index = 0;; op_index++) {
    struct fsop_header h;
    ssize_t n;
    do n = read(STDIN_FILENO, &h, sizeof h);
    while (n < 0 && errno == EINTR);
    if (n == 0) break;
    if (n < 0) die("read");
    if ((size_t)n < sizeof h) read_exact((char *)&h + n, sizeof h - (size_t)n);
    if (h.path_len > FSOP_MAX_PATH || h.arg_len > FSOP_MAX_ARG) {
      errno = 0;
      die("path or argument too long");
    }
    read_exact(path, h.path_len);
    path[h.path_len] = 0;
    read_exact(arg, h.arg_len);
    arg[h.arg_len] = 0;
    if (h.op != FSOP_FILE && h.op != FSOP_XATTR && h.data_len != 0) {
      errno = 0;
      die("data on an operation that takes none");
    }
    apply_one(&h, path, arg);
  }
  forget_parent();
  /* Make the layer durable before the caller renames it into place: after a crash a committed
   * layer must be whole. "apply-volatile" is for trees that a crash makes moot anyway. */
  if (durable && syncfs(root_fd) < 0) die("syncfs");
  return 0;
}

static void put_u32(uint32_t v) { write_exact(&v, sizeof v); }

static int xattrs(void) {
  static char path[FSOP_MAX_PATH + 1];
  static char names[65536];
  static char value[65536];
  size_t len = 0;
  for (;;) {
    int c = getchar();
    if (c == EOF) break;
    if (c != 0) {
      if (len >= FSOP_MAX_PATH) die("path too long");
      path[len++] = (char)c;
      continue;
    }
    path[len] = 0;
    char proc[64 + FSOP_MAX_PATH];
    if (len > 0) {
      const char *base;
      char copy[FSOP_MAX_PATH + 1];
      memcpy(copy, path, len + 1);
      int fd = parent_of(copy, &base);
      snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", fd, base);
    }
    ssize_t total = len == 0 ? flistxattr(root_fd, names, sizeof names) : llistxattr(proc, names, sizeof names);
    if (total < 0) die("listxattr %s", path);
    put_u32((uint32_t)len);
    write_exact(path, len);
    uint32_t count = 0;
    for (ssize_t i = 0; i < total; i += (ssize_t)strlen(names + i) + 1) count++;
    put_u32(count);
    for (ssize_t i = 0; i < total; i += (ssize_t)strlen(names + i) + 1) {
      ssize_t vlen = len == 0 ? fgetxattr(root_fd, names + i, value, sizeof value)
                              : lgetxattr(proc, names + i, value, sizeof value);
      if (vlen < 0) die("getxattr %s on %s", names + i, path);
      put_u32((uint32_t)strlen(names + i));
      write_exact(names + i, strlen(names + i));
      put_u32((uint32_t)vlen);
      write_exact(value, (size_t)vlen);
    }
    len = 0;
  }
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  int is_apply = argc == 3 && strcmp(argv[1], "apply") == 0;
  int is_volatile = argc == 3 && strcmp(argv[1], "apply-volatile") == 0;
  if (argc != 3 || (!is_apply && !is_volatile && strcmp(argv[1], "xattrs") != 0)) {
    fprintf(stderr, "usage: berth-fsops apply|apply-volatile|xattrs DIR\n");
    return 2;
  }
  root_fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) die("open %s", argv[2]);
  return is_apply || is_volatile ? apply(is_apply) : xattrs();
}
