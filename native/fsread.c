/* The reading half of berth-fsops: walks of an untrusted tree, answered as records (fsops.h).
 *
 * The first entry of a request is resolved inside the root by the kernel (tree.h). Below it,
 * every child is opened relative to its parent's descriptor, by its single name, as O_PATH
 * without following symlinks; it is described from that descriptor and read through it. A
 * tree that changes while it is read (a running container renaming a directory and a symlink
 * in a loop) can show only what was there, never what a link points at.
 *
 * It decides nothing: which paths, how deep, with content or not, are the caller's. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsops.h"
#include "tree.h"

#define STATX_WANTED (STATX_BASIC_STATS | STATX_MNT_ID)

/* Records are gathered here and written together; file data bypasses it (sendfile). */
static char out[1 << 18];
static size_t out_len;

static void write_out(const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(STDOUT_FILENO, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("write the answer");
    p += n;
    len -= (size_t)n;
  }
}

static void flush_out(void) {
  write_out(out, out_len);
  out_len = 0;
}

static void put(const void *data, size_t len) {
  if (len > sizeof out - out_len) flush_out();
  if (len > sizeof out) {
    write_out(data, len);
    return;
  }
  memcpy(out + out_len, data, len);
  out_len += len;
}

static void read_in(void *buf, size_t len, int eof_ok, int *eof) {
  char *p = buf;
  size_t got = 0;
  if (len == 0) return;
  while (got < len) {
    ssize_t n = read(STDIN_FILENO, p + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 && got == 0 && eof_ok) {
      *eof = 1;
      return;
    }
    if (n <= 0) {
      if (n == 0) errno = 0;
      die("a request ended early");
    }
    got += (size_t)n;
  }
}

/* The current request. */
static uint32_t flags, max_depth;
static uint64_t content_limit;
static uint64_t start_mount;
/* The path of the entry being visited, relative to the request's path. */
static char rel[FSOP_MAX_PATH + 1];

/* Extended attributes, gathered as {u32 len, name, u32 len, value}... */
static char *xattrs;
static size_t xattrs_len, xattrs_cap;

static void xattrs_add(const void *data, size_t len) {
  if (xattrs_len + len > xattrs_cap) {
    xattrs_cap = (xattrs_len + len) * 2;
    xattrs = realloc(xattrs, xattrs_cap);
    if (!xattrs) die("memory for extended attributes");
  }
  memcpy(xattrs + xattrs_len, data, len);
  xattrs_len += len;
}

/* Reads the attributes of `fd` (O_PATH, not a symlink) through its /proc/self/fd link, which
 * names the inode itself. */
static void read_xattrs(int fd) {
  static char names[65536], value[65536];
  char path[32];
  xattrs_len = 0;
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t total = listxattr(path, names, sizeof names);
  if (total < 0) {
    if (errno == ENOTSUP) return;
    die("list extended attributes of \"%s\"", rel);
  }
  for (ssize_t i = 0; i < total; i += (ssize_t)strlen(names + i) + 1) {
    ssize_t n = getxattr(path, names + i, value, sizeof value);
    if (n < 0) {
      if (errno == ENODATA) continue; /* removed since the list was read */
      die("read extended attribute %s of \"%s\"", names + i, rel);
    }
    uint32_t name_len = (uint32_t)strlen(names + i), value_len = (uint32_t)n;
    xattrs_add(&name_len, 4);
    xattrs_add(names + i, name_len);
    xattrs_add(&value_len, 4);
    xattrs_add(value, value_len);
  }
}

static void put_record(const struct statx *stx, size_t rel_len, const char *link, size_t link_len,
                       uint64_t data_len) {
  struct fsread_record r = {
      .kind = FSREAD_ENTRY,
      .mode = stx->stx_mode,
      .uid = stx->stx_uid,
      .gid = stx->stx_gid,
      .size = stx->stx_size,
      .mtime_sec = stx->stx_mtime.tv_sec,
      .mtime_nsec = stx->stx_mtime.tv_nsec,
      .nlink = stx->stx_nlink,
      .rdev_major = stx->stx_rdev_major,
      .rdev_minor = stx->stx_rdev_minor,
      .ino = stx->stx_ino,
      .dev = (uint64_t)stx->stx_dev_major << 32 | stx->stx_dev_minor,
      .mnt_id = stx->stx_mnt_id,
      .path_len = (uint32_t)rel_len,
      .link_len = (uint32_t)link_len,
      .xattrs_len = (uint32_t)xattrs_len,
      .data_len = data_len,
      .blocks = stx->stx_blocks,
  };
  put(&r, sizeof r);
  put(rel, rel_len);
  put(link, link_len);
  put(xattrs, xattrs_len);
}

