#define _GNU_SOURCE
#include "log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

void format_time_now(char *out, size_t size) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char frac[16];
  snprintf(frac, sizeof frac, ".%09ld", ts.tv_nsec);
  size_t n = strlen(frac);
  while (n > 1 && frac[n - 1] == '0') frac[--n] = 0;
  if (n == 1) frac[0] = 0;
  snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
           tm.tm_min, tm.tm_sec, frac);
}

int log_open(struct log_writer *log, const char *path, uint64_t max_size, uint32_t max_files) {
  memset(log, 0, sizeof *log);
  log->path = path;
  log->max_size = max_size;
  log->max_files = max_files ? max_files : 1;
  log->fd = -1;
  return log_reopen(log);
}

int log_reopen(struct log_writer *log) {
  if (log->fd >= 0) close(log->fd);
  log->fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (log->fd < 0) return fail("open log `%s`", log->path);
  struct stat st;
  log->size = fstat(log->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
  return 0;
}

static void rotate(struct log_writer *log) {
  char from[4096], to[4096];
  if (log->max_files <= 1) {
    if (ftruncate(log->fd, 0) == 0) log->size = 0;
    return;
  }
  /* path.N-1 -> path.N, ..., path -> path.1: the newest rotated file is path.1, as in Docker. */
  for (uint32_t i = log->max_files - 1; i >= 1; i--) {
    if (i == 1) snprintf(from, sizeof from, "%s", log->path);
    else snprintf(from, sizeof from, "%s.%u", log->path, i - 1);
    snprintf(to, sizeof to, "%s.%u", log->path, i);
    rename(from, to);
  }
  log_reopen(log);
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when the bytes are not valid UTF-8. */
static size_t utf8_len(const unsigned char *p, size_t left) {
  unsigned char c = p[0];
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || n > left) return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  return n;
}

static void write_record(struct log_writer *log, int stream, const char *data, size_t len) {
  /* Worst case every byte becomes \u00XX (6 bytes). */
  size_t cap = len * 6 + 128;
  char *out = malloc(cap);
  if (!out) return;
  size_t o = (size_t)snprintf(out, cap, "{\"log\":\"");
  const unsigned char *p = (const unsigned char *)data;
  for (size_t i = 0; i < len;) {
    unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
      i++;
    } else if (c == '\n') {
      memcpy(out + o, "\\n", 2), o += 2, i++;
    } else if (c == '\r') {
      memcpy(out + o, "\\r", 2), o += 2, i++;
    } else if (c == '\t') {
      memcpy(out + o, "\\t", 2), o += 2, i++;
    } else if (c < 0x20 || c == 0x7f) {
      o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
      i++;
    } else if (c < 0x80) {
      out[o++] = (char)c;
      i++;
    } else {
      size_t n = utf8_len(p + i, len - i);
      if (n == 0) {
        memcpy(out + o, "\\ufffd", 6), o += 6, i++;
      } else {
        memcpy(out + o, p + i, n), o += n, i += n;
      }
    }
  }
  char now[64];
  format_time_now(now, sizeof now);
  o += (size_t)snprintf(out + o, cap - o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream ? "stderr" : "stdout", now);
  if (log->max_size && log->size > 0 && log->size + o > log->max_size) rotate(log);
  if (log->fd >= 0 && write_all(log->fd, out, o) == 0) log->size += o;
  free(out);
}

void log_write(struct log_writer *log, int stream, const char *data, size_t len) {
  char *buf = log->partial[stream];
  size_t *have = &log->partial_len[stream];
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) + 1 : len;
    size_t room = sizeof log->partial[stream] - *have;
    if (take > room) take = room;
    memcpy(buf + *have, data, take);
    *have += take;
    data += take;
    len -= take;
    if (buf[*have - 1] == '\n' || *have == sizeof log->partial[stream]) {
      write_record(log, stream, buf, *have);
      *have = 0;
    }
  }
}

void log_flush(struct log_writer *log) {
  for (int s = 0; s < 2; s++)
    if (log->partial_len[s]) {
      write_record(log, s, log->partial[s], log->partial_len[s]);
      log->partial_len[s] = 0;
    }
}
