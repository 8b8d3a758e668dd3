/* The wire format of berth-fsops, shared with src/snapshot/fsops.ts (a unit test compares the
 * numbers). Each operation is a 64-byte little-endian header followed by path_len bytes of path,
 * arg_len bytes of a second string (link target, xattr name, names to keep) and data_len bytes
 * of data (file content, xattr value). Paths are relative to the layer directory; "" is the
 * directory itself. */
#ifndef BERTH_FSOPS_H
#define BERTH_FSOPS_H

#include <stdint.h>

#define FSOP_MKDIR 1   /* create (or keep) a directory; set owner and mode */
#define FSOP_FILE 2    /* create a regular file from data; set owner and mode */
#define FSOP_SYMLINK 3 /* arg: the link's target, stored as given */
#define FSOP_LINK 4    /* arg: path of an existing entry in the layer to hard-link to */
#define FSOP_MKNOD 5   /* mode carries S_IFCHR, S_IFBLK or S_IFIFO; major/minor for devices */
#define FSOP_XATTR 6   /* arg: attribute name; data: value (not following a final symlink) */
#define FSOP_TIMES 7   /* set atime and mtime (not following a final symlink) */
#define FSOP_REMOVE 8  /* remove the entry, recursively for a directory; absent is fine */
#define FSOP_CLEAR 9   /* remove a directory's children except those named in arg (NUL-separated) */

/* flags */
#define FSOP_KEEP_EXISTING 1 /* MKDIR: leave an existing directory's owner and mode alone */

#define FSOP_HEADER_SIZE 64
#define FSOP_MAX_PATH 4096
#define FSOP_MAX_ARG (1024 * 1024)

struct fsop_header {
  uint32_t op;
  uint32_t mode;
  uint32_t uid;
  uint32_t gid;
  uint32_t path_len;
  uint32_t arg_len;
  uint64_t data_len;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  uint32_t major;
  uint32_t minor;
  uint32_t flags;
  uint32_t reserved[2];
};

_Static_assert(sizeof(struct fsop_header) == FSOP_HEADER_SIZE, "fsop header is 64 bytes");

#endif
