/*
 * berth-monitor: one per container process, the way conmon is.
 *
 * Started by the TypeScript side with the plan on fd 3, it starts the container process
 * (container.c), relays the set-up handshake, and then outlives whoever started it: it holds the
 * process's stdio (pipes or the pty master), writes the json-file log, serves attach/start/wait
 * on its control socket, and records the exit status in the exit file. It is a child subreaper,
 * so the container process is its child even though an intermediate process created it.
 * Everything it does was decided by the plan; it makes no decisions of its own.
 *
 * With a handoff plan (berth-runtime under a containerd shim or conmon, which hold the stdio and
 * reap the process themselves) it leaves as soon as the process has exec'd, without reaping it:
 * the process is then the child of its caller's subreaper, as runc's init is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "container.h"
#include "log.h"
#include "plan.h"
#include "protocol.h"
#include "util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define PARENT_FD 3
#define MAX_CLIENTS 64

struct client {
  int fd;
  uint32_t attach; /* ATTACH_* flags; 0 = not attached */
  int waiting;     /* wants MSG_EXITED */
};

static struct plan plan;
static struct client clients[MAX_CLIENTS];
static int nclients = 0;
static int parent_fd = PARENT_FD; /* the TypeScript side that started us; -1 once it has gone */
static struct client parent = {PARENT_FD, 0, 0}; /* it may attach like any client */
static int init_fd = -1;          /* the container process until it execs */
static int listen_fd = -1;
static int out_fd = -1, err_fd = -1, pty_fd = -1, stdin_fd = -1;
static int relay = 0;    /* pty relayed to our own stdin/stdout (berth-runtime run -t) */
static int relay_in = 1; /* our stdin has not ended yet */
static int start_requester = -1; /* fd waiting for MSG_STARTED, or -1 */
static int start_sent = 0, errored = 0;
static int created = 0; /* set-up is over: the process waits for start, or runs */
static int handed_off = 0; /* handoff plan: the process runs, and is our caller's from now on */
static pid_t child = -1;
static int exited = 0, exit_status = 0;
static struct log_writer logw;
static int logging = 0;

static void send_to(int fd, uint32_t type, const void *data, uint32_t len) {
  if (fd >= 0) send_frame(fd, type, data, len);
}

static void drop_client(int i) {
  if (clients[i].attach & ATTACH_CLOSE_STDIN_ON_DETACH && stdin_fd >= 0) {
    close(stdin_fd);
    stdin_fd = -1;
  }
  if (clients[i].fd == start_requester) start_requester = -1;
  close(clients[i].fd);
  clients[i] = clients[--nclients];
}

static int make_control_socket(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) return fail_plain("control socket path too long: %s", path);
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail("socket");
  unlink(path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return fail("bind `%s`", path);
  /* Only root may start, attach to or feed the container. */
  if (chmod(path, 0600) != 0) return fail("chmod `%s`", path);
  if (listen(fd, 16) != 0) return fail("listen `%s`", path);
  return fd;
}

/* OCI --console-socket: the master goes out with SCM_RIGHTS and the pty's name as data, as runc
 * sends it. */
static int send_console(const char *path, int master) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) return fail_plain("console socket path too long: %s", path);
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    fail("connect console socket `%s`", path);
    close(fd);
    return -1;
  }
  int number = 0;
  ioctl(master, TIOCGPTN, &number);
  char name[64];
  int n = snprintf(name, sizeof name, "/dev/pts/%d", number);
  struct iovec iov = {name, (size_t)n};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &master, sizeof(int));
  int rc = sendmsg(fd, &msg, MSG_NOSIGNAL) < 0 ? fail("send to console socket `%s`", path) : 0;
  close(fd);
  return rc;
}

static void report_error(const char *text) {
  errored = 1;
  uint32_t len = (uint32_t)strlen(text);
  send_to(parent_fd, MSG_ERROR, text, len);
  if (start_requester >= 0 && start_requester != parent_fd) send_to(start_requester, MSG_ERROR, text, len);
  start_requester = -1;
}

