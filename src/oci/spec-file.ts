/** Reading a bundle's config.json, with errors that name the field at fault. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgument, isErrno } from "../errors.js";
import type { Spec } from "./runtime-spec.js";

function expectType(value: unknown, type: "object" | "string" | "array" | "boolean", where: string): void {
  const ok =
    type === "array"
      ? Array.isArray(value)
      : type === "object"
        ? typeof value === "object" && value !== null && !Array.isArray(value)
        : typeof value === type;
  if (!ok)
    throw new InvalidArgument(
      `config.json: ${where} must be ${type === "array" || type === "object" ? `an ${type}` : `a ${type}`}`,
    );
}

/** Structural checks for the fields Berth reads; deeper checks happen where each field is used. */
export function validateSpec(value: unknown): Spec {
  expectType(value, "object", "the document");
  const spec = value as Record<string, unknown>;
  expectType(spec["ociVersion"], "string", "ociVersion");
  if (!/^1\.\d+\.\d+/.test(spec["ociVersion"] as string))
    throw new InvalidArgument(`config.json: ociVersion "${spec["ociVersion"]}" is not a 1.x version`);
  if (spec["root"] !== undefined) {
    expectType(spec["root"], "object", "root");
    expectType((spec["root"] as Record<string, unknown>)["path"], "string", "root.path");
  }
  if (spec["mounts"] !== undefined) {
    expectType(spec["mounts"], "array", "mounts");
    (spec["mounts"] as unknown[]).forEach((m, i) => {
      expectType(m, "object", `mounts[${i}]`);
      expectType((m as Record<string, unknown>)["destination"], "string", `mounts[${i}].destination`);
      const options = (m as Record<string, unknown>)["options"];
      if (options !== undefined) expectType(options, "array", `mounts[${i}].options`);
    });
  }
  if (spec["process"] !== undefined) {
    expectType(spec["process"], "object", "process");
    const p = spec["process"] as Record<string, unknown>;
    if (p["args"] !== undefined) expectType(p["args"], "array", "process.args");
    if (p["env"] !== undefined) expectType(p["env"], "array", "process.env");
    expectType(p["user"], "object", "process.user");
    expectType(p["cwd"], "string", "process.cwd");
  }
  if (spec["hooks"] !== undefined) {
    expectType(spec["hooks"], "object", "hooks");
    for (const [stage, hooks] of Object.entries(spec["hooks"] as Record<string, unknown>)) {
      expectType(hooks, "array", `hooks.${stage}`);
      (hooks as unknown[]).forEach((h, i) => {
        expectType(h, "object", `hooks.${stage}[${i}]`);
        const path = (h as Record<string, unknown>)["path"];
        expectType(path, "string", `hooks.${stage}[${i}].path`);
        if (!(path as string).startsWith("/"))
          throw new InvalidArgument(`config.json: hooks.${stage}[${i}].path must be absolute`);
      });
    }
  }
  if (spec["linux"] !== undefined) expectType(spec["linux"], "object", "linux");
  return value as Spec;
}

export function readSpec(bundle: string): Spec {
  const path = join(bundle, "config.json");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) throw new InvalidArgument(`bundle ${bundle} has no config.json`);
    if (isErrno(err, "ENOTDIR")) throw new InvalidArgument(`bundle ${bundle} is not a directory`);
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgument(`${path}: invalid JSON: ${(err as Error).message}`);
  }
  return validateSpec(value);
}
