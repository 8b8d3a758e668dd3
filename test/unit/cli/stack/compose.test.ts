/**
 * Compose files for `berth stack deploy`: parsed, validated (with the path of the bad field) and
 * converted to the swarm objects docker's CLI makes of them.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadCompose, parseComposeText } from "../../../../src/cli/berth/stack/compose-file.js";
import { commandLine } from "../../../../src/cli/berth/stack/fields.js";
import { planStack, type StackPlan } from "../../../../src/cli/berth/stack/plan.js";
import { readRegularFile } from "../../../../src/cli/berth/stack/read-file.js";
import { sameServiceSpec } from "../../../../src/cli/berth/stack/same-spec.js";

const dir = mkdtempSync(join(tmpdir(), "berth-compose-"));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "db_pass.txt"), "s3cret");
writeFileSync(join(dir, "app.env"), "# settings\nA=1\n\nB=two words\nFROM_USER\n");
writeFileSync(join(dir, "nginx.conf"), "server {}\n");

const env: Record<string, string> = { TAG: "1.36", FROM_USER: "yes" };
const lookup = (n: string) => env[n];

function plan(text: string, ...more: string[]): StackPlan {
  const docs = [text, ...more].map((t, i) => parseComposeText(t, `f${i}.yml`));
  return planStack(loadCompose(docs, dir, lookup), "demo", { lookup, readFile: readRegularFile });
}

const service = (p: StackPlan, name: string) => p.services.find((s) => s.Name === `demo_${name}`)!;

const APP = `
version: "3.8"
services:
  web:
    image: busybox:\${TAG}
    command: httpd -f -p "8 0"
    entrypoint: ["/bin/sh", "-c"]
    ports:
      - "8080:80"
      - 53:53/udp
      - target: 443
        published: 8443
        mode: host
    environment:
      C: "$$HOME"
      D: null
      FROM_USER:
    env_file: app.env
    labels: [tier=front]
    healthcheck:
      test: wget -q localhost
      interval: 5s
      retries: 3
    stop_grace_period: 1m30s
    user: "1000"
    working_dir: /srv
    hostname: web-host
    deploy:
      replicas: "\${REPLICAS:-2}"
      labels: {owner: me}
      resources:
        limits: {cpus: "0.5", memory: 64M, pids: 100}
        reservations: {cpus: 0.25, memory: 32m}
      update_config: {parallelism: 2, delay: 10s, order: start-first, failure_action: rollback}
      rollback_config: {monitor: 5s}
      restart_policy: {condition: on-failure, delay: 1s, max_attempts: 3, window: 30s}
      placement:
        constraints: [node.role == manager]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 1
    networks:
      front:
        aliases: [www]
  api:
    image: busybox
    networks: [front, back]
    configs: [nginx]
    volumes: ["data:/data:ro", "./site:/site", "/scratch", {type: tmpfs, target: /tmp, tmpfs: {size: 1m}}]
  db:
    image: busybox
    secrets:
      - db_pass
      - source: db_pass
        target: again
        uid: "70"
        mode: 0400
    deploy:
      mode: global
      endpoint_mode: dnsrr
networks:
  front: {}
  back:
    driver_opts: {com.docker.network.driver.mtu: "1400"}
    ipam: {config: [{subnet: 10.99.0.0/24}]}
    attachable: true
    labels: {k: v}
volumes:
  data: {}
secrets:
  db_pass: {file: ./db_pass.txt}
configs:
  nginx: {file: ./nginx.conf}
`;

test("a compose v3 file becomes docker's objects: names, stack labels, networks, secrets, configs", () => {
  const p = plan(APP);
  assert.deepEqual(
    p.services.map((s) => s.Name),
    ["demo_api", "demo_db", "demo_web"],
  );
  for (const s of p.services) {
    assert.equal(s.Labels!["com.docker.stack.namespace"], "demo");
    assert.equal(s.TaskTemplate.ContainerSpec.Labels!["com.docker.stack.namespace"], "demo");
    assert.equal(s.Labels!["com.docker.stack.image"], s.TaskTemplate.ContainerSpec.Image);
  }
  assert.deepEqual(
    p.networks.map((n) => [n.name, n.external]),
    [
      ["demo_back", false],
      ["demo_default", false],
      ["demo_front", false],
    ],
  );
  assert.deepEqual(p.networks[0]!.create, {
    Name: "demo_back",
    Driver: "overlay",
    Options: { "com.docker.network.driver.mtu": "1400" },
    Internal: false,
    Attachable: true,
    Labels: { k: "v", "com.docker.stack.namespace": "demo" },
    IPAM: { Driver: "default", Config: [{ Subnet: "10.99.0.0/24" }] },
  });
  assert.equal(p.secrets[0]!.name, "demo_db_pass");
  assert.equal(p.secrets[0]!.data!.toString(), "s3cret");
  assert.deepEqual(p.secrets[0]!.labels, { "com.docker.stack.namespace": "demo" });
  assert.equal(p.configs[0]!.name, "demo_nginx");
});

test("a service's fields are converted as docker's stack deploy converts them", () => {
  const web = service(plan(APP), "web");
  const c = web.TaskTemplate.ContainerSpec;
  assert.equal(c.Image, "busybox:1.36");
  assert.deepEqual(c.Args, ["httpd", "-f", "-p", "8 0"]);
  assert.deepEqual(c.Command, ["/bin/sh", "-c"]);
  assert.deepEqual(c.Env, ["A=1", "B=two words", "C=$HOME", "D", "FROM_USER=yes"]);
  assert.deepEqual(c.Labels, { tier: "front", "com.docker.stack.namespace": "demo" });
  assert.deepEqual(c.Healthcheck, { Test: ["CMD-SHELL", "wget -q localhost"], Interval: 5e9, Retries: 3 });
  assert.equal(c.StopGracePeriod, 90e9);
  assert.equal(c.User, "1000");
  assert.equal(c.Dir, "/srv");
  assert.equal(c.Hostname, "web-host");
  assert.deepEqual(web.Labels, {
    owner: "me",
    "com.docker.stack.namespace": "demo",
    "com.docker.stack.image": "busybox:1.36",
  });
  assert.deepEqual(web.Mode, { Replicated: { Replicas: 2 } });
  assert.deepEqual(web.TaskTemplate.Resources, {
    Limits: { NanoCPUs: 5e8, MemoryBytes: 64 * 1024 * 1024, Pids: 100 },
    Reservations: { NanoCPUs: 2.5e8, MemoryBytes: 32 * 1024 * 1024 },
  });
  assert.deepEqual(web.UpdateConfig, {
    Parallelism: 2,
    Delay: 10e9,
    FailureAction: "rollback",
    Order: "start-first",
  });
  assert.deepEqual(web.RollbackConfig, { Parallelism: 1, Monitor: 5e9 });
  assert.deepEqual(web.TaskTemplate.RestartPolicy, {
    Condition: "on-failure",
    Delay: 1e9,
    MaxAttempts: 3,
    Window: 30e9,
  });
  assert.deepEqual(web.TaskTemplate.Placement, {
    Constraints: ["node.role == manager"],
    Preferences: [{ Spread: { SpreadDescriptor: "node.labels.zone" } }],
    MaxReplicas: 1,
  });
  assert.deepEqual(web.TaskTemplate.Networks, [{ Target: "demo_front", Aliases: ["www", "web"] }]);
  assert.deepEqual(web.EndpointSpec, {
    Mode: "vip",
    Ports: [
      { Protocol: "udp", TargetPort: 53, PublishedPort: 53, PublishMode: "ingress" },
      { Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress" },
      { Protocol: "tcp", TargetPort: 443, PublishedPort: 8443, PublishMode: "host" },
    ],
  });
});

test("mounts, networks by default, secrets with targets and modes, global dnsrr services", () => {
  const p = plan(APP);
  const api = service(p, "api");
  assert.deepEqual(api.TaskTemplate.ContainerSpec.Mounts, [
    {
      Type: "volume",
      Source: "demo_data",
      Target: "/data",
      ReadOnly: true,
      VolumeOptions: { Labels: { "com.docker.stack.namespace": "demo" } },
    },
    { Type: "bind", Source: join(dir, "site"), Target: "/site", ReadOnly: false },
    { Type: "volume", Target: "/scratch", ReadOnly: false },
    { Type: "tmpfs", Target: "/tmp", ReadOnly: false, TmpfsOptions: { SizeBytes: 1024 * 1024 } },
  ]);
  assert.deepEqual(
    api.TaskTemplate.Networks!.map((n) => n.Target),
    ["demo_back", "demo_front"],
  );
  assert.deepEqual(api.TaskTemplate.ContainerSpec.Configs, [
    { File: { Name: "nginx", UID: "0", GID: "0", Mode: 0o444 }, ConfigName: "demo_nginx" },
  ]);
  const db = service(p, "db");
  assert.deepEqual(db.TaskTemplate.Networks, [{ Target: "demo_default", Aliases: ["db"] }]);
  assert.deepEqual(db.Mode, { Global: {} });
  assert.equal(db.EndpointSpec!.Mode, "dnsrr");
  assert.deepEqual(db.TaskTemplate.ContainerSpec.Secrets, [
    { File: { Name: "db_pass", UID: "0", GID: "0", Mode: 0o444 }, SecretName: "demo_db_pass" },
    { File: { Name: "again", UID: "70", GID: "0", Mode: 0o400 }, SecretName: "demo_db_pass" },
  ]);
});

test("external networks and secrets keep their own names and are not made by the stack", () => {
  const p = plan(`
version: "3.4"
services:
  s: {image: busybox, networks: [shared], secrets: [token]}
networks:
  shared: {external: true}
secrets:
  token: {external: {name: real-token}}
x-common: {anything: goes}
`);
  assert.deepEqual(p.networks, [{ name: "shared", external: true }]);
  assert.deepEqual(p.secrets, [{ name: "real-token", external: true, labels: {} }]);
  assert.equal(service(p, "s").TaskTemplate.ContainerSpec.Secrets![0]!.SecretName, "real-token");
});

test("a second file overrides the first key by key", () => {
  const p = plan(APP, `services:\n  web:\n    image: busybox:2\n    deploy: {replicas: 5}\n`);
  const web = service(p, "web");
  assert.equal(web.TaskTemplate.ContainerSpec.Image, "busybox:2");
  assert.deepEqual(web.Mode, { Replicated: { Replicas: 5 } });
  assert.equal(web.UpdateConfig!.Parallelism, 2, "the rest of deploy is kept");
});

test("short port syntax: ranges, a target alone (published by the swarm), a host address dropped", () => {
  const ports = service(
    plan(`services:\n  s:\n    image: b\n    ports: ["9000-9001:90-91", "80", "127.0.0.1:81:81/tcp", 82]\n`),
    "s",
  ).EndpointSpec!.Ports;
  assert.deepEqual(ports, [
    { Protocol: "tcp", TargetPort: 80, PublishMode: "ingress" },
    { Protocol: "tcp", TargetPort: 81, PublishedPort: 81, PublishMode: "ingress" },
    { Protocol: "tcp", TargetPort: 82, PublishMode: "ingress" },
    { Protocol: "tcp", TargetPort: 90, PublishedPort: 9000, PublishMode: "ingress" },
    { Protocol: "tcp", TargetPort: 91, PublishedPort: 9001, PublishMode: "ingress" },
  ]);
});

/** Each bad file and the error it must give: the path of the bad field and what is wrong. */
const BAD: Array<[string, string, RegExp]> = [
  [
    "an unknown version",
    `version: "2.1"\nservices: {s: {image: b}}`,
    /version "2\.1" is not supported.*3\.x/,
  ],
  ["a version that is not a string", `version: 3.8\nservices: {s: {image: b}}`, /version must be a string/],
  ["an unknown top-level key", `services: {s: {image: b}}\nextras: {}`, /extras is not allowed/],
  ["no services", `version: "3"\nservices: {}`, /services must name at least one service/],
  ["services not a mapping", `services: [a, b]`, /services must be a mapping/],
  ["a service without image", `services: {s: {command: ls}}`, /services\.s has no image/],
  [
    "build without image",
    `services: {s: {build: .}}`,
    /services\.s has build but no image: stack deploy does not build/,
  ],
  ["an unknown service key", `services: {s: {image: b, colour: red}}`, /services\.s\.colour is not allowed/],
  ["image of the wrong type", `services: {s: {image: [b]}}`, /services\.s\.image must be a string/],
  [
    "replicas not a number",
    `services: {s: {image: b, deploy: {replicas: lots}}}`,
    /services\.s\.deploy\.replicas must be an integer/,
  ],
  [
    "negative replicas",
    `services: {s: {image: b, deploy: {replicas: -1}}}`,
    /services\.s\.deploy\.replicas must be 0 or more/,
  ],
  [
    "replicas with global",
    `services: {s: {image: b, deploy: {mode: global, replicas: 2}}}`,
    /deploy\.replicas can only be used with replicated mode/,
  ],
  [
    "an unknown mode",
    `services: {s: {image: b, deploy: {mode: everywhere}}}`,
    /deploy\.mode must be one of replicated, global/,
  ],
  [
    "an unknown deploy key",
    `services: {s: {image: b, deploy: {replica: 2}}}`,
    /services\.s\.deploy\.replica is not allowed/,
  ],
  [
    "a bad duration",
    `services: {s: {image: b, stop_grace_period: 10}}`,
    /services\.s\.stop_grace_period must be a duration string/,
  ],
  [
    "a duration without unit",
    `services: {s: {image: b, deploy: {update_config: {delay: "10"}}}}`,
    /update_config\.delay is not a duration/,
  ],
  [
    "a bad byte size",
    `services: {s: {image: b, deploy: {resources: {limits: {memory: lots}}}}}`,
    /limits\.memory is not a byte size/,
  ],
  [
    "bad cpus",
    `services: {s: {image: b, deploy: {resources: {limits: {cpus: half}}}}}`,
    /limits\.cpus must be a number/,
  ],
  [
    "a port out of range",
    `services: {s: {image: b, ports: ["70000:80"]}}`,
    /services\.s\.ports\.0 has an invalid port "70000:80"/,
  ],
  [
    "a port that is not a number",
    `services: {s: {image: b, ports: ["http"]}}`,
    /ports\.0 has an invalid port/,
  ],
  ["a bad protocol", `services: {s: {image: b, ports: ["80/icmp"]}}`, /ports\.0 has an invalid protocol/],
  [
    "a long port without target",
    `services: {s: {image: b, ports: [{published: 80}]}}`,
    /ports\.0\.target is required/,
  ],
  [
    "a bad port mode",
    `services: {s: {image: b, ports: [{target: 80, mode: local}]}}`,
    /ports\.0\.mode must be one of ingress, host/,
  ],
  [
    "a port published twice",
    `services: {s: {image: b, ports: ["80:80", "80:81"]}}`,
    /publishes port 80\/tcp twice/,
  ],
  [
    "an undefined network",
    `services: {s: {image: b, networks: [nope]}}`,
    /services\.s\.networks names network "nope", which is not defined/,
  ],
  [
    "an undefined secret",
    `services: {s: {image: b, secrets: [nope]}}`,
    /services\.s\.secrets\.0 names secret "nope", which is not defined/,
  ],
  [
    "an undefined config",
    `services: {s: {image: b, configs: [{source: nope}]}}`,
    /configs\.0 names config "nope"/,
  ],
  [
    "an undefined volume",
    `services: {s: {image: b, volumes: ["nope:/data"]}}`,
    /volumes\.0 names volume "nope"/,
  ],
  [
    "a relative mount target",
    `services: {s: {image: b, volumes: ["/a:data"]}}`,
    /target "data" must be an absolute path/,
  ],
  ["a bad volume mode", `services: {s: {image: b, volumes: ["/a:/b:rx"]}}`, /unknown mode "rx"/],
  [
    "a secret without file",
    `services: {s: {image: b}}\nsecrets: {x: {labels: {a: b}}}`,
    /secrets\.x needs file/,
  ],
  [
    "an external secret with a file",
    `services: {s: {image: b}}\nsecrets: {x: {external: true, file: ./a}}`,
    /secrets\.x\.file conflicts with external/,
  ],
  [
    "a missing secret file",
    `services: {s: {image: b}}\nsecrets: {x: {file: ./missing}}`,
    /secrets\.x\.file names .*missing, which cannot be read: ENOENT/,
  ],
  [
    "a bridge network in a stack",
    `services: {s: {image: b, networks: [n]}}\nnetworks: {n: {driver: bridge}}`,
    /networks\.n\.driver "bridge" cannot span a swarm/,
  ],
  [
    "a required variable",
    `services: {s: {image: "b:\${NOPE:?give a tag}"}}`,
    /services\.s\.image needs the variable NOPE.*give a tag/,
  ],
  [
    "a bad interpolation",
    `services: {s: {image: "b:\${"}}`,
    /services\.s\.image has an invalid interpolation format/,
  ],
  [
    "an unterminated quote",
    `services: {s: {image: b, command: "echo 'hi"}}`,
    /services\.s\.command has an unterminated ' quote/,
  ],
  [
    "a bad restart",
    `services: {s: {image: b, restart: sometimes}}`,
    /services\.s\.restart "sometimes" is not/,
  ],
  [
    "environment of the wrong type",
    `services: {s: {image: b, environment: 3}}`,
    /services\.s\.environment must be a mapping or a list/,
  ],
  [
    "a healthcheck with test and disable",
    `services: {s: {image: b, healthcheck: {test: ls, disable: true}}}`,
    /healthcheck sets both test and disable/,
  ],
  [
    "an ingress port with dnsrr",
    `services: {s: {image: b, ports: ["80:80"], deploy: {endpoint_mode: dnsrr}}}`,
    /needs endpoint_mode vip/,
  ],
  [
    "a static address",
    `services: {s: {image: b, networks: {n: {ipv4_address: 10.0.0.2}}}}\nnetworks: {n: {}}`,
    /static address/,
  ],
  ["YAML that does not parse", `services: {s: {image: b}`, /f0\.yml is not valid YAML/],
  [
    "nesting deep enough to exhaust the stack",
    `services: {s: {image: b, x-deep: ${"[".repeat(5000)}${"]".repeat(5000)}}}`,
    /is not valid YAML/,
  ],
  ["a top level that is a list", `- a\n- b`, /must hold a mapping at its top level/],
];

