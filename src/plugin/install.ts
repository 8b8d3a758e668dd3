/**
 * The registry verbs of `docker plugin`: privileges (what a plugin would be allowed), install
 * (pull: fetched only once the grant matches what it asks), upgrade (a disabled plugin's root
 * and config replaced, its settings kept, the old root back if anything fails) and push.
 */
import { randomBytes } from "node:crypto";
import { renameSync, rmSync } from "node:fs";
import { InvalidArgument } from "../errors.js";
import { noProgress, type ProgressSink } from "../image/progress.js";
import { familiarString, formatReference, parseReference, type Reference } from "../image/reference.js";
import type { Credentials } from "../image/registry/credentials.js";
import { unmountUnder } from "../runtime/host-mounts.js";
import { type FetchedPlugin, fetchPlugin, fetchPluginHead, pushPlugin } from "./distribution.js";
import { PluginEnabled } from "./errors.js";
import type { PluginManager } from "./manager.js";
import { pluginName } from "./names.js";
import { checkPrivileges, requiredPrivileges } from "./privileges.js";
import { initialSettings } from "./settings.js";
import type { Plugin, PluginRecord, Privilege } from "./types.js";

/** `remote` as dockerd reads it: a tag (default latest) or a digest. */
function remoteReference(remote: string): Reference {
  if (!remote) throw new InvalidArgument("a remote reference is required (the remote query parameter)");
  return parseReference(remote, { defaultTag: true });
}

/** The local name a pulled plugin takes: `name` if given, else the remote's familiar name:tag. */
export function installName(remote: Reference, name: string | undefined): string {
  if (name) return pluginName(name);
  return familiarString({ domain: remote.domain, path: remote.path, tag: remote.tag ?? "latest" });
}

export async function remotePrivileges(
  m: PluginManager,
  remote: string,
  credentials?: Credentials,
): Promise<Privilege[]> {
  const ref = remoteReference(remote);
  const head = await fetchPluginHead(m.options.registry(ref.domain, credentials), ref);
  return requiredPrivileges(head.config);
}

/** Fetches the plugin into a fresh root, after the grant was checked; the caller adds or swaps it. */
async function fetchChecked(
  m: PluginManager,
  ref: Reference,
  granted: unknown,
  credentials: Credentials | undefined,
  emit: ProgressSink,
  leased: string[],
): Promise<{ fetched: FetchedPlugin; rootfs: string }> {
  const client = m.options.registry(ref.domain, credentials);
  const head = await fetchPluginHead(client, ref);
  checkPrivileges(requiredPrivileges(head.config), granted);
  const rootfs = await m.store.tempDir();
  try {
    emit({
      status: `Pulling from ${familiarString({ domain: ref.domain, path: ref.path })}`,
      id: ref.tag ?? ref.digest!,
    });
    const fetched = await fetchPlugin(
      m.store.blobs,
      client,
      ref,
      head,
      rootfs,
      (digest) => {
        leased.push(digest);
        m.store.leases.add(digest);
      },
      emit,
    );
    emit({ status: `Digest: ${fetched.manifestDigest}` });
    return { fetched, rootfs };
  } catch (err) {
    rmSync(rootfs, { recursive: true, force: true });
    throw err;
  }
}

async function releaseLeases(m: PluginManager, leased: string[]): Promise<void> {
  for (const d of leased) m.store.leases.delete(d);
  await m.store.gc().catch((err: Error) => m.options.log(`plugin blobs: ${err.message}`));
}

/** `POST /plugins/pull`: installs `remote` as `name` (disabled), if `granted` is what it asks. */
export async function pullPlugin(
  m: PluginManager,
  remote: string,
  name: string | undefined,
  granted: unknown,
  credentials?: Credentials,
  emit: ProgressSink = noProgress,
): Promise<Plugin> {
  const ref = remoteReference(remote);
  const local = installName(ref, name);
  m.store.checkNameFree(local);
  const leased: string[] = [];
  try {
    const { fetched, rootfs } = await fetchChecked(m, ref, granted, credentials, emit, leased);
    const record: PluginRecord = {
      plugin: {
        Id: randomBytes(32).toString("hex"),
        Name: local,
        Enabled: false,
        Settings: initialSettings(fetched.config),
        PluginReference: formatReference(ref),
        Config: fetched.config,
      },
      config: fetched.configDigest,
      blobsums: fetched.blobsums,
      manifest: fetched.manifestDigest,
    };
    try {
      await m.names.run(async () => m.store.add(record, rootfs));
    } catch (err) {
      rmSync(rootfs, { recursive: true, force: true });
      throw err;
    }
    emit({ status: `Status: Downloaded newer image for ${familiarString(ref)}` });
    m.options.event("install", record.plugin.Id, local);
    return record.plugin;
  } finally {
    await releaseLeases(m, leased);
  }
}

/** `POST /plugins/{name}/upgrade`: a disabled plugin gets the root and config of `remote`. */
export async function upgradePlugin(
  m: PluginManager,
  reference: string,
  remote: string,
  granted: unknown,
  credentials?: Credentials,
  emit: ProgressSink = noProgress,
): Promise<void> {
  const ref = remoteReference(remote);
  const { Id } = m.store.get(reference).plugin;
  const leased: string[] = [];
  try {
    await m.lock(Id, async () => {
      const r = m.current(Id, reference);
      if (r.plugin.Enabled)
        throw new PluginEnabled(r.plugin.Name, "plugin must be disabled before upgrading");
      const { fetched, rootfs } = await fetchChecked(m, ref, granted, credentials, emit, leased);
      const current = m.store.rootfs(Id);
      const backup = `${current}-old`;
      // Nothing of the old root may stay mounted (a plugin disabled with force while in use).
      unmountUnder(current);
      rmSync(backup, { recursive: true, force: true });
      renameSync(current, backup);
      const before = { ...r };
      try {
        renameSync(rootfs, current);
        m.store.save({
          ...r,
          plugin: { ...r.plugin, Config: fetched.config, PluginReference: formatReference(ref) },
          config: fetched.configDigest,
          blobsums: fetched.blobsums,
          manifest: fetched.manifestDigest,
        });
      } catch (err) {
        rmSync(current, { recursive: true, force: true });
        rmSync(rootfs, { recursive: true, force: true });
        renameSync(backup, current);
        m.store.save(before);
        throw err;
      }
      rmSync(backup, { recursive: true, force: true });
      emit({ status: `Status: Downloaded newer image for ${familiarString(ref)}` });
      m.options.event("upgrade", Id, r.plugin.Name);
    });
  } finally {
    await releaseLeases(m, leased);
  }
}

/** `POST /plugins/{name}/push`: to the registry its name names, under its tag. */
export async function pushPluginByName(
  m: PluginManager,
  reference: string,
  credentials?: Credentials,
  emit: ProgressSink = noProgress,
): Promise<{ digest: string; size: number }> {
  const r = m.store.get(reference);
  const ref = parseReference(r.plugin.Name, { defaultTag: true });
  return pushPlugin(m.store.blobs, m.options.registry(ref.domain, credentials), ref, r, emit);
}
