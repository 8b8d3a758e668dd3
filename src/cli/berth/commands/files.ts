/** Commands over a container's files: cp (both ways), diff, export, commit. */
import { existsSync, mkdtempSync, realpathSync, renameSync, rmSync, statSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { basename, dirname, join, posix, resolve } from "node:path";
import { InvalidArgument } from "../../../errors.js";
import { directoryTar } from "../../../snapshot/diff.js";
import { unpackLayer } from "../../../snapshot/unpack.js";
import { readTar } from "../../../util/tar/reader.js";
import { type TarInput, writeTar } from "../../../util/tar/writer.js";
import { bool, str, strs } from "../../args.js";
import { DaemonError } from "../client.js";
import { type Command, type Context, refuseTerminal, writeOutput } from "./shared.js";

const encode = encodeURIComponent;

/** `container:path` (a name has no "/" before its colon), or undefined for a local path. */
function containerPath(arg: string): { container: string; path: string } | undefined {
  const colon = arg.indexOf(":");
  if (colon <= 0 || arg.slice(0, colon).includes("/")) return undefined;
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) || "/" };
}

/**
 * Rewrites a tar stream: the top entry (and everything under it) renamed from `from` to `to`,
 * and, unless `keepOwners`, every entry owned by root (docker cp without -a).
 */
async function* retar(
  tar: AsyncIterable<Buffer>,
  from: string,
  to: string,
  keepOwners: boolean,
): AsyncGenerator<Buffer> {
  const rename = (n: string) => (n === from || n.startsWith(`${from}/`) ? to + n.slice(from.length) : n);
  async function* entries(): AsyncGenerator<TarInput> {
    for await (const e of readTar(tar))
      yield {
        header: {
          ...e.header,
          name: rename(e.header.name),
          linkname: e.header.type === "link" ? rename(e.header.linkname) : e.header.linkname,
          ...(keepOwners ? {} : { uid: 0, gid: 0, uname: "", gname: "" }),
        },
        body: e.body,
      };
  }
  yield* writeTar(entries());
}

