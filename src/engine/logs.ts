/**
 * Reading a container's json-file log (written by its monitor, rotated as path.1, path.2, …):
 * `docker logs` with --tail, --since, --until, and -f following new lines until the container
 * stops or the reader goes away.
 */
import { createReadStream, existsSync, statSync, watch } from "node:fs";
import { open } from "node:fs/promises";
import { InvalidArgument } from "../errors.js";

export interface LogEntry {
  stream: "stdout" | "stderr";
  /** RFC 3339 with nanoseconds, as written. */
  time: string;
  /** The bytes the process wrote (with their newline). */
  log: string;
}

export interface LogOptions {
  stdout: boolean;
  stderr: boolean;
  /** Unix seconds (fractional); entries before are skipped. */
  since?: number;
  until?: number;
  /** Only the last N entries (of those selected); undefined: all. */
  tail?: number;
  follow: boolean;
  /** Resolves when the container has stopped (following ends once the file is drained). */
  stopped: () => boolean;
  /** Settles when the container stops, so that following ends at once rather than at the next poll. */
  exit?: Promise<unknown>;
  signal?: AbortSignal;
}

/** `--since`/`--until` values: Unix seconds ("1700000000.5"), RFC 3339, or a duration ago ("10m"). */
export function parseLogTime(text: string | null, now = Date.now()): number | undefined {
  if (text === null || text === "" || text === "0") return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (d) return (now - Number(d[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[d[2]!]!) / 1000;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new InvalidArgument(`invalid value for "since": ${text}`);
  return t / 1000;
}

/** Seconds since the epoch of an RFC 3339 nanosecond timestamp, without losing the sub-ms digits' order. */
function seconds(time: string): number {
  const frac = /\.(\d+)Z$/.exec(time)?.[1] ?? "0";
  return Math.floor(Date.parse(time.replace(/\.\d+Z$/, "Z")) / 1000) + Number(`0.${frac}`);
}

export function logFiles(path: string): string[] {
  const files: string[] = [];
  for (let i = 1; existsSync(`${path}.${i}`); i++) files.unshift(`${path}.${i}`);
  if (existsSync(path)) files.push(path);
  return files;
}

function parse(line: string): LogEntry | undefined {
  try {
    const e = JSON.parse(line) as LogEntry;
    return typeof e.log === "string" ? e : undefined;
  } catch {
    return undefined; // a line cut by a crash mid-write
  }
}

function wanted(e: LogEntry, o: LogOptions): boolean {
  if (e.stream === "stdout" ? !o.stdout : !o.stderr) return false;
  if (o.since === undefined && o.until === undefined) return true;
  const t = seconds(e.time);
  return (o.since === undefined || t >= o.since) && (o.until === undefined || t <= o.until);
}

/**
 * The complete lines of a file from `start`, each with the offset just past it. A last line
 * without its newline is a write in progress: it is left for the next read, from its start.
 */
async function* readLines(file: string, start = 0): AsyncGenerator<{ line: string; end: number }> {
  let offset = start;
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { start })) {
    rest = rest.length ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    for (let nl = rest.indexOf(0x0a); nl >= 0; nl = rest.indexOf(0x0a)) {
      offset += nl + 1;
      yield { line: rest.subarray(0, nl).toString("utf8"), end: offset };
      rest = rest.subarray(nl + 1);
    }
  }
}

/** A file's lines from the last to the first, read from its end a block at a time. */
export async function* linesBackward(
  file: string,
  blockSize = 64 * 1024,
  /** Read only up to here (what a follower then reads on from). */
  size?: number,
): AsyncGenerator<string> {
  const fh = await open(file, "r");
  try {
    const block = Buffer.alloc(blockSize);
    // The pieces, last first, of the line whose start is further back.
    let carry: Buffer[] = [];
    for (let pos = size ?? (await fh.stat()).size; pos > 0; ) {
      const n = Math.min(blockSize, pos);
      pos -= n;
      await fh.read(block, 0, n, pos);
      let end = n;
      for (let i = n - 1; i >= 0; i--) {
        if (block[i] !== 0x0a) continue;
        const piece = block.subarray(i + 1, end);
        const line = carry.length ? Buffer.concat([piece, ...carry.reverse()]) : piece;
        carry = [];
        if (line.length) yield line.toString();
        end = i;
      }
      if (end > 0) carry.push(Buffer.from(block.subarray(0, end)));
    }
    if (carry.length) yield Buffer.concat(carry.reverse()).toString();
  } finally {
    await fh.close();
  }
}

export async function* readLogs(path: string, o: LogOptions): AsyncGenerator<LogEntry> {
  const files = logFiles(path);
  // Following goes on from exactly where the first read of the current file stopped: output
  // written in between (a short-lived process's last lines) is neither lost nor shown twice.
  const current = existsSync(path) ? statSync(path) : undefined;
  let offset = current?.size ?? 0;
  let inode = current?.ino ?? 0;
  if (o.tail !== undefined) {
    // The last N selected entries, read from the end of the newest file backwards: a tail of a
    // large log costs what it shows.
    const last: LogEntry[] = [];
    if (o.tail > 0)
      newest: for (const f of [...files].reverse())
        for await (const line of linesBackward(f, undefined, f === path ? offset : undefined)) {
          const e = parse(line);
          if (e && wanted(e, o) && last.push(e) >= o.tail) break newest;
        }
    yield* last.reverse();
  } else {
    for (const f of files)
      for await (const { line, end } of readLines(f)) {
        const e = parse(line);
        if (e && wanted(e, o)) yield e;
        if (f === path) offset = end;
      }
  }
  if (!o.follow) return;
  for (;;) {
    if (o.signal?.aborted) return;
    const stoppedBefore = o.stopped();
    if (existsSync(path)) {
      const st = statSync(path);
      // Rotated (a new file) or truncated: start from its beginning.
      if (st.ino !== inode || st.size < offset) {
        inode = st.ino;
        offset = 0;
      }
      if (st.size > offset) {
        for await (const { line, end } of readLines(path, offset)) {
          const e = parse(line);
          if (e && wanted(e, o)) yield e;
          offset = end;
        }
      }
    }
    if (stoppedBefore) return;
    await waitForChange(path, o.signal, o.exit);
  }
}

/** Resolves at the next change of the file, or after a short time (a watch can miss rotations). */
function waitForChange(path: string, signal?: AbortSignal, exit?: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    let watcher: ReturnType<typeof watch> | undefined;
    const done = () => {
      clearTimeout(timer);
      watcher?.close();
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, 250);
    try {
      watcher = watch(path, done);
    } catch {}
    signal?.addEventListener("abort", done);
    exit?.then(done, done);
  });
}
