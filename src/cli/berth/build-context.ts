/**
 * The build context as docker's CLI prepares it: a directory, tarred without what .dockerignore
 * excludes; `-`, standard input, which is either a context archive (tar, or compressed) or a
 * lone Dockerfile; and `-f -`, a Dockerfile from standard input beside a directory's context.
 */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { DockerIgnore } from "../../build/dockerignore.js";
import { InvalidArgument } from "../../errors.js";
import { directoryTar } from "../../snapshot/diff.js";
import { isArchive } from "../../util/compression.js";
import { writeTar } from "../../util/tar/writer.js";
import { readAll } from "./client.js";

export interface BuildContext {
  body: AsyncIterable<Buffer> | Buffer;
  /** The Dockerfile's path inside the context, when not "Dockerfile". */
  dockerfile?: string;
}

/** Where a Dockerfile read from standard input goes in the context (docker's name for it). */
const STDIN_DOCKERFILE = ".dockerfile.stdin";

function dockerfileEntry(content: Buffer, name: string) {
  return { header: { name, type: "file" as const, size: content.length, mode: 0o644 }, body: content };
}

export async function buildContext(path: string, file: string | undefined): Promise<BuildContext> {
  if (path === "-") {
    if (file === "-")
      throw new InvalidArgument("invalid argument: can't use stdin for both build context and dockerfile");
    const input = await readAll(process.stdin);
    if (isArchive(input)) return { body: input, ...(file ? { dockerfile: file } : {}) };
    // Not an archive: a Dockerfile alone, and an empty context around it.
    return { body: writeTar([dockerfileEntry(input, "Dockerfile")]) };
  }
  if (!existsSync(path) || !statSync(path).isDirectory())
    throw new InvalidArgument(`unable to prepare context: path "${path}" not found`);
  // What .dockerignore excludes is never sent, as docker's CLI does.
  const ignore = new DockerIgnore(await readFile(resolve(path, ".dockerignore"), "utf8").catch(() => ""));
  let dockerfile: string | undefined;
  let extra: ReturnType<typeof dockerfileEntry> | undefined;
  if (file === "-") {
    extra = dockerfileEntry(await readAll(process.stdin), STDIN_DOCKERFILE);
    dockerfile = STDIN_DOCKERFILE;
  } else if (file !== undefined) {
    // -f is a path from here, sent as a path in the context.
    dockerfile = relative(resolve(path), resolve(file));
    if (dockerfile.startsWith("..") || isAbsolute(dockerfile))
      throw new InvalidArgument(`the Dockerfile (${file}) must be within the build context (${path})`);
  }
  const keep = dockerfile ?? "Dockerfile";
  return {
    body: directoryTar(path, "", {
      exclude: (p, isDir) => p === STDIN_DOCKERFILE || (p !== keep && ignore.excludes(p, isDir)),
      xattrs: false,
      ...(extra ? { extra: [extra] } : {}),
    }),
    ...(dockerfile ? { dockerfile } : {}),
  };
}
