/* The root of an untrusted tree and openat2(2) resolution inside it: see tree.h. */
#define _GNU_SOURCE
#include "tree.h"

#include "fsops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int tree_root_fd = -1;

static uint64_t *hidden;
static size_t hidden_count;

/* Field 22 of a /proc/PID/stat read through `procfd`: counted after the last ')', since the
 * command name (field 2) may itself hold spaces and parentheses. */
static int start_time(int procfd, unsigned long long *out) {
  char buf[4096];
  int fd = openat(procfd, "stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return errno = EINVAL, -1;
  /* After ") " comes field 3; field 22 is 19 fields further. */
  for (int field = 2; field < 22 && p; field++) p = strchr(p + 1, ' ');
  if (!p) return errno = EINVAL, -1;
  *out = strtoull(p + 1, NULL, 10);
  return 0;
}

int tree_open_root(const char *spec) {
  if (tree_root_fd >= 0) close(tree_root_fd);
  tree_root_fd = -1;
  int pid;
  unsigned long long want, have;
  char tail;
  if (sscanf(spec, "pid:%d:%llu%c", &pid, &want, &tail) == 2) {
    char path[32];
    snprintf(path, sizeof path, "/proc/%d", pid);
    /* The /proc/PID directory stays bound to the process it was opened for: once that process
     * is gone, reads through it fail (ESRCH) even if the number is reused. So the start time
     * read through it, then the root opened through it, are the same process's. */
    int procfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) return errno = ESRCH, -1;
    if (start_time(procfd, &have) < 0 || have != want) {
      close(procfd);
      return errno = ESRCH, -1;
    }
    /* Following the "root" magic link is the point here: it is the process's own root, in its
     * mount namespace, with its mounts below. */
    tree_root_fd = openat(procfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int saved = errno;
    close(procfd);
    errno = saved;
    return tree_root_fd;
  }
  tree_root_fd = open(spec, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return tree_root_fd;
}

void tree_set_hidden(const uint64_t *ids, size_t count) {
  free(hidden);
  hidden = NULL;
  hidden_count = 0;
  if (count == 0) return;
  hidden = malloc(count * sizeof *hidden);
  if (!hidden) die("memory for %zu mount ids", count);
  memcpy(hidden, ids, count * sizeof *hidden);
  hidden_count = count;
}

int tree_hide_mounts(const char *list) {
  uint64_t ids[FSREAD_MAX_HIDDEN];
  size_t count = 0;
  for (const char *p = list; *p;) {
    char *end;
    unsigned long long id = strtoull(p, &end, 10);
    if (end == p || (*end && *end != ',') || count == FSREAD_MAX_HIDDEN) return errno = EINVAL, -1;
    ids[count++] = id;
    p = *end ? end + 1 : end;
  }
  tree_set_hidden(ids, count);
  return 0;
}

uint64_t tree_mount_id(int fd) {
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0) return 0;
  return stx.stx_mnt_id;
}

int tree_hidden(int fd) {
  if (hidden_count == 0) return 0;
  uint64_t id = tree_mount_id(fd);
  for (size_t i = 0; i < hidden_count; i++)
    if (hidden[i] == id) return 1;
  return 0;
}

int tree_openat(int dirfd, const char *path, int flags, uint64_t resolve) {
  while (*path == '/') path++;
  if (*path == 0) path = ".";
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = resolve | RESOLVE_NO_MAGICLINKS};
  int fd;
  do fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN);
  return fd;
}

int tree_reopen(int fd, int flags) {
  char path[32];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  return open(path, flags | O_CLOEXEC | O_NOCTTY);
}

void (*die_context)(void);

void die(const char *fmt, ...) {
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  fputs("berth-fsops: ", stderr);
  if (die_context) die_context();
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (saved) fprintf(stderr, ": %s", strerror(saved));
  fputc('\n', stderr);
  exit(1);
}
