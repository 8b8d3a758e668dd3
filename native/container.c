/*
 * The container process, from the monitor's fork to execve.
 *
 * Stage 1 (a child of the monitor, still in the host's namespaces) joins the namespaces named by
 * path, then clones stage 2 with CLONE_NEW* flags so that every new namespace is created at once
 * (a new user namespace first, owning the others) and stage 2 is pid 1 of a new pid namespace.
 * Stage 1 reports stage 2's pid and exits; the monitor is a child subreaper, so stage 2 becomes
 * its child. Stage 2 waits until the TypeScript side has written its uid/gid maps and placed it
 * in its cgroups, then runs the planned set-up steps and waits for MSG_START before execve,
 * as runc's nsexec.c and init do.
 */
#define _GNU_SOURCE
#include "container.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "mounts.h"
#include "process.h"
#include "protocol.h"
#include "util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Fixed fd of the init <-> monitor socket inside stages 1 and 2. */
#define INIT_FD 3

/* The init <-> monitor socket; INIT_FD once stage 1 has arranged its descriptors. */
static int init_fd = INIT_FD;
static uint8_t *state_json = NULL;
static uint32_t state_len = 0;

static _Noreturn void die(void) {
  send_frame(init_fd, MSG_ERROR, berth_error, (uint32_t)strlen(berth_error));
  _exit(1);
}

/* Waits for `want` from the monitor; MSG_CONTINUE's payload is kept as the state for hooks. */
static int wait_for(uint32_t want) {
  uint32_t type, len;
  uint8_t *payload;
  int rc = recv_frame(init_fd, &type, &payload, &len);
  if (rc == 1) _exit(1); /* the monitor gave up on us: nothing to report to */
  if (rc < 0) return fail("read from monitor");
  if (type != want) {
    free(payload);
    return fail_plain("protocol: expected message %u, got %u", want, type);
  }
  if (type == MSG_CONTINUE && len > 0) {
    free(state_json);
    state_json = payload;
    state_len = len;
  } else {
    free(payload);
  }
  return 0;
}

static int close_other_fds(void) {
  /* Nothing of the monitor's (its fd 3 to the daemon, its control socket) may reach the container. */
  if (syscall(SYS_close_range, INIT_FD + 1, ~0U, 0) == 0) return 0;
  for (int fd = INIT_FD + 1; fd < 65536; fd++) close(fd);
  return 0;
}

/* Creates the pty in the container's devpts, makes it the controlling terminal and stdio, binds it
 * to /dev/console, and hands the master to the monitor. */
static int setup_terminal(void) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return fail("open /dev/ptmx");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) != 0) return fail("unlock pty");
  int number;
  if (ioctl(master, TIOCGPTN, &number) != 0) return fail("get pty number");
  /* TIOCGPTPEER opens the peer through the master, never through a path the image controls. */
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) return fail("open pty peer");
  char name[64];
  snprintf(name, sizeof name, "/dev/pts/%d", number);
  struct stat st;
  if (stat("/dev", &st) == 0) {
    int fd = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
    char peer[64];
    snprintf(peer, sizeof peer, "/proc/self/fd/%d", slave);
    if (mount(name, "/dev/console", NULL, MS_BIND, NULL) != 0 && mount(peer, "/dev/console", NULL, MS_BIND, NULL) != 0)
      return fail("bind %s on /dev/console", name);
  }
  if (send_frame_fd(init_fd, MSG_PTY, master) != 0) return fail("send pty to monitor");
  close(master);
  if (setsid() < 0) return fail("setsid");
  if (ioctl(slave, TIOCSCTTY, 0) != 0) return fail("set controlling terminal");
  for (int fd = 0; fd <= 2; fd++)
    if (dup2(slave, fd) < 0) return fail("dup2 pty");
  if (slave > 2) close(slave);
  return 0;
}

