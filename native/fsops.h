/* The wire formats of berth-fsops, shared with src/snapshot/fsops.ts and tree-reader.ts (a unit
 * test compares the numbers). All integers are little-endian.
 *
 * Writing ("apply"): each operation is a 64-byte header followed by path_len bytes of path,
 * arg_len bytes of a second string (link target, xattr name, names to keep) and data_len bytes
 * of data (file content, xattr value). Paths are relative to the directory written; "" is the
 * directory itself.
 *
 * Reading ("read", a server that outlives one request): each request is a 32-byte header, then
 * root_len bytes naming the root (tree.h), hidden_count u64 mount ids that are out of reach,
 * and path_len bytes of path in the root. The answer is any number of ENTRY records and one END
 * record, each a 112-byte header followed by path_len bytes of path, link_len of link target,
 * xattrs_len of extended attributes ({u32 name_len, name, u32 value_len, value}...) and
 * data_len of file content. */
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

#define FSREAD_WALK 1 /* the entry at path, then (up to max_depth) what is under it */

/* request flags */
#define FSREAD_FOLLOW 1    /* follow a symlink at path itself (inside the root) */
#define FSREAD_CONTENT 2   /* regular files' bytes follow their ENTRY */
#define FSREAD_XATTRS 4    /* extended attributes of every entry but symlinks */
#define FSREAD_ONE_MOUNT 8 /* do not descend into directories of another mount than path's */
#define FSREAD_RESOLVED 16 /* the first ENTRY's link is path's absolute resolved path in the root */

/* record kinds */
#define FSREAD_ENTRY 1 /* path relative to the request's path ("" for itself); link: a symlink's target */
#define FSREAD_END 2   /* error: 0 or an errno; path: what failed */

#define FSREAD_MAX_HIDDEN 4096

#define FSREAD_REQUEST_SIZE 32
#define FSREAD_RECORD_SIZE 112

struct fsread_request {
  uint32_t op;
  uint32_t flags;
  uint32_t path_len;
  uint32_t max_depth;
  uint32_t root_len;
  uint32_t hidden_count;
  uint64_t content_limit; /* with FSREAD_CONTENT: at most this many bytes of a file (0: all) */
};

struct fsread_record {
  uint32_t kind;
  uint32_t mode; /* type and permission bits, as st_mode */
  uint32_t uid;
  uint32_t gid;
  uint64_t size;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  uint32_t nlink;
  uint32_t rdev_major;
  uint32_t rdev_minor;
  uint64_t ino;
  uint64_t dev; /* major << 32 | minor */
  uint64_t mnt_id;
  uint32_t path_len;
  uint32_t link_len;
  uint32_t xattrs_len;
  int32_t error;
  uint64_t data_len;
  uint64_t blocks; /* 512-byte blocks allocated */
  uint64_t reserved;
};

_Static_assert(sizeof(struct fsread_request) == FSREAD_REQUEST_SIZE, "fsread request is 32 bytes");
_Static_assert(sizeof(struct fsread_record) == FSREAD_RECORD_SIZE, "fsread record is 112 bytes");

#endif
