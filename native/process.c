#define _GNU_SOURCE
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static const char *const rlimit_names[] = {
    "RLIMIT_CPU",   "RLIMIT_FSIZE", "RLIMIT_DATA",    "RLIMIT_STACK",      "RLIMIT_CORE",   "RLIMIT_RSS",
    "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS",        "RLIMIT_LOCKS",  "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME"};

static const char *env_path(const struct plan *plan) {
  for (size_t i = 0; i < plan->envc; i++)
    if (strncmp(plan->envp[i], "PATH=", 5) == 0) return plan->envp[i] + 5;
  return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

const char *find_executable(const struct plan *plan) {
  static char found[PATH_MAX];
  const char *name = plan->argv[0];
  if (strchr(name, '/')) {
    struct stat st;
    if (stat(name, &st) != 0) {
      fail("exec `%s`", name);
      return NULL;
    }
    snprintf(found, sizeof found, "%s", name);
    return found;
  }
  const char *path = env_path(plan);
  int saw_eacces = 0;
  while (*path) {
    const char *end = strchrnul(path, ':');
    int dirlen = (int)(end - path);
    /* An empty PATH element means the current directory, as in execvp. */
    snprintf(found, sizeof found, "%.*s%s%s", dirlen, dirlen ? path : ".", "/", name);
    struct stat st;
    if (stat(found, &st) == 0 && S_ISREG(st.st_mode)) {
      if (access(found, X_OK) == 0) return found;
      saw_eacces = 1;
    }
    path = *end ? end + 1 : end;
  }
  if (saw_eacces) {
    errno = EACCES;
    fail("exec `%s`", name);
  } else {
    fail_plain("exec `%s`: executable file not found in $PATH", name);
  }
  return NULL;
}

static int load_seccomp(const struct plan *plan) {
  struct sock_fprog prog = {.len = (unsigned short)(plan->seccomp_len / 8),
                            .filter = (struct sock_filter *)plan->seccomp};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, plan->seccomp_flags, &prog) != 0)
    return fail("load seccomp filter");
  return 0;
}

/* Before the uid changes: dropping from the bounding set needs CAP_SETPCAP, which a non-root
 * user no longer has. */
