/**
 * Run as a child process by the crash tests: pulls or imports into a store, so that the parent
 * can SIGKILL it at a random instant.   node image-child.js pull|import ROOT ARG
 */
import { createReadStream } from "node:fs";
import { importImage } from "../../src/image/import.js";
import { openStore } from "./images.js";

const [verb, root, arg] = process.argv.slice(2);
const store = await openStore(root!);
if (verb === "pull") await store.service.pull(arg!);
else await importImage(store.service, createReadStream(arg!), { reference: "imported:latest" });
process.stdout.write("done\n");
