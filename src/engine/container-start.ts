/**
 * `POST /containers/{id}/start`: the snapshot, volumes, network and /etc files, the OCI spec,
 * then the runtime — the sequence a reader should see in one place:
 *   snapshot → volumes → user → network → driver volumes → spec → runtime.create → attach →
 *   runtime.start → watch
 */
import { chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Conflict, InvalidArgument } from "../errors.js";
import type { LinuxDevice, Mount as OciMount } from "../oci/runtime-spec.js";
import { connectMonitor, type FrameChannel } from "../runtime/native/channel.js";
import { Msg } from "../runtime/native/protocol.js";
import type { Mount } from "../snapshot/snapshotter.js";
import { nativeBinary } from "../util/native.js";
import { parseBytes } from "../util/units.js";
import { watchContainer } from "./container-exit.js";
import { containerSpec, INIT_PATH } from "./container-spec.js";
import type { ContainerRecord } from "./docker-types.js";
import type { Engine } from "./engine.js";
import { defaultHosts, hostResolvConf } from "./etc-files.js";
import { startHealthcheck } from "./health.js";
import { hostDevice, hostDevices } from "./host-devices.js";
import { fillVolume, readLayeredFiles } from "./layers.js";
import { linkEnv, linkedAddress, parseLink } from "./links.js";
import { ociMounts } from "./mounts.js";
import { resolveUser } from "./user.js";
import { remappedRoot, type UsernsRemap } from "./userns-remap.js";
import { mountDriverVolumes, unmountDriverVolumes } from "./volume-mounts.js";

export interface Attacher {
  /** ATTACH_* flags for the monitor. */
  flags: number;
  /** Gets the monitor channel once the process exists (before it runs), or an error. */
  ready(channel: FrameChannel | Error): void;
}

/** Clients waiting in `POST /attach` for a container that has not started yet. */
const pending = new Map<string, Attacher[]>();

export function addPendingAttacher(id: string, a: Attacher): () => void {
  const list = pending.get(id) ?? [];
  list.push(a);
  pending.set(id, list);
  return () =>
    pending.set(
      id,
      (pending.get(id) ?? []).filter((x) => x !== a),
    );
}

function takePendingAttachers(id: string): Attacher[] {
  const list = pending.get(id) ?? [];
  pending.delete(id);
  return list;
}

export async function attachToMonitor(socket: string, flags: number): Promise<FrameChannel> {
  const channel = await connectMonitor(socket);
  const payload = Buffer.alloc(4);
  payload.writeUInt32LE(flags);
  channel.send(Msg.ATTACH, payload);
  const reply = await channel.next();
  if (reply.type !== Msg.OK) throw new Error("the monitor refused the attach");
  return channel;
}

/**
 * The container's writable snapshot, made at its first use. After a crash the record may not
 * know that it was made: the snapshotter does. `persist` saves the record at once; start saves
 * it with the state that follows.
 */
export async function snapshotMounts(
  engine: Engine,
  record: ContainerRecord,
  persist: boolean,
): Promise<Mount[]> {
  if (record.Berth.snapshotPrepared) return engine.snapshotter.mounts(record.Id);
  const mounts = (await engine.snapshotter.stat(record.Id))
    ? await engine.snapshotter.mounts(record.Id)
    : await engine.snapshotter.prepare(record.Id, record.Berth.chainId || undefined, {
        container: record.Id,
      });
  record.Berth.snapshotPrepared = true;
  if (persist) engine.save(record);
  return mounts;
}

