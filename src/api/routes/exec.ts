/** The Docker API's exec routes. */

import { canonicalExecBody } from "../../engine/body-types.js";
import type { Engine } from "../../engine/engine.js";
import {
  createExec,
  type ExecConfig,
  ExecStartFailed,
  getExec,
  publicExec,
  startExec,
} from "../../engine/exec.js";
import { InvalidArgument } from "../../errors.js";
import { Msg } from "../../runtime/native/protocol.js";
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from "../../util/detach-keys.js";
import { type ApiServer, hijack } from "../server.js";
import { MULTIPLEXED, muxFrame, RAW, relay } from "../streams.js";

export function execRoutes(api: ApiServer, engine: Engine): void {
  api.route("POST", "/containers/{id}/exec", async (req, res) => {
    const c = engine.store.get(req.params["id"]!);
    const config = await req.json<ExecConfig>();
    if (!config) throw new InvalidArgument("exec config cannot be empty");
    canonicalExecBody(config);
    if (config.DetachKeys) parseDetachKeys(config.DetachKeys);
    const id = createExec(engine, c, config);
    res.writeHead(201, { "Content-Type": "application/json" }).end(JSON.stringify({ Id: id }));
  });

  api.route("POST", "/exec/{id}/start", async (req, res) => {
    const e = getExec(req.params["id"]!);
    const body = (await req.json<{ Detach?: boolean; Tty?: boolean }>()) ?? {};
    if (body.Detach) {
      await startExec(engine, e, false);
      res.writeHead(200, { "Content-Type": "application/json" }).end();
      return;
    }
    // The stream is framed as the start request says, whatever the exec was created with (a
    // process with a terminal still has one): dockerd's rule.
    const tty = body.Tty === true;
    let h: ReturnType<typeof hijack>;
    let answered = false;
    // The 101 (or 200) goes out before the process runs, as dockerd sends it: a client may read
    // the response head with a buffered reader and then the bare socket (docker-py does), and
    // would lose output that came with the head.
    const answer = async () => {
      answered = true;
      h = hijack(req, tty ? RAW : MULTIPLEXED);
      if (h?.head.length) h.socket.unshift(h.head);
      if (!h) res.writeHead(200, { "Content-Type": tty ? RAW : MULTIPLEXED });
      if (h && BUFFERED_HEAD_CLIENTS.test(req.raw.headers["user-agent"] ?? "")) await settle(h.socket);
    };
    let started: Awaited<ReturnType<typeof startExec>>;
    try {
      started = await startExec(engine, e, true, answer);
    } catch (err) {
      if (!(err instanceof ExecStartFailed) || answered) throw err;
      // As dockerd: the start is answered and the reason is the stream's only output.
      await answer();
      const text = Buffer.from(`${err.message}\r\n`);
      (h?.socket ?? res).end(tty ? text : muxFrame(1, text));
      return;
    }
    execResize.set(e.ID, (size) => started.channel.send(Msg.RESIZE, size));
    await relay(started.channel, h?.socket ?? res, {
      tty,
      stdin: e.OpenStdin && h !== undefined,
      detachKeys: e.DetachKeys ? parseDetachKeys(e.DetachKeys) : DEFAULT_DETACH_KEYS,
      closeStdinOnEnd: !e.ProcessConfig.tty,
      onExit: started.reportExit,
    });
    execResize.delete(e.ID);
  });

  api.route("POST", "/exec/{id}/resize", async (req) => {
    const e = getExec(req.params["id"]!);
    if (!e.Running) return;
    // An exec's pty belongs to its own monitor, reached over the channel its start holds.
    const size = Buffer.alloc(4);
    size.writeUInt16LE(Number(req.query.get("h") ?? 0), 0);
    size.writeUInt16LE(Number(req.query.get("w") ?? 0), 2);
    execResize.get(e.ID)?.(size);
  });

  api.route("GET", "/exec/{id}/json", (req) => publicExec(getExec(req.params["id"]!)));
}

/** docker-py (docker-compose 1.x): it reads the head buffered, then the stream from the socket itself. */
const BUFFERED_HEAD_CLIENTS = /docker-py\/|docker-sdk-python\//;

/**
 * Gives a client time to read the response head on its own before any output follows: once the
 * head is handed to the kernel, 50 ms, with room for a busy machine (the client must be
 * scheduled to read it).
 */
async function settle(socket: import("node:net").Socket): Promise<void> {
  await new Promise<void>((resolve) => socket.write("", () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 50));
}

/** Resize senders of running exec processes (set while their start request relays them). */
const execResize = new Map<string, (size: Buffer) => void>();