for (const [what, text, error] of BAD)
  test(`refused: ${what}`, () => {
    assert.throws(() => plan(text), error);
  });

test("a secret, config or env_file that is not a regular file is refused before it is read", () => {
  mkdirSync(join(dir, "adir"));
  execFileSync("mkfifo", [join(dir, "fifo")]);
  symlinkSync("/dev/zero", join(dir, "zero"));
  for (const target of ["adir", "fifo", "zero"]) {
    assert.throws(
      () => plan(`services: {s: {image: b}}\nsecrets: {x: {file: ./${target}}}`),
      /secrets\.x\.file names .* which is not a regular file/,
    );
    assert.throws(
      () => plan(`services: {s: {image: b, env_file: ${target}}}`),
      /services\.s\.env_file names .* which is not a regular file/,
    );
  }
  writeFileSync(join(dir, "big"), Buffer.alloc(600 * 1024));
  assert.throws(() => plan(`services: {s: {image: b}}\nconfigs: {x: {file: ./big}}`), /larger than 500 KiB/);
});

test("a stack name that could not prefix a service is refused", () => {
  const project = loadCompose([parseComposeText("services: {s: {image: b}}", "f")], dir, lookup);
  for (const bad of ["", "-x", "a b", "a/b", "x".repeat(51)])
    assert.throws(() => planStack(project, bad, { lookup, readFile: readRegularFile }), /invalid stack name/);
});

