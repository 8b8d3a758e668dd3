/* Small helpers shared by the monitor and the container init: framed messages, fd passing and
 * the error message that every failing step leaves for its caller. */
#ifndef BERTH_UTIL_H
#define BERTH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The last failure, as "step `path`: reason". Set by fail(); read by whoever reports it. */
extern char berth_error[1024];

/* Records "<formatted>: strerror(errno)" in berth_error and returns -1. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Records the formatted text without errno and returns -1. */
int fail_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int write_all(int fd, const void *data, size_t len);
/* 0 when all bytes arrived, 1 on end-of-file before the first byte, -1 on error or short read. */
int read_all(int fd, void *data, size_t len);

int send_frame(int fd, uint32_t type, const void *payload, uint32_t len);
/* Reads one frame; *payload is malloc'ed (NUL-terminated for convenience) and owned by the caller.
 * Returns 0, 1 on a clean end-of-file, -1 on error. */
int recv_frame(int fd, uint32_t *type, uint8_t **payload, uint32_t *len);
/* A frame whose ancillary data carries one file descriptor. */
int send_frame_fd(int sock, uint32_t type, int fd_to_send);
/* Like recv_frame, also returning a passed descriptor in *fd_out (-1 when none came). */
int recv_frame_fd(int sock, uint32_t *type, uint8_t **payload, uint32_t *len, int *fd_out);

/* Atomically replaces `path` with `data` (temporary file, fsync, rename). */
int write_file_atomic(const char *path, const char *data, size_t len);

#endif
