/** `berth build`: the context as a tar to the daemon's build endpoint, its progress printed. */
import { existsSync, statSync, writeFileSync } from "node:fs";
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
    ],
    action: async (ctx, o, args) => {
      if (args.length !== 1) throw new InvalidArgument('"build" requires exactly 1 argument.');
      const context = args[0]!;
      let body: NodeJS.ReadableStream | AsyncIterable<Buffer>;
      if (context === "-") body = process.stdin;
      else if (!existsSync(context) || !statSync(context).isDirectory())
        throw new InvalidArgument(`unable to prepare context: path "${context}" not found`);
      else body = directoryTar(context);
      const buildArgs = Object.fromEntries(
        strs(o, "build-arg").map((a) => {
          const eq = a.indexOf("=");
          return eq < 0 ? [a, process.env[a] ?? ""] : [a.slice(0, eq), a.slice(eq + 1)];
        }),
      );
      const res = await ctx.api.stream("POST", "/build", {
        query: {
          t: strs(o, "tag"),
          dockerfile: str(o, "file"),
          buildargs: JSON.stringify(buildArgs),
          target: str(o, "target"),
          labels: JSON.stringify(keyValueFlags(strs(o, "label"), "label")),
          q: bool(o, "quiet") ? 1 : undefined,
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
      if (bool(o, "quiet")) process.stdout.write(`${id}\n`);
      const iidfile = str(o, "iidfile");
      if (iidfile) writeFileSync(iidfile, id);
      return 0;
    },
  },
};