/** The network namespace to join and the /etc files, by network mode. */
async function network(
  engine: Engine,
  record: ContainerRecord,
): Promise<{
  netnsPath: string | undefined;
  newNetns: boolean;
  hosts: string;
  resolvConf: string;
  linkEnv?: string[];
}> {
  const hc = record.HostConfig;
  const mode = hc.NetworkMode || "default";
  const extraHosts = [...(hc.ExtraHosts ?? [])];
  // Legacy links on the default bridge: the linked containers' addresses, by alias and name.
  const envFromLinks: string[] = [];
  if (mode === "default" || mode === "bridge")
    for (const text of hc.Links ?? []) {
      const self = record.Name.slice(1);
      const link = parseLink(text);
      const target = engine.store.get(link.target);
      const ip = linkedAddress(self, link, target);
      extraHosts.push(`${link.alias}:${ip}`, `${link.target}:${ip}`);
      envFromLinks.push(...linkEnv(self, link.alias, target, ip));
    }
  if (mode === "host") {
    return {
      netnsPath: undefined,
      newNetns: false,
      hosts: readFileSync("/etc/hosts", "utf8"),
      resolvConf: hostResolvConf(hc),
    };
  }
  if (mode === "none")
    return {
      netnsPath: undefined,
      newNetns: true,
      hosts: defaultHosts(record, [], extraHosts),
      resolvConf: hostResolvConf(hc),
    };
  if (mode.startsWith("container:")) {
    const other = engine.store.get(mode.slice("container:".length));
    if (!other.State.Running)
      throw new Conflict(`cannot join network of a non running container: ${other.Id}`);
    const otherDir = engine.containerDir(other.Id);
    return {
      netnsPath: `/proc/${other.State.Pid}/ns/net`,
      newNetns: false,
      hosts: readFileSync(join(otherDir, "hosts"), "utf8"),
      resolvConf: readFileSync(join(otherDir, "resolv.conf"), "utf8"),
    };
  }
  if (!engine.network) throw new InvalidArgument(`network ${mode === "default" ? "bridge" : mode} not found`);
  const attachment = await engine.network.attach({
    containerId: record.Id,
    name: record.Name,
    hostname: record.Config.Hostname,
    domainname: record.Config.Domainname,
    networkMode: mode,
    endpoints: record.Berth.networkingConfig,
    portBindings: hc.PortBindings ?? {},
    publishAllPorts: hc.PublishAllPorts,
    exposedPorts: Object.keys(record.Config.ExposedPorts ?? {}),
    dns: hc.Dns ?? [],
    dnsSearch: hc.DnsSearch ?? [],
    dnsOptions: hc.DnsOptions ?? [],
    extraHosts,
    labels: record.Config.Labels ?? {},
  });
  record.NetworkSettings = attachment.settings;
  return {
    netnsPath: attachment.netnsPath,
    newNetns: false,
    linkEnv: envFromLinks,
    hosts: attachment.hosts,
    resolvConf: attachment.resolvConf,
  };
}

/**
 * A remapped container's root must reach its directory (0710: the group may search it) and may
 * write its /etc files, as docker lets it.
 */
function giveToRemappedRoot(dir: string, remap: UsernsRemap): void {
  const { uid, gid } = remappedRoot(remap);
  chownSync(dir, 0, gid);
  for (const f of ["hostname", "hosts", "resolv.conf"]) chownSync(join(dir, f), uid, gid);
}

function etcMounts(dir: string): OciMount[] {
  return ["resolv.conf", "hostname", "hosts"].map((f) => ({
    destination: `/etc/${f}`,
    type: "bind",
    source: join(dir, f),
    options: ["rbind", "rprivate"],
  }));
}

