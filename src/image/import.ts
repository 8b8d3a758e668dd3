/**
 * `docker import`: a root filesystem tar (plain or compressed) becomes a one-layer image. The
 * tar streams once: decompressed, it is unpacked into a snapshot while being hashed (its diff
 * ID), and gzip-compressed into the content store (the layer blob a push will send).
 * `importBusybox` builds such a tar from the host's statically linked busybox, so that a
 * machine without a registry has an image to run.
 */
import { execFile } from "node:child_process";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { promisify } from "node:util";
import { InvalidArgument } from "../errors.js";
import { DEFAULT_PATH_ENV } from "../oci/default-spec.js";
import type { Chunks } from "../util/byte-source.js";
import { decompress } from "../util/compression.js";
import type { TarInput } from "../util/tar/writer.js";
import { writeTar } from "../util/tar/writer.js";
import { createImage } from "./create.js";
import type { ImageRecord } from "./image-store.js";
import { ingestLayer, releaseLeases } from "./layer-ingest.js";
import type { ContainerConfig, ImageConfig } from "./manifest.js";
import { hostPlatform } from "./platform.js";
import type { ImageService } from "./service.js";

export interface ImportOptions {
  /** `repository[:tag]` to name the image. */
  reference?: string;
  /** What `--change` sets: CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL... as config fields. */
  config?: ContainerConfig;
  /** `--message`: the history entry's comment. */
  message?: string;
  /** Fixes `created` (for reproducible image IDs); now by default. */
  created?: string;
}

export async function importImage(
  service: ImageService,
  tar: Chunks,
  options: ImportOptions = {},
): Promise<ImageRecord> {
  const layer = await ingestLayer(service, decompress(tar));
  try {
    const created = options.created ?? new Date().toISOString();
    const config: ImageConfig = {
      ...hostPlatform(),
      created,
      config: options.config ?? {},
      rootfs: { type: "layers", diff_ids: [layer.diffId] },
      history: [
        { created, created_by: "berth import", ...(options.message ? { comment: options.message } : {}) },
      ],
    };
    return await createImage(service, config, [layer], options.reference);
  } finally {
    releaseLeases(service, [layer]);
  }
}

const BUSYBOX = "/bin/busybox";

/** The entries of a minimal busybox root filesystem, timestamps fixed for a reproducible ID. */
export async function busyboxRootfs(busybox = BUSYBOX): Promise<{ entries: TarInput[]; mtime: number }> {
  const st = await stat(busybox).catch(() => {
    throw new InvalidArgument(
      `${busybox} is missing: install Debian's busybox-static to import a busybox image`,
    );
  });
  const mtime = Math.floor(st.mtimeMs / 1000);
  const { stdout } = await promisify(execFile)(busybox, ["--list-full"]).catch(() => {
    throw new InvalidArgument(`${busybox} cannot list its applets: is it busybox (busybox-static)?`);
  });
  const dir = (name: string, mode = 0o755): TarInput => ({
    header: { name: `${name}/`, type: "directory", mode, mtime },
  });
  const text = (name: string, content: string): TarInput => ({
    header: { name, type: "file", mode: 0o644, size: Buffer.byteLength(content), mtime },
    body: Buffer.from(content),
  });
  const entries: TarInput[] = [
    ...[
      "bin",
      "dev",
      "etc",
      "home",
      "proc",
      "root",
      "sbin",
      "sys",
      "usr",
      "usr/bin",
      "usr/sbin",
      "var",
      "var/spool",
      "var/www",
    ].map((d) => dir(d, d === "root" ? 0o700 : 0o755)),
    dir("tmp", 0o1777),
    {
      header: { name: "bin/busybox", type: "file", mode: 0o755, size: st.size, mtime },
      body: createReadStream(busybox) as AsyncIterable<Buffer>,
    },
    text("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"),
    text("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
  ];
  const seen = new Set(["bin/busybox"]);
  for (const path of stdout.split("\n").filter(Boolean).sort()) {
    // --list-full gives each applet's install path ("bin/ls", "usr/sbin/chroot").
    if (seen.has(path) || !/^(usr\/)?s?bin\/[\w.[-]+$/.test(path)) continue;
    seen.add(path);
    const target = path.startsWith("usr/")
      ? "../../bin/busybox"
      : path.startsWith("sbin/")
        ? "../bin/busybox"
        : "busybox";
    entries.push({ header: { name: path, type: "symlink", linkname: target, mode: 0o777, mtime } });
  }
  return { entries, mtime };
}

/** Imports the host's busybox as `busybox:latest` (or `reference`), runnable offline. */
export async function importBusybox(
  service: ImageService,
  reference = "busybox:latest",
): Promise<ImageRecord> {
  const { entries, mtime } = await busyboxRootfs();
  return importImage(service, writeTar(entries), {
    reference,
    config: { Env: [DEFAULT_PATH_ENV], Cmd: ["sh"] },
    created: new Date(mtime * 1000).toISOString().replace(".000Z", "Z"),
    message: `imported from the host's ${BUSYBOX}`,
  });
}
