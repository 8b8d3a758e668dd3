/**
 * The daemon API calls the console passes on: what its views need and nothing more (no build,
 * no archive upload, no plugin install, no swarm join). A path is matched whole, with ids held to
 * the characters ids and names use, so that nothing like "..", "%2f" or a second path can slip
 * through to another route of the daemon.
 */
const ID = "[A-Za-z0-9][A-Za-z0-9_.-]{0,127}";
/** Image references: registry/name:tag, name@sha256:…, sha256:…; ".." is refused separately. */
const IMAGE = "[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,255}";

const ROUTES: Record<string, string[]> = {
  GET: [
    "/_ping",
    "/version",
    "/info",
    "/events",
    "/containers/json",
    `/containers/${ID}/json`,
    `/containers/${ID}/stats`,
    `/containers/${ID}/logs`,
    `/exec/${ID}/json`,
    "/images/json",
    `/images/${IMAGE}/json`,
    `/images/${IMAGE}/history`,
    "/volumes",
    "/networks",
    `/networks/${ID}`,
    "/swarm",
    "/nodes",
    `/nodes/${ID}`,
    "/services",
    `/services/${ID}`,
    "/tasks",
  ],
  POST: [
    "/containers/create",
    `/containers/${ID}/(?:start|stop|restart)`,
    `/containers/${ID}/exec`,
    `/exec/${ID}/resize`,
    `/services/${ID}/update`,
    `/nodes/${ID}/update`,
  ],
  DELETE: [`/containers/${ID}`],
};

const PATTERNS = Object.fromEntries(
  Object.entries(ROUTES).map(([method, paths]) => [method, new RegExp(`^(?:${paths.join("|")})$`)]),
);

/** Whether the console passes `method path` (the daemon's path, without query) on. */
export function proxied(method: string, path: string): boolean {
  if (path.includes("..") || path.includes("//")) return false;
  return PATTERNS[method]?.test(path) ?? false;
}
