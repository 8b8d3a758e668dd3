/** Builds small layer tars in memory for tests, with Berth's own tar writer. */
import { type TarInput, writeTar } from "../../src/util/tar/writer.js";

export async function tarBuffer(entries: TarInput[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of writeTar(entries)) parts.push(c);
  return Buffer.concat(parts);
}

export function file(name: string, content: string, extra: Partial<TarInput["header"]> = {}): TarInput {
  const body = Buffer.from(content);
  return { header: { name, type: "file", size: body.length, mode: 0o644, ...extra }, body };
}

export function dir(name: string, extra: Partial<TarInput["header"]> = {}): TarInput {
  return { header: { name, type: "directory", mode: 0o755, ...extra } };
}

export function symlink(name: string, target: string): TarInput {
  return { header: { name, type: "symlink", linkname: target, mode: 0o777 } };
}

export function hardlink(name: string, target: string): TarInput {
  return { header: { name, type: "link", linkname: target } };
}