static void put_end(int error, const char *what) {
  struct fsread_record r = {.kind = FSREAD_END, .error = error, .path_len = (uint32_t)strlen(what)};
  put(&r, sizeof r);
  put(what, r.path_len);
  flush_out();
}

/* Streams exactly `size` bytes of `fd`: a file that shrank meanwhile is padded with zeros, one
 * that grew is cut, so that the record's length holds. sendfile moves the bytes in the kernel. */
static void put_data(int fd, uint64_t size) {
  static char buf[1 << 16];
  static int can_sendfile = 1;
  flush_out();
  uint64_t left = size;
  while (left > 0) {
    size_t want = left > (1 << 20) ? (1 << 20) : (size_t)left;
    ssize_t n;
    if (can_sendfile) {
      n = sendfile(STDOUT_FILENO, fd, NULL, want);
      if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
        can_sendfile = 0;
        continue;
      }
    } else {
      n = read(fd, buf, want > sizeof buf ? sizeof buf : want);
      if (n > 0) write_out(buf, (size_t)n);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read \"%s\"", rel);
    if (n == 0) break;
    left -= (uint64_t)n;
  }
  memset(buf, 0, sizeof buf);
  while (left > 0) {
    size_t n = left > sizeof buf ? sizeof buf : (size_t)left;
    write_out(buf, n);
    left -= n;
  }
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names in directory `fd` (O_PATH), sorted; *count set. NULL with errno on failure. */
static char **list_dir(int fd, size_t *count) {
  int dfd = tree_reopen(fd, O_RDONLY | O_DIRECTORY);
  if (dfd < 0) return NULL;
  DIR *dir = fdopendir(dfd);
  if (!dir) {
    close(dfd);
    return NULL;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      names = realloc(names, cap * sizeof *names);
      if (!names) die("memory for a directory listing");
    }
    if (!(names[n++] = strdup(e->d_name))) die("memory for a directory listing");
  }
  closedir(dir);
  qsort(names, n, sizeof *names, by_name);
  *count = n;
  return names ? names : calloc(1, sizeof *names);
}

/* Describes the entry open as `fd` (O_PATH) at rel[0..rel_len), then what is under it. Returns
 * 0, or an errno that ends the request. `link` replaces a symlink's target (FSREAD_RESOLVED). */
