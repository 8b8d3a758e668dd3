/**
 * COPY and ADD: files of the context (or of another image's tree, with --from), heredocs, and
 * for ADD, URLs and local tar archives (unpacked, compressed or not), written into a created
 * container's root and committed as a layer. --chown takes names (looked up in the image's own
 * /etc/passwd and /etc/group) or ids, --chmod an octal mode. The cache key holds the sources'
 * content checksum, or the --from image's id.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { withContainerRoot } from "../engine/archive.js";
import { createContainer } from "../engine/container-create.js";
import { removeContainer } from "../engine/container-remove.js";
import type { Engine } from "../engine/engine.js";
import { resolveUser } from "../engine/user.js";
import { commitSnapshot } from "../image/commit.js";
import type { ImageRecord } from "../image/image-store.js";
import type { ContainerConfig } from "../image/manifest.js";
import { FsOpsBatch, type TreeRoot } from "../snapshot/fsops.js";
import { type CopyOptions, copyTree } from "../snapshot/tree-copy.js";
import { bodyBytes, readFileInTree, statInTree, walkTree } from "../snapshot/tree-reader.js";
import { unpackLayer } from "../snapshot/unpack.js";
import { decompress, isArchive } from "../util/compression.js";
import { stepKey } from "./cache.js";
import { shellOf } from "./config-instructions.js";
import { checksumSources, matchSources, type Source } from "./copy-sources.js";
import { DockerfileError, type Instruction } from "./dockerfile.js";
import { withImageTrees } from "./image-trees.js";

export interface CopyStep {
  engine: Engine;
  parent: ImageRecord;
  config: ContainerConfig;
  ins: Instruction;
  expand: (text: string) => string;
  context: string;
  fromImage?: ImageRecord;
}

const URL_SOURCE = /^https?:\/\//;

export async function copyStep(
  s: CopyStep,
  cached: (key: string, make: () => Promise<ImageRecord>) => Promise<ImageRecord>,
  materialize: (image: ImageRecord) => Promise<void>,
): Promise<ImageRecord> {
  const { ins } = s;
  const words = ins.json ? ins.json.map(s.expand) : s.expand(ins.text).split(/\s+/).filter(Boolean);
  if (words.length < 2 && !ins.heredocs.length)
    throw new DockerfileError(
      ins.line,
      `${ins.name} requires at least two arguments, but only one was provided. Destination could not be determined`,
    );
  const dest = words.at(-1)!;
  const patterns = words.slice(0, -1).filter((w) => !/^<<-?["']?[A-Za-z_]/.test(w));
  const urls = patterns.filter((p) => URL_SOURCE.test(p));
  if (urls.length && ins.name === "COPY")
    throw new DockerfileError(ins.line, "source can't be a URL for COPY");
  if (urls.length && s.fromImage) throw new DockerfileError(ins.line, "ADD --from does not take URLs");
  const flags = Object.fromEntries(Object.entries(ins.flags).map(([k, v]) => [k, v.map(s.expand)]));
  const chmod = flags["chmod"]?.[0];
  if (chmod !== undefined && !/^[0-7]{3,4}$/.test(chmod))
    throw new DockerfileError(ins.line, `invalid chmod parameter: ${chmod}: use an octal mode such as 0755`);
  const local = patterns.filter((p) => !URL_SOURCE.test(p));
  const many = patterns.length + ins.heredocs.length > 1 || local.some((p) => /[*?[]/.test(p));
  if (many && !dest.endsWith("/") && !ins.heredocs.length && patterns.length > 1)
    throw new DockerfileError(
      ins.line,
      `When using ${ins.name} with more than one source file, the destination must be a directory and end with a /`,
    );

  const scratch = await mkdtemp(join(tmpdir(), "berth-add-"));
  try {
    // URLs are fetched every time: their content, not their address, is what the cache compares.
    const downloads: Source[] = [];
    for (const url of urls) downloads.push(await download(url, scratch, ins));
    let sum: string;
    let contextSources: Source[] = [];
    if (s.fromImage) sum = `${s.fromImage.id}:${JSON.stringify(local)}`;
    else {
      contextSources = await matchSources(s.context, local, ins);
      sum = await checksumSources([...contextSources, ...downloads]);
    }
    const heredocs = ins.heredocs.map((h) => [h.name, h.expand ? s.expand(h.content) : h.content]);
    const key = stepKey(s.parent.id, ins.name, words, flags, heredocs, sum, s.config);
    return await cached(key, async () => {
      await materialize(s.parent);
      const { Id } = await createContainer(s.engine, {
        Image: s.parent.id,
        Cmd: ["true"],
        HostConfig: { NetworkMode: "none" } as never,
      });
      try {
        await withContainerRoot(s.engine, s.engine.store.get(Id), async (root) => {
          const write = async (srcRoot: string | undefined) => {
            const sources = srcRoot ? await matchSources(srcRoot, local, ins) : contextSources;
            await writeSources(root, s, dest, [...sources, ...downloads], heredocs, many, flags, !srcRoot);
          };
          if (s.fromImage)
            await withImageTrees(s.engine, new Map([["from", s.fromImage]]), (trees) =>
              write(trees.get("from")),
            );
          else await write(undefined);
        });
        // Docker's form: what was copied by kind and checksum, then where.
        const count = local.length + urls.length + heredocs.length;
        const kind = count > 1 ? "multi" : contextSources[0]?.isDir ? "dir" : "file";
        const hash = createHash("sha256").update(sum).digest("hex");
        return await commitSnapshot(s.engine.images, Id, s.parent.id, {
          config: s.config,
          createdBy: `${shellOf(s.config).join(" ")} #(nop) ${ins.name} ${kind}:${hash} in ${dest} `,
        });
      } finally {
        await removeContainer(s.engine, s.engine.store.get(Id), { force: true }).catch(() => {});
      }
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Writes the sources into the container's tree at `root`: the destination resolves there as
 * the container would see it (symlinks followed inside the root), parents made as needed.
 */
