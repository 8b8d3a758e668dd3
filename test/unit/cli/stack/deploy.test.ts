/**
 * stack deploy's executor against a recording fake of the daemon's API: what it checks before
 * making anything, the order it makes things in, and updates sent only for changed services.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { ApiClient, RequestInit } from "../../../../src/cli/berth/client.js";
import { loadCompose, parseComposeText } from "../../../../src/cli/berth/stack/compose-file.js";
import { deployStack, removeStack } from "../../../../src/cli/berth/stack/deploy.js";
import { planStack } from "../../../../src/cli/berth/stack/plan.js";
import { readRegularFile } from "../../../../src/cli/berth/stack/read-file.js";
import type { ServiceSpec } from "../../../../src/cluster/types.js";

const dir = mkdtempSync(join(tmpdir(), "berth-deploy-"));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "pw.txt"), "pw");

interface Service {
  ID: string;
  Version: { Index: number };
  Spec: ServiceSpec;
}

/** The daemon's objects in memory; every write is recorded as "METHOD path". */
class FakeApi {
  writes: string[] = [];
  manager = true;
  services: Service[] = [];
  networks: Array<{ Id: string; Name: string; Scope: string; Labels: Record<string, string> }> = [];
  secrets: Array<{
    ID: string;
    Version: { Index: number };
    Spec: { Name: string; Labels: Record<string, string> };
  }> = [];
  private next = 0;

  async call<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const id = () => `id${++this.next}`;
    const labelled = <X>(list: X[], of: (x: X) => Record<string, string> | undefined) => {
      const f = init.query?.["filters"];
      if (typeof f !== "string") return list;
      const [label] = (JSON.parse(f) as { label: string[] }).label;
      const [k, v] = label!.split("=");
      return list.filter((x) => (v === undefined ? k! in (of(x) ?? {}) : of(x)?.[k!] === v));
    };
    if (method !== "GET") this.writes.push(`${method} ${path}`);
    const body = init.body as Record<string, unknown>;
    if (method === "GET" && path === "/info") return { Swarm: { ControlAvailable: this.manager } } as T;
    if (method === "GET" && path === "/networks") return labelled(this.networks, (n) => n.Labels) as T;
    if (method === "GET" && path === "/secrets") return labelled(this.secrets, (s) => s.Spec.Labels) as T;
    if (method === "GET" && path === "/configs") return [] as T;
    if (method === "GET" && path === "/services") return labelled(this.services, (s) => s.Spec.Labels) as T;
    if (path === "/networks/create") {
      this.networks.push({
        Id: id(),
        Name: body["Name"] as string,
        Scope: "swarm",
        Labels: body["Labels"] as Record<string, string>,
      });
      return { Id: this.networks.at(-1)!.Id } as T;
    }
    if (path === "/secrets/create") {
      this.secrets.push({
        ID: id(),
        Version: { Index: 1 },
        Spec: { Name: body["Name"] as string, Labels: body["Labels"] as Record<string, string> },
      });
      return { ID: this.secrets.at(-1)!.ID } as T;
    }
    if (path === "/services/create") {
      this.services.push({
        ID: id(),
        Version: { Index: 1 },
        Spec: structuredClone(body) as unknown as ServiceSpec,
      });
      return { ID: this.services.at(-1)!.ID } as T;
    }
    const update = /^\/services\/(\w+)\/update$/.exec(path);
    if (update) {
      const s = this.services.find((x) => x.ID === update[1])!;
      assert.equal(init.query?.["version"], s.Version.Index, "an update names the version it read");
      Object.assign(s, { Spec: structuredClone(body), Version: { Index: s.Version.Index + 1 } });
      return {} as T;
    }
    const gone = /^\/(services|networks|secrets)\/(\w+)$/.exec(path);
    if (method === "DELETE" && gone) {
      const key = gone[1] as "services" | "networks" | "secrets";
      (this[key] as Array<{ ID?: string; Id?: string }>) = (
        this[key] as Array<{ ID?: string; Id?: string }>
      ).filter((x) => (x.ID ?? x.Id) !== gone[2]);
      return undefined as T;
    }
    throw new Error(`unexpected ${method} ${path}`);
  }
  get api() {
    return this as unknown as ApiClient;
  }
}