static void handle_init_message(void) {
  uint32_t type, len;
  uint8_t *payload = NULL;
  int fd = -1;
  int rc = recv_frame_fd(init_fd, &type, &payload, &len, &fd);
  if (rc != 0) {
    /* End of file: the container process exec'd (its end is close-on-exec) or died. */
    close(init_fd);
    init_fd = -1;
    if (!errored && start_sent) {
      int to = start_requester >= 0 ? start_requester : parent_fd;
      send_to(to, MSG_STARTED, NULL, 0);
      if (to != parent_fd) send_to(parent_fd, MSG_STARTED, NULL, 0);
      start_requester = -1;
      handed_off = plan.handoff;
    }
    return;
  }
  switch (type) {
    case MSG_SYNC:
    case MSG_CREATED:
      send_to(parent_fd, type, payload, len);
      if (type == MSG_CREATED) created = 1;
      if (type == MSG_CREATED && !plan.wait_start) start_sent = 1;
      break;
    case MSG_ERROR:
      report_error((const char *)payload);
      break;
    case MSG_PTY:
      if (fd < 0) break;
      if (plan.console_socket) {
        if (send_console(plan.console_socket, fd) != 0) report_error(berth_error);
        close(fd);
      } else {
        pty_fd = fd;
      }
      break;
    default:
      break;
  }
  free(payload);
}

static void write_stdin(const void *data, size_t len) {
  int fd = pty_fd >= 0 ? pty_fd : stdin_fd;
  if (fd >= 0) write_all(fd, data, len);
}

/* A request from the parent (fd 3) or a control-socket client. Returns -1 when the peer is gone. */
static int handle_request(int fd, struct client *cl) {
  uint32_t type, len;
  uint8_t *payload = NULL;
  if (recv_frame(fd, &type, &payload, &len) != 0) return -1;
  switch (type) {
    case MSG_CONTINUE:
      if (fd == parent_fd && init_fd >= 0) send_frame(init_fd, MSG_CONTINUE, payload, len);
      break;
    case MSG_START:
      if (exited || init_fd < 0 || start_sent) {
        const char *why = exited ? "the container has exited" : "the container has already been started";
        send_to(fd, MSG_ERROR, why, (uint32_t)strlen(why));
      } else {
        start_sent = 1;
        start_requester = fd;
        send_frame(init_fd, MSG_START, NULL, 0);
      }
      break;
    case MSG_WAIT:
      if (exited) send_to(fd, MSG_EXITED, &exit_status, sizeof exit_status);
      else if (cl) cl->waiting = 1;
      break;
    case MSG_ATTACH:
      /* A process that has exited has no output left to attach to: say so, with its status. */
      if (exited) {
        send_to(fd, MSG_EXITED, &exit_status, sizeof exit_status);
        break;
      }
      if (cl && len == 4) memcpy(&cl->attach, payload, 4);
      send_to(fd, MSG_OK, NULL, 0);
      break;
    case MSG_STDIN:
      write_stdin(payload, len);
      break;
    case MSG_CLOSE_STDIN:
      if (stdin_fd >= 0) {
        close(stdin_fd);
        stdin_fd = -1;
      } else if (pty_fd >= 0) {
        write_all(pty_fd, "\x04", 1); /* end-of-file on a terminal is ^D */
      }
      break;
    case MSG_RESIZE:
      if (len == 4 && pty_fd >= 0) {
        uint16_t rc[2];
        memcpy(rc, payload, 4);
        struct winsize ws = {.ws_row = rc[0], .ws_col = rc[1]};
        ioctl(pty_fd, TIOCSWINSZ, &ws);
      }
      break;
    case MSG_LOG_REOPEN:
      if (logging) log_reopen(&logw);
      send_to(fd, MSG_OK, NULL, 0);
      break;
    default:
      break;
  }
  free(payload);
  return 0;
}