/* Sets IFF_UP on an interface of our network namespace (SIOCSIFFLAGS needs CAP_NET_ADMIN there). */
static int interface_up(const char *name) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (strlen(name) >= sizeof ifr.ifr_name) return fail_plain("interface name too long: %s", name);
  strcpy(ifr.ifr_name, name);
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return fail("socket");
  int rc = ioctl(sock, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(sock, SIOCSIFFLAGS, &ifr);
  }
  close(sock);
  return rc == 0 ? 0 : fail("bring up interface %s", name);
}

static _Noreturn void stage2(const struct plan *plan) {
  if (wait_for(MSG_CONTINUE)) die();
  if (plan->ns_new & CLONE_NEWUSER) {
    /* Become root of the new user namespace now that the maps exist. */
    if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) {
      fail("become root in the new user namespace (is 0 mapped?)");
      die();
    }
  }
  /* A cgroup namespace is rooted at the cgroup we are in when it is made: create it only now that
   * the TypeScript side has moved us into the container's cgroup. */
  if ((plan->ns_new & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) != 0) {
    fail("unshare cgroup namespace");
    die();
  }
  for (size_t i = 0; i < plan->nops; i++) {
    const struct op *op = &plan->ops[i];
    int rc;
    if (op->code == OP_SETHOSTNAME || op->code == OP_SETDOMAINNAME) {
      const char *name = op_str(op, 0);
      rc = !name ? -1
           : (op->code == OP_SETHOSTNAME ? sethostname(name, strlen(name)) : setdomainname(name, strlen(name))) == 0
               ? 0
               : fail("set %s `%s`", op->code == OP_SETHOSTNAME ? "hostname" : "domainname", name);
    } else if (op->code == OP_SYNC) {
      rc = send_frame(init_fd, MSG_SYNC, op->argc ? op->argv[0].data : "", op->argc ? op->argv[0].len : 0) == 0
               ? wait_for(MSG_CONTINUE)
               : fail("report sync");
    } else if (op->code == OP_IFUP) {
      const char *name = op_str(op, 0);
      rc = name ? interface_up(name) : -1;
    } else if (op->code == OP_HOOK) {
      rc = run_hook(op, (const char *)state_json, state_len);
    } else {
      rc = mount_op(op);
    }
    if (rc) die();
  }
  if (plan->terminal && setup_terminal()) die();
  const char *path = find_executable(plan);
  if (!path) die();
  if (send_frame(init_fd, MSG_CREATED, NULL, 0)) {
    fail("report created");
    die();
  }
  if (plan->wait_start && wait_for(MSG_START)) die();
  for (size_t i = 0; i < plan->nstart_hooks; i++)
    if (run_hook(&plan->start_hooks[i], (const char *)state_json, state_len)) die();
  exec_process(plan, path);
  die();
}

/* Moves this process into the container's cgroups by writing "0" to each v1 "tasks" file: a
 * single thread moving itself skips the kernel's global threadgroup lock, whose write side waits
 * for an RCU grace period (about 10 ms) whenever it has been idle. Paths are the host's, so this
 * runs before any namespace is joined; the container process inherits the cgroups at clone. */
