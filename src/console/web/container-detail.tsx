/**
 * One container: its actions, live graphs from its stats stream (the only stats stream the page
 * opens), its logs as they come, and a terminal into it (an exec with a pty over a WebSocket).
 */
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { useEffect, useRef, useState } from "preact/hooks";
import { humanSize as humanBytes } from "../../util/human.js";
import { call, chunks, execSocketUrl, jsonLines } from "./api.js";
import { SeriesChart } from "./charts.js";
import { ContainerActions, type ContainerSummary, nameOf } from "./containers.js";
import { useLive } from "./hooks.js";
import { LogDemuxer } from "./log-frames.js";
import { type Counters, type DockerStats, pointOf, type StatsPoint } from "./stats.js";

const WINDOW = 60;

export function ContainerDetail({ id }: { id: string }) {
  const { data } = useLive<ContainerSummary[]>(
    `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ id: [id] }))}`,
    ["container"],
  );
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const c = data?.[0];
  if (!data) return <p>loading…</p>;
  if (!c) return <p class="error">No such container: {id}</p>;
  const running = c.State === "running";
  return (
    <section class="detail">
      <h2>
        {nameOf(c)}{" "}
        <span class={`state ${c.State}`} data-testid="detail-state">
          {c.State}
        </span>{" "}
        <ContainerActions c={c} onError={setFailure} />
      </h2>
      <p class="muted">
        {c.Image} · {c.Status} · {c.Id.slice(0, 12)}
      </p>
      {failure && <p class="error">{failure}</p>}
      {running && <StatsGraphs id={c.Id} />}
      <div class="panes">
        <Logs id={c.Id} />
        {running && <ExecTerminal id={c.Id} />}
      </div>
    </section>
  );
}

function StatsGraphs({ id }: { id: string }) {
  const [points, setPoints] = useState<StatsPoint[]>([]);
  useEffect(() => {
    const abort = new AbortController();
    void (async () => {
      let counters: Counters | undefined;
      try {
        for await (const s of jsonLines<DockerStats>(`/containers/${id}/stats?stream=1`, abort.signal)) {
          if (!s.read || s.read.startsWith("0001")) continue;
          const next = pointOf(s, counters);
          counters = next.counters;
          setPoints((p) => [...p.slice(-(WINDOW - 1)), next.point]);
        }
      } catch {}
    })();
    return () => abort.abort();
  }, [id]);
  const times = points.map((p) => p.time);
  const rate = (v: number) => `${humanBytes(v)}/s`;
  return (
    <div class="charts">
      <SeriesChart
        testId="cpu-chart"
        title="CPU"
        labels={["%"]}
        data={[times, points.map((p) => p.cpuPercent)]}
        format={(v) => `${v.toFixed(1)}%`}
      />
      <SeriesChart
        testId="memory-chart"
        title="Memory"
        labels={["used"]}
        data={[times, points.map((p) => p.memoryBytes)]}
        format={humanBytes}
      />
      <SeriesChart
        testId="net-chart"
        title="Network"
        labels={["rx", "tx"]}
        data={[times, points.map((p) => p.netRx), points.map((p) => p.netTx)]}
        format={rate}
      />
      <SeriesChart
        testId="block-chart"
        title="Block I/O"
        labels={["read", "write"]}
        data={[times, points.map((p) => p.blockRead), points.map((p) => p.blockWrite)]}
        format={rate}
      />
    </div>
  );
}

const MAX_LOG_CHARS = 200_000;

function Logs({ id }: { id: string }) {
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const abort = new AbortController();
    const out = pre.current!;
    out.textContent = "";
    void (async () => {
      const info = (await call<{ Config: { Tty: boolean } }>("GET", `/containers/${id}/json`))!;
      const demux = info.Config.Tty ? undefined : new LogDemuxer();
      const decoder = new TextDecoder();
      const append = (text: string) => {
        const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
        out.textContent = (out.textContent + text).slice(-MAX_LOG_CHARS);
        if (stick) out.scrollTop = out.scrollHeight;
      };
      try {
        for await (const chunk of chunks(
          `/containers/${id}/logs?follow=1&stdout=1&stderr=1&tail=500`,
          abort.signal,
        )) {
          if (!demux) append(decoder.decode(chunk, { stream: true }));
          else for (const f of demux.push(chunk)) append(decoder.decode(f.data, { stream: true }));
        }
      } catch {}
    })();
    return () => abort.abort();
  }, [id]);
  return (
    <div class="pane">
      <h3>Logs</h3>
      <pre class="logs" ref={pre} data-testid="logs" />
    </div>
  );
}

function ExecTerminal({ id }: { id: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [state, setState] = useState("connecting");
  useEffect(() => {
    const term = new Terminal({ convertEol: false, fontSize: 13, rows: 18, cursorBlink: true });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(box.current!);
    fit.fit();
    let ws: WebSocket | undefined;
    let execId: string | undefined;
    const resize = () => {
      fit.fit();
      if (execId) void call("POST", `/exec/${execId}/resize?h=${term.rows}&w=${term.cols}`).catch(() => {});
    };
    void (async () => {
      try {
        const exec = await call<{ Id: string }>("POST", `/containers/${id}/exec`, {
          AttachStdin: true,
          AttachStdout: true,
          AttachStderr: true,
          Tty: true,
          Env: ["TERM=xterm-256color"],
          Cmd: ["/bin/sh"],
        });
        execId = exec!.Id;
        ws = new WebSocket(await execSocketUrl(location.origin, execId));
        ws.binaryType = "arraybuffer";
        ws.onopen = () => {
          setState("connected");
          resize();
        };
        ws.onmessage = (m) => term.write(new Uint8Array(m.data as ArrayBuffer));
        ws.onclose = () => setState("ended");
        term.onData((d) => ws?.readyState === WebSocket.OPEN && ws.send(d));
      } catch (err) {
        setState(`failed: ${(err as Error).message}`);
      }
    })();
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      ws?.close();
      term.dispose();
    };
  }, [id]);
  return (
    <div class="pane">
      <h3>
        Terminal{" "}
        <span class="muted" data-testid="terminal-state">
          {state}
        </span>
      </h3>
      <div class="terminal" ref={box} data-testid="terminal" />
    </div>
  );
}
