/* berth-fsops: the one way Berth touches a path inside an untrusted tree (a container's root,
 * an image's layers or tree, a build context, a volume). Node.js can neither resolve a path
 * inside a root nor act on what it resolved without reopening it by name; this helper does both
 * with the kernel's help (tree.h), and also what Node lacks entirely (mknod, mkfifo, setxattr,
 * hard links by descriptor, lchown with setuid modes kept).
 *
 *   berth-fsops apply ROOT [OPTIONS]     operations (fsops.h) on stdin, applied in order
 *   berth-fsops apply-volatile ROOT ...  the same without the final syncfs
 *   berth-fsops read                     walk requests (each naming its root) on stdin,
 *                                        records on stdout, until stdin ends (fsread.c)
 *   berth-fsops bind-from ROOT PATH TARGET ro|rw
 *                                        attaches a copy of the mount of PATH (resolved in
 *                                        ROOT) at the host path TARGET, read-only or not
 *   berth-fsops bind-into ROOT PATH SOURCE ro|rw
 *                                        attaches a copy of the host path SOURCE's mounts
 *                                        (recursively) on PATH, an existing entry resolved in
 *                                        ROOT, read-only or not
 * A ROOT is a directory or pid:PID:START (tree.h). apply's options:
 *   --dir PATH    write below PATH, resolved in ROOT (symlinks followed inside ROOT), not ROOT
 *   --in-root     resolve each operation's parent in ROOT, following symlinks inside it (a
 *                 copy into a container's tree); without it a parent is resolved BENEATH the
 *                 directory and a symlink that would leave it is refused (a layer)
 *   --hide IDS    mount ids (comma-separated) that no operation may reach
 * apply exits with status 3 when --dir is missing or not a directory, 1 on any other failure.
 *
 * It decides nothing: the TypeScript side has already validated names, refused escapes,
 * converted whiteouts and ordered the operations; the resolution is the second line of
 * defence that no symlink, "..", or absolute path can pass, whatever it is sent. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
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
#include "tree.h"

int fsread_serve(void);

/* The directory that operations' paths are relative to: the root, or --dir inside it. */
static int base_fd = -1;
/* RESOLVE_BENEATH (a layer) or RESOLVE_IN_ROOT (--in-root). */
static uint64_t resolve_mode = RESOLVE_BENEATH;
static unsigned long op_index;

static void print_op_index(void) { fprintf(stderr, "operation %lu: ", op_index); }

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