static int visit(int fd, const struct statx *stx, size_t rel_len, uint32_t depth, const char *link) {
  static char target[FSOP_MAX_PATH + 1];
  uint32_t type = stx->stx_mode & S_IFMT;
  xattrs_len = 0;
  if ((flags & FSREAD_XATTRS) && type != S_IFLNK) read_xattrs(fd);
  size_t link_len = 0;
  if (link) {
    link_len = strlen(link);
  } else if (type == S_IFLNK) {
    ssize_t n = readlinkat(fd, "", target, sizeof target - 1);
    if (n < 0) return errno;
    link = target;
    link_len = (size_t)n;
  }
  if (type == S_IFREG && (flags & FSREAD_CONTENT)) {
    int data = tree_reopen(fd, O_RDONLY);
    if (data < 0) return errno;
    /* The size that counts is that of the file as opened now. */
    struct statx now;
    if (statx(data, "", AT_EMPTY_PATH, STATX_WANTED, &now) < 0) return errno;
    uint64_t data_len = content_limit && content_limit < now.stx_size ? content_limit : now.stx_size;
    put_record(&now, rel_len, link, link_len, data_len);
    put_data(data, data_len);
    close(data);
    return 0;
  }
  put_record(stx, rel_len, link, link_len, 0);
  if (type != S_IFDIR || depth >= max_depth) return 0;
  if (tree_hidden(fd)) return 0; /* the mount point shows, not what is mounted there */
  if ((flags & FSREAD_ONE_MOUNT) && stx->stx_mnt_id != start_mount) return 0;
  size_t count;
  char **names = list_dir(fd, &count);
  if (!names) return errno == ENOENT ? 0 : errno; /* removed while we walked */
  int err = 0;
  for (size_t i = 0; i < count; i++) {
    size_t name_len = strlen(names[i]);
    size_t len = rel_len + (rel_len ? 1 : 0) + name_len;
    if (!err && len > FSOP_MAX_PATH) err = ENAMETOOLONG;
    if (!err) {
      if (rel_len) rel[rel_len] = '/';
      memcpy(rel + len - name_len, names[i], name_len + 1);
      /* One name relative to the parent's descriptor: nothing to resolve, nothing to follow. */
      int child = openat(fd, names[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
      struct statx cs;
      if (child >= 0 && statx(child, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_WANTED, &cs) == 0) {
        /* On a hidden mount, a directory shows as the mount point it is; nothing else shows. */
        if (S_ISDIR(cs.stx_mode) || !tree_hidden(child)) err = visit(child, &cs, len, depth + 1, NULL);
      } else if (errno != ENOENT) {
        err = errno;
      }
      if (child >= 0) close(child);
      rel[rel_len] = 0;
    }
    free(names[i]);
  }
  free(names);
  return err;
}

/* The absolute path of `fd` in the root, from the kernel's names of both descriptors. */
static const char *path_in_root(int fd) {
  static char root[FSOP_MAX_PATH + 1], path[FSOP_MAX_PATH + 1];
  char link[32];
  snprintf(link, sizeof link, "/proc/self/fd/%d", tree_root_fd);
  ssize_t r = readlink(link, root, sizeof root - 1);
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t p = readlink(link, path, sizeof path - 1);
  if (r < 0 || p < 0) return "";
  root[r] = 0;
  path[p] = 0;
  if (strcmp(root, "/") == 0) return path;
  if (strncmp(path, root, (size_t)r) != 0) return "";
  if (path[r] == 0) return "/";
  return path[r] == '/' ? path + r : "";
}

static void walk(const char *path) {
  int fd = tree_openat(tree_root_fd, path, O_PATH | ((flags & FSREAD_FOLLOW) ? 0 : O_NOFOLLOW), RESOLVE_IN_ROOT);
  if (fd < 0) {
    put_end(errno, path);
    return;
  }
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_WANTED, &stx) < 0) {
    /* errno says why */
  } else if (tree_hidden(fd) && !(S_ISDIR(stx.stx_mode) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))) {
    /* Of a hidden mount only its mount point shows (as a directory with nothing in it). */
    errno = ENOENT;
  } else {
    start_mount = stx.stx_mnt_id;
    rel[0] = 0;
    errno = visit(fd, &stx, 0, 0, (flags & FSREAD_RESOLVED) ? path_in_root(fd) : NULL);
  }
  int err = errno;
  close(fd);
  put_end(err, err ? path : "");
}

int fsread_serve(void) {
  /* A deep tree holds one descriptor per level: allow as many as the hard limit does. */
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  static char path[FSOP_MAX_PATH + 1], root[FSOP_MAX_PATH + 1];
  static uint64_t hidden[FSREAD_MAX_HIDDEN];
  for (;;) {
    struct fsread_request q;
    int eof = 0;
    read_in(&q, sizeof q, 1, &eof);
    if (eof) return 0;
    if (q.op != FSREAD_WALK || q.path_len > FSOP_MAX_PATH || q.root_len > FSOP_MAX_PATH ||
        q.hidden_count > FSREAD_MAX_HIDDEN) {
      errno = 0;
      die("bad read request (operation %u, lengths %u %u %u)", q.op, q.root_len, q.hidden_count, q.path_len);
    }
    read_in(root, q.root_len, 0, &eof);
    root[q.root_len] = 0;
    read_in(hidden, q.hidden_count * sizeof *hidden, 0, &eof);
    read_in(path, q.path_len, 0, &eof);
    path[q.path_len] = 0;
    flags = q.flags;
    max_depth = q.max_depth;
    content_limit = q.content_limit;
    if (tree_open_root(root) < 0) {
      put_end(errno, root);
      continue;
    }
    tree_set_hidden(hidden, q.hidden_count);
    walk(path);
    /* An idle reader holds nothing: a root kept open would keep its mount busy. */
    close(tree_root_fd);
    tree_root_fd = -1;
  }
}
