/* Starting the container process: join and create namespaces, then set it up as planned. */
#ifndef BERTH_CONTAINER_H
#define BERTH_CONTAINER_H

#include <sys/types.h>

#include "plan.h"

/* The descriptors that become the process's stdin, stdout and stderr (-1: keep the inherited one). */
struct stdio_fds {
  int in, out, err;
};

/* Forks the intermediate process that joins the plan's namespaces and clones the container
 * process into the new ones. Returns the container process's pid (as the monitor sees it), or -1:
 * then the reason is either in berth_error or was sent as MSG_ERROR on `init_sock`. The container
 * process talks to the monitor over `init_sock`. */
pid_t spawn_container(const struct plan *plan, int init_sock, const struct stdio_fds *io);

#endif
