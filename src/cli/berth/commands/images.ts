/** Image commands: pull, push, import, images, rmi, tag, history, image prune. */
import { createReadStream, existsSync, mkdirSync, statSync } from "node:fs";
import { InvalidArgument } from "../../../errors.js";
import type { ProgressEvent } from "../../../image/progress.js";
import { removeCredentials, storeCredentials } from "../../../image/registry/credentials.js";
import { registryHostOf } from "../../../image/registry/server-address.js";
import { directoryTar } from "../../../snapshot/diff.js";
import { unpackLayer } from "../../../snapshot/unpack.js";
import { humanSize } from "../../../util/human.js";
import { bool, type OptionValues, str, strs } from "../../args.js";
import { jsonLines, readAll } from "../client.js";
import { followProgress } from "../follow-progress.js";
import { ago, formatList } from "../format.js";
import { type Command, type Context, filtersQuery, forEach, refuseTerminal, writeOutput } from "./shared.js";

const encode = encodeURIComponent;

async function openTar(path: string): Promise<NodeJS.ReadableStream> {
  const stream = createReadStream(path);
  await new Promise((resolve, reject) => stream.once("open", resolve).once("error", reject));
  return stream;
}

/** Splits `name[:tag|@digest]` as the API's fromImage/tag pair wants it. */
function splitReference(ref: string): { name: string; tag?: string } {
  const at = ref.indexOf("@");
  if (at >= 0) return { name: ref.slice(0, at), tag: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(":");
  if (colon > ref.lastIndexOf("/")) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { name: ref };
}

export async function pullImage(
  ctx: Context,
  ref: string,
  o: { quiet: boolean; stream: NodeJS.WritableStream; platform?: string },
): Promise<void> {
  const { name, tag } = splitReference(ref);
  const res = await ctx.api.stream("POST", "/images/create", {
    query: { fromImage: name, tag: tag ?? "latest", platform: o.platform },
  });
  await followProgress(res, o.stream, o.quiet);
}

interface ImageSummary {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
}

async function images(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  const filters = strs(o, "filter");
  if (args[0]) filters.push(`reference=${args[0]}`);
  const list = await ctx.api.call<ImageSummary[]>("GET", "/images/json", {
    query: { all: bool(o, "all") ? 1 : undefined, ...filtersQuery(filters) },
  });
  const trunc = !bool(o, "no-trunc");
  const id = (i: ImageSummary) => (trunc ? i.Id.replace(/^sha256:/, "").slice(0, 12) : i.Id);
  if (bool(o, "quiet")) {
    process.stdout.write([...new Set(list.map(id))].map((x) => `${x}\n`).join(""));
    return 0;
  }
  const rows = list.flatMap((i) => {
    const tags = i.RepoTags.length ? i.RepoTags : ["<none>:<none>"];
    return tags.map((t) => {
      const colon = t.lastIndexOf(":");
      const repository = t.slice(0, colon);
      const digest = i.RepoDigests.find((d) => d.startsWith(`${repository}@`));
      return {
        ID: id(i),
        Repository: repository,
        Tag: t.slice(colon + 1),
        Digest: digest ? digest.slice(digest.indexOf("@") + 1) : "<none>",
        CreatedSince: i.Created ? ago(i.Created) : "N/A",
        CreatedAt: new Date(i.Created * 1000).toISOString(),
        Size: humanSize(i.Size),
      };
    });
  });
  const columns: [string, string][] = [
    ["REPOSITORY", "{{.Repository}}"],
    ["TAG", "{{.Tag}}"],
    ...(bool(o, "digests") ? ([["DIGEST", "{{.Digest}}"]] as [string, string][]) : []),
    ["IMAGE ID", "{{.ID}}"],
    ["CREATED", "{{.CreatedSince}}"],
    ["SIZE", "{{.Size}}"],
  ];
  process.stdout.write(formatList(rows, str(o, "format"), columns));
  return 0;
}

async function history(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  const [name] = args;
  if (!name || args.length > 1) throw new InvalidArgument('"history" requires exactly 1 argument.');
  const rows = await ctx.api.call<
    { Id: string; Created: number; CreatedBy: string; Size: number; Comment: string }[]
  >("GET", `/images/${encode(name)}/history`);
  const trunc = !bool(o, "no-trunc");
  if (bool(o, "quiet")) {
    process.stdout.write(
      rows.map((r) => `${trunc ? r.Id.replace(/^sha256:/, "").slice(0, 12) : r.Id}\n`).join(""),
    );
    return 0;
  }
  const view = rows.map((r) => ({
    ID: r.Id.startsWith("sha256:") ? (trunc ? r.Id.slice(7, 19) : r.Id) : "<missing>",
    CreatedSince: r.Created ? ago(r.Created) : "N/A",
    CreatedBy: trunc && r.CreatedBy.length > 45 ? `${r.CreatedBy.slice(0, 44)}…` : r.CreatedBy,
    Size: humanSize(r.Size),
    Comment: r.Comment,
  }));
  process.stdout.write(
    formatList(view, str(o, "format"), [
      ["IMAGE", "{{.ID}}"],
      ["CREATED", "{{.CreatedSince}}"],
      ["CREATED BY", "{{.CreatedBy}}"],
      ["SIZE", "{{.Size}}"],
      ["COMMENT", "{{.Comment}}"],
    ]),
  );
  return 0;
}

export const imageCommands: Record<string, Command> = {
  pull: {
    usage: "berth pull [OPTIONS] NAME[:TAG|@DIGEST]",
    description: "Download an image from a registry",
    options: [
      { name: "platform", type: "string", description: "Set platform if server is multi-platform capable" },
      { name: "quiet", short: "q", type: "boolean", description: "Suppress verbose output" },
    ],
    action: async (ctx, o, args) => {
      if (args.length !== 1) throw new InvalidArgument('"pull" requires exactly 1 argument.');
      const platform = str(o, "platform");
      await pullImage(ctx, args[0]!, {
        quiet: bool(o, "quiet"),
        stream: process.stdout,
        ...(platform ? { platform } : {}),
      });
      return 0;
    },
  },
  push: {
    usage: "berth push [OPTIONS] NAME[:TAG]",
    description: "Upload an image to a registry",
    options: [{ name: "quiet", short: "q", type: "boolean", description: "Suppress verbose output" }],
    action: async (ctx, o, args) => {
      if (args.length !== 1) throw new InvalidArgument('"push" requires exactly 1 argument.');
      const { name, tag } = splitReference(args[0]!);
      const res = await ctx.api.stream("POST", `/images/${encode(name)}/push`, {
        query: { tag },
        headers: { "X-Registry-Auth": "e30=" },
      });
      await followProgress(res, process.stdout, bool(o, "quiet"));
      return 0;
    },
  },
  images: {
    usage: "berth images [OPTIONS] [REPOSITORY[:TAG]]",
    description: "List images",
    options: [
      { name: "all", short: "a", type: "boolean", description: "Show all images" },
      { name: "quiet", short: "q", type: "boolean", description: "Only show image IDs" },
      { name: "digests", type: "boolean", description: "Show digests" },
      { name: "no-trunc", type: "boolean", description: "Don't truncate output" },
      {
        name: "filter",
        short: "f",
        type: "strings",
        description: "Filter output based on conditions provided",
      },
      { name: "format", type: "string", description: "Format output using a custom template" },
    ],
    action: images,
  },
  rmi: {
    usage: "berth rmi [OPTIONS] IMAGE [IMAGE...]",
    description: "Remove one or more images",
    options: [
      { name: "force", short: "f", type: "boolean", description: "Force removal of the image" },
      { name: "no-prune", type: "boolean", description: "Do not delete untagged parents" },
    ],
    action: async (ctx, o, args) => {
      if (!args.length) throw new InvalidArgument('"rmi" requires at least 1 argument.');
      return forEach(args, async (name) => {
        const r = await ctx.api.call<{ Untagged?: string; Deleted?: string }[]>(
          "DELETE",
          `/images/${encode(name)}`,
          {
            query: { force: bool(o, "force") ? 1 : undefined },
          },
        );
        for (const x of r)
          process.stdout.write(x.Untagged ? `Untagged: ${x.Untagged}\n` : `Deleted: ${x.Deleted}\n`);
      });
    },
  },
  tag: {
    usage: "berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    description: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    options: [],
    action: async (ctx, _o, args) => {
      if (args.length !== 2) throw new InvalidArgument('"tag" requires exactly 2 arguments.');
      const { name, tag } = splitReference(args[1]!);
      await ctx.api.call("POST", `/images/${encode(args[0]!)}/tag`, {
        query: { repo: name, tag: tag ?? "latest" },
      });
      return 0;
    },
  },
  history: {
    usage: "berth history [OPTIONS] IMAGE",
    description: "Show the history of an image",
    options: [
      { name: "no-trunc", type: "boolean", description: "Don't truncate output" },
      { name: "quiet", short: "q", type: "boolean", description: "Only show image IDs" },
      { name: "format", type: "string", description: "Format output using a custom template" },
    ],
    action: history,
  },
  import: {
    usage: "berth import [OPTIONS] file|- [REPOSITORY[:TAG]]",
    description: "Import the contents from a tarball to create a filesystem image",
    options: [
      {
        name: "change",
        short: "c",
        type: "strings",
        description: "Apply Dockerfile instruction to the created image",
      },
      { name: "message", short: "m", type: "string", description: "Set commit message for imported image" },
    ],
    action: async (ctx, o, args) => {
      const [source, ref] = args;
      if (!source || args.length > 2) throw new InvalidArgument('"import" requires 1 or 2 arguments.');
      if (/^https?:\/\//.test(source))
        throw new InvalidArgument("importing from a URL is not supported: download the tar first");
      const { name, tag } = ref ? splitReference(ref) : { name: undefined, tag: undefined };
      let body: NodeJS.ReadableStream;
      try {
        body = source === "-" ? process.stdin : await openTar(source);
      } catch {
        throw new InvalidArgument(`open ${source}: no such file or directory`);
      }
      const res = await ctx.api.stream("POST", "/images/create", {
        query: { fromSrc: "-", repo: name, tag, message: str(o, "message"), changes: strs(o, "change") },
        raw: body,
      });
      let id = "";
      for await (const e of jsonLines<ProgressEvent & { error?: string }>(res)) {
        if (e.error) throw new InvalidArgument(e.error);
        id = e.status;
      }
      process.stdout.write(`${id}\n`);
      return 0;
    },
  },
  save: {
    usage: "berth save [OPTIONS] IMAGE [IMAGE...]",
    description: "Save one or more images to a tar archive (streamed to STDOUT by default)",
    options: [
      {
        name: "output",
        short: "o",
        type: "string",
        description: "Write to a file (an OCI layout: a directory), instead of STDOUT",
      },
      {
        name: "format",
        type: "string",
        description: "docker-archive (default) or oci-dir (an OCI image layout directory, needs -o)",
      },
    ],
    action: async (ctx, o, args) => {
      if (!args.length) throw new InvalidArgument('"save" requires at least 1 argument.');
      const format = str(o, "format") ?? "docker-archive";
      if (format !== "docker-archive" && format !== "oci-dir")
        throw new InvalidArgument(`unknown format "${format}": use docker-archive or oci-dir`);
      const output = str(o, "output");
      if (format === "oci-dir" && !output) throw new InvalidArgument("--format oci-dir needs -o DIRECTORY");
      refuseTerminal(output);
      const res = await ctx.api.stream("GET", "/images/get", {
        query: { names: args, ...(format === "oci-dir" ? { format: "oci" } : {}) },
      });
      if (format === "oci-dir") {
        mkdirSync(output!, { recursive: true });
        await unpackLayer(res, output!, "apply");
      } else await writeOutput(res, output);
      return 0;
    },
  },
  load: {
    usage: "berth load [OPTIONS]",
    description: "Load images from a tar archive (docker save's) or an OCI image layout directory",
    options: [
      {
        name: "input",
        short: "i",
        type: "string",
        description: "Read from a tar archive file or an OCI layout directory, instead of STDIN",
      },
      { name: "quiet", short: "q", type: "boolean", description: "Suppress the load output" },
    ],
    action: async (ctx, o) => {
      const input = str(o, "input");
      let body: NodeJS.ReadableStream | AsyncIterable<Buffer>;
      if (!input) {
        if (process.stdin.isTTY) throw new InvalidArgument("requested load from stdin, but stdin is empty");
        body = process.stdin;
      } else if (!existsSync(input)) throw new InvalidArgument(`open ${input}: no such file or directory`);
      else body = statSync(input).isDirectory() ? directoryTar(input) : await openTar(input);
      const res = await ctx.api.stream("POST", "/images/load", {
        raw: body,
        query: { quiet: bool(o, "quiet") ? 1 : 0 },
      });
      for await (const e of jsonLines<{ stream?: string; error?: string }>(res)) {
        if (e.error) throw new InvalidArgument(e.error);
        if (e.stream && !bool(o, "quiet")) process.stdout.write(e.stream);
      }
      return 0;
    },
  },
  login: {
    usage: "berth login [OPTIONS] [SERVER]",
    description:
      "Log in to a registry (Docker Hub when no server is given); the credentials go to ~/.docker/config.json",
    options: [
      { name: "username", short: "u", type: "string", description: "Username" },
      { name: "password", short: "p", type: "string", description: "Password" },
      { name: "password-stdin", type: "boolean", description: "Take the password from stdin" },
    ],
    action: async (ctx, o, args) => {
      if (args.length > 1) throw new InvalidArgument('"login" requires at most 1 argument.');
      const username = str(o, "username");
      let password = str(o, "password");
      if (bool(o, "password-stdin")) {
        if (password !== undefined)
          throw new InvalidArgument("--password and --password-stdin are mutually exclusive");
        password = (await readAll(process.stdin)).toString("utf8").replace(/\r?\n$/, "");
      }
      if (!username || password === undefined)
        throw new InvalidArgument("login needs --username and --password (or --password-stdin)");
      const host = registryHostOf(args[0]);
      const r = await ctx.api.call<{ Status: string }>("POST", "/auth", {
        body: { username, password, serveraddress: host },
      });
      await storeCredentials(host, { username, password });
      process.stdout.write(`${r.Status}\n`);
      return 0;
    },
  },
  logout: {
    usage: "berth logout [SERVER]",
    description: "Log out from a registry (removes its credentials from ~/.docker/config.json)",
    options: [],
    action: async (_ctx, _o, args) => {
      if (args.length > 1) throw new InvalidArgument('"logout" requires at most 1 argument.');
      const host = registryHostOf(args[0]);
      if (await removeCredentials(host)) process.stdout.write(`Removing login credentials for ${host}\n`);
      else process.stdout.write(`Not logged in to ${host}\n`);
      return 0;
    },
  },
  "image prune": {
    usage: "berth image prune [OPTIONS]",
    description: "Remove unused images",
    options: [
      {
        name: "all",
        short: "a",
        type: "boolean",
        description: "Remove all unused images, not just dangling ones",
      },
      { name: "force", short: "f", type: "boolean", description: "Do not prompt for confirmation" },
    ],
    action: async (ctx, o) => {
      if (!bool(o, "force"))
        throw new InvalidArgument("image prune removes unused images: confirm with --force");
      const r = await ctx.api.call<{ ImagesDeleted: { Deleted?: string }[] | null; SpaceReclaimed: number }>(
        "POST",
        "/images/prune",
        { query: filtersQuery([`dangling=${bool(o, "all") ? "false" : "true"}`]) },
      );
      if (r.ImagesDeleted?.length)
        process.stdout.write(
          `Deleted Images:\n${r.ImagesDeleted.map((d) => `deleted: ${d.Deleted}`).join("\n")}\n\n`,
        );
      process.stdout.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
      return 0;
    },
  },
};
