/**
 * A real volume plugin for tests, as a plugin directory (config.json + rootfs/) that `docker
 * plugin create` takes: the host's node binary and the shared libraries ldd lists, copied into
 * the rootfs, running a small docker.volumedriver/1.0 server written here. Its volumes are
 * directories under its PropagatedMount (/data/volumes/NAME); it appends every Mount and Unmount
 * to /data/calls.log, so a test can see from the host that each Mount was mirrored. A volume
 * whose name starts with "escape" gets the Mountpoint "/data/../../etc" (an answer that must be
 * refused); with SILENT=1 (settable) the server never listens.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeNodeRootfs } from "./node-rootfs.js";

export const PLUGIN_SOCKET = "vd.sock";

const SERVER = `
const http = require("http");
const fs = require("fs");
const path = require("path");
const root = "/data/volumes";
const calls = "/data/calls.log";
const socket = "/run/docker/plugins/${PLUGIN_SOCKET}";
if (process.env.SILENT === "1") {
  setInterval(() => {}, 1 << 30);
} else {
  fs.mkdirSync(root, { recursive: true });
  const dir = (name) => path.join(root, path.basename(name));
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const q = body ? JSON.parse(body) : {};
      const reply = (o) => {
        res.writeHead(200, { "Content-Type": "application/vnd.docker.plugins.v1+json" });
        res.end(JSON.stringify(o));
      };
      switch (req.url) {
        case "/Plugin.Activate":
          return reply({ Implements: ["VolumeDriver"] });
        case "/VolumeDriver.Create":
          fs.mkdirSync(dir(q.Name), { recursive: true });
          return reply({ Err: "" });
        case "/VolumeDriver.Remove":
          fs.rmSync(dir(q.Name), { recursive: true, force: true });
          return reply({ Err: "" });
        case "/VolumeDriver.Mount":
          fs.appendFileSync(calls, "Mount " + q.Name + " " + q.ID + "\\n");
          if (q.Name.startsWith("escape")) return reply({ Mountpoint: "/data/../../etc", Err: "" });
          return reply({ Mountpoint: dir(q.Name), Err: "" });
        case "/VolumeDriver.Unmount":
          fs.appendFileSync(calls, "Unmount " + q.Name + " " + q.ID + "\\n");
          return reply({ Err: "" });
        case "/VolumeDriver.Path":
          return reply({ Mountpoint: dir(q.Name), Err: "" });
        case "/VolumeDriver.Get":
          if (!fs.existsSync(dir(q.Name))) return reply({ Err: "no such volume " + q.Name });
          return reply({ Volume: { Name: q.Name, Mountpoint: dir(q.Name), Status: { served: "by node" } }, Err: "" });
        case "/VolumeDriver.List":
          return reply({ Volumes: fs.readdirSync(root).map((n) => ({ Name: n, Mountpoint: dir(n) })), Err: "" });
        case "/VolumeDriver.Capabilities":
          return reply({ Capabilities: { Scope: "local" } });
        default:
          res.writeHead(404);
          res.end();
      }
    });
  });
  fs.rmSync(socket, { force: true });
  server.listen(socket);
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}
`;

export interface VolumePluginOptions {
  /** Extra config.json fields (or replacements), for bad-config tests. */
  config?: Record<string, unknown>;
}

/** Writes a plugin directory at `dir` (config.json and rootfs/ with node and the server). */
export function writeVolumePlugin(dir: string, options: VolumePluginOptions = {}): void {
  const rootfs = join(dir, "rootfs");
  writeNodeRootfs(rootfs);
  mkdirSync(join(rootfs, "data"), { recursive: true });
  writeFileSync(join(rootfs, "server.js"), SERVER);
  const config = {
    description: "Berth's test volume plugin",
    documentation: "https://github.com/berth/berth",
    entrypoint: ["/node", "/server.js"],
    interface: { types: ["docker.volumedriver/1.0"], socket: PLUGIN_SOCKET },
    network: { type: "" },
    propagatedmount: "/data",
    env: [{ name: "SILENT", description: "never listen", settable: ["value"], value: "0" }],
    ...options.config,
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));
}
