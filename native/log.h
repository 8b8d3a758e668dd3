/* The container log in Docker's json-file format, with size-based rotation. */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

#include <stddef.h>
#include <stdint.h>

struct log_writer {
  int fd;
  const char *path;
  uint64_t size, max_size;
  uint32_t max_files;
  /* A line is written when its newline arrives; Docker splits longer runs at 16 KiB. */
  char partial[2][16384];
  size_t partial_len[2];
};

int log_open(struct log_writer *log, const char *path, uint64_t max_size, uint32_t max_files);
/* Appends what the process wrote on `stream` (0 stdout, 1 stderr). */
void log_write(struct log_writer *log, int stream, const char *data, size_t len);
/* Writes out unterminated partial lines (the process exited mid-line). */
void log_flush(struct log_writer *log);
/* Reopens the file at its path, for a reader that removed or rotated it. */
int log_reopen(struct log_writer *log);

/* Formats the current time as RFC 3339 with nanoseconds, trailing zeros trimmed (Go's RFC3339Nano). */
void format_time_now(char *out, size_t size);

#endif
