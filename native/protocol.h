/*
 * The wire format between Berth's TypeScript side and its native helpers.
 *
 * Every channel (TypeScript <-> monitor on fd 3, monitor <-> container init on a socketpair,
 * clients <-> the monitor's control socket) carries frames: u32 type, u32 length, then
 * `length` payload bytes, all little-endian (the only byte order Berth targets).
 *
 * The plan (MSG_PLAN) is a sequence of records: u16 tag, u16 zero, u32 length, value.
 * The TypeScript side computes every decision; the native side only checks sizes and obeys.
 * src/runtime/native/protocol.ts mirrors these numbers; a unit test compares the two files.
 */
#ifndef BERTH_PROTOCOL_H
#define BERTH_PROTOCOL_H

#define BERTH_PROTOCOL_VERSION 1
#define BERTH_MAX_FRAME (16u * 1024u * 1024u)

/* Frame types. */
#define MSG_PLAN 1      /* ts -> monitor: plan records */
#define MSG_PID 2       /* monitor -> ts: u32 host pid of the container process */
#define MSG_CONTINUE 3  /* ts -> monitor -> init: go on; payload: state JSON given to hooks */
#define MSG_SYNC 4      /* init -> monitor -> ts: paused at a named point, waiting for MSG_CONTINUE */
#define MSG_CREATED 5   /* init -> monitor -> ts: set up and waiting for MSG_START */
#define MSG_START 6     /* client -> monitor -> init: run the process */
#define MSG_STARTED 7   /* monitor -> client: execve succeeded */
#define MSG_ERROR 8     /* any -> peer: one line naming the step, the path and the kernel's reason */
#define MSG_EXITED 9    /* monitor -> ts and waiting clients: i32 wait status, u8 oom flag unused */
#define MSG_WAIT 10     /* client -> monitor: answer MSG_EXITED when the process has exited */
#define MSG_PTY 11      /* init -> monitor: the pty master, as SCM_RIGHTS */
#define MSG_RESIZE 12   /* client -> monitor: u16 rows, u16 cols for the pty */
#define MSG_ATTACH 13   /* client -> monitor: u32 flags (ATTACH_*); output then flows as MSG_STDOUT/ERR */
#define MSG_STDIN 14    /* client -> monitor: bytes for the process's stdin */
#define MSG_STDOUT 15   /* monitor -> attached clients: bytes the process wrote to stdout (or the pty) */
#define MSG_STDERR 16   /* monitor -> attached clients: bytes the process wrote to stderr */
#define MSG_CLOSE_STDIN 17 /* client -> monitor: close the process's stdin */
#define MSG_OK 18       /* monitor -> client: request done */
#define MSG_LOG_REOPEN 19  /* client -> monitor: reopen the log file (after the daemon rotated or removed it) */

#define ATTACH_STDIN 1u
#define ATTACH_STDOUT 2u
#define ATTACH_STDERR 4u
#define ATTACH_CLOSE_STDIN_ON_DETACH 8u

