/* berth-spawner: starts processes for a large parent, cheaply.
 *
 *   berth-spawner PROGRAM [ARG...]
 *
 * For each line on stdin it starts PROGRAM ARG... LINE (the line, without its newline, is the
 * last argument) in a session of its own with /dev/null as stdin, stdout and stderr, and answers
 * on stdout with "LINE PID" once PROGRAM runs, or "LINE -ERRNO" when it could not. When a child
 * exits it writes "EXIT PID STATUS" (the raw wait status). It exits when stdin ends; its
 * children live on.
 *
 * Why it exists: fork(2) copies the page tables of the process that calls it, and the daemon is a
 * Node.js process of a hundred MiB or more, so every spawn from it costs milliseconds of CPU on
 * the daemon's only thread. Forking this small static process costs microseconds.
 *
 * It decides nothing: what to run and with which arguments are its caller's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LINE 512

static int write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Starts one child; returns its pid, or -errno. */
static long start(char **argv, int argc, char *last, const sigset_t *original) {
  /* A close-on-exec pipe tells the parent whether exec succeeded: EOF means it did. */
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return -errno;
  pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    close(report[0]);
    close(report[1]);
    return -saved;
  }
  if (pid == 0) {
    close(report[0]);
    /* A session of its own: a terminal's signals for our caller do not reach it. */
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3; fd++)
      if (null >= 0) dup2(null, fd);
    /* Nothing but stdio crosses exec (the report pipe closes there too). */
    syscall(SYS_close_range, 3, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
    /* Give it the signal mask and SIGCHLD disposition we found, not ours. */
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, original, NULL);
    argv[argc] = last;
    argv[argc + 1] = NULL;
    execv(argv[0], argv);
    int saved = errno;
    (void)!write(report[1], &saved, sizeof saved);
    _exit(127);
  }
  close(report[1]);
  int child_errno = 0;
  ssize_t n;
  while ((n = read(report[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
  }
  close(report[0]);
  return n == (ssize_t)sizeof child_errno ? -child_errno : pid;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: berth-spawner PROGRAM [ARG...]\n");
    return 2;
  }
  /* Room for the program's arguments, the line, and the terminating NULL. */
  char **child_argv = calloc((size_t)argc + 1, sizeof *child_argv);
  if (!child_argv) return 1;
  for (int i = 1; i < argc; i++) child_argv[i - 1] = argv[i];
  int child_argc = argc - 1;

  /* Exits of children arrive on a signalfd, read in the same loop as requests. */
  sigset_t chld, original;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &original);
  int sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sig_fd < 0) {
    perror("berth-spawner: signalfd");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  char buf[MAX_LINE];
  size_t have = 0;
  struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = sig_fd, .events = POLLIN}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      perror("berth-spawner: poll");
      return 1;
    }
    if (fds[1].revents) {
      struct signalfd_siginfo si;
      while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
      }
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        char out[64];
        int len = snprintf(out, sizeof out, "EXIT %d %d\n", (int)pid, status);
        if (write_all(STDOUT_FILENO, out, (size_t)len) != 0) return 0;
      }
    }
    if (fds[0].revents) {
      ssize_t n = read(STDIN_FILENO, buf + have, sizeof buf - have);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 0; /* our caller is gone */
      have += (size_t)n;
      char *nl;
      while ((nl = memchr(buf, '\n', have)) != NULL) {
        *nl = '\0';
        long pid = start(child_argv, child_argc, buf, &original);
        char out[MAX_LINE + 32];
        int len = snprintf(out, sizeof out, "%s %ld\n", buf, pid);
        if (write_all(STDOUT_FILENO, out, (size_t)len) != 0) return 0;
        size_t used = (size_t)(nl - buf) + 1;
        memmove(buf, nl + 1, have - used);
        have -= used;
      }
      if (have == sizeof buf) {
        fprintf(stderr, "berth-spawner: request longer than %d bytes\n", MAX_LINE - 1);
        return 1;
      }
    }
  }
}
