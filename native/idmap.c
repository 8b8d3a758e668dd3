/* berth-idmap: attaches an idmapped copy of a directory tree's mount at another path.
 *
 *   berth-idmap UID_MAP GID_MAP SOURCE TARGET
 *
 * UID_MAP and GID_MAP are in the format of /proc/PID/uid_map with commas for newlines
 * ("0 100000 65536"). Files owned by a host id inside a mapping's range are seen at TARGET with
 * the id shifted by it, and files created through TARGET by a shifted id are stored unshifted.
 * A user namespace that holds nothing but the mappings carries them: the kernel takes idmaps
 * from a user namespace, and this one lives only as long as the mount keeps a reference to it.
 *
 * It decides nothing: which directory, which ids and where to attach are the caller's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char *what) {
  fprintf(stderr, "berth-idmap: %s: %s\n", what, strerror(errno));
  return 1;
}

/* Writes one id map of process `pid`; commas in `map` stand for the newlines the kernel wants. */
static int write_map(pid_t pid, const char *file, const char *map) {
  char path[64], buf[4096];
  size_t len = strlen(map);
  if (len == 0 || len >= sizeof buf) {
    errno = EINVAL;
    return fail(file);
  }
  for (size_t i = 0; i <= len; i++) buf[i] = map[i] == ',' ? '\n' : map[i];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail(path);
  /* The kernel takes a map in one write(2) only. */
  ssize_t n = write(fd, buf, len);
  int saved = errno;
  close(fd);
  errno = saved;
  return n == (ssize_t)len ? 0 : fail(path);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: berth-idmap UID_MAP GID_MAP SOURCE TARGET\n");
    return 2;
  }
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return fail("pipe");
  pid_t child = fork();
  if (child < 0) return fail("fork");
  if (child == 0) {
    /* The holder: a new user namespace of its own, kept until the parent has opened it. */
    char byte;
    close(ready[1]);
    if (unshare(CLONE_NEWUSER) != 0) _exit(1);
    (void)!read(ready[0], &byte, 1);
    _exit(0);
  }
  close(ready[0]);
  int rc = 1;
  char nspath[64];
  snprintf(nspath, sizeof nspath, "/proc/%d/ns/user", (int)child);
  /* unshare(2) in the child may not have happened yet: wait until its namespace differs. */
  for (int i = 0; i < 10000; i++) {
    char self[64], other[64];
    ssize_t a = readlink("/proc/self/ns/user", self, sizeof self - 1);
    ssize_t b = readlink(nspath, other, sizeof other - 1);
    if (a < 0 || b < 0) break;
    if (a != b || memcmp(self, other, (size_t)a) != 0) goto unshared;
    usleep(100);
  }
  fprintf(stderr, "berth-idmap: the holder process did not make its user namespace\n");
  goto out;
unshared:
  if (write_map(child, "uid_map", argv[1]) || write_map(child, "gid_map", argv[2])) goto out;
  int userns = open(nspath, O_RDONLY | O_CLOEXEC);
  if (userns < 0) {
    fail(nspath);
    goto out;
  }
  /* A detached copy of the mount at SOURCE (just that mount, not its submounts). */
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, argv[3], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) {
    fail("open_tree");
    goto out;
  }
  /* Give the copy the namespace's mappings; only a mount not yet attached may get them. */
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (unsigned long long)userns};
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) {
    fail("mount_setattr MOUNT_ATTR_IDMAP (does the file system support idmapped mounts?)");
    goto out;
  }
  /* Attach it at TARGET. */
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, argv[4], MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    fail("move_mount");
    goto out;
  }
  rc = 0;
out:
  close(ready[1]);
  while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
  }
  return rc;
}
