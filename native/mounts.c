/*
 * Filesystem steps of container set-up: mounts, device nodes, pivot_root, masked and read-only
 * paths. Paths "in root" are resolved with openat2(RESOLVE_IN_ROOT) against the root chosen by
 * OP_SET_ROOT, so a symlink planted in an image cannot point a mount at the host (the class of
 * bug behind CVE-2021-30465). Mounts then target /proc/self/fd/N, the resolved inode itself.
 */
#define _GNU_SOURCE
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "protocol.h"
#include "util.h"

static int root_fd = -1;
static char root_path[PATH_MAX] = "";
/* After pivot_root the container's "/" is the root: plain paths cannot leave it. */
static int pivoted = 0;

static int open_in_root(const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  while (*path == '/') path++;
  if (*path == 0) path = ".";
  return (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
}

/* Opens `path` inside the root as an O_PATH descriptor, creating what is missing as directories
 * (and the last component as `kind` says). */
static int resolve(const char *path, int kind) {
  if (root_fd < 0) return fail_plain("resolve `%s`: no root set", path);
  int fd = open_in_root(path, O_PATH);
  if (fd >= 0 || errno != ENOENT || kind == TARGET_NONE) {
    if (fd < 0) return fail("resolve `%s` in `%s`", path, root_path);
    return fd;
  }
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return fail_plain("path too long: %s", path);
  size_t len = strlen(buf);
  for (size_t i = 1; i <= len; i++) {
    if (buf[i] != '/' && buf[i] != 0) continue;
    int last = buf[i] == 0;
    buf[i] = 0;
    fd = open_in_root(buf, O_PATH);
    if (fd < 0 && errno == ENOENT) {
      /* Create the component in its (already resolved, hence confined) parent directory. */
      char *slash = strrchr(buf, '/');
      const char *name = slash ? slash + 1 : buf;
      int parent;
      if (slash && slash != buf) {
        *slash = 0;
        parent = open_in_root(buf, O_PATH | O_DIRECTORY);
        *slash = '/';
      } else {
        parent = open_in_root("/", O_PATH | O_DIRECTORY);
      }
      if (parent < 0) return fail("resolve parent of `%s` in `%s`", buf, root_path);
      int rc;
      if (last && kind == TARGET_FILE) {
        rc = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (rc >= 0) close(rc);
      } else {
        rc = mkdirat(parent, name, 0755);
      }
      close(parent);
      if (rc < 0 && errno != EEXIST) return fail("create `%s` in `%s`", buf, root_path);
      fd = open_in_root(buf, O_PATH);
    }
    if (fd < 0) return fail("resolve `%s` in `%s`", buf, root_path);
    if (last) return fd;
    close(fd);
    buf[i] = '/';
  }
  return fail_plain("resolve `%s`: empty path", path);
}

/* The path mount(2) should use for a resolved descriptor. */
static const char *fd_path(int fd, char *out, size_t size) {
  snprintf(out, size, "/proc/self/fd/%d", fd);
  return out;
}

/* A target for mount(2): before pivot_root a /proc/self/fd path of the confined inode; after it,
 * the plain path (and /proc may not even be mounted then). */
static int target(const char *path, int kind, char *out, size_t size, int *fd_out) {
  *fd_out = -1;
  if (pivoted) {
    if (kind != TARGET_NONE) {
      int fd = resolve(path, kind);
      if (fd < 0) return -1;
      close(fd);
    }
    snprintf(out, size, "%s", path);
    return 0;
  }
  int fd = resolve(path, kind);
  if (fd < 0) return -1;
  *fd_out = fd;
  fd_path(fd, out, size);
  return 0;
}

static int release(int fd, int rc) {
  if (fd >= 0) close(fd);
  return rc;
}

/* Flags a bind remount inside a user namespace must keep: the kernel locks them (EPERM otherwise). */
static unsigned long locked_flags(const char *path) {
  struct statvfs st;
  if (statvfs(path, &st) != 0) return 0;
  unsigned long flags = 0;
  if (st.f_flag & ST_RDONLY) flags |= MS_RDONLY;
  if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

static int bind_remount(const char *path, const char *shown, unsigned long flags) {
  flags |= MS_REMOUNT | MS_BIND;
  if (mount("", path, NULL, flags, NULL) == 0) return 0;
  if (errno == EPERM && mount("", path, NULL, flags | locked_flags(path), NULL) == 0) return 0;
  return fail("remount `%s`", shown);
}

static int op_mount(const struct op *op, int in_root) {
  const char *src = op_str(op, 0), *dst = op_str(op, 1), *type = op_str(op, 2), *data = op_str(op, 4);
  uint64_t flags, kind = TARGET_NONE;
  if (!src || !dst || !type || !data || op_u64(op, 3, &flags)) return -1;
  if (in_root && op_u64(op, 5, &kind)) return -1;
  char where[PATH_MAX];
  int fd = -1;
  if (in_root) {
    if (target(dst, (int)kind, where, sizeof where, &fd)) return -1;
  } else {
    snprintf(where, sizeof where, "%s", dst);
  }
  if (mount(src, where, *type ? type : NULL, (unsigned long)flags, *data ? data : NULL) != 0)
    return release(fd, fail("mount %s `%s` on `%s`", *type ? type : "bind", src, dst));
  return release(fd, 0);
}

static int op_remount(const struct op *op) {
  const char *dst = op_str(op, 0);
  uint64_t flags;
  if (!dst || op_u64(op, 1, &flags)) return -1;
  char where[PATH_MAX];
  int fd;
  if (target(dst, TARGET_NONE, where, sizeof where, &fd)) return -1;
  return release(fd, bind_remount(where, dst, (unsigned long)flags));
}

static int op_propagation(const struct op *op) {
  const char *dst = op_str(op, 0);
  uint64_t flags, in_root;
  if (!dst || op_u64(op, 1, &flags) || op_u64(op, 2, &in_root)) return -1;
  char where[PATH_MAX];
  int fd = -1;
  if (in_root) {
    if (target(dst, TARGET_NONE, where, sizeof where, &fd)) return -1;
  } else {
    snprintf(where, sizeof where, "%s", dst);
  }
  if (mount("", where, NULL, (unsigned long)flags, NULL) != 0)
    return release(fd, fail("set propagation of `%s`", dst));
  return release(fd, 0);
}

static int op_set_root(const struct op *op) {
  const char *path = op_str(op, 0);
  if (!path) return -1;
  int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail("open root `%s`", path);
  if (root_fd >= 0) close(root_fd);
  root_fd = fd;
  snprintf(root_path, sizeof root_path, "%s", path);
  return 0;
}

static int op_pivot_root(void) {
  if (root_fd < 0) return fail_plain("pivot_root: no root set");
  if (fchdir(root_fd) != 0) return fail("chdir `%s`", root_path);
  /* pivot_root(".", ".") stacks the old root on top of the new one; no put_old directory is
   * needed inside the image. */
  if (syscall(SYS_pivot_root, ".", ".") != 0) return fail("pivot_root `%s`", root_path);
  /* Make the old root a slave before detaching it, so that the unmount cannot propagate back to
   * the host's mounts, then detach it. */
  if (mount("", ".", "", MS_SLAVE | MS_REC, "") != 0) return fail("make old root a slave");
  if (umount2(".", MNT_DETACH) != 0) return fail("detach old root");
  if (chdir("/") != 0) return fail("chdir /");
  close(root_fd);
  root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return fail("open / after pivot_root");
  snprintf(root_path, sizeof root_path, "/");
  pivoted = 1;
  return 0;
}

static int op_chroot(void) {
  if (root_fd < 0) return fail_plain("chroot: no root set");
  if (fchdir(root_fd) != 0) return fail("chdir `%s`", root_path);
  if (chroot(".") != 0) return fail("chroot `%s`", root_path);
  if (chdir("/") != 0) return fail("chdir /");
  pivoted = 1;
  return 0;
}

static int op_mask(const struct op *op) {
  const char *path = op_str(op, 0);
  if (!path) return -1;
  char where[PATH_MAX];
  int fd;
  if (target(path, TARGET_NONE, where, sizeof where, &fd)) {
    if (errno == ENOENT) return 0; /* nothing there to hide */
    return -1;
  }
  struct stat st;
  if (stat(where, &st) != 0) return release(fd, errno == ENOENT ? 0 : fail("stat `%s`", path));
  int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", where, "tmpfs", MS_RDONLY, "size=0k")
                               : mount("/dev/null", where, NULL, MS_BIND, NULL);
  if (rc != 0) return release(fd, fail("mask `%s`", path));
  return release(fd, 0);
}

static int op_readonly(const struct op *op) {
  const char *path = op_str(op, 0);
  if (!path) return -1;
  char where[PATH_MAX];
  int fd;
  if (target(path, TARGET_NONE, where, sizeof where, &fd)) {
    if (errno == ENOENT) return 0;
    return -1;
  }
  struct stat st;
  if (stat(where, &st) != 0) return release(fd, errno == ENOENT ? 0 : fail("stat `%s`", path));
  if (mount(where, where, NULL, MS_BIND | MS_REC, NULL) != 0) return release(fd, fail("bind `%s`", path));
  release(fd, 0);
  /* Re-resolve: the descriptor still names the inode under the new bind mount. */
  if (target(path, TARGET_NONE, where, sizeof where, &fd)) return -1;
  return release(fd, bind_remount(where, path, MS_RDONLY | MS_REC));
}

static int op_write_file(const struct op *op) {
  const char *path = op_str(op, 0);
  if (!path || op->argc < 2) return fail_plain("plan: write-file op lacks arguments");
  char where[PATH_MAX];
  int pfd;
  if (target(path, TARGET_NONE, where, sizeof where, &pfd)) return -1;
  int fd = open(where, O_WRONLY | O_TRUNC | O_CLOEXEC);
  release(pfd, 0);
  if (fd < 0) return fail("open `%s`", path);
  if (write_all(fd, op->argv[1].data, op->argv[1].len) != 0) {
    fail("write `%s`", path);
    close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

/* Resolves the parent directory of `path` (creating it) and returns the last component. */
static int parent_of(const char *path, char *name, size_t size) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  const char *base = slash ? slash + 1 : dir;
  if (!*base) return fail_plain("`%s` has no file name", path);
  if (strlen(base) >= size) return fail_plain("file name too long: %s", path);
  memcpy(name, base, strlen(base) + 1);
  if (slash) {
    if (slash == dir) slash[1] = 0;
    else *slash = 0;
  } else {
    snprintf(dir, sizeof dir, "/");
  }
  return resolve(dir, TARGET_DIR);
}

static int op_mknod(const struct op *op) {
  const char *path = op_str(op, 0);
  uint64_t mode, dev, uid, gid;
  if (!path || op_u64(op, 1, &mode) || op_u64(op, 2, &dev) || op_u64(op, 3, &uid) || op_u64(op, 4, &gid))
    return -1;
  char name[NAME_MAX + 1];
  int dir = parent_of(path, name, sizeof name);
  if (dir < 0) return -1;
  if (unlinkat(dir, name, 0) != 0 && errno != ENOENT) return release(dir, fail("remove `%s`", path));
  if (mknodat(dir, name, (mode_t)mode, (dev_t)dev) != 0) return release(dir, fail("mknod `%s`", path));
  /* mknod applies the umask; the spec's fileMode is meant exactly. */
  if (fchmodat(dir, name, (mode_t)mode & 07777, 0) != 0) return release(dir, fail("chmod `%s`", path));
  if (fchownat(dir, name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) != 0)
    return release(dir, fail("chown `%s`", path));
  return release(dir, 0);
}

static int op_symlink(const struct op *op) {
  const char *to = op_str(op, 0), *path = op_str(op, 1);
  if (!to || !path) return -1;
  char name[NAME_MAX + 1];
  int dir = parent_of(path, name, sizeof name);
  if (dir < 0) return -1;
  if (symlinkat(to, dir, name) != 0 && errno != EEXIST) return release(dir, fail("symlink `%s`", path));
  return release(dir, 0);
}

static int op_mkdir(const struct op *op) {
  const char *path = op_str(op, 0);
  if (!path) return -1;
  int fd = resolve(path, TARGET_DIR);
  return fd < 0 ? -1 : release(fd, 0);
}

int mount_op(const struct op *op) {
  switch (op->code) {
    case OP_MOUNT: return op_mount(op, 1);
    case OP_MOUNT_HOST: return op_mount(op, 0);
    case OP_REMOUNT: return op_remount(op);
    case OP_PROPAGATION: return op_propagation(op);
    case OP_SET_ROOT: return op_set_root(op);
    case OP_PIVOT_ROOT: return op_pivot_root();
    case OP_CHROOT: return op_chroot();
    case OP_MASK: return op_mask(op);
    case OP_READONLY: return op_readonly(op);
    case OP_WRITE_FILE: return op_write_file(op);
    case OP_MKNOD: return op_mknod(op);
    case OP_SYMLINK: return op_symlink(op);
    case OP_MKDIR: return op_mkdir(op);
    case OP_CHDIR: {
      const char *path = op_str(op, 0);
      if (!path) return -1;
      return chdir(path) == 0 ? 0 : fail("chdir `%s`", path);
    }
    default: return fail_plain("plan: unknown op %u", op->code);
  }
}
