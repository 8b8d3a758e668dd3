/** The console's certificate and key: both or neither, read with errors that name the file. */
import { readFileSync } from "node:fs";
import { errorText, InvalidArgument } from "../errors.js";

export function readConsoleTls(
  certPath: string | undefined,
  keyPath: string | undefined,
): { cert: Buffer; key: Buffer } | undefined {
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined)
    throw new InvalidArgument("the console's TLS needs both a certificate and a key");
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new InvalidArgument(`cannot read the console's TLS ${what} ${path}: ${errorText(err)}`);
    }
  };
  return { cert: read("certificate", certPath), key: read("key", keyPath) };
}
