/**
 * A RUN step: a container of the engine on the step's parent image runs the command with the
 * step's mounts, its output is relayed as it comes, and its changes are committed as a layer.
 * Mount points that the mounts needed and the image lacked are removed again before the
 * commit, as BuildKit does, so that the layer holds only what the command wrote.
 */
import { createHash } from "node:crypto";
import { chmod, chown, lstat, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withContainerRoot } from "../engine/archive.js";
import { createContainer } from "../engine/container-create.js";
import { removeContainer } from "../engine/container-remove.js";
import { startContainer } from "../engine/container-start.js";
import type { Engine } from "../engine/engine.js";
import { readLogs } from "../engine/logs.js";
import { commitSnapshot } from "../image/commit.js";
import type { ContainerConfig } from "../image/manifest.js";
import { bindFromTree, FsOpsBatch, type TreeRoot } from "../snapshot/fsops.js";
import { unmount } from "../snapshot/mount.js";
import { copyTree } from "../snapshot/tree-copy.js";
import { statInTree, walkTree, withTreeReader } from "../snapshot/tree-reader.js";
import { Mutex } from "../util/mutex.js";
import { DockerfileError, type Instruction, RunStepFailed } from "./dockerfile.js";
import type { RunMount } from "./run-mounts.js";

export interface RunStep {
  parent: string;
  config: ContainerConfig;
  argv: string[];
  /** The environment: build args first, then the image's Env (which wins, as docker has it). */
  env: string[];
  mounts: RunMount[];
  network: string;
  /** Lines for /etc/hosts (`host:ip`), as `--add-host` gives them. */
  extraHosts: string[];
  createdBy: string;
  ins: Instruction;
  /** Where bind mounts find their source: the context or a mounted image tree. */
  bindRoot: (from: string | undefined) => string;
  cacheMountsDir: string;
  say: (text: string) => void;
}

const cacheLocks = new Map<string, Mutex>();
const cachesInUse = new Map<string, number>();

/** Runs the step; returns the new image's id. */
export async function runStep(engine: Engine, s: RunStep): Promise<string> {
  const cleanups: (() => Promise<void>)[] = [];
  const hostMounts: object[] = [];
  try {
    for (const m of s.mounts) {
      if (m.type === "tmpfs") {
        hostMounts.push({
          Type: "tmpfs",
          Target: m.target,
          TmpfsOptions: m.size ? { SizeBytes: m.size } : {},
        });
        continue;
      }
      const source = m.type === "bind" ? await bindSource(m, s, cleanups) : await cacheDir(m, s, cleanups);
      hostMounts.push({ Type: "bind", Source: source, Target: m.target, ReadOnly: m.readOnly });
    }
    const { Id } = await createContainer(engine, {
      Image: s.parent,
      Cmd: s.argv,
      Entrypoint: [""],
      Env: s.env,
      WorkingDir: s.config.WorkingDir ?? "",
      User: s.config.User ?? "",
      HostConfig: { NetworkMode: s.network, Mounts: hostMounts, ExtraHosts: s.extraHosts } as never,
    });
    cleanups.push(() =>
      engine.lock(Id, () => removeContainer(engine, engine.store.get(Id), { force: true, volumes: true })),
    );
    const record = engine.store.get(Id);
    s.say(` ---> Running in ${Id.slice(0, 12)}\n`);
    // The mount points the image lacks: made by the runtime, removed before the commit.
    const made = s.mounts.length
      ? await withContainerRoot(engine, record, (root) =>
          missingPaths(
            root,
            s.mounts.map((m) => m.target),
          ),
        )
      : [];
    let exited = false;
    const exit = new Promise<number>((resolve) => {
      const off = engine.events.subscribe((e) => {
        if (e.Actor.ID === Id && e.Action === "die") {
          off();
          exited = true;
          resolve(Number(e.Actor.Attributes["exitCode"] ?? 0));
        }
      });
    });
    await engine.lock(Id, () => startContainer(engine, record));
    // Standard error in red, as the classic builder wraps it (clients look for the codes).
    for await (const entry of readLogs(record.LogPath, {
      stdout: true,
      stderr: true,
      follow: true,
      stopped: () => exited,
      exit,
    }))
      s.say(entry.stream === "stderr" ? `\x1b[91m${entry.log}\x1b[0m` : entry.log);
    const code = await exit;
    if (code !== 0)
      throw new RunStepFailed(
        s.ins.line,
        `The command '${s.argv.join(" ")}' returned a non-zero code: ${code}`,
        code,
      );
    if (made.length)
      await withContainerRoot(engine, engine.store.get(Id), (root) => removeEmptyDirs(root, made));
    const image = await commitSnapshot(engine.images, Id, s.parent, {
      config: s.config,
      createdBy: s.createdBy,
    });
    return image.id;
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }
}