/* Opens `path` below the base directory as the mode says, refusing what lies on a hidden mount. */
static int open_below(const char *path, int flags) {
  int fd = tree_openat(base_fd, path, flags, resolve_mode);
  if (fd >= 0 && tree_hidden(fd)) {
    close(fd);
    errno = ENOENT;
    return -1;
  }
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
  int fd = open_below(parent, O_PATH | O_DIRECTORY);
  if (fd < 0) die("open parent directory \"%s\"", parent);
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
  int fd = open_below(path, O_RDONLY | O_DIRECTORY);
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
      /* A short write is no error yet: the next one says why (ENOSPC on a full disk). */
      for (ssize_t done = 0; n > 0 && done < n;) {
        ssize_t w = write(fd, buf + done, (size_t)(n - done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) die("write %s", name);
        done += w;
      }
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
  int dirfd = root_itself ? base_fd : parent_of(path, &base);
  if (root_itself) base = "";
  switch (h->op) {
  case FSOP_MKDIR:
    if (root_itself && (h->flags & FSOP_KEEP_EXISTING)) return;
    if (!root_itself && mkdirat(dirfd, base, 0700) < 0) {
      struct stat st;
      if (errno != EEXIST || fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) die("mkdir %s", path);
      if (S_ISDIR(st.st_mode) && (h->flags & FSOP_KEEP_EXISTING)) return;
      /* In a container's tree a symlink to a directory serves as one ("mkdir -p" through
       * /usr/local/bin -> ../bin): resolved in the root, it is kept. */
      if (S_ISLNK(st.st_mode) && (h->flags & FSOP_KEEP_EXISTING) && resolve_mode == RESOLVE_IN_ROOT) {
        if (base != path) ((char *)base)[-1] = '/'; /* parent_of cut the path there */
        int fd = open_below(path, O_PATH | O_DIRECTORY);
        if (fd >= 0) {
          close(fd);
          forget_parent();
          return;
        }
        if (base != path) ((char *)base)[-1] = 0;
      }
      if (!S_ISDIR(st.st_mode)) {
        make_room(dirfd, base);
        if (mkdirat(dirfd, base, 0700) < 0) die("mkdir %s", path);
      }
    }
    if (root_itself) {
      if (fchown(base_fd, h->uid, h->gid) < 0 || fchmod(base_fd, h->mode & 07777) < 0) die("chown/chmod layer root");
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
    int target = open_below(arg, O_PATH | O_NOFOLLOW);
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
    int r = root_itself ? fsetxattr(base_fd, arg, value, (size_t)h->data_len, 0)
                        : lsetxattr(proc, arg, value, (size_t)h->data_len, 0);
    if (r < 0) die("setxattr %s on %s", arg, path);
    return;
  }
  case FSOP_TIMES: {
    struct timespec ts[2] = {{h->mtime_sec, h->mtime_nsec}, {h->mtime_sec, h->mtime_nsec}};
    int r = root_itself ? futimens(base_fd, ts) : utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW);
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
  if (durable && syncfs(base_fd) < 0) die("syncfs");
  return 0;
}

/* A copy of a mount tree, detached, made read-only when asked (recursively). */
static int clone_tree(int dirfd, const char *path, unsigned flags, int read_only, const char *what) {
  int tree = (int)syscall(SYS_open_tree, dirfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | flags);
  if (tree < 0) die("open_tree \"%s\"", what);
  if (read_only) {
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
      die("mount_setattr read-only \"%s\"", what);
  }
  return tree;
}

/* Resolves PATH in the root, refusing what lies on a hidden mount. */
static int resolve_in_root(const char *path) {
  int fd = tree_openat(tree_root_fd, path, O_PATH, RESOLVE_IN_ROOT);
  if (fd >= 0 && tree_hidden(fd)) errno = ENOENT, close(fd), fd = -1;
  if (fd < 0) die("resolve \"%s\"", path);
  return fd;
}

/* Attaches a copy of the mount holding PATH (from PATH down) at TARGET: open_tree clones it
 * from the resolved descriptor, so what is attached is what was resolved, and TARGET, a path of
 * the caller's own, is the only name used. The copy is detached from any propagation. */
static int bind_from(const char *path, const char *target, int read_only) {
  int fd = resolve_in_root(path);
  int tree = clone_tree(fd, "", AT_EMPTY_PATH, read_only, path);
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    die("move_mount \"%s\" to %s", path, target);
  return 0;
}

/* Attaches a copy of SOURCE (a host path of the caller's: a volume, a bind source) with the
 * mounts below it onto PATH, resolved in the root: the mount lands on the resolved entry
 * itself, so no symlink in the tree can send it elsewhere. */
static int bind_into(const char *path, const char *source, int read_only) {
  int tree = clone_tree(AT_FDCWD, source, AT_RECURSIVE, read_only, source);
  int fd = resolve_in_root(path);
  if (syscall(SYS_move_mount, tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    die("move_mount %s to \"%s\"", source, path);
  return 0;
}

static void usage(void) {
  fprintf(stderr, "usage: berth-fsops apply|apply-volatile ROOT [--dir PATH] [--in-root] [--hide IDS]\n"
                  "       berth-fsops read\n"
                  "       berth-fsops bind-from|bind-into ROOT PATH TARGET|SOURCE ro|rw\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "read") == 0) return fsread_serve();
  if (argc < 3) usage();
  const char *mode = argv[1];
  if (tree_open_root(argv[2]) < 0) die("open the root %s", argv[2]);
  int from = strcmp(mode, "bind-from") == 0;
  if (from || strcmp(mode, "bind-into") == 0) {
    if (argc != 6 || (strcmp(argv[5], "ro") != 0 && strcmp(argv[5], "rw") != 0)) usage();
    int read_only = strcmp(argv[5], "ro") == 0;
    return from ? bind_from(argv[3], argv[4], read_only) : bind_into(argv[3], argv[4], read_only);
  }
  int durable = strcmp(mode, "apply") == 0;
  if (!durable && strcmp(mode, "apply-volatile") != 0) usage();
  const char *dir = NULL;
  for (int i = 3; i < argc; i++) {
    if (strcmp(argv[i], "--hide") == 0 && i + 1 < argc) {
      if (tree_hide_mounts(argv[++i]) < 0) die("--hide %s", argv[i]);
    } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else if (strcmp(argv[i], "--in-root") == 0) {
      resolve_mode = RESOLVE_IN_ROOT;
    } else {
      usage();
    }
  }
  die_context = print_op_index;
  base_fd = tree_root_fd;
  if (dir) {
    base_fd = tree_openat(tree_root_fd, dir, O_RDONLY | O_DIRECTORY, RESOLVE_IN_ROOT);
    if (base_fd >= 0 && tree_hidden(base_fd)) errno = ENOENT, base_fd = -1;
    if (base_fd < 0) {
      /* Exit status 3 tells the caller that the directory is not there (an API's 404). */
      if (errno == ENOENT || errno == ENOTDIR) {
        fprintf(stderr, "berth-fsops: open the directory \"%s\": %s\n", dir, strerror(errno));
        return 3;
      }
      die("open the directory \"%s\"", dir);
    }
  }
  return apply(durable);
}
