/*
 * berth-cgroup-device attach DIR: loads the eBPF device filter on stdin (struct bpf_insn[],
 * compiled by src/runtime/cgroups/device-filter.ts) and attaches it to the cgroup v2 directory
 * DIR, replacing any filter attached before. This is how cgroup v2 restricts devices; Node has
 * no bpf(2). Policy-free: the program is the caller's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int bpf(int cmd, union bpf_attr *attr) { return (int)syscall(SYS_bpf, cmd, attr, sizeof *attr); }

static int die(const char *what, const char *path) {
  fprintf(stderr, "%s%s%s: %s\n", what, path ? " " : "", path ? path : "", strerror(errno));
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3 || strcmp(argv[1], "attach") != 0) {
    fprintf(stderr, "usage: berth-cgroup-device attach CGROUP_DIR < program\n");
    return 2;
  }
  static struct bpf_insn insns[4096];
  size_t len = 0;
  ssize_t n;
  while ((n = read(0, (char *)insns + len, sizeof insns - len)) > 0) len += (size_t)n;
  if (n < 0) return die("read program", NULL);
  if (len == 0 || len % sizeof(struct bpf_insn)) {
    fprintf(stderr, "program of %zu bytes is not a list of bpf instructions\n", len);
    return 2;
  }
  int cgroup = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup < 0) return die("open cgroup", argv[2]);

  /* Which filters are attached now: they are detached once the new one is in place, so that
   * there is no moment without a filter. */
  __u32 old[64];
  union bpf_attr q;
  memset(&q, 0, sizeof q);
  q.query.target_fd = (__u32)cgroup;
  q.query.attach_type = BPF_CGROUP_DEVICE;
  q.query.prog_ids = (__u64)(unsigned long)old;
  q.query.prog_cnt = 64;
  if (bpf(BPF_PROG_QUERY, &q) != 0) return die("query device filters of", argv[2]);

  /* Load: the kernel verifies the program; its log says why when it refuses. */
  static char log[65536];
  union bpf_attr load;
  memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (__u64)(unsigned long)insns;
  load.insn_cnt = (__u32)(len / sizeof(struct bpf_insn));
  load.license = (__u64)(unsigned long)"Apache-2.0";
  load.log_buf = (__u64)(unsigned long)log;
  load.log_size = sizeof log;
  load.log_level = 1;
  int prog = bpf(BPF_PROG_LOAD, &load);
  if (prog < 0) {
    fprintf(stderr, "load device filter: %s\n%s", strerror(errno), log);
    return 1;
  }

  /* Attach with ALLOW_MULTI so that programs of parent cgroups keep applying too. */
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.target_fd = (__u32)cgroup;
  at.attach_bpf_fd = (__u32)prog;
  at.attach_type = BPF_CGROUP_DEVICE;
  at.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf(BPF_PROG_ATTACH, &at) != 0) return die("attach device filter to", argv[2]);

  for (__u32 i = 0; i < q.query.prog_cnt && i < 64; i++) {
    union bpf_attr get;
    memset(&get, 0, sizeof get);
    get.prog_id = old[i];
    int fd = bpf(BPF_PROG_GET_FD_BY_ID, &get); /* a descriptor for the old program, to name it */
    if (fd < 0) continue;
    union bpf_attr det;
    memset(&det, 0, sizeof det);
    det.target_fd = (__u32)cgroup;
    det.attach_bpf_fd = (__u32)fd;
    det.attach_type = BPF_CGROUP_DEVICE;
    if (bpf(BPF_PROG_DETACH, &det) != 0) return die("detach old device filter from", argv[2]);
    close(fd);
  }
  return 0;
}