/**
 * The host path a bind mount of the step takes: the source resolved inside its tree (the
 * context, or a stage's or image's tree), never a path outside it. Read-only, the kernel binds
 * what it resolved onto a mount point of ours; `rw`, the command writes into a copy of the
 * resolved tree, thrown away after the step.
 */
async function bindSource(
  m: Extract<RunMount, { type: "bind" }>,
  s: RunStep,
  cleanups: (() => Promise<void>)[],
): Promise<string> {
  const root = s.bindRoot(m.from);
  const found = await statInTree(root, m.source, { follow: true });
  if (!found)
    throw new DockerfileError(
      s.ins.line,
      `failed to mount ${m.target}: ${m.source}: no such file or directory`,
    );
  const scratch = await mkdtemp(join(tmpdir(), "berth-build-bind-"));
  cleanups.push(() => rm(scratch, { recursive: true, force: true }));
  const copy = join(scratch, "src");
  if (m.readOnly) {
    if (found.type === "directory") await mkdir(copy);
    else await writeFile(copy, "");
    await bindFromTree(root, m.source, copy, true);
    cleanups.push(() => unmount(copy));
    return copy;
  }
  const ops = new FsOpsBatch(scratch, { durable: false });
  try {
    await copyTree(ops, root, m.source, "src", {});
    await ops.finish();
  } catch (err) {
    await ops.abort();
    throw err;
  }
  return copy;
}

async function cacheDir(
  m: Extract<RunMount, { type: "cache" }>,
  s: RunStep,
  cleanups: (() => Promise<void>)[],
): Promise<string> {
  const name = createHash("sha256").update(m.id).digest("hex").slice(0, 32);
  let dir = join(s.cacheMountsDir, name);
  if (m.sharing === "locked") {
    const lock = cacheLocks.get(name) ?? new Mutex();
    cacheLocks.set(name, lock);
    const release = await lock.acquire();
    cleanups.push(async () => release());
  } else if (m.sharing === "private" && (cachesInUse.get(name) ?? 0) > 0) {
    // In use by another step: this one gets a directory of its own, dropped afterwards.
    dir = await mkdtemp(join(s.cacheMountsDir, `${name}-private-`));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
  }
  cachesInUse.set(name, (cachesInUse.get(name) ?? 0) + 1);
  cleanups.push(async () => {
    cachesInUse.set(name, (cachesInUse.get(name) ?? 1) - 1);
  });
  if (!(await lstat(dir).catch(() => undefined))) {
    await mkdir(dir, { recursive: true, mode: m.mode });
    await chmod(dir, m.mode);
    await chown(dir, m.uid, m.gid);
  }
  return dir;
}

/** Of `paths` (absolute in the tree at `root`), the first missing directory of each. */
async function missingPaths(root: TreeRoot, paths: string[]): Promise<string[]> {
  const missing: string[] = [];
  await withTreeReader(async (reader) => {
    for (const p of paths) {
      const parts = p.split("/").filter(Boolean);
      const subs = parts.map((_, i) => `/${parts.slice(0, i + 1).join("/")}`);
      const found = await reader.statMany(root, subs);
      const first = found.findIndex((e) => !e);
      if (first >= 0) missing.push(subs[first]!);
    }
  });
  return missing;
}

/** Removes each tree if it holds nothing but empty directories (what mkdir -p made). */
async function removeEmptyDirs(root: TreeRoot, paths: string[]): Promise<void> {
  const emptyTree = async (path: string) => {
    try {
      for await (const e of walkTree(root, path)) if (e.type !== "directory") return false;
      return true;
    } catch {
      return false;
    }
  };
  const ops = new FsOpsBatch(root, { durable: false, inRoot: true });
  try {
    for (const p of paths) if (await emptyTree(p)) await ops.remove(p.slice(1));
    await ops.finish();
  } catch (err) {
    await ops.abort();
    throw err;
  }
}
