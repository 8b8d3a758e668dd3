/** `berth build`: the context as a tar to the daemon's build endpoint, its progress printed. */
import { existsSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import { DockerIgnore } from "../../../build/dockerignore.js";
import { InvalidArgument } from "../../../errors.js";
import { directoryTar } from "../../../snapshot/diff.js";
import { bool, keyValueFlags, str, strs } from "../../args.js";
import { jsonLines } from "../client.js";
import type { Command } from "./shared.js";

export const buildCommands: Record<string, Command> = {
  build: {
    usage: "berth build [OPTIONS] PATH | -",
    description: "Build an image from a Dockerfile",
    options: [
      {
        name: "tag",
        short: "t",
        type: "strings",
        description: 'Name and optionally a tag in the "name:tag" format',
      },
      {
        name: "file",
        short: "f",
        type: "string",
        description: "Name of the Dockerfile (default: 'PATH/Dockerfile')",
      },
      { name: "build-arg", type: "strings", description: "Set build-time variables" },
      { name: "target", type: "string", description: "Set the target build stage to build" },
      { name: "label", type: "strings", description: "Set metadata for an image" },
      {
        name: "quiet",
        short: "q",
        type: "boolean",
        description: "Suppress the build output and print image ID on success",
      },
      { name: "iidfile", type: "string", description: "Write the image ID to the file" },
      { name: "no-cache", type: "boolean", description: "Do not use cache when building the image" },
      { name: "pull", type: "boolean", description: "Always attempt to pull a newer version of the image" },
      {
        name: "network",
        type: "string",
        description: 'Set the networking mode for the RUN instructions during build (default "default")',
      },
      {
        name: "progress",
        type: "string",
        description:
          "Set type of progress output (auto, plain, tty, quiet): Berth prints the step log for all but quiet",
      },
    ],
    action: async (ctx, o, args) => {
      if (args.length !== 1) throw new InvalidArgument('"build" requires exactly 1 argument.');
      const context = args[0]!;
      const progress = str(o, "progress") ?? "auto";
      if (!["auto", "plain", "tty", "quiet"].includes(progress))
        throw new InvalidArgument(`invalid progress mode "${progress}": use auto, plain, tty or quiet`);
      const quiet = bool(o, "quiet") || progress === "quiet";
      const network = str(o, "network");
      if (network !== undefined && !["default", "none", "host", "bridge"].includes(network))
        throw new InvalidArgument(
          `network mode "${network}" is not supported for build: use default, none or host`,
        );
      let body: NodeJS.ReadableStream | AsyncIterable<Buffer>;
      let dockerfile = str(o, "file");
      if (context === "-") body = process.stdin;
      else if (!existsSync(context) || !statSync(context).isDirectory())
        throw new InvalidArgument(`unable to prepare context: path "${context}" not found`);
      else {
        // What .dockerignore excludes is never sent, as docker's CLI does.
        const ignore = new DockerIgnore(
          await readFile(join(context, ".dockerignore"), "utf8").catch(() => ""),
        );
        // -f is a path from here (as docker's CLI reads it), sent as a path in the context.
        if (dockerfile !== undefined) {
          const inContext = relative(resolve(context), resolve(dockerfile));
          if (inContext.startsWith("..") || isAbsolute(inContext))
            throw new InvalidArgument(
              `the Dockerfile (${dockerfile}) must be within the build context (${context})`,
            );
          dockerfile = inContext;
        }
        const keep = dockerfile ?? "Dockerfile";
        body = directoryTar(context, "", {
          exclude: (path, isDir) => path !== keep && ignore.excludes(path, isDir),
          xattrs: false,
        });
      }
      const buildArgs = Object.fromEntries(
        strs(o, "build-arg").map((a) => {
          const eq = a.indexOf("=");
          return eq < 0 ? [a, process.env[a] ?? ""] : [a.slice(0, eq), a.slice(eq + 1)];
        }),
      );
      const res = await ctx.api.stream("POST", "/build", {
        query: {
          t: strs(o, "tag"),
          dockerfile,
          buildargs: JSON.stringify(buildArgs),
          target: str(o, "target"),
          labels: JSON.stringify(keyValueFlags(strs(o, "label"), "label")),
          q: quiet ? 1 : undefined,
          nocache: bool(o, "no-cache") ? 1 : undefined,
          pull: bool(o, "pull") ? 1 : undefined,
          networkmode: network,
        },
        raw: body,
        headers: { "Content-Type": "application/x-tar" },
      });
      let id = "";
      for await (const e of jsonLines<{ stream?: string; error?: string; aux?: { ID: string } }>(res)) {
        if (e.error) throw new InvalidArgument(e.error);
        if (e.stream) process.stdout.write(e.stream);
        if (e.aux?.ID) id = e.aux.ID;
      }
      if (quiet) process.stdout.write(`${id}\n`);
      const iidfile = str(o, "iidfile");
      if (iidfile) writeFileSync(iidfile, id);
      return 0;
    },
  },
};