const lookup = () => undefined;
const plan = (text: string) =>
  planStack(loadCompose([parseComposeText(text, "f.yml")], dir, lookup), "app", {
    lookup,
    readFile: readRegularFile,
  });

const APP = (webEnv: string, withApi = true) => `
services:
  web: {image: busybox, environment: {V: "${webEnv}"}, secrets: [pw]}
${withApi ? "  api: {image: busybox}\n" : ""}secrets:
  pw: {file: ./pw.txt}
`;

async function deploy(fake: FakeApi, text: string, prune = false): Promise<string[]> {
  const out: string[] = [];
  await deployStack(fake.api, plan(text), { prune }, (l) => out.push(l));
  return out;
}

test("a first deploy makes the network, the secret, then the services, with IDs resolved", async () => {
  const fake = new FakeApi();
  assert.deepEqual(await deploy(fake, APP("1")), [
    "Creating network app_default",
    "Creating secret app_pw",
    "Creating service app_api",
    "Creating service app_web",
  ]);
  const web = fake.services.find((s) => s.Spec.Name === "app_web")!;
  assert.equal(web.Spec.TaskTemplate.Networks![0]!.Target, fake.networks[0]!.Id);
  assert.equal(web.Spec.TaskTemplate.ContainerSpec.Secrets![0]!.SecretID, fake.secrets[0]!.ID);
});

test("a second deploy updates only the changed service; the same file again sends nothing", async () => {
  const fake = new FakeApi();
  await deploy(fake, APP("1"));
  fake.writes = [];
  const web = fake.services.find((s) => s.Spec.Name === "app_web")!;
  assert.deepEqual(await deploy(fake, APP("2")), [`Updating service app_web (id: ${web.ID})`]);
  assert.deepEqual(fake.writes, [`POST /services/${web.ID}/update`]);
  fake.writes = [];
  assert.deepEqual(await deploy(fake, APP("2")), []);
  assert.deepEqual(fake.writes, []);
});

test("--prune removes the services the file no longer has; without it they stay", async () => {
  const fake = new FakeApi();
  await deploy(fake, APP("1"));
  assert.deepEqual(await deploy(fake, APP("1", false)), []);
  assert.equal(fake.services.length, 2);
  assert.deepEqual(await deploy(fake, APP("1", false), true), ["Removing service app_api"]);
  assert.deepEqual(
    fake.services.map((s) => s.Spec.Name),
    ["app_web"],
  );
});

test("nothing is made when a node is no manager or an external object is missing", async () => {
  const fake = new FakeApi();
  fake.manager = false;
  await assert.rejects(deploy(fake, APP("1")), /this node is not a swarm manager/);
  fake.manager = true;
  await assert.rejects(
    deploy(fake, "services: {s: {image: b, networks: [n]}}\nnetworks: {n: {external: true}}"),
    /network "n" is declared as external, but could not be found/,
  );
  await assert.rejects(
    deploy(fake, "services: {s: {image: b, secrets: [x]}}\nsecrets: {x: {external: true}}"),
    /secret "x" is declared as external, but could not be found/,
  );
  fake.networks.push({ Id: "local1", Name: "n", Scope: "local", Labels: {} });
  await assert.rejects(
    deploy(fake, "services: {s: {image: b, networks: [n]}}\nnetworks: {n: {external: true}}"),
    /network "n" is declared as external, but it is not in the right scope: "local" instead of "swarm"/,
  );
  assert.deepEqual(fake.writes, []);
});

test("stack rm removes services, then networks, then secrets; a stack with nothing says so", async () => {
  const fake = new FakeApi();
  await deploy(fake, APP("1"));
  const out: string[] = [];
  const err: string[] = [];
  const rm = () =>
    removeStack(
      fake.api,
      "app",
      (l) => out.push(l),
      (l) => err.push(l),
    );
  assert.ok(await rm());
  assert.deepEqual(out, [
    "Removing service app_api",
    "Removing service app_web",
    "Removing network app_default",
    "Removing secret app_pw",
  ]);
  assert.deepEqual([fake.services, fake.networks, fake.secrets], [[], [], []]);
  assert.ok(await rm());
  assert.deepEqual(err, ["Nothing found in stack: app"]);
});
