/**
 * Pull benchmark: a Debian bookworm minbase tree (debootstrapped once, see
 * test/helpers/debian.ts) split into five layers, pushed to a local docker-registry, then
 * pulled by Berth, skopeo (copy to an OCI layout: no unpacking), docker and podman where they
 * run here — cold (empty store) and warm (every layer already present: a second tag with the
 * same layers and another config). Reports median wall times and the disk each store uses.
 *   node dist/bench/pull.js [runs]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEBIAN_CACHE, debianTree } from "../test/helpers/debian.js";
import { startDockerd } from "../test/helpers/dockerd.js";
import { anonymousClient, openStore, pushTestImage } from "../test/helpers/images.js";
import { startRegistry } from "../test/helpers/registry.js";
import { unmountUnder } from "./harness.js";

const CACHE = DEBIAN_CACHE;
const runs = Number(process.argv[2] ?? 3);

// The tree's top-level parts, one layer each, biggest first; the last takes the rest.
const LAYERS: { name: string; include: string[]; exclude?: string[] }[] = [
  { name: "usr-lib-arch", include: ["./usr/lib/x86_64-linux-gnu"] },
  { name: "usr-lib", include: ["./usr/lib"], exclude: ["./usr/lib/x86_64-linux-gnu"] },
  { name: "usr-share", include: ["./usr/share"] },
  {
    name: "usr-bin",
    include: [
      "./usr/bin",
      "./usr/sbin",
      "./usr/libexec",
      "./usr/include",
      "./usr/local",
      "./usr/games",
      "./usr/src",
    ],
  },
  {
    name: "rest",
    include: ["."],
    exclude: [
      "./usr/lib",
      "./usr/share",
      "./usr/bin",
      "./usr/sbin",
      "./usr/libexec",
      "./usr/include",
      "./usr/local",
      "./usr/games",
      "./usr/src",
      "./proc",
      "./sys",
      "./dev",
    ],
  },
];

function layerTars(tree: string): Buffer[] {
  const dir = join(CACHE, "layers");
  mkdirSync(dir, { recursive: true });
  return LAYERS.map((l) => {
    const path = join(dir, `${l.name}.tar`);
    if (!existsSync(path)) {
      const args = ["-C", tree, "--numeric-owner", "--xattrs", "--format=pax", "-cf", `${path}.tmp`];
      for (const e of l.exclude ?? []) args.push(`--exclude=${e}`);
      // The first layers are in the last one's tree too: only "rest" needs the top directories.
      execFileSync("tar", [...args, ...l.include]);
      renameSync(`${path}.tmp`, path);
    }
    return readFileSync(path);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function du(path: string): number {
  const out = execFileSync("du", ["-s", "--block-size=1", path], { encoding: "utf8" });
  return Number(out.split("\t")[0]);
}

const MB = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
const rows: string[][] = [];
function report(tool: string, cold: number[], warm: number[], disk: number, note = ""): void {
  rows.push([tool, `${median(cold).toFixed(0)} ms`, `${median(warm).toFixed(0)} ms`, MB(disk), note]);
}

async function main(): Promise<void> {
  const tars = layerTars(debianTree());
  const registry = await startRegistry();
  try {
    const client = anonymousClient(registry.host);
    const image = await pushTestImage(client, "bench/debian", "1", tars);
    writeFileSync(join(CACHE, "last-image.json"), JSON.stringify(image, null, 1));
    // The second tag differs in config only (another Cmd): every layer is already present.
    const ref1 = `${registry.host}/bench/debian:1`;
    const ref2 = `${registry.host}/bench/debian:warm`;
    await retagWithNewConfig(client, image.manifest.digest, "warm");
    const compressed = image.layers.reduce((n, l) => n + l.size, 0);
    const uncompressed = tars.reduce((n, t) => n + t.length, 0);
    console.log(
      `image: ${tars.length} layers, ${MB(compressed)} compressed, ${MB(uncompressed)} of tar; ${runs} runs each\n`,
    );

    // Berth.
    {
      const cold: number[] = [];
      const warm: number[] = [];
      let disk = 0;
      let container = 0;
      for (let i = 0; i < runs; i++) {
        const store = await openStore();
        cold.push(await timed(() => store.service.pull(ref1)));
        warm.push(await timed(() => store.service.pull(ref2)));
        disk = du(store.root);
        await store.service.prepareRootfs("bench-container", ref1);
        container = (await store.service.snapshotter.usage("bench-container")).size;
        store.remove();
      }
      report("berth", cold, warm, disk, `container: ${MB(container)} (blobs kept: ${MB(compressed)})`);
    }

    // skopeo: copies blobs into an OCI layout, does not unpack.
    if (spawnSync("skopeo", ["--version"]).status === 0) {
      const cold: number[] = [];
      const warm: number[] = [];
      let disk = 0;
      for (let i = 0; i < runs; i++) {
        const dir = mkdtempSync(join(tmpdir(), "bench-skopeo-"));
        const copy = (ref: string, tag: string) =>
          execFileSync("skopeo", [
            "copy",
            "-q",
            "--src-tls-verify=false",
            `docker://${ref}`,
            `oci:${dir}/layout:${tag}`,
          ]);
        cold.push(await timed(() => copy(ref1, "1")));
        warm.push(await timed(() => copy(ref2, "warm")));
        disk = du(dir);
        rmSync(dir, { recursive: true, force: true });
      }
      report("skopeo copy", cold, warm, disk, "blobs only, not unpacked");
    } else rows.push(["skopeo copy", "-", "-", "-", "not installed"]);

    // docker: a private dockerd (127.0.0.0/8 registries are insecure by default).
    const dockerd = await startDockerd();
    if (dockerd) {
      const cold: number[] = [];
      const warm: number[] = [];
      let disk = 0;
      for (let i = 0; i < runs; i++) {
        cold.push(await timed(() => dockerd.docker(["pull", "-q", ref1])));
        warm.push(await timed(() => dockerd.docker(["pull", "-q", ref2])));
        const info = JSON.parse((await dockerd.docker(["info", "--format", "{{json .}}"])).toString()) as {
          DockerRootDir: string;
        };
        disk = du(info.DockerRootDir);
        await dockerd.docker(["rmi", ref1, ref2]);
      }
      await dockerd.stop();
      report("docker", cold, warm, disk, "data root after pull");
    } else rows.push(["docker", "-", "-", "-", "dockerd does not start here"]);

    // podman: pulls work here even though it cannot run containers.
    if (spawnSync("podman", ["--version"]).status === 0) {
      const cold: number[] = [];
      const warm: number[] = [];
      let disk = 0;
      let error = "";
      for (let i = 0; i < runs && !error; i++) {
        const dir = mkdtempSync(join(tmpdir(), "bench-podman-"));
        const podman = (ref: string) =>
          execFileSync(
            "podman",
            ["--root", `${dir}/root`, "--runroot", `${dir}/run`, "pull", "-q", "--tls-verify=false", ref],
            {
              stdio: ["ignore", "ignore", "pipe"],
            },
          );
        try {
          cold.push(await timed(() => podman(ref1)));
          warm.push(await timed(() => podman(ref2)));
          disk = du(`${dir}/root`);
        } catch (err) {
          error = String((err as { stderr?: Buffer }).stderr ?? err).split("\n")[0]!;
        }
        unmountUnder(dir);
        rmSync(dir, { recursive: true, force: true });
      }
      if (error) rows.push(["podman", "-", "-", "-", error.slice(0, 80)]);
      else report("podman", cold, warm, disk, "storage root after pull");
    } else rows.push(["podman", "-", "-", "-", "not installed"]);

    const header = ["tool", "cold pull", "warm pull", "disk per image", "notes"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [header, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
  } finally {
    await registry.stop();
  }
}

/** Pushes the same layers under `tag` with a config that differs (another Cmd): a new image ID. */
async function retagWithNewConfig(
  client: ReturnType<typeof anonymousClient>,
  digest: string,
  tag: string,
): Promise<void> {
  const { data } = await client.getManifest("bench/debian", digest);
  const manifest = JSON.parse(data.toString()) as {
    config: { digest: string; size: number; mediaType: string };
  };
  const blob = await client.getBlob("bench/debian", manifest.config.digest);
  const parts: Buffer[] = [];
  for await (const c of blob.body) parts.push(c);
  const config = JSON.parse(Buffer.concat(parts).toString()) as { config: { Cmd: string[] } };
  config.config.Cmd = ["bash"];
  const bytes = Buffer.from(JSON.stringify(config));
  const { digestOf } = await import("../src/image/digest.js");
  const desc = { mediaType: manifest.config.mediaType, digest: digestOf(bytes), size: bytes.length };
  await client.putBlob("bench/debian", desc, async function* () {
    yield bytes;
  });
  manifest.config = desc;
  await client.putManifest(
    "bench/debian",
    tag,
    Buffer.from(JSON.stringify(manifest)),
    "application/vnd.docker.distribution.manifest.v2+json",
  );
}

await main();
