/**
 * COPY and ADD: files of the context (or of another image's tree, with --from), heredocs, and
 * for ADD, URLs and local tar archives (unpacked, compressed or not), written into a created
 * container's root and committed as a layer. --chown takes names (looked up in the image's own
 * /etc/passwd and /etc/group) or ids, --chmod an octal mode. The cache key holds the sources'
 * content checksum, or the --from image's id.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { resolveInRoot, withContainerRoot } from "../engine/archive.js";
import { createContainer } from "../engine/container-create.js";
import { removeContainer } from "../engine/container-remove.js";
import type { Engine } from "../engine/engine.js";
import { resolveUser } from "../engine/user.js";
import { commitSnapshot } from "../image/commit.js";
import type { ImageRecord } from "../image/image-store.js";
import type { ContainerConfig } from "../image/manifest.js";
import { FsOpsBatch } from "../snapshot/fsops.js";
import { unpackLayer } from "../snapshot/unpack.js";
import { decompress, isArchive } from "../util/compression.js";
import { stepKey } from "./cache.js";
import { shellOf } from "./config-instructions.js";
import {
  type CopyOwnership,
  checksumSources,
  copySource,
  makeParents,
  matchSources,
  type Source,
} from "./copy-sources.js";
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
      contextSources = await matchSources(s.context, local, ins, false);
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
            const sources = srcRoot ? await matchSources(srcRoot, local, ins, true) : contextSources;
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

async function writeSources(
  root: string,
  s: CopyStep,
  dest: string,
  sources: Source[],
  heredocs: string[][],
  many: boolean,
  flags: Record<string, string[]>,
  fromContext: boolean,
): Promise<void> {
  const { ins } = s;
  const own: CopyOwnership = { rootOwned: fromContext, ...(await ownership(root, flags, ins)) };
  const target = posix.resolve(s.config.WorkingDir || "/", dest);
  const existingDir = await stat(resolveInRoot(root, target, true)).then(
    (st) => st.isDirectory(),
    () => false,
  );
  const intoDir = many || dest.endsWith("/") || dest === "." || existingDir;
  const rel = (p: string) => resolveInRoot(root, p, true).slice(root.length + 1);
  const destRel = rel(target);
  // The container's tree becomes a layer, which is made durable then: no sync here.
  const ops = new FsOpsBatch(root, { durable: false });
  const archives: Source[] = [];
  try {
    if (intoDir) await makeParents(ops, destRel, own);
    else await makeParents(ops, posix.dirname(destRel), own);
    for (const src of sources) {
      if (ins.name === "ADD" && !src.isDir && !src.downloaded && (await isTar(src.host))) {
        archives.push(src);
        continue;
      }
      const name = posix.basename(src.rel);
      await copySource(ops, src.host, src.isDir ? destRel : intoDir ? join(destRel, name) : destRel, own);
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
  for (const a of archives) {
    const dir = resolveInRoot(root, intoDir ? target : posix.dirname(target), true);
    await unpackLayer(decompress(createReadStream(a.host)), dir, "apply", { durable: false }).catch(
      (err: Error) => {
        throw new DockerfileError(ins.line, `ADD failed to unpack ${a.rel}: ${err.message}`);
      },
    );
  }
}

/** --chown's user and group, resolved with the image's own files. */
async function ownership(
  root: string,
  flags: Record<string, string[]>,
  ins: Instruction,
): Promise<Pick<CopyOwnership, "uid" | "gid" | "mode">> {
  const chown = flags["chown"]?.[0];
  const chmod = flags["chmod"]?.[0];
  const out: Pick<CopyOwnership, "uid" | "gid" | "mode"> = chmod ? { mode: Number.parseInt(chmod, 8) } : {};
  if (!chown) return out;
  const [user = "", group] = chown.split(":");
  const read = (path: string) => readFile(resolveInRoot(root, path, true), "utf8").catch(() => undefined);
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

async function isTar(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await fh.read(head, 0, 512, 0);
    return isArchive(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
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
  const name =
    decodeURIComponent(new URL(url).pathname.split("/").filter(Boolean).at(-1) ?? "") || "download";
  const host = join(dir, `${Math.random().toString(36).slice(2)}-${name}`);
  await writeFile(host, Buffer.from(await res.arrayBuffer()), { mode: 0o600 });
  const modified = Date.parse(res.headers.get("last-modified") ?? "");
  if (!Number.isNaN(modified)) await utimes(host, modified / 1000, modified / 1000);
  // The copy takes the URL's file name; ADD never unpacks a downloaded archive.
  return { rel: name, host, isDir: false, downloaded: true };
}
