/**
 * `GET /distribution/{name}/json`: what a registry holds under a name, without pulling it: the
 * top descriptor (an index or a single manifest) and the platforms it offers. Docker's CLI asks
 * it before `service create`, to pin the image's digest on every node.
 */
import { digestOf } from "./digest.js";
import { DigestMismatch } from "./errors.js";
import {
  MediaType,
  manifestKind,
  type Platform,
  parseConfig,
  parseIndex,
  parseManifest,
} from "./manifest.js";
import { parseReference } from "./reference.js";
import type { Credentials } from "./registry/credentials.js";
import type { ImageService } from "./service.js";

export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: string; size: number };
  Platforms: Platform[];
}

/** The platform fields that are set, as docker shows them. */
function platformJson(p: Partial<Platform> | undefined): Platform {
  return {
    architecture: p?.architecture ?? "",
    os: p?.os ?? "",
    ...(p?.variant ? { variant: p.variant } : {}),
    ...(p?.["os.version"] ? { "os.version": p["os.version"] } : {}),
  };
}

export async function distributionInspect(
  service: ImageService,
  name: string,
  credentials?: Credentials,
): Promise<DistributionInspect> {
  const ref = parseReference(name, { defaultTag: true });
  const client = service.client(ref.domain, credentials);
  const top = await client.getManifest(ref.path, ref.digest ?? ref.tag!);
  const kind = manifestKind(top.data, top.mediaType);
  const mediaType = top.mediaType || (kind === "index" ? MediaType.OciIndex : MediaType.OciManifest);
  let platforms: Platform[];
  if (kind === "index") {
    platforms = parseIndex(top.data)
      .manifests.filter((m) => m.platform)
      .map((m) => platformJson(m.platform));
  } else {
    // A single manifest says its platform in its config.
    const config = parseManifest(top.data).config;
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of (await client.getBlob(ref.path, config.digest)).body) {
      // A registry may send more than the descriptor says: read no further than that.
      size += chunk.length;
      if (size > config.size)
        throw new DigestMismatch(`config ${config.digest} of ${name}: more than its ${config.size} bytes`);
      parts.push(chunk);
    }
    const data = Buffer.concat(parts);
    const actual = digestOf(data);
    if (actual !== config.digest)
      throw new DigestMismatch(`config ${config.digest} of ${name}: its content has digest ${actual}`);
    platforms = [platformJson(parseConfig(data))];
  }
  return { Descriptor: { mediaType, digest: top.digest, size: top.data.length }, Platforms: platforms };
}
