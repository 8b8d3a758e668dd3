/* The decoded plan: everything the TypeScript side decided about one container process. */
#ifndef BERTH_PLAN_H
#define BERTH_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct op_arg {
  char *data; /* NUL-terminated copy */
  uint32_t len;
};

struct op {
  uint32_t code;
  uint32_t argc;
  struct op_arg *argv;
};

struct ns_join {
  uint32_t flag;
  char *path;
};

struct rlimit_req {
  uint32_t resource;
  uint64_t soft, hard;
};

struct plan {
  uint32_t stdio_mode;
  int terminal;
  int stdin_open;
  int handoff; /* leave the process to our caller's subreaper once it has exec'd */
  char *console_socket;
  char *control_socket;
  char *exit_file;
  char *log_path;
  uint64_t log_max_size;
  uint32_t log_max_files;

  char **cgroup_self; /* NULL-terminated: files that move the process itself (v1 "tasks") */
  size_t ncgroup_self;
  uint32_t ns_new;
  struct ns_join joins[16];
  size_t njoins;
  struct op *ops;
  size_t nops;
  struct op *start_hooks;
  size_t nstart_hooks;

  char **argv; /* NULL-terminated */
  size_t argc;
  char **envp; /* NULL-terminated */
  size_t envc;
  char *cwd;
  uint32_t uid, gid;
  gid_t *groups;
  size_t ngroups;
  int has_umask;
  uint32_t umask;
  struct rlimit_req *rlimits;
  size_t nrlimits;
  int has_caps;
  uint64_t caps[5]; /* bounding, effective, permitted, inheritable, ambient */
  uint32_t cap_last;
  int no_new_privs;
  uint8_t *seccomp;
  uint32_t seccomp_len;
  uint32_t seccomp_flags;
  int wait_start;
  int has_personality;
  uint32_t personality;
};

/* Decodes a MSG_PLAN payload. Returns -1 with berth_error set when a record is malformed. */
int plan_decode(struct plan *plan, const uint8_t *data, size_t len);

/* Argument accessors for ops; they fail (berth_error) when the argument is missing or not a u64. */
const char *op_str(const struct op *op, uint32_t i);
int op_u64(const struct op *op, uint32_t i, uint64_t *out);

#endif
