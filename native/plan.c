#define _GNU_SOURCE
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "util.h"

struct reader {
  const uint8_t *p;
  size_t left;
};

static int take(struct reader *r, void *out, size_t n) {
  if (r->left < n) return fail_plain("plan: record truncated");
  memcpy(out, r->p, n);
  r->p += n;
  r->left -= n;
  return 0;
}

static char *take_str(struct reader *r, size_t n) {
  if (r->left < n) {
    fail_plain("plan: string truncated");
    return NULL;
  }
  if (memchr(r->p, 0, n)) {
    fail_plain("plan: string contains a NUL byte");
    return NULL;
  }
  char *s = malloc(n + 1);
  if (!s) {
    fail("plan: malloc");
    return NULL;
  }
  memcpy(s, r->p, n);
  s[n] = 0;
  r->p += n;
  r->left -= n;
  return s;
}

static int push_str(char ***list, size_t *count, char *s) {
  char **grown = realloc(*list, (*count + 2) * sizeof **list);
  if (!grown) return fail("plan: realloc");
  grown[(*count)++] = s;
  grown[*count] = NULL;
  *list = grown;
  return 0;
}

/* PLAN_OP value: u32 opcode, u32 argc, then argc x (u32 len, bytes). Arguments may hold any
 * bytes (u64 values are 8 raw bytes), so they are copied rather than checked for NULs. */
static int decode_op(struct reader *r, struct op *op) {
  if (take(r, &op->code, 4) || take(r, &op->argc, 4)) return -1;
  if (op->argc > 4096) return fail_plain("plan: op with %u arguments", op->argc);
  op->argv = calloc(op->argc ? op->argc : 1, sizeof *op->argv);
  if (!op->argv) return fail("plan: calloc");
  for (uint32_t i = 0; i < op->argc; i++) {
    uint32_t n = 0;
    if (take(r, &n, 4)) return -1;
    if (r->left < n) return fail_plain("plan: op argument truncated");
    op->argv[i].data = malloc((size_t)n + 1);
    if (!op->argv[i].data) return fail("plan: malloc");
    memcpy(op->argv[i].data, r->p, n);
    op->argv[i].data[n] = 0;
    op->argv[i].len = n;
    r->p += n;
    r->left -= n;
  }
  if (r->left) return fail_plain("plan: %zu stray bytes after op %u", r->left, op->code);
  return 0;
}

static int push_op(struct op **ops, size_t *count, struct reader *r) {
  struct op *grown = realloc(*ops, (*count + 1) * sizeof **ops);
  if (!grown) return fail("plan: realloc");
  *ops = grown;
  memset(&grown[*count], 0, sizeof **ops);
  if (decode_op(r, &grown[*count])) return -1;
  (*count)++;
  return 0;
}

static int want_len(uint16_t tag, uint32_t len, uint32_t expected) {
  if (len != expected) return fail_plain("plan: record %u has %u bytes, expected %u", tag, len, expected);
  return 0;
}

