/**
 * The swarm-mode endpoints while this node is in no swarm: each answers as dockerd does there,
 * 503 with its words (clients such as docker-py's tests tell "no swarm" by them), after the
 * checks of its parameters that dockerd makes first. Swarm mode itself is the cluster issue's.
 */
import { type ApiServer, HttpError, type Request } from "../server.js";

const NOT_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const NOT_IN_SWARM = "This node is not part of a swarm";

/** What `info` says of swarm mode on a node in no swarm. */
export const NO_SWARM_INFO = {
  NodeID: "",
  NodeAddr: "",
  LocalNodeState: "inactive",
  ControlAvailable: false,
  Error: "",
  RemoteManagers: null,
};

const notManager = (): never => {
  throw new HttpError(503, NOT_MANAGER);
};

/** An update's `version` query: dockerd parses it before anything else. */
function version(kind: string): (req: Request) => never {
  return (req) => {
    const v = req.query.get("version") ?? "";
    if (!/^\d+$/.test(v))
      throw new HttpError(
        400,
        kind === "secret" || kind === "config"
          ? `invalid ${kind} version`
          : `invalid ${kind} version '${v}': strconv.ParseUint: parsing "${v}": invalid syntax`,
      );
    return notManager();
  };
}

/** Service and task logs: dockerd wants a stream chosen before it looks for the swarm. */
function logs(req: Request): never {
  const chosen = (name: string) => ["1", "true"].includes(req.query.get(name)?.toLowerCase() ?? "");
  if (!chosen("stdout") && !chosen("stderr"))
    throw new HttpError(500, "Bad parameters: you must choose at least one stream");
  return notManager();
}

export function swarmRoutes(api: ApiServer): void {
  api.route("GET", "/swarm", notManager);
  api.route("GET", "/swarm/unlockkey", notManager);
  api.route("POST", "/swarm/unlock", notManager);
  api.route("POST", "/swarm/update", version("swarm"));
  api.route("POST", "/swarm/leave", () => {
    throw new HttpError(503, NOT_IN_SWARM);
  });
  for (const verb of ["init", "join"])
    api.route("POST", `/swarm/${verb}`, () => {
      throw new HttpError(503, `swarm ${verb}: swarm mode is not available in this version of Berth`);
    });
  for (const kind of ["node", "service", "task", "secret", "config"]) {
    const base = `/${kind}s`;
    api.route("GET", base, notManager);
    api.route("GET", `${base}/{id}`, notManager);
    if (kind === "task") continue;
    api.route("DELETE", `${base}/{id}`, notManager);
    api.route("POST", `${base}/{id}/update`, version(kind));
    if (kind !== "node") api.route("POST", `${base}/create`, notManager);
  }
  api.route("GET", "/services/{id}/logs", logs);
  api.route("GET", "/tasks/{id}/logs", logs);
}
