/**
 * Every object the API returns has dockerd's shape: the same objects made on both daemons (a
 * private dockerd from Debian's docker.io, and Berth), then each answer's keys and zero values
 * compared field by field at the API version both speak. A field dockerd sends and Berth does
 * not, or a null where the other has an empty list or map, fails the test; the few differences
 * that are facts of the implementation are listed with their reason.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { busyboxRootfs } from "../../src/image/import.js";
import { writeTar } from "../../src/util/tar/writer.js";
import { DaemonFixture } from "../helpers/daemon.js";
import { startDockerd, type TestDockerd } from "../helpers/dockerd.js";

const d = new DaemonFixture();
let dockerd: TestDockerd | undefined;

before(async () => {
  await d.importBusybox();
  await d.start();
  dockerd = await startDockerd();
  if (!dockerd) return;
  const { entries } = await busyboxRootfs();
  const parts: Buffer[] = [];
  for await (const c of writeTar(entries)) parts.push(c);
  await dockerd.docker(
    [
      "import",
      "-c",
      'CMD ["sh"]',
      "-c",
      "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "-",
      "busybox:latest",
    ],
    Buffer.concat(parts),
  );
});
after(async () => {
  await dockerd?.stop();
  await d.cleanup();
});

function call(socket: string, method: string, path: string, body?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: socket,
        method,
        path: `/v1.41${path}`,
        agent: false,
        headers: { "Content-Type": "application/json" },
      },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => {
          try {
            resolve(JSON.parse(text));
          } catch {
            resolve(text);
          }
        });
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** The same objects on one daemon, and what it answers about them. */
async function answers(socket: string): Promise<Record<string, unknown>> {
  const api = (method: string, path: string, body?: unknown) => call(socket, method, path, body);
  await api("POST", "/containers/create?name=shape-running", {
    Image: "busybox",
    Cmd: ["sleep", "600"],
    HostConfig: { NetworkMode: "none" },
  });
  await api("POST", "/containers/shape-running/start");
  await api("POST", "/containers/create?name=shape-created", {
    Image: "busybox",
    Cmd: ["true"],
    HostConfig: { NetworkMode: "none" },
  });
  const exec = (await api("POST", "/containers/shape-running/exec", { Cmd: ["true"] })) as { Id: string };
  await api("POST", "/networks/create", { Name: "shape-net" });
  await api("POST", "/volumes/create", { Name: "shape-vol" });
  const out: Record<string, unknown> = {
    "container (running)": await api("GET", "/containers/shape-running/json"),
    "container (created)": await api("GET", "/containers/shape-created/json"),
    exec: await api("GET", `/exec/${exec.Id}/json`),
    network: await api("GET", "/networks/shape-net"),
    volume: await api("GET", "/volumes/shape-vol"),
    image: await api("GET", "/images/busybox/json"),
    info: await api("GET", "/info"),
    version: await api("GET", "/version"),
  };
  await api("DELETE", "/containers/shape-running?force=1");
  await api("DELETE", "/containers/shape-created");
  await api("DELETE", "/networks/shape-net");
  await api("DELETE", "/volumes/shape-vol");
  return out;
}

const kindOf = (v: unknown) =>
  v === null ? "null" : Array.isArray(v) ? "list" : typeof v === "object" ? "map" : typeof v;

/** Where dockerd's answer and Berth's differ in keys or in the kind of a value. */
function differences(docker: unknown, berth: unknown, path: string, out: string[]): void {
  if (kindOf(docker) === "map" && kindOf(berth) === "map") {
    const [a, b] = [docker as Record<string, unknown>, berth as Record<string, unknown>];
    for (const key of Object.keys(a)) {
      if (!(key in b)) out.push(`${path}.${key}: Berth has none (dockerd: ${kindOf(a[key])})`);
      else differences(a[key], b[key], `${path}.${key}`, out);
    }
  } else if (kindOf(docker) === "list" && kindOf(berth) === "list") {
    const [a, b] = [docker as unknown[], berth as unknown[]];
    if (a.length && b.length) differences(a[0], b[0], `${path}[0]`, out);
  } else if (kindOf(docker) !== kindOf(berth)) {
    out.push(`${path}: dockerd ${kindOf(docker)}, Berth ${kindOf(berth)}`);
  }
}

/** Facts of the implementation, not of the shape. */
const ACCEPTED = [
  // overlay2's directories: Berth's snapshots are not overlay2's (its data is null, as other drivers').
  /\.GraphDriver\.Data/,
  // Other daemons' components, plugins and registries.
  /^info\.(Plugins|Runtimes|RegistryConfig|ContainerdCommit|RuncCommit|InitCommit|DefaultAddressPools)/,
  /^version\.Components\[0\]\.Details\.(GitCommit|GoVersion|BuildTime)/,
  // dockerd lists its containerd and runc components; Berth has one engine.
  /^version\.Components/,
];

test("containers, execs, networks, volumes, images, info and version have dockerd's fields and zero values", {
  skip: false,
}, async (t) => {
  if (!dockerd) {
    t.skip("dockerd does not start here");
    return;
  }
  const fromDocker = await answers(dockerd.socket);
  const fromBerth = await answers(d.socket);
  const found: string[] = [];
  for (const [name, value] of Object.entries(fromDocker)) differences(value, fromBerth[name], name, found);
  const unexplained = found.filter((f) => !ACCEPTED.some((re) => re.test(f)));
  assert.deepEqual(unexplained, []);
});