test("command strings are split as a shell splits words, without expansion", () => {
  assert.deepEqual(commandLine(`sh -c 'echo "a b"; exit 0' x\\ y "q\\"t"`, "c"), [
    "sh",
    "-c",
    'echo "a b"; exit 0',
    "x y",
    'q"t',
  ]);
  assert.deepEqual(commandLine(`a '' b`, "c"), ["a", "", "b"]);
});

test("a spec as the manager stores it compares equal to the one a deploy would send; a change does not", () => {
  const wanted = service(plan(APP), "web");
  const stored = structuredClone(wanted);
  stored.TaskTemplate.ForceUpdate = 0;
  stored.TaskTemplate.Runtime = "container";
  stored.Labels = { ...stored.Labels };
  stored.TaskTemplate.ContainerSpec.ReadOnly = false;
  assert.ok(sameServiceSpec(stored, wanted));
  const changed = structuredClone(wanted);
  changed.TaskTemplate.ContainerSpec.Env = [...changed.TaskTemplate.ContainerSpec.Env!, "NEW=1"];
  assert.ok(!sameServiceSpec(stored, changed));
  const scaled = structuredClone(wanted);
  scaled.Mode = { Replicated: { Replicas: 3 } };
  assert.ok(!sameServiceSpec(stored, scaled));
  const unlabelled = structuredClone(wanted);
  delete unlabelled.Labels!["owner"];
  assert.ok(!sameServiceSpec(stored, unlabelled), "a label removed is a change");
});

test("YAML as docker reads it: a leading 0 is octal, yes and n are strings; alias bombs are refused", () => {
  const p = plan(
    `services:\n  s:\n    image: b\n    networks: [n]\n    secrets: [{source: x, mode: 0440}]\n    labels: {on: yes}\nnetworks: {n: {}}\nsecrets: {x: {file: ./db_pass.txt}}\n`,
  );
  const s = service(p, "s");
  assert.equal(s.TaskTemplate.ContainerSpec.Secrets![0]!.File!.Mode, 0o440);
  assert.equal(s.TaskTemplate.ContainerSpec.Labels!["on"], "yes");
  assert.equal(s.TaskTemplate.Networks![0]!.Target, "demo_n");
  const laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 12; i++)
    laughs.push(
      `${"abcdefghijklmnop"[i]}: &${"abcdefghijklmnop"[i]} [${Array(10)
        .fill(`*${"abcdefghijklmnop"[i - 1]}`)
        .join(", ")}]`,
    );
  assert.throws(() => plan(`${laughs.join("\n")}\nservices: {s: {image: b}}\n`), /is not valid YAML/);
});
