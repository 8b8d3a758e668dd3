/**
 * `service logs` and task logs across nodes. Each node serves the logs of its own task
 * containers to the other nodes (JSON lines, over the cluster's mutual TLS); the manager the
 * client asked gathers them from every node that ran a task and writes them in the API's log
 * stream, with the swarm context docker's CLI reads (`details`: node, service and task ids).
 */
import type { ServerResponse } from "node:http";
import type { Engine } from "../engine/engine.js";
import { type LogEntry, parseLogTime, readLogs } from "../engine/logs.js";
import { NotFound } from "../errors.js";
import { TASK_LABEL } from "./agent.js";
import { callPeer, peerAddress } from "./join.js";
import type { NodeRecord, TaskRecord } from "./types.js";

export interface LogQuery {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  tail?: number;
  since?: number;
  timestamps: boolean;
  details: boolean;
}

export function logQuery(q: URLSearchParams): LogQuery {
  const flag = (name: string) => ["1", "true"].includes(q.get(name)?.toLowerCase() ?? "");
  const tail = q.get("tail");
  const since = parseLogTime(q.get("since"));
  return {
    stdout: flag("stdout"),
    stderr: flag("stderr"),
    follow: flag("follow"),
    ...(tail && tail !== "all" && Number.isInteger(Number(tail)) ? { tail: Number(tail) } : {}),
    ...(since !== undefined ? { since } : {}),
    timestamps: flag("timestamps"),
    details: flag("details"),
  };
}

function asQuery(q: LogQuery): string {
  const p = new URLSearchParams({
    stdout: String(q.stdout),
    stderr: String(q.stderr),
    follow: String(q.follow),
    ...(q.tail !== undefined ? { tail: String(q.tail) } : {}),
    ...(q.since !== undefined ? { since: String(q.since) } : {}),
  });
  return p.toString();
}

/** The node's side: one task container's log entries, as JSON lines. */
export async function serveTaskLogs(
  engine: Engine,
  taskId: string,
  q: LogQuery,
  res: ServerResponse,
): Promise<void> {
  const c = engine.store.all().find((x) => x.Config.Labels?.[TASK_LABEL] === taskId);
  if (!c) throw new NotFound(`no container of task ${taskId} on this node`);
  res.writeHead(200, { "content-type": "application/x-ndjson" });
  const abort = new AbortController();
  res.once("close", () => abort.abort());
  if (!c.LogPath) return void res.end();
  for await (const e of readLogs(c.LogPath, {
    stdout: q.stdout,
    stderr: q.stderr,
    follow: q.follow,
    ...(q.tail !== undefined && q.tail >= 0 ? { tail: q.tail } : {}),
    ...(q.since !== undefined ? { since: q.since } : {}),
    stopped: () => !engine.store.find(c.Id)?.State.Running,
    signal: abort.signal,
  })) {
    if (!res.write(`${JSON.stringify(e)}\n`)) await new Promise((r) => res.once("drain", r));
    if (abort.signal.aborted) break;
  }
  res.end();
}

/**
 * The manager's side: the tasks' logs from their nodes, each line framed for the client
 * (`frame` multiplexes, or not for a TTY). A node that cannot be reached is skipped: its tasks'
 * lines are missing, as with docker.
 */
export async function gatherTaskLogs(
  tasks: TaskRecord[],
  nodes: NodeRecord[],
  q: LogQuery,
  tls: { key: string; cert: string; ca: string },
  write: (stream: "stdout" | "stderr", line: Buffer) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const addr = new Map(nodes.map((n) => [n.ID, peerAddress(n)]));
  await Promise.all(
    tasks.map(async (t) => {
      const at = t.NodeID ? addr.get(t.NodeID) : undefined;
      if (!at) return;
      const res = await callPeer(at, `/tasks/${t.ID}/logs?${asQuery(q)}`, tls, { signal }).catch(
        () => undefined,
      );
      if (res?.statusCode !== 200) {
        res?.resume();
        return;
      }
      const context = `com.docker.swarm.node.id=${t.NodeID},com.docker.swarm.service.id=${t.ServiceID},com.docker.swarm.task.id=${t.ID}`;
      let buffered = "";
      res.setEncoding("utf8");
      for await (const chunk of res as AsyncIterable<string>) {
        buffered += chunk;
        for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
          const e = JSON.parse(buffered.slice(0, nl)) as LogEntry;
          buffered = buffered.slice(nl + 1);
          // docker's order: the time, then the context, then the line
          const text = `${q.timestamps ? `${e.time} ` : ""}${q.details ? `${context} ` : ""}${e.log}`;
          await write(e.stream, Buffer.from(text));
        }
      }
    }),
  );
}
