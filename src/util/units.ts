/** Docker's units on the command line: byte sizes ("256m", "1.5g") and Go durations ("1m30s"). */
import { InvalidArgument } from "../errors.js";

/** Bytes in binary units, as docker's RAMInBytes: "512", "10k", "256m", "1.5g", "2tb". */
export function parseBytes(text: string, what = "size"): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new InvalidArgument(`invalid ${what}: '${text}'`);
  return Math.round(Number(m[1]) * 1024 ** "_kmgtp".indexOf((m[2] || "_").toLowerCase()));
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** A Go duration ("30s", "1m30s", "500ms", "0") in nanoseconds. */
export function parseDuration(text: string, what = "duration"): number {
  if (text === "0") return 0;
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = part.exec(text); m; m = part.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    end = part.lastIndex;
  }
  if (end === 0 || end !== text.length)
    throw new InvalidArgument(`invalid ${what} "${text}": use a number with a unit, as 30s or 1m30s`);
  return Math.round(total);
}