/* Output from the process: to the log, to attached clients, and in relay mode to our stdout. */
static int pump_output(int *fdp, int stream) {
  char buf[65536];
  ssize_t n = read(*fdp, buf, sizeof buf);
  if (n < 0 && errno == EINTR) return 0;
  if (n <= 0) {
    /* EIO on a pty master means every slave is closed: the same as end of file. */
    close(*fdp);
    *fdp = -1;
    return -1;
  }
  if (logging) log_write(&logw, stream, buf, (size_t)n);
  if (relay) write_all(STDOUT_FILENO, buf, (size_t)n);
  uint32_t want = stream ? ATTACH_STDERR : ATTACH_STDOUT;
  if (parent.attach & want) send_frame(parent_fd, stream ? MSG_STDERR : MSG_STDOUT, buf, (uint32_t)n);
  for (int i = 0; i < nclients; i++)
    if (clients[i].attach & want) send_frame(clients[i].fd, stream ? MSG_STDERR : MSG_STDOUT, buf, (uint32_t)n);
  return 0;
}

/* The wait status that a waitid(2) siginfo describes, in waitpid(2)'s encoding. */
static int wait_status_of(const siginfo_t *si) {
  if (si->si_code == CLD_EXITED) return (si->si_status & 0xff) << 8;
  return (si->si_status & 0x7f) | (si->si_code == CLD_DUMPED ? 0x80 : 0);
}

static void reap(void) {
  int status;
  pid_t pid;
  if (plan.handoff) {
    /* Look without reaping (WNOWAIT): the container process's status belongs to the subreaper
     * that becomes its parent when we leave. Anything else (stage 1) is ours to reap. */
    for (;;) {
      siginfo_t si;
      memset(&si, 0, sizeof si);
      if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0) return;
      if (si.si_pid == child) {
        exited = 1;
        exit_status = wait_status_of(&si);
        return;
      }
      waitpid(si.si_pid, NULL, 0);
    }
  }
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
    if (pid == child) {
      exited = 1;
      exit_status = status;
    }
}

static void record_exit(void) {
  if (!plan.exit_file) return;
  char now[64], text[256];
  format_time_now(now, sizeof now);
  int code = WIFEXITED(exit_status) ? WEXITSTATUS(exit_status) : 128 + WTERMSIG(exit_status);
  int sig = WIFSIGNALED(exit_status) ? WTERMSIG(exit_status) : 0;
  int n = snprintf(text, sizeof text, "{\"status\":%d,\"exitCode\":%d,\"signal\":%d,\"finishedAt\":\"%s\"}\n",
                   exit_status, code, sig, now);
  if (write_file_atomic(plan.exit_file, text, (size_t)n) != 0) fprintf(stderr, "berth-monitor: %s\n", berth_error);
}

/* After the process exits, read what is left in its pipes, but do not wait for descendants that
 * escaped its pid namespace and keep them open. */
static void drain_output(void) {
  for (int round = 0; round < 200 && (out_fd >= 0 || err_fd >= 0 || pty_fd >= 0); round++) {
    struct pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {pty_fd, POLLIN, 0}};
    if (poll(fds, 3, 20) <= 0) break;
    if (fds[0].revents) pump_output(&out_fd, 0);
    if (fds[1].revents) pump_output(&err_fd, 1);
    if (fds[2].revents) pump_output(&pty_fd, 0);
  }
  if (logging) log_flush(&logw);
}

static int open_null(void) { return open("/dev/null", O_RDWR | O_CLOEXEC); }

static int prepare_stdio(struct stdio_fds *io, int child_ends[3]) {
  io->in = io->out = io->err = -1;
  child_ends[0] = child_ends[1] = child_ends[2] = -1;
  if (plan.stdio_mode == STDIO_INHERIT) return 0;
  int null = open_null();
  if (null < 0) return fail("open /dev/null");
  io->in = io->out = io->err = null;
  child_ends[0] = null;
  if (plan.stdio_mode == STDIO_NULL || plan.terminal) return 0;
  int p[2];
  if (pipe2(p, O_CLOEXEC)) return fail("pipe");
  out_fd = p[0], io->out = child_ends[1] = p[1];
  if (pipe2(p, O_CLOEXEC)) return fail("pipe");
  err_fd = p[0], io->err = child_ends[2] = p[1];
  if (plan.stdin_open) {
    if (pipe2(p, O_CLOEXEC)) return fail("pipe");
    io->in = p[0], stdin_fd = p[1];
    close(null);
    child_ends[0] = p[0];
  }
  return 0;
}

