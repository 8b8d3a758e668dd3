/** Signal names and numbers as users type them: "KILL", "SIGKILL", "kill", "9", "SIGRTMIN+3". */
import { constants } from "node:os";
import { InvalidArgument } from "../errors.js";

const SIGRTMIN = 34;
const SIGRTMAX = 64;

export function parseSignal(text: string | number): number {
  if (typeof text === "number") return checkNumber(text, String(text));
  const t = text.trim().toUpperCase();
  if (/^\d+$/.test(t)) return checkNumber(Number(t), text);
  const name = t.startsWith("SIG") ? t : `SIG${t}`;
  const rt = /^SIGRT(MIN|MAX)([+-]\d+)?$/.exec(name);
  if (rt) return checkNumber((rt[1] === "MIN" ? SIGRTMIN : SIGRTMAX) + Number(rt[2] ?? 0), text);
  const n = (constants.signals as Record<string, number>)[name];
  if (n === undefined) throw new InvalidArgument(`unknown signal "${text}"`);
  return n;
}

function checkNumber(n: number, text: string): number {
  if (!Number.isInteger(n) || n < 1 || n > SIGRTMAX) throw new InvalidArgument(`unknown signal "${text}"`);
  return n;
}

/** The name of a signal number, for messages ("SIGKILL"), or the number as text. */
export function signalName(n: number): string {
  const entry = Object.entries(constants.signals).find(([, v]) => v === n);
  return entry ? entry[0] : String(n);
}