/* Plan record tags. */
#define PLAN_STDIO_MODE 1     /* u32 STDIO_* */
#define PLAN_TERMINAL 2       /* u32 0|1: give the process a pty */
#define PLAN_CONSOLE_SOCKET 3 /* str: send the pty master there (OCI --console-socket) */
#define PLAN_CONTROL_SOCKET 4 /* str: path of the monitor's control socket */
#define PLAN_EXIT_FILE 5      /* str: where the monitor records the exit status */
#define PLAN_NS_NEW 6         /* u32 CLONE_NEW* flags to create */
#define PLAN_NS_JOIN 7        /* u32 CLONE_NEW* flag, str path of the namespace to join */
#define PLAN_OP 8             /* u32 opcode, u32 argc, argc x (u32 len, bytes): one step of set-up */
#define PLAN_ARG 9            /* str, repeated: argv */
#define PLAN_ENV 10           /* str, repeated: envp */
#define PLAN_CWD 11           /* str */
#define PLAN_UID 12           /* u32 */
#define PLAN_GID 13           /* u32 */
#define PLAN_GROUPS 14        /* u32 array: additional gids */
#define PLAN_UMASK 15         /* u32 */
#define PLAN_RLIMIT 16        /* u32 resource, u64 soft, u64 hard */
#define PLAN_CAPS 17          /* 5 x u64: bounding, effective, permitted, inheritable, ambient */
#define PLAN_CAP_LAST 18      /* u32: highest capability number the kernel knows */
#define PLAN_NO_NEW_PRIVS 19  /* u32 0|1 */
#define PLAN_SECCOMP 20       /* bytes: struct sock_filter array */
#define PLAN_SECCOMP_FLAGS 21 /* u32 SECCOMP_FILTER_FLAG_* */
#define PLAN_WAIT_START 22    /* u32 0|1: stop after set-up until MSG_START (OCI create) */
#define PLAN_PERSONALITY 23   /* u32 personality(2) domain */
#define PLAN_START_HOOK 24    /* like PLAN_OP with opcode OP_HOOK: a startContainer hook */
#define PLAN_LOG_PATH 25      /* str: docker json-file log written by the monitor (STDIO_PIPES) */
#define PLAN_LOG_MAX_SIZE 26  /* u64 bytes before rotation; 0 = never */
#define PLAN_LOG_MAX_FILES 27 /* u32 files kept including the current one */
#define PLAN_STDIN_OPEN 28    /* u32 0|1: keep a stdin pipe the clients can write to */
#define PLAN_CGROUP_SELF 29   /* string: a file to write "0" to, moving the process there first */
#define PLAN_HANDOFF 30       /* u32 0|1: leave once the process runs, never reaping it (runc's way) */

#define STDIO_INHERIT 0 /* the process uses the monitor's own stdio (the OCI runtime CLI) */
#define STDIO_PIPES 1   /* the monitor holds pipes (or the pty), logs them and serves attach */
#define STDIO_NULL 2    /* /dev/null */

/* Set-up steps (PLAN_OP). Paths marked "in root" resolve inside the container's root with
 * symlinks confined to it (openat2 RESOLVE_IN_ROOT); "host" paths resolve as they are. */
#define OP_MOUNT 1        /* source, target (in root), fstype, u64 flags, data, u64 TARGET_* */
#define OP_MOUNT_HOST 2   /* source, target (host), fstype, u64 flags, data */
#define OP_REMOUNT 3      /* target (in root), u64 flags: MS_REMOUNT|MS_BIND keeping locked flags */
#define OP_PROPAGATION 4  /* target, u64 flags (MS_SHARED|MS_SLAVE|MS_PRIVATE|MS_UNBINDABLE, MS_REC), u64 1 = in root, 0 = host */
#define OP_SET_ROOT 5     /* path (host): the directory later "in root" paths resolve against */
#define OP_MKNOD 6        /* path (in root), u64 mode, u64 dev, u64 uid, u64 gid */
#define OP_SYMLINK 7      /* target text, linkpath (in root) */
#define OP_MKDIR 8        /* path (in root), u64 mode */
#define OP_PIVOT_ROOT 9   /* no args: pivot into the root set by OP_SET_ROOT */
#define OP_MASK 10        /* path (in root): hide it (tmpfs over a directory, /dev/null over a file) */
#define OP_READONLY 11    /* path (in root): bind it onto itself read-only */
#define OP_WRITE_FILE 12  /* path (in root), content: e.g. a sysctl under /proc/sys */
#define OP_SETHOSTNAME 13 /* name */
#define OP_SETDOMAINNAME 14 /* name */
#define OP_SYNC 15        /* name: report MSG_SYNC and wait for MSG_CONTINUE */
#define OP_HOOK 16        /* u64 timeout seconds, path, u64 argc, argv..., env...: run with the state on stdin */
#define OP_CHDIR 17       /* path (host): cwd for the following mounts (short overlay lowerdirs) */
#define OP_CHROOT 18      /* no args: chroot into the root set by OP_SET_ROOT (no pivot_root) */
#define OP_IFUP 19        /* interface name: bring it up (the loopback of a new network namespace) */

#define TARGET_DIR 0  /* create the mount target as a directory if it is missing */
#define TARGET_FILE 1 /* create it as an empty file (binding a file) */
#define TARGET_NONE 2 /* it must exist */

#endif