static int join_cgroups(const struct plan *plan) {
  for (size_t i = 0; i < plan->ncgroup_self; i++) {
    int fd = open(plan->cgroup_self[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail("open `%s`", plan->cgroup_self[i]);
    int rc = write_all(fd, "0", 1);
    close(fd);
    if (rc != 0) return fail("join cgroup `%s`", plan->cgroup_self[i]);
  }
  return 0;
}

static int join_namespaces(const struct plan *plan) {
  int fds[16];
  /* Open every namespace before entering any: entering a mount namespace changes what paths mean. */
  for (size_t i = 0; i < plan->njoins; i++) {
    fds[i] = open(plan->joins[i].path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) return fail("open namespace `%s`", plan->joins[i].path);
  }
  /* The user namespace last, as nsenter(1) does: a privileged caller enters every other
   * namespace from its own user namespace, including one that an ancestor of the container's
   * owns (a network namespace the engine made), which it could no longer enter from inside.
   * Whatever refuses us with EPERM is tried again from inside (an unprivileged caller, who
   * gains its capabilities there). */
  static const int order[] = {CLONE_NEWIPC,    CLONE_NEWUTS,  CLONE_NEWNET, CLONE_NEWPID,
                              CLONE_NEWCGROUP, CLONE_NEWTIME, CLONE_NEWNS,  CLONE_NEWUSER};
  for (int pass = 0; pass < 2; pass++)
    for (size_t k = 0; k < sizeof order / sizeof *order; k++)
      for (size_t i = 0; i < plan->njoins; i++) {
        if ((int)plan->joins[i].flag != order[k] || fds[i] < 0) continue;
        if (setns(fds[i], order[k]) != 0) {
          if (pass == 0 && errno == EPERM && order[k] != CLONE_NEWUSER) continue;
          return fail("join namespace `%s`", plan->joins[i].path);
        }
        close(fds[i]);
        fds[i] = -1;
      }
  for (size_t i = 0; i < plan->njoins; i++)
    if (fds[i] >= 0) return fail_plain("unknown namespace type %#x for `%s`", plan->joins[i].flag, plan->joins[i].path);
  return 0;
}

static int redirect_stdio(const struct stdio_fds *io) {
  int fds[3] = {io->in, io->out, io->err};
  for (int i = 0; i < 3; i++)
    if (fds[i] >= 0 && fds[i] != i && dup2(fds[i], i) < 0) return fail("dup2 stdio");
  return 0;
}

static _Noreturn void stage1(const struct plan *plan, int init_sock, int report_fd, const struct stdio_fds *io) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* Hooks that do not read their input must not kill init with SIGPIPE; exec restores it. */
  signal(SIGPIPE, SIG_IGN);
  /* Move our two channels out of the way first: the stdio descriptors may sit on 3 or 4. */
  int sock = fcntl(init_sock, F_DUPFD_CLOEXEC, 64), report = fcntl(report_fd, F_DUPFD_CLOEXEC, 64);
  if (sock < 0 || report < 0) _exit(1);
  init_fd = sock;
  if (redirect_stdio(io) != 0) die();
  if (dup3(sock, INIT_FD, O_CLOEXEC) < 0 || dup3(report, INIT_FD + 1, O_CLOEXEC) < 0) _exit(1);
  init_fd = INIT_FD;
  if (syscall(SYS_close_range, INIT_FD + 2, ~0U, 0) != 0)
    for (int fd = INIT_FD + 2; fd < 65536; fd++) close(fd);
  if (join_cgroups(plan) || join_namespaces(plan)) die();
  /* clone(2) with no new stack behaves like fork(2), with the namespace flags applied. */
  unsigned long flags = (plan->ns_new & ~(unsigned long)CLONE_NEWCGROUP) | SIGCHLD;
  pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
  if (pid < 0) {
    fail("clone into new namespaces (flags %#lx)", flags);
    die();
  }
  if (pid == 0) {
    close(INIT_FD + 1);
    close_other_fds();
    stage2(plan);
  }
  uint32_t value = (uint32_t)pid;
  _exit(write_all(INIT_FD + 1, &value, sizeof value) == 0 ? 0 : 1);
}

pid_t spawn_container(const struct plan *plan, int init_sock, const struct stdio_fds *io) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return fail("pipe");
  pid_t stage1_pid = fork();
  if (stage1_pid < 0) return fail("fork");
  if (stage1_pid == 0) stage1(plan, init_sock, report[1], io);
  close(report[1]);
  uint32_t pid = 0;
  int rc = read_all(report[0], &pid, sizeof pid);
  close(report[0]);
  int status;
  while (waitpid(stage1_pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (rc != 0) {
    fail_plain("container process did not start");
    return -1;
  }
  return (pid_t)pid;
}
