/**
 * Chain IDs (image-spec config.md, "Layer ChainID"): a layer's identity together with all the
 * layers below it, which is what a snapshot of the unpacked layer stack is keyed by.
 *   ChainID(L0) = DiffID(L0);  ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))
 */
import { digestOf } from "./digest.js";

export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const parent = out[out.length - 1];
    out.push(parent ? digestOf(`${parent} ${diffId}`) : diffId);
  }
  return out;
}
