/** `berth build`: the context as a tar to the daemon's build endpoint, its progress printed. */
import { writeFileSync } from "node:fs";
import { InvalidArgument } from "../../../errors.js";
import { bool, keyValueFlags, str, strs } from "../../args.js";
import { buildContext } from "../build-context.js";
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
      { name: "cache-from", type: "strings", description: "Images to consider as cache sources" },
      { name: "add-host", type: "strings", description: "Add a custom host-to-IP mapping (host:ip)" },
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
      const { body, dockerfile } = await buildContext(context, str(o, "file"));
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
          extrahosts: strs(o, "add-host"),
          cachefrom: strs(o, "cache-from").length ? JSON.stringify(strs(o, "cache-from")) : undefined,
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
