/* The root of an untrusted tree (a container's root, an image's tree, a build context, a
 * volume) and the kernel's resolution of paths inside it, shared by the parts of berth-fsops.
 *
 * A root is named on the command line as either
 *   a host directory path            the caller's own directory (a snapshot, a context, a mount)
 *   pid:PID:START                    the root of running process PID, whose start time (field 22
 *                                    of /proc/PID/stat) must be START: its mount namespace's
 *                                    view, volumes included, and never a recycled pid's root
 * Every path under it is resolved by openat2(2): RESOLVE_IN_ROOT makes "/" and ".." stop at
 * the root and absolute symlinks start again from it, RESOLVE_BENEATH refuses leaving it, and
 * RESOLVE_NO_MAGICLINKS refuses /proc-style links in both. What is then done is done on the
 * resulting descriptor, never by reopening a path: no check can be raced. */
#ifndef BERTH_TREE_H
#define BERTH_TREE_H

#include <stddef.h>
#include <stdint.h>

/* The root, open O_RDONLY|O_DIRECTORY; -1 until tree_open_root. */
extern int tree_root_fd;

/* Opens the root named by `spec` (see above) as tree_root_fd, closing the one before; -1 with
 * errno on failure (ESRCH: not that process, or no longer). */
int tree_open_root(const char *spec);

/* Mount ids (as in /proc/PID/mountinfo) whose content is out of reach: the caller's list of a
 * container's kernel filesystems (/proc, /sys...). Replaces the list before. */
void tree_set_hidden(const uint64_t *ids, size_t count);
/* The same from a comma-separated list (a command-line option); 0, or -1 with EINVAL. */
int tree_hide_mounts(const char *list);
/* Whether `fd` lies on a hidden mount. */
int tree_hidden(int fd);

/* openat2 of `path` from `dirfd` with `resolve` (RESOLVE_IN_ROOT or RESOLVE_BENEATH, to which
 * RESOLVE_NO_MAGICLINKS is added); "" and "/" name dirfd itself. Retries the kernel's EAGAIN
 * (a rename raced the lookup of ".."). */
int tree_openat(int dirfd, const char *path, int flags, uint64_t resolve);

/* The mount id of `fd` (STATX_MNT_ID). */
uint64_t tree_mount_id(int fd);

/* Reopens an O_PATH descriptor for I/O through its /proc/self/fd link: the same inode, not a
 * lookup by name. Only for regular files and directories (opening a device has effects). */
int tree_reopen(int fd, int flags);

/* Reports "berth-fsops: <context><formatted>: strerror(errno)" (errno 0: without it) on stderr
 * and exits 1. `die_context`, when set, prints what was being done (an operation's number). */
extern void (*die_context)(void);
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