int plan_decode(struct plan *plan, const uint8_t *data, size_t len) {
  memset(plan, 0, sizeof *plan);
  plan->log_max_files = 1;
  struct reader all = {data, len};
  while (all.left > 0) {
    uint16_t tag = 0, zero = 0;
    uint32_t n = 0;
    if (take(&all, &tag, 2) || take(&all, &zero, 2) || take(&all, &n, 4)) return -1;
    if (all.left < n) return fail_plain("plan: record %u truncated", tag);
    struct reader r = {all.p, n};
    all.p += n;
    all.left -= n;
    uint32_t u32 = 0;
    switch (tag) {
      case PLAN_STDIO_MODE:
      case PLAN_TERMINAL:
      case PLAN_NS_NEW:
      case PLAN_UID:
      case PLAN_GID:
      case PLAN_UMASK:
      case PLAN_CAP_LAST:
      case PLAN_NO_NEW_PRIVS:
      case PLAN_SECCOMP_FLAGS:
      case PLAN_WAIT_START:
      case PLAN_PERSONALITY:
      case PLAN_LOG_MAX_FILES:
      case PLAN_STDIN_OPEN:
      case PLAN_HANDOFF:
        if (want_len(tag, n, 4) || take(&r, &u32, 4)) return -1;
        break;
      default:
        break;
    }
    switch (tag) {
      case PLAN_STDIO_MODE:
        if (u32 > STDIO_NULL) return fail_plain("plan: unknown stdio mode %u", u32);
        plan->stdio_mode = u32;
        break;
      case PLAN_TERMINAL: plan->terminal = u32 != 0; break;
      case PLAN_STDIN_OPEN: plan->stdin_open = u32 != 0; break;
      case PLAN_HANDOFF: plan->handoff = u32 != 0; break;
      case PLAN_NS_NEW: plan->ns_new = u32; break;
      case PLAN_UID: plan->uid = u32; break;
      case PLAN_GID: plan->gid = u32; break;
      case PLAN_UMASK:
        plan->has_umask = 1;
        plan->umask = u32;
        break;
      case PLAN_CAP_LAST: plan->cap_last = u32; break;
      case PLAN_NO_NEW_PRIVS: plan->no_new_privs = u32 != 0; break;
      case PLAN_SECCOMP_FLAGS: plan->seccomp_flags = u32; break;
      case PLAN_WAIT_START: plan->wait_start = u32 != 0; break;
      case PLAN_PERSONALITY:
        plan->has_personality = 1;
        plan->personality = u32;
        break;
      case PLAN_LOG_MAX_FILES: plan->log_max_files = u32 ? u32 : 1; break;
      case PLAN_LOG_MAX_SIZE:
        if (want_len(tag, n, 8) || take(&r, &plan->log_max_size, 8)) return -1;
        break;
      case PLAN_CONSOLE_SOCKET:
        if (!(plan->console_socket = take_str(&r, n))) return -1;
        break;
      case PLAN_CONTROL_SOCKET:
        if (!(plan->control_socket = take_str(&r, n))) return -1;
        break;
      case PLAN_EXIT_FILE:
        if (!(plan->exit_file = take_str(&r, n))) return -1;
        break;
      case PLAN_LOG_PATH:
        if (!(plan->log_path = take_str(&r, n))) return -1;
        break;
      case PLAN_CWD:
        if (!(plan->cwd = take_str(&r, n))) return -1;
        break;
      case PLAN_ARG: {
        char *s = take_str(&r, n);
        if (!s || push_str(&plan->argv, &plan->argc, s)) return -1;
        break;
      }
      case PLAN_ENV: {
        char *s = take_str(&r, n);
        if (!s || push_str(&plan->envp, &plan->envc, s)) return -1;
        break;
      }
      case PLAN_CGROUP_SELF: {
        char *s = take_str(&r, n);
        if (!s || push_str(&plan->cgroup_self, &plan->ncgroup_self, s)) return -1;
        break;
      }
      case PLAN_NS_JOIN: {
        if (plan->njoins == sizeof plan->joins / sizeof plan->joins[0])
          return fail_plain("plan: too many namespaces to join");
        struct ns_join *j = &plan->joins[plan->njoins];
        if (take(&r, &j->flag, 4) || !(j->path = take_str(&r, r.left))) return -1;
        plan->njoins++;
        break;
      }
      case PLAN_OP:
        if (push_op(&plan->ops, &plan->nops, &r)) return -1;
        break;
      case PLAN_START_HOOK:
        if (push_op(&plan->start_hooks, &plan->nstart_hooks, &r)) return -1;
        break;
      case PLAN_GROUPS:
        if (n % 4 || n > 65536 * 4) return fail_plain("plan: malformed group list");
        plan->ngroups = n / 4;
        plan->groups = malloc(n ? n : 1);
        if (!plan->groups) return fail("plan: malloc");
        for (size_t i = 0; i < plan->ngroups; i++) {
          uint32_t g = 0;
          if (take(&r, &g, 4)) return -1;
          plan->groups[i] = g;
        }
        break;
      case PLAN_RLIMIT: {
        if (want_len(tag, n, 20)) return -1;
        struct rlimit_req *grown = realloc(plan->rlimits, (plan->nrlimits + 1) * sizeof *grown);
        if (!grown) return fail("plan: realloc");
        plan->rlimits = grown;
        struct rlimit_req *rl = &grown[plan->nrlimits++];
        if (take(&r, &rl->resource, 4) || take(&r, &rl->soft, 8) || take(&r, &rl->hard, 8)) return -1;
        break;
      }
      case PLAN_CAPS:
        if (want_len(tag, n, 40)) return -1;
        for (int i = 0; i < 5; i++)
          if (take(&r, &plan->caps[i], 8)) return -1;
        plan->has_caps = 1;
        break;
      case PLAN_SECCOMP:
        /* A BPF program is an array of 8-byte struct sock_filter; the kernel caps it at 4096. */
        if (n == 0 || n % 8 || n / 8 > 4096) return fail_plain("plan: seccomp program of %u bytes", n);
        plan->seccomp = malloc(n);
        if (!plan->seccomp) return fail("plan: malloc");
        take(&r, plan->seccomp, n);
        plan->seccomp_len = n;
        break;
      default:
        return fail_plain("plan: unknown record tag %u", tag);
    }
  }
  if (plan->argc == 0) return fail_plain("plan: no process arguments");
  return 0;
}

const char *op_str(const struct op *op, uint32_t i) {
  if (i >= op->argc) {
    fail_plain("plan: op %u lacks argument %u", op->code, i);
    return NULL;
  }
  if (memchr(op->argv[i].data, 0, op->argv[i].len)) {
    fail_plain("plan: op %u argument %u contains a NUL byte", op->code, i);
    return NULL;
  }
  return op->argv[i].data;
}

int op_u64(const struct op *op, uint32_t i, uint64_t *out) {
  if (i >= op->argc || op->argv[i].len != 8)
    return fail_plain("plan: op %u argument %u is not a u64", op->code, i);
  memcpy(out, op->argv[i].data, 8);
  return 0;
}
