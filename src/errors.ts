/**
 * The root of Berth's typed errors. Each part defines its own subclasses with messages a user
 * can act on; the API maps classes to HTTP statuses in one place, the CLIs print `message`.
 */
export class BerthError extends Error {
  /** A stable, machine-readable kind (used by the API's status mapping and by tests). */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Input that a user or client gave and that Berth refuses: nothing was changed. */
export class InvalidArgument extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("invalid-argument", message, options);
  }
}

/** Something named by the user does not exist. */
export class NotFound extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("not-found", message, options);
  }
}

/** The request conflicts with the current state (a name in use, a container already running). */
export class Conflict extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("conflict", message, options);
  }
}

/** The host refused: a syscall, a kernel feature, a privilege Berth does not have. */
export class SystemError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("system", message, options);
  }
}

/** The text of any thrown value, for messages that wrap a lower error. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const errno = err as NodeJS.ErrnoException;
    // Node's messages repeat the syscall and path ("ENOENT: no such file or directory, open 'x'");
    // callers already name the step and the path, so keep only the reason.
    if (errno.code && errno.syscall) return reasonOf(errno);
    return err.message;
  }
  return String(err);
}

const REASONS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EEXIST: "file exists",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EBUSY: "device or resource busy",
  EINVAL: "invalid argument",
  ENOSPC: "no space left on device",
  ESRCH: "no such process",
  ENOTEMPTY: "directory not empty",
  EROFS: "read-only file system",
  ECONNREFUSED: "connection refused",
  ENAMETOOLONG: "file name too long",
};

function reasonOf(err: NodeJS.ErrnoException): string {
  return REASONS[err.code ?? ""] ?? err.code ?? err.message;
}

/** True when `err` is a Node system error with the given code (ENOENT, EEXIST, ...). */
export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