export async function startContainer(engine: Engine, record: ContainerRecord): Promise<void> {
  if (record.State.Paused) throw new Conflict("cannot start a paused container, try unpause instead");
  if (record.State.Running) return;
  const dir = engine.containerDir(record.Id);
  mkdirSync(dir, { recursive: true, mode: 0o710 });
  const mounts = await snapshotMounts(engine, record, false);
  for (const m of record.Berth.mounts)
    if (m.Type === "volume" && !m.NoCopy && m.Name) {
      const volume = engine.volumes.get(m.Name);
      if (engine.volumes.isEmpty(volume)) await fillVolume(mounts, m.Destination, volume.Mountpoint);
    }
  const [passwd, group] = await readLayeredFiles(mounts, ["/etc/passwd", "/etc/group"]);
  const user = resolveUser(record.Config.User, record.HostConfig.GroupAdd ?? [], passwd, group);
  const net = await network(engine, record);
  const userns = engine.usernsFor(record);
  try {
    await mountDriverVolumes(engine, record);
    writeFileSync(join(dir, "hostname"), `${record.Config.Hostname}\n`);
    writeFileSync(join(dir, "hosts"), net.hosts);
    writeFileSync(join(dir, "resolv.conf"), net.resolvConf);
    if (userns) giveToRemappedRoot(dir, userns.remap);
    record.HostnamePath = join(dir, "hostname");
    record.HostsPath = join(dir, "hosts");
    record.ResolvConfPath = join(dir, "resolv.conf");
    record.LogPath = join(dir, `${record.Id}-json.log`);
    const spec = containerSpec({
      record,
      ...(net.linkEnv?.length ? { linkEnv: net.linkEnv } : {}),
      user,
      rootfs: engine.rootfsMountpoint(),
      netnsPath: net.netnsPath,
      mounts: [...ociMounts(record.Berth.mounts), ...etcMounts(dir)].map((m) =>
        userns ? userns.views.bindMount(m) : m,
      ),
      ...(userns ? { idMaps: userns.remap } : {}),
      cgroupsPath: engine.containerCgroupsPath(record),
      seccomp: (caps) => engine.seccompFor(caps),
      initBinary: nativeBinary("berth-init"),
      hostDevice: (p): LinuxDevice | undefined => hostDevice(p),
      hostDevices,
    });
    if (net.newNetns) spec.linux!.namespaces!.push({ type: "network" });
    const rootfsMount = userns ? userns.views.rootfsMount(mounts[0]!) : mounts[0]!;
    const logOpts = record.HostConfig.LogConfig?.Config ?? {};
    const created = await engine.runtime.create(record.Id, {
      bundle: dir,
      spec,
      stdio: "pipes",
      stdinOpen: record.Config.OpenStdin,
      log: {
        // The "none" driver: the monitor still relays the output, and keeps none of it.
        path: record.HostConfig.LogConfig.Type === "none" ? "/dev/null" : record.LogPath,
        maxSize: logOpts["max-size"]
          ? parseBytes(logOpts["max-size"], "max-size")
          : (engine.options.logMaxSize ?? 0),
        maxFiles: Number(logOpts["max-file"] ?? engine.options.logMaxFiles ?? 1),
      },
      rootfsMount: {
        type: rootfsMount.type,
        source: rootfsMount.source,
        options: rootfsMount.options,
        ...(rootfsMount.cwd ? { cwd: rootfsMount.cwd } : {}),
      },
      ensureDirectories: [
        record.Config.WorkingDir || "/",
        ...(record.HostConfig.Init ? [INIT_PATH.slice(0, INIT_PATH.lastIndexOf("/"))] : []),
      ],
      keepChannel: true,
    });
    for (const a of takePendingAttachers(record.Id)) {
      try {
        a.ready(await attachToMonitor(engine.runtime.ctx.dir.controlSocket(record.Id), a.flags));
      } catch (err) {
        a.ready(err as Error);
      }
    }
    await engine.runtime.start(record.Id, created.channel);
    record.State = {
      ...record.State,
      Status: "running",
      Running: true,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: created.pid,
      ExitCode: 0,
      Error: "",
      StartedAt: new Date().toISOString(),
    };
    // Running is a fact of this boot (not synced); clearing a stop is the user's, and is.
    const wasStopped = record.Berth.manuallyStopped;
    record.Berth.manuallyStopped = false;
    engine.save(record, { durable: wasStopped });
    watchContainer(engine, record, created.channel!);
    startHealthcheck(engine, record);
    engine.events.container(record, "start");
  } catch (err) {
    if (engine.network && !net.netnsPath?.startsWith("/proc/"))
      await engine.network.detach(record.Id).catch(() => {});
    await engine.runtime.delete(record.Id, true).catch(() => {});
    await unmountDriverVolumes(engine, record);
    record.State.Error = (err as Error).message;
    record.State.ExitCode = 128;
    engine.save(record, { durable: false });
    throw err;
  }
}
