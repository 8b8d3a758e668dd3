/* The last steps before the container's program runs: identity, limits, capabilities, seccomp,
 * and execve. */
#ifndef BERTH_PROCESS_H
#define BERTH_PROCESS_H

#include "plan.h"

/* Finds argv[0] on the plan's PATH, as execvp would, inside the container's root. The result
 * lives in a static buffer. Returns NULL with berth_error set when nothing executable is found. */
const char *find_executable(const struct plan *plan);

/* Applies personality, rlimits, umask, user, groups, capabilities, no_new_privs and seccomp,
 * in the order the kernel requires, then execs `path`. Returns only on failure. */
int exec_process(const struct plan *plan, const char *path);

/* Runs an OP_HOOK: the hook gets `state` on stdin and must exit 0 within its timeout. */
int run_hook(const struct op *op, const char *state, size_t state_len);

#endif