static void become_quiet(void) {
  /* Do not hold the caller's terminal or pipes open once the process has its own copies. */
  int null = open_null();
  if (null < 0) return;
  for (int fd = 0; fd <= 2; fd++)
    if (!(relay && fd <= 1)) dup2(null, fd);
  if (null > 2) close(null);
}

static _Noreturn void fatal(void) {
  send_to(parent_fd, MSG_ERROR, berth_error, (uint32_t)strlen(berth_error));
  if (plan.control_socket && listen_fd >= 0) unlink(plan.control_socket);
  exit(1);
}

/* `--connect PATH TOKEN`: started by berth-spawner rather than by its parent with fd 3 ready,
 * the monitor makes fd 3 itself: a connection to the daemon's socket, named by the token. */
static int connect_parent(const char *path, const char *token) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) return fail_plain("socket path too long: %s", path);
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return fail("connect %s", path);
  if (write_all(fd, token, strlen(token)) != 0 || write_all(fd, "\n", 1) != 0) return fail("send token");
  if (fd != PARENT_FD && (dup2(fd, PARENT_FD) < 0 || close(fd) != 0)) return fail("dup2 onto fd 3");
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--version") == 0) {
    printf("berth-monitor protocol %d\n", BERTH_PROTOCOL_VERSION);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "--connect") == 0 && connect_parent(argv[2], argv[3]) != 0) {
    fprintf(stderr, "berth-monitor: %s\n", berth_error);
    return 2;
  }
  struct stat st;
  if (fstat(PARENT_FD, &st) != 0) {
    fprintf(stderr, "berth-monitor: fd 3 must carry the plan; this program is started by berth\n");
    return 2;
  }
  /* Nothing inherited beyond the plan channel may reach the container (all close on exec). */
  if (syscall(SYS_close_range, PARENT_FD + 1, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    for (int fd = PARENT_FD + 1; fd < 1024; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  fcntl(PARENT_FD, F_SETFD, FD_CLOEXEC);

  uint32_t type, len;
  uint8_t *payload;
  if (recv_frame(PARENT_FD, &type, &payload, &len) != 0 || type != MSG_PLAN) {
    fail_plain("protocol: expected a plan on fd 3");
    fatal();
  }
  if (plan_decode(&plan, payload, len) != 0) fatal();

  /* Orphans of the container (and the container process itself, once its intermediate parent
   * exits) are re-parented to us, so that we can reap them and learn the exit status. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    fail("prctl PR_SET_CHILD_SUBREAPER");
    fatal();
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sig_fd < 0) {
    fail("signalfd");
    fatal();
  }
  if (plan.control_socket && (listen_fd = make_control_socket(plan.control_socket)) < 0) fatal();
  relay = plan.stdio_mode == STDIO_INHERIT && plan.terminal && !plan.console_socket;
  if (plan.log_path) {
    if (log_open(&logw, plan.log_path, plan.log_max_size, plan.log_max_files) != 0) fatal();
    logging = 1;
  }

  int sp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
    fail("socketpair");
    fatal();
  }
  struct stdio_fds io;
  int child_ends[3];
  if (prepare_stdio(&io, child_ends) != 0) fatal();
  child = spawn_container(&plan, sp[1], &io);
  close(sp[1]);
  for (int i = 0; i < 3; i++)
    if (child_ends[i] >= 0 && (i == 0 || child_ends[i] != child_ends[0])) close(child_ends[i]);
  init_fd = sp[0];
  if (child < 0) {
    uint32_t t, l;
    uint8_t *p;
    int fd;
    if (recv_frame_fd(init_fd, &t, &p, &l, &fd) == 0 && t == MSG_ERROR) snprintf(berth_error, sizeof berth_error, "%s", p);
    fatal();
  }
  uint32_t pid = (uint32_t)child;
  send_to(parent_fd, MSG_PID, &pid, sizeof pid);
  if (plan.stdio_mode == STDIO_INHERIT) become_quiet();

  for (;;) {
    struct pollfd fds[8 + MAX_CLIENTS];
    int n = 0;
    int i_sig = n;
    fds[n++] = (struct pollfd){sig_fd, POLLIN, 0};
    int i_parent = n;
    fds[n++] = (struct pollfd){parent_fd, POLLIN, 0};
    int i_init = n;
    fds[n++] = (struct pollfd){init_fd, POLLIN, 0};
    int i_listen = n;
    fds[n++] = (struct pollfd){nclients < MAX_CLIENTS ? listen_fd : -1, POLLIN, 0};
    int i_out = n;
    fds[n++] = (struct pollfd){out_fd, POLLIN, 0};
    int i_err = n;
    fds[n++] = (struct pollfd){err_fd, POLLIN, 0};
    int i_pty = n;
    fds[n++] = (struct pollfd){pty_fd, POLLIN, 0};
    int i_relay = n;
    fds[n++] = (struct pollfd){relay && relay_in && pty_fd >= 0 ? STDIN_FILENO : -1, POLLIN, 0};
    int i_clients = n;
    for (int c = 0; c < nclients; c++) fds[n++] = (struct pollfd){clients[c].fd, POLLIN, 0};

    if (poll(fds, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      fail("poll");
      fatal();
    }
    if (fds[i_sig].revents) {
      struct signalfd_siginfo info;
      while (read(sig_fd, &info, sizeof info) > 0) {
      }
      reap();
    }
    if (fds[i_init].revents) handle_init_message();
    if (fds[i_parent].revents && handle_request(parent_fd, &parent) < 0) {
      close(parent_fd);
      parent_fd = parent.fd = -1;
      parent.attach = 0;
      /* Set-up needs its caller (id maps, cgroups, hooks): one that died half-way (a daemon's
       * crash) leaves a process that would wait forever, and nobody who knows of it. End it. */
      if (!created && child > 0) kill(child, SIGKILL);
    }
    if (fds[i_out].revents) pump_output(&out_fd, 0);
    if (fds[i_err].revents) pump_output(&err_fd, 1);
    if (fds[i_pty].revents) pump_output(&pty_fd, 0);
    if (fds[i_relay].revents) {
      char buf[4096];
      ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
      if (r > 0) write_stdin(buf, (size_t)r);
      else relay_in = 0; /* our stdin ended; keep relaying output */
    }
    /* Clients are served in reverse so that dropping one (swap with the last) skips nothing. */
    for (int c = nclients - 1; c >= 0; c--)
      if (fds[i_clients + c].revents && handle_request(clients[c].fd, &clients[c]) < 0) drop_client(c);
    if (fds[i_listen].revents) {
      int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (fd >= 0) clients[nclients++] = (struct client){fd, 0, 0};
    }

    if (exited) {
      while (init_fd >= 0) handle_init_message(); /* pick up a last error before reporting the exit */
      drain_output();
      if (!plan.handoff) record_exit(); /* else the status is the reaper's to read */
      send_to(parent_fd, MSG_EXITED, &exit_status, sizeof exit_status);
      for (int c = 0; c < nclients; c++)
        if (clients[c].waiting || clients[c].attach) send_frame(clients[c].fd, MSG_EXITED, &exit_status, sizeof exit_status);
      if (plan.control_socket) unlink(plan.control_socket);
      return 0;
    }
    if (handed_off) {
      /* Our exit reparents the process to the nearest subreaper among our ancestors (the shim
       * that ran us), which then reaps it; had it exited already, the kernel tells that one. */
      if (plan.control_socket) unlink(plan.control_socket);
      return 0;
    }
  }
}