async function writeSources(
  root: TreeRoot,
  s: CopyStep,
  dest: string,
  sources: Source[],
  heredocs: string[][],
  many: boolean,
  flags: Record<string, string[]>,
  fromContext: boolean,
): Promise<void> {
  const { ins } = s;
  const own: CopyOptions = { rootOwned: fromContext, keepTop: true, ...(await ownership(root, flags, ins)) };
  const target = posix.resolve(s.config.WorkingDir || "/", dest);
  const existing = await statInTree(root, target, { follow: true });
  const intoDir = many || dest.endsWith("/") || dest === "." || existing?.type === "directory";
  const destRel = target.slice(1);
  const dirRel = intoDir ? destRel : posix.dirname(target).slice(1);
  // The container's tree becomes a layer, which is made durable then: no sync here.
  const ops = new FsOpsBatch(root, { durable: false, inRoot: true });
  const archives: Source[] = [];
  try {
    await makeParents(ops, dirRel, own);
    for (const src of sources) {
      if (ins.name === "ADD" && !src.isDir && !src.downloaded && (await isTar(src))) {
        archives.push(src);
        continue;
      }
      const name = posix.basename(src.rel);
      await copyTree(ops, src.root, src.rel, src.isDir || !intoDir ? destRel : join(destRel, name), own);
    }
    for (const [name, content] of heredocs) {
      const body = Buffer.from(content!);
      const path = intoDir ? join(destRel, name!) : destRel;
      await ops.file(path, { mode: own.mode ?? 0o644, uid: own.uid ?? 0, gid: own.gid ?? 0 }, body.length, [
        body,
      ]);
    }
    await ops.finish();
  } catch (err) {
    await ops.abort();
    throw err;
  }
  // ADD unpacks local tar archives (plain, gzip, bzip2, xz or zstd) into the destination.
  for (const a of archives)
    for await (const e of walkTree(a.root, a.rel, { follow: true, content: true, depth: 0 }))
      await unpackLayer(decompress(e.body ?? []), root, "apply", { durable: false, dir: dirRel }).catch(
        (err: Error) => {
          throw new DockerfileError(ins.line, `ADD failed to unpack ${a.rel}: ${err.message}`);
        },
      );
}

/** Creates the missing directories of `rel` (a path of the batch), as `mkdir -p` would. */
async function makeParents(ops: FsOpsBatch, rel: string, own: CopyOptions): Promise<void> {
  const parts = rel.split("/").filter((p) => p && p !== ".");
  for (let i = 1; i <= parts.length; i++)
    await ops.mkdir(parts.slice(0, i).join("/"), { mode: 0o755, uid: own.uid ?? 0, gid: own.gid ?? 0 }, true);
}

/** --chown's user and group, resolved with the image's own files. */
async function ownership(
  root: TreeRoot,
  flags: Record<string, string[]>,
  ins: Instruction,
): Promise<Pick<CopyOptions, "uid" | "gid" | "mode">> {
  const chown = flags["chown"]?.[0];
  const chmod = flags["chmod"]?.[0];
  const out: Pick<CopyOptions, "uid" | "gid" | "mode"> = chmod ? { mode: Number.parseInt(chmod, 8) } : {};
  if (!chown) return out;
  const [user = "", group] = chown.split(":");
  const read = async (path: string) => (await readFileInTree(root, path))?.toString();
  try {
    const u = resolveUser(
      `${user}${group ? `:${group}` : ""}`,
      [],
      await read("/etc/passwd"),
      await read("/etc/group"),
    );
    // A user without a group gets the same number as group, as docker does.
    return { ...out, uid: u.uid, gid: group ? u.gid : u.uid };
  } catch (err) {
    throw new DockerfileError(ins.line, `--chown=${chown}: ${(err as Error).message}`);
  }
}

/** Whether a source file is an archive ADD unpacks: its first bytes say. */
async function isTar(src: Source): Promise<boolean> {
  for await (const e of walkTree(src.root, src.rel, { follow: true, content: true, depth: 0, limit: 512 }))
    return e.type === "file" && isArchive(await bodyBytes(e));
  return false;
}

/** Fetches a URL into `dir`; the file keeps the server's Last-Modified time, as docker's ADD does. */
async function download(url: string, dir: string, ins: Instruction): Promise<Source> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow" });
  } catch (err) {
    throw new DockerfileError(
      ins.line,
      `ADD failed to fetch ${url}: ${(err as Error).cause ?? (err as Error).message}`,
    );
  }
  if (!res.ok)
    throw new DockerfileError(ins.line, `ADD failed to fetch ${url}: ${res.status} ${res.statusText}`);
  // The last element of the decoded path, as docker takes it: "%2F" in a URL is no way out.
  const last = posix.basename(safeDecode(new URL(url).pathname));
  const name = last && last !== "." && last !== ".." ? last : "download";
  // A directory of its own, so that the file keeps the URL's name, whatever the other URLs are.
  const own = await mkdtemp(join(dir, "url-"));
  const host = join(own, name);
  await writeFile(host, Buffer.from(await res.arrayBuffer()), { mode: 0o600 });
  const modified = Date.parse(res.headers.get("last-modified") ?? "");
  if (!Number.isNaN(modified)) await utimes(host, modified / 1000, modified / 1000);
  // The copy takes the URL's file name; ADD never unpacks a downloaded archive.
  return { root: own, rel: name, isDir: false, downloaded: true };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
