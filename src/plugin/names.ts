/**
 * Plugin names are image references, normalised as dockerd does (daemon/pkg/plugin/store.go):
 * the familiar form with a tag, `docker-sdk-py/dummy` → `docker-sdk-py/dummy:latest`; never a
 * digest. A plugin is found by its full id, its name, or an id prefix that only it has.
 */
import { InvalidReference } from "../image/errors.js";
import { familiarString, parseReference } from "../image/reference.js";
import { AmbiguousPlugin, NoSuchPlugin } from "./errors.js";

const FULL_ID = /^[a-f0-9]{64}$/;

/** The stored name of a plugin the user names `text`; throws InvalidReference for a bad one. */
export function pluginName(text: string): string {
  const ref = parseReference(text, { defaultTag: true });
  // dockerd: "canonical references are not permitted": a digest names content, not a plugin.
  if (ref.digest) throw new InvalidReference(`invalid plugin name "${text}": a plugin name has no digest`);
  return familiarString(ref);
}

export function isFullPluginId(text: string): boolean {
  return FULL_ID.test(text);
}

/** The plugin `reference` names among `plugins`: full id, name (normalised), or unique id prefix. */
export function findPlugin<T extends { Id: string; Name: string }>(
  plugins: Iterable<T>,
  reference: string,
): T {
  const all = [...plugins];
  if (isFullPluginId(reference)) {
    const byId = all.find((p) => p.Id === reference);
    if (byId) return byId;
  }
  const name = normalisedOrUndefined(reference);
  if (name !== undefined) {
    const byName = all.find((p) => p.Name === name);
    if (byName) return byName;
  }
  const byPrefix = reference ? all.filter((p) => p.Id.startsWith(reference)) : [];
  if (byPrefix.length > 1) throw new AmbiguousPlugin(reference);
  if (byPrefix.length === 1) return byPrefix[0]!;
  throw new NoSuchPlugin(reference);
}

/** A reference's normalised name, or undefined when it is not a name (an id prefix, a digest). */
function normalisedOrUndefined(reference: string): string | undefined {
  try {
    const ref = parseReference(reference, { defaultTag: true });
    return ref.digest ? undefined : familiarString(ref);
  } catch {
    return undefined;
  }
}