async function copyFromContainer(
  ctx: Context,
  src: { container: string; path: string },
  dest: string,
  followLink: boolean,
): Promise<void> {
  const archive = `/containers/${encode(src.container)}/archive`;
  let path = src.path;
  if (followLink) {
    const head = await ctx.api.stream("HEAD", archive, { query: { path } });
    head.resume();
    path = pathStat(head).linkTarget || path;
  }
  const fetched = await ctx.api.stream("GET", archive, { query: { path } });
  // A followed link keeps the link's name, as docker cp -L does.
  const [got, wanted] = [posix.basename(path), posix.basename(src.path)];
  const res = got !== wanted ? retar(fetched, got, wanted, true) : fetched;
  if (dest === "-") {
    for await (const chunk of res) process.stdout.write(chunk as Buffer);
    return;
  }
  const target = resolve(dest);
  if (existsSync(target) && statSync(target).isDirectory()) {
    await unpackLayer(res, target, "apply");
    return;
  }
  if (dest.endsWith("/")) throw new InvalidArgument(`destination directory ${dest} does not exist`);
  // A new name: unpack beside it, then move the copied entry into place.
  const parent = dirname(target);
  if (!existsSync(parent)) throw new InvalidArgument(`destination directory ${parent} does not exist`);
  const scratch = mkdtempSync(join(parent, ".berth-cp-"));
  try {
    await unpackLayer(res, scratch, "apply");
    renameSync(join(scratch, posix.basename(src.path) || "."), target);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The X-Docker-Container-Path-Stat header of an archive answer. */
function pathStat(res: IncomingMessage): { mode: number; linkTarget: string } {
  const header = String(res.headers["x-docker-container-path-stat"] ?? "e30=");
  return { mode: 0, linkTarget: "", ...JSON.parse(Buffer.from(header, "base64").toString()) };
}

async function copyToContainer(
  ctx: Context,
  src: string,
  dest: { container: string; path: string },
  followLink: boolean,
  archive: boolean,
): Promise<void> {
  let into = dest.path;
  let tar: AsyncIterable<Buffer> | NodeJS.ReadableStream;
  if (src === "-") tar = process.stdin;
  else {
    const given = resolve(src);
    if (!existsSync(given)) throw new InvalidArgument(`stat ${given}: no such file or directory`);
    const local = followLink ? realpathSync(given) : given;
    const name = basename(given);
    let rename: string | undefined;
    try {
      const head = await ctx.api.stream("HEAD", `/containers/${encode(dest.container)}/archive`, {
        query: { path: dest.path },
      });
      head.resume();
      if (pathStat(head).mode < 0x80000000) into = posix.dirname(dest.path); // a file: replace it
      if (into !== dest.path) rename = posix.basename(dest.path);
    } catch (err) {
      if (!(err instanceof DaemonError) || err.status !== 404) throw err;
      if (dest.path.endsWith("/"))
        throw new InvalidArgument(`destination directory ${dest.path} does not exist in the container`);
      into = posix.dirname(dest.path);
      rename = posix.basename(dest.path);
    }
    const top = rename ?? name;
    const entries = directoryTar(dirname(local), basename(local), { name: basename(local) });
    tar = top !== basename(local) || !archive ? retar(entries, basename(local), top, archive) : entries;
  }
  await ctx.api.call("PUT", `/containers/${encode(dest.container)}/archive`, {
    query: { path: into, noOverwriteDirNonDir: true },
    raw: tar,
    headers: { "Content-Type": "application/x-tar" },
  });
}

export const fileCommands: Record<string, Command> = {
  cp: {
    usage:
      "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    description: "Copy files/folders between a container and the local filesystem",
    options: [
      {
        name: "archive",
        short: "a",
        type: "boolean",
        description: "Archive mode (copy all uid/gid information)",
      },
      {
        name: "follow-link",
        short: "L",
        type: "boolean",
        description: "Always follow symbol link in SRC_PATH",
      },
    ],
    action: async (ctx, o, args) => {
      if (args.length !== 2) throw new InvalidArgument('"cp" requires exactly 2 arguments.');
      const [src, dest] = [containerPath(args[0]!), containerPath(args[1]!)];
      if (src && dest) throw new InvalidArgument("copying between containers is not supported");
      if (!src && !dest) throw new InvalidArgument("must specify at least one container source");
      if (src) await copyFromContainer(ctx, src, args[1]!, bool(o, "follow-link"));
      else await copyToContainer(ctx, args[0]!, dest!, bool(o, "follow-link"), bool(o, "archive"));
      return 0;
    },
  },
  diff: {
    usage: "berth diff CONTAINER",
    description: "Inspect changes to files or directories on a container's filesystem",
    options: [],
    action: async (ctx, _o, args) => {
      if (args.length !== 1) throw new InvalidArgument('"diff" requires exactly 1 argument.');
      const changes = await ctx.api.call<{ Path: string; Kind: number }[] | null>(
        "GET",
        `/containers/${encode(args[0]!)}/changes`,
      );
      process.stdout.write((changes ?? []).map((c) => `${"CAD"[c.Kind]} ${c.Path}\n`).join(""));
      return 0;
    },
  },
  export: {
    usage: "berth export [OPTIONS] CONTAINER",
    description: "Export a container's filesystem as a tar archive",
    options: [
      { name: "output", short: "o", type: "string", description: "Write to a file, instead of STDOUT" },
    ],
    action: async (ctx, o, args) => {
      if (args.length !== 1) throw new InvalidArgument('"export" requires exactly 1 argument.');
      const output = str(o, "output");
      refuseTerminal(output);
      await writeOutput(await ctx.api.stream("GET", `/containers/${encode(args[0]!)}/export`), output);
      return 0;
    },
  },
  commit: {
    usage: "berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    description: "Create a new image from a container's changes",
    options: [
      {
        name: "author",
        short: "a",
        type: "string",
        description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")',
      },
      {
        name: "change",
        short: "c",
        type: "strings",
        description: "Apply Dockerfile instruction to the created image",
      },
      { name: "message", short: "m", type: "string", description: "Commit message" },
      {
        name: "pause",
        short: "p",
        type: "boolean",
        description: "Pause container during commit (default true)",
      },
    ],
    action: async (ctx, o, args) => {
      if (!args.length || args.length > 2)
        throw new InvalidArgument('"commit" requires at least 1 and at most 2 arguments.');
      const ref = args[1];
      const colon = ref ? ref.lastIndexOf(":") : -1;
      const hasTag = ref !== undefined && colon > ref.lastIndexOf("/");
      const r = await ctx.api.call<{ Id: string }>("POST", "/commit", {
        query: {
          container: args[0],
          repo: ref ? (hasTag ? ref.slice(0, colon) : ref) : undefined,
          tag: ref && hasTag ? ref.slice(colon + 1) : undefined,
          comment: str(o, "message"),
          author: str(o, "author"),
          changes: strs(o, "change"),
          pause: o["pause"] === undefined || bool(o, "pause"),
        },
        body: {},
      });
      process.stdout.write(`${r.Id}\n`);
      return 0;
    },
  },
};
