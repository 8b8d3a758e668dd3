/**
 * The containers view: a table of every container (state, image, ports, health) kept current by
 * the events stream, actions per row, and a form that runs a new one. No stats stream per row:
 * with 500 containers that would be 500 streams; only the container opened gets one.
 */
import { useState } from "preact/hooks";
import { call, getJson } from "./api.js";
import { useLive } from "./hooks.js";

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  State: string;
  Status: string;
  Ports: { PrivatePort: number; PublicPort?: number; Type: string; IP?: string }[];
}

export function nameOf(c: ContainerSummary): string {
  return (c.Names[0] ?? c.Id.slice(0, 12)).replace(/^\//, "");
}

function health(status: string): string {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status);
  return m ? m[1]! : "";
}

function ports(c: ContainerSummary): string {
  return c.Ports.map((p) =>
    p.PublicPort ? `${p.PublicPort}→${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`,
  ).join(", ");
}

export function ContainerActions({ c, onError }: { c: ContainerSummary; onError: (m: string) => void }) {
  const act = (method: string, path: string) => () =>
    call(method, path).catch((err: Error) => onError(`${nameOf(c)}: ${err.message}`));
  const running = c.State === "running";
  return (
    <span class="actions">
      {running ? (
        <button type="button" onClick={act("POST", `/containers/${c.Id}/stop?t=2`)}>
          Stop
        </button>
      ) : (
        <button type="button" onClick={act("POST", `/containers/${c.Id}/start`)}>
          Start
        </button>
      )}
      <button type="button" onClick={act("POST", `/containers/${c.Id}/restart?t=2`)}>
        Restart
      </button>
      <button type="button" class="danger" onClick={act("DELETE", `/containers/${c.Id}?force=1`)}>
        Remove
      </button>
    </span>
  );
}

export function ContainersView({ open }: { open: (id: string) => void }) {
  const { data, error } = useLive<ContainerSummary[]>("/containers/json?all=1", ["container"]);
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const [filter, setFilter] = useState("");
  const shown = (data ?? []).filter((c) => !filter || nameOf(c).includes(filter) || c.Image.includes(filter));
  return (
    <section>
      <RunForm onError={setFailure} onStarted={open} />
      {(error ?? failure) && <p class="error">{error ?? failure}</p>}
      <div class="toolbar">
        <input
          placeholder="Filter by name or image"
          value={filter}
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
        <span class="count">{data ? `${shown.length} of ${data.length} containers` : "loading…"}</span>
      </div>
      <table class="list" data-testid="containers">
        <thead>
          <tr>
            <th>Name</th>
            <th>State</th>
            <th class="wide">Image</th>
            <th class="wide">Ports</th>
            <th>Health</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {shown.map((c) => (
            <tr key={c.Id} data-name={nameOf(c)} data-state={c.State}>
              <td>
                <a href={`#/containers/${c.Id}`} onClick={() => open(c.Id)}>
                  {nameOf(c)}
                </a>
              </td>
              <td>
                <span class={`state ${c.State}`}>{c.State}</span>
              </td>
              <td class="wide">{c.Image}</td>
              <td class="wide">{ports(c)}</td>
              <td>{health(c.Status)}</td>
              <td>
                <ContainerActions c={c} onError={setFailure} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** "8080:80", "127.0.0.1:8080:80/udp" → docker's ExposedPorts and PortBindings. */
export function portBindings(text: string): {
  ExposedPorts: Record<string, object>;
  PortBindings: Record<string, { HostIp: string; HostPort: string }[]>;
} {
  const ExposedPorts: Record<string, object> = {};
  const PortBindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const item of text.split(/[\s,]+/).filter(Boolean)) {
    const m = /^(?:(\d+\.\d+\.\d+\.\d+):)?(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(item);
    if (!m) throw new Error(`invalid port "${item}": use [IP:]HOSTPORT:PORT[/udp]`);
    const key = `${m[3]}/${m[4] ?? "tcp"}`;
    ExposedPorts[key] = {};
    PortBindings[key] = [...(PortBindings[key] ?? []), { HostIp: m[1] ?? "", HostPort: m[2] ?? "" }];
  }
  return { ExposedPorts, PortBindings };
}

function RunForm({
  onError,
  onStarted,
}: {
  onError: (m: string | undefined) => void;
  onStarted: (id: string) => void;
}) {
  const images = useLive<{ RepoTags: string[] | null }[]>("/images/json", ["image"]);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const field = (n: string) => String(form.get(n) ?? "").trim();
    setBusy(true);
    try {
      const { ExposedPorts, PortBindings } = portBindings(field("ports"));
      const command = field("command");
      const env = field("env").split(/\s+/).filter(Boolean);
      const name = field("name");
      const created = await call<{ Id: string }>(
        "POST",
        `/containers/create${name ? `?name=${encodeURIComponent(name)}` : ""}`,
        {
          Image: field("image"),
          ...(command ? { Cmd: ["/bin/sh", "-c", command] } : {}),
          Env: env,
          ExposedPorts,
          Tty: false,
          HostConfig: { PortBindings },
        },
      );
      await call("POST", `/containers/${created!.Id}/start`);
      onError(undefined);
      onStarted(created!.Id);
    } catch (err) {
      onError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const tags = (images.data ?? []).flatMap((i) => i.RepoTags ?? []).filter((t) => t !== "<none>:<none>");
  return (
    <form class="run" onSubmit={submit} data-testid="run-form">
      <label>
        Image
        <input name="image" list="image-tags" required placeholder="busybox:latest" />
        <datalist id="image-tags">
          {tags.map((t) => (
            <option key={t} value={t} />
          ))}
        </datalist>
      </label>
      <label>
        Name
        <input name="name" placeholder="(generated)" pattern="[a-zA-Z0-9][a-zA-Z0-9_.-]*" />
      </label>
      <label class="grow">
        Command (sh -c)
        <input name="command" placeholder="(the image's)" />
      </label>
      <label>
        Ports
        <input name="ports" placeholder="8080:80" />
      </label>
      <label>
        Env
        <input name="env" placeholder="KEY=value" />
      </label>
      <button type="submit" disabled={busy}>
        Run
      </button>
    </form>
  );
}

export async function inspect(
  id: string,
): Promise<{ Config: { Tty: boolean; Image: string }; State: { Running: boolean } }> {
  return getJson(`/containers/${id}/json`);
}
