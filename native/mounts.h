/* The container's filesystem set-up steps (the OP_* records other than hooks and syncs). */
#ifndef BERTH_MOUNTS_H
#define BERTH_MOUNTS_H

#include "plan.h"

/* Runs one filesystem op. Returns 0, or -1 with berth_error set. */
int mount_op(const struct op *op);

#endif
