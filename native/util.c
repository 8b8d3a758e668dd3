#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "protocol.h"

char berth_error[1024];

int fail(const char *fmt, ...) {
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(berth_error, sizeof berth_error, fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < sizeof berth_error) {
    snprintf(berth_error + n, sizeof berth_error - (size_t)n, ": %s", strerror(saved));
    /* Lower-case the errno text as Go's are ("no such file or directory"): docker clients
     * match those words to choose exit codes 126 and 127. */
    char *text = berth_error + n + 2;
    if (*text >= 'A' && *text <= 'Z') *text = (char)(*text - 'A' + 'a');
  }
  errno = saved;
  return -1;
}

int fail_plain(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(berth_error, sizeof berth_error, fmt, ap);
  va_end(ap);
  return -1;
}

int write_all(int fd, const void *data, size_t len) {
  const uint8_t *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int read_all(int fd, void *data, size_t len) {
  uint8_t *p = data;
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, p + got, len - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) {
      if (got == 0) return 1;
      errno = EPIPE;
      return -1;
    }
    got += (size_t)n;
  }
  return 0;
}

int send_frame(int fd, uint32_t type, const void *payload, uint32_t len) {
  uint32_t header[2] = {type, len};
  struct iovec iov[2] = {{header, sizeof header}, {(void *)payload, len}};
  size_t total = sizeof header + len;
  /* One writev keeps a frame whole even when several writers share a socket. */
  ssize_t n;
  do n = writev(fd, iov, len ? 2 : 1);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  if ((size_t)n == total) return 0;
  /* A short write on a stream: finish it byte-exactly. */
  uint8_t *flat = malloc(total);
  if (!flat) return -1;
  memcpy(flat, header, sizeof header);
  if (len) memcpy(flat + sizeof header, payload, len);
  int rc = write_all(fd, flat + n, total - (size_t)n);
  free(flat);
  return rc;
}

static int read_payload(int fd, uint32_t len, uint8_t **payload) {
  if (len > BERTH_MAX_FRAME) {
    errno = EMSGSIZE;
    return -1;
  }
  uint8_t *p = malloc((size_t)len + 1);
  if (!p) return -1;
  if (len && read_all(fd, p, len) != 0) {
    free(p);
    if (errno == 0) errno = EPIPE;
    return -1;
  }
  p[len] = 0;
  *payload = p;
  return 0;
}

int recv_frame(int fd, uint32_t *type, uint8_t **payload, uint32_t *len) {
  uint32_t header[2];
  int rc = read_all(fd, header, sizeof header);
  if (rc != 0) return rc;
  *type = header[0];
  *len = header[1];
  return read_payload(fd, *len, payload);
}

int send_frame_fd(int sock, uint32_t type, int fd_to_send) {
  uint32_t header[2] = {type, 0};
  struct iovec iov = {header, sizeof header};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd_to_send, sizeof(int));
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)sizeof header ? 0 : -1;
}

int recv_frame_fd(int sock, uint32_t *type, uint8_t **payload, uint32_t *len, int *fd_out) {
  uint32_t header[2];
  struct iovec iov = {header, sizeof header};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  *fd_out = -1;
  ssize_t n;
  /* MSG_CMSG_CLOEXEC: a received pty must not leak into processes the monitor starts later. */
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  while (n < 0 && errno == EINTR);
  if (n == 0) return 1;
  if (n != (ssize_t)sizeof header) {
    if (n >= 0) errno = EPROTO;
    return -1;
  }
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(fd_out, CMSG_DATA(c), sizeof(int));
  *type = header[0];
  *len = header[1];
  return read_payload(sock, *len, payload);
}

int write_file_atomic(const char *path, const char *data, size_t len) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid()) >= (int)sizeof tmp)
    return fail_plain("path too long: %s", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail("open `%s`", tmp);
  if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
    fail("write `%s`", tmp);
    close(fd);
    unlink(tmp);
    return -1;
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    fail("rename `%s`", tmp);
    unlink(tmp);
    return -1;
  }
  return 0;
}
