/**
 * The body of `POST /plugins/create`: a tar (gzip allowed) of a directory holding config.json
 * and rootfs/. It is anyone's input. config.json is read into memory (small, bounded); the
 * entries under rootfs/ are renamed to be relative to it and handed to the layer unpacker, the
 * one way Berth writes a tar into a tree (names cleaned, no "..", nothing through a symlink the
 * tar made, hard links only to earlier entries, all resolved beneath the root by the kernel) —
 * here without device nodes. Any other entry is skipped, as dockerd skips it.
 */

import { InvalidLayer } from "../snapshot/errors.js";
import { cleanPath, unpackLayer } from "../snapshot/unpack.js";
import type { Chunks } from "../util/byte-source.js";
import { decompress } from "../util/compression.js";
import { readTar } from "../util/tar/reader.js";
import type { TarInput } from "../util/tar/writer.js";
import { writeTar } from "../util/tar/writer.js";
import { InvalidPluginArchive } from "./errors.js";

const CONFIG_FILE = "config.json";
const ROOTFS_DIR = "rootfs";
/** A plugin config is a few KiB; more is not a config. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/** Unpacks rootfs/ of the context into `rootfsDir` (which exists, empty); returns config.json's bytes. */
export async function unpackPluginContext(body: Chunks, rootfsDir: string): Promise<Buffer> {
  let config: Buffer | undefined;
  let sawRootfs = false;

  async function* rootfsEntries(): AsyncGenerator<TarInput> {
    for await (const entry of readTar(decompress(body))) {
      const h = entry.header;
      const path = cleanPath(h.name, "entry");
      if (path === CONFIG_FILE) {
        if (h.type !== "file")
          throw new InvalidPluginArchive(`${CONFIG_FILE} in the plugin context is not a regular file`);
        if (h.size > MAX_CONFIG_BYTES)
          throw new InvalidPluginArchive(
            `${CONFIG_FILE} is ${h.size} bytes: more than a plugin config (${MAX_CONFIG_BYTES})`,
          );
        const parts: Buffer[] = [];
        for await (const chunk of entry.body) parts.push(chunk);
        config = Buffer.concat(parts);
        continue;
      }
      const [top, ...rest] = path.split("/");
      if (top !== ROOTFS_DIR) continue;
      sawRootfs = true;
      if (rest.length === 0) {
        if (h.type !== "directory")
          throw new InvalidPluginArchive(`${ROOTFS_DIR} in the plugin context is not a directory`);
        continue;
      }
      let linkname = h.linkname;
      if (h.type === "link") {
        // A hard link names another entry of the context: it must be one under rootfs/ too.
        const target = cleanPath(h.linkname, "hard link target");
        if (!target.startsWith(`${ROOTFS_DIR}/`))
          throw new InvalidPluginArchive(
            `"${h.name}" is a hard link to "${h.linkname}", outside ${ROOTFS_DIR}/`,
          );
        linkname = target.slice(ROOTFS_DIR.length + 1);
      }
      yield { header: { ...h, name: rest.join("/"), linkname }, body: entry.body };
    }
  }

  try {
    await unpackLayer(writeTar(rootfsEntries()), rootfsDir, "apply", { devices: false });
  } catch (err) {
    if (err instanceof InvalidLayer) throw new InvalidPluginArchive(`invalid plugin context: ${err.message}`);
    throw err;
  }
  if (!config) throw new InvalidPluginArchive(`the plugin context has no ${CONFIG_FILE}`);
  if (!sawRootfs) throw new InvalidPluginArchive(`the plugin context has no ${ROOTFS_DIR}/ directory`);
  return config;
}