static int drop_bounding_set(const struct plan *plan) {
  for (uint32_t cap = 0; cap <= plan->cap_last && cap < 64; cap++) {
    if (plan->caps[0] & (1ull << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      return fail("drop capability %u from the bounding set", cap);
  }
  return 0;
}

/* After the uid change: the exact effective, permitted, inheritable and ambient sets. */
static int set_capabilities(const struct plan *plan) {
  uint64_t effective = plan->caps[1], permitted = plan->caps[2], inheritable = plan->caps[3], ambient = plan->caps[4];
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {
      {(uint32_t)effective, (uint32_t)permitted, (uint32_t)inheritable},
      {(uint32_t)(effective >> 32), (uint32_t)(permitted >> 32), (uint32_t)(inheritable >> 32)}};
  if (syscall(SYS_capset, &header, data) != 0) return fail("capset");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return fail("clear ambient capabilities");
  for (uint32_t cap = 0; cap <= plan->cap_last && cap < 64; cap++)
    if ((ambient & (1ull << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
      return fail("raise ambient capability %u (it must be permitted and inheritable)", cap);
  return 0;
}

static int set_user(const struct plan *plan) {
  /* setgroups fails with EPERM in a user namespace whose setgroups file says "deny"; an empty
   * list asks for nothing then. */
  if (setgroups(plan->ngroups, plan->groups) != 0 && !(errno == EPERM && plan->ngroups == 0))
    return fail("setgroups");
  if (setresgid(plan->gid, plan->gid, plan->gid) != 0) return fail("setgid %u", plan->gid);
  if (setresuid(plan->uid, plan->uid, plan->uid) != 0) return fail("setuid %u", plan->uid);
  return 0;
}

int exec_process(const struct plan *plan, const char *path) {
  if (plan->has_personality && personality(plan->personality) < 0)
    return fail("personality 0x%x", plan->personality);
  for (size_t i = 0; i < plan->nrlimits; i++) {
    const struct rlimit_req *r = &plan->rlimits[i];
    struct rlimit value = {(rlim_t)r->soft, (rlim_t)r->hard};
    if (setrlimit((int)r->resource, &value) != 0) {
      const char *name = r->resource < sizeof rlimit_names / sizeof *rlimit_names ? rlimit_names[r->resource] : "?";
      return fail("setrlimit %s", name);
    }
  }
  if (plan->has_umask) umask((mode_t)plan->umask);
  /* The cwd is entered as root first (it may be unreadable to the user only after setuid). */
  int cwd_done = !plan->cwd || chdir(plan->cwd) == 0;
  if (!cwd_done && errno != EACCES) return fail("chdir `%s`", plan->cwd);
  /* Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it while we still have it. */
  if (plan->seccomp && !plan->no_new_privs && load_seccomp(plan)) return -1;
  /* Keep the permitted set across the uid change; set_capabilities then decides it exactly. */
  if (plan->has_caps && drop_bounding_set(plan)) return -1;
  if (plan->has_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return fail("prctl PR_SET_KEEPCAPS");
  if (set_user(plan)) return -1;
  if (plan->has_caps && set_capabilities(plan)) return -1;
  if (!cwd_done && chdir(plan->cwd) != 0) return fail("chdir `%s`", plan->cwd);
  if (plan->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail("prctl PR_SET_NO_NEW_PRIVS");
  /* With no_new_privs the filter goes last, so it restricts only the program itself. */
  if (plan->seccomp && plan->no_new_privs && load_seccomp(plan)) return -1;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  char *empty[] = {NULL};
  execve(path, plan->argv, plan->envp ? plan->envp : empty);
  return fail("exec `%s`", path);
}

int run_hook(const struct op *op, const char *state, size_t state_len) {
  uint64_t timeout, argc;
  const char *path = op_str(op, 1);
  if (op_u64(op, 0, &timeout) || !path || op_u64(op, 2, &argc)) return -1;
  if (argc > op->argc - 3) return fail_plain("plan: hook `%s` has %lu arguments but %u fields", path,
                                             (unsigned long)argc, op->argc);
  size_t envc = op->argc - 3 - argc;
  char **argv = calloc(argc + 2, sizeof *argv), **envp = calloc(envc + 1, sizeof *envp);
  if (!argv || !envp) return fail("malloc");
  for (uint64_t i = 0; i < argc; i++) argv[i] = op->argv[3 + i].data;
  if (argc == 0) argv[0] = (char *)path;
  for (size_t i = 0; i < envc; i++) envp[i] = op->argv[3 + argc + i].data;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return fail("pipe");
  pid_t pid = fork();
  if (pid < 0) return fail("fork hook");
  if (pid == 0) {
    dup2(pipefd[0], 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(path, argv, envp);
    _exit(127);
  }
  close(pipefd[0]);
  /* A hook that does not read its stdin must not kill us with SIGPIPE (ignored in init). */
  write_all(pipefd[1], state, state_len);
  close(pipefd[1]);
  free(argv);
  free(envp);
  struct timespec start, now, pause = {0, 1000000};
  clock_gettime(CLOCK_MONOTONIC, &start);
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return fail("wait for hook `%s`", path);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (timeout && (uint64_t)(now.tv_sec - start.tv_sec) >= timeout) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return fail_plain("hook `%s` timed out after %lu s", path, (unsigned long)timeout);
    }
    nanosleep(&pause, NULL);
    if (pause.tv_nsec < 16000000) pause.tv_nsec *= 2;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  if (WIFEXITED(status)) return fail_plain("hook `%s` exited with status %d", path, WEXITSTATUS(status));
  return fail_plain("hook `%s` was killed by signal %d", path, WTERMSIG(status));
}
