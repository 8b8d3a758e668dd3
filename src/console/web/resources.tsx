/** Images (with their layers and sizes), volumes, and networks with the containers on each. */
import { useEffect, useState } from "preact/hooks";
import { humanSize as humanBytes } from "../../util/human.js";
import { getJson } from "./api.js";
import { useLive } from "./hooks.js";

interface ImageSummary {
  Id: string;
  RepoTags: string[] | null;
  Size: number;
  Created: number;
}

interface HistoryEntry {
  Id: string;
  CreatedBy: string;
  Size: number;
}

function Layers({ id }: { id: string }) {
  const [layers, setLayers] = useState<HistoryEntry[] | undefined>(undefined);
  useEffect(() => {
    void getJson<HistoryEntry[]>(`/images/${id}/history`).then(setLayers, () => setLayers([]));
  }, [id]);
  if (!layers) return <p class="muted">loading layers…</p>;
  return (
    <ol class="layers">
      {layers.map((l, i) => (
        <li key={i}>
          <span class="size">{humanBytes(l.Size)}</span> <code>{l.CreatedBy || "(imported)"}</code>
        </li>
      ))}
    </ol>
  );
}

export function ImagesView() {
  const { data, error } = useLive<ImageSummary[]>("/images/json", ["image"]);
  const [open, setOpen] = useState<string | undefined>(undefined);
  return (
    <section>
      {error && <p class="error">{error}</p>}
      <table class="list" data-testid="images">
        <thead>
          <tr>
            <th>Tags</th>
            <th class="wide">ID</th>
            <th>Size</th>
            <th class="wide">Created</th>
          </tr>
        </thead>
        <tbody>
          {(data ?? []).map((i) => [
            <tr key={i.Id} class="clickable" onClick={() => setOpen(open === i.Id ? undefined : i.Id)}>
              <td>{(i.RepoTags ?? ["<none>"]).join(", ")}</td>
              <td class="wide">
                <code>{i.Id.replace("sha256:", "").slice(0, 12)}</code>
              </td>
              <td>{humanBytes(i.Size)}</td>
              <td class="wide">{new Date(i.Created * 1000).toLocaleString()}</td>
            </tr>,
            open === i.Id && (
              <tr key={`${i.Id}-layers`}>
                <td colSpan={4}>
                  <Layers id={i.Id} />
                </td>
              </tr>
            ),
          ])}
        </tbody>
      </table>
    </section>
  );
}

export function VolumesView() {
  const { data, error } = useLive<{ Volumes: { Name: string; Driver: string; Mountpoint: string }[] | null }>(
    "/volumes",
    ["volume"],
  );
  return (
    <section>
      {error && <p class="error">{error}</p>}
      <table class="list" data-testid="volumes">
        <thead>
          <tr>
            <th>Name</th>
            <th>Driver</th>
            <th class="wide">Mountpoint</th>
          </tr>
        </thead>
        <tbody>
          {(data?.Volumes ?? []).map((v) => (
            <tr key={v.Name}>
              <td>{v.Name}</td>
              <td>{v.Driver}</td>
              <td class="wide">
                <code>{v.Mountpoint}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

interface NetworkSummary {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  IPAM?: { Config?: { Subnet?: string }[] };
}

interface NetworkDetail {
  Containers?: Record<string, { Name: string; IPv4Address: string }>;
}

function NetworkMembers({ id }: { id: string }) {
  const { data } = useLive<NetworkDetail>(`/networks/${id}`, ["network", "container"]);
  const members = Object.values(data?.Containers ?? {});
  if (!data) return <span class="muted">…</span>;
  if (!members.length) return <span class="muted">none</span>;
  return (
    <span>
      {members.map((m) => (
        <span class="chip" key={m.Name}>
          {m.Name} <span class="muted">{m.IPv4Address}</span>
        </span>
      ))}
    </span>
  );
}

export function NetworksView() {
  const { data, error } = useLive<NetworkSummary[]>("/networks", ["network"]);
  return (
    <section>
      {error && <p class="error">{error}</p>}
      <table class="list" data-testid="networks">
        <thead>
          <tr>
            <th>Name</th>
            <th>Driver</th>
            <th class="wide">Subnet</th>
            <th>Containers</th>
          </tr>
        </thead>
        <tbody>
          {(data ?? []).map((n) => (
            <tr key={n.Id}>
              <td>{n.Name}</td>
              <td>{n.Driver}</td>
              <td class="wide">{n.IPAM?.Config?.map((c) => c.Subnet).join(", ")}</td>
              <td>
                <NetworkMembers id={n.Id} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
