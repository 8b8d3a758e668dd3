/**
 * `docker push`: every layer blob the registry lacks is uploaded (or mounted from another
 * repository of the same registry that this host knows has it), then the config, then the
 * manifest exactly as stored, so that its digest is the one recorded at pull or build.
 */
import { Semaphore } from "../util/semaphore.js";
import { InvalidImage } from "./errors.js";
import type { Descriptor } from "./manifest.js";
import { noProgress, reportBytes, shortId } from "./progress.js";
import { familiarName, formatReference, parseReference, repositoryName, withDigest } from "./reference.js";
import type { ImageService, PushOptions } from "./service.js";

export async function push(
  service: ImageService,
  text: string,
  options: PushOptions = {},
): Promise<{ digest: string; size: number }> {
  const ref = parseReference(text, { defaultTag: true });
  const image = service.resolve(formatReference(ref));
  const emit = options.onProgress ?? noProgress;
  const client = service.client(ref.domain, options.credentials);
  emit({ status: `The push refers to repository [${repositoryName(ref)}]` });
  const slots = new Semaphore(service.concurrency);

  /** Another repository on the same registry that holds this blob, by what this host knows. */
  const mountSource = (digest: string): string | undefined => {
    for (const [name, id] of service.images.allRefs()) {
      const other = parseReference(name);
      if (other.domain !== ref.domain || other.path === ref.path) continue;
      const holder = service.images.get(id);
      if (holder?.layers.some((l) => l.digest === digest) || holder?.config.digest === digest)
        return other.path;
    }
    return undefined;
  };

  const upload = async (blob: Descriptor, report: boolean) => {
    const id = shortId(blob.digest);
    if (!(await service.content.has(blob.digest)))
      throw new InvalidImage(
        `blob ${blob.digest} of ${familiarName(ref)} is not in the content store: pull the image again`,
      );
    if (report) emit({ status: "Preparing", id });
    await slots.run(async () => {
      if (await client.hasBlob(ref.path, blob.digest)) {
        if (report) emit({ status: "Layer already exists", id });
        return;
      }
      const from = mountSource(blob.digest);
      if (report) emit({ status: "Pushing", id, progressDetail: { current: 0, total: blob.size } });
      const how = await client.putBlob(
        ref.path,
        blob,
        () => {
          const data = service.content.read(blob.digest, { verify: true });
          return report ? reportBytes(data, emit, "Pushing", id, blob.size) : data;
        },
        {
          ...(from ? { mountFrom: from } : {}),
          ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}),
        },
      );
      if (report) emit({ status: how === "mounted" ? `Mounted from ${from}` : "Pushed", id });
    });
  };

  await Promise.all(image.layers.map((l) => upload(l, true)));
  await upload(image.config, false);
  const manifest = await service.content.readBytes(image.manifest.digest);
  const digest = await client.putManifest(
    ref.path,
    ref.tag ?? image.manifest.digest,
    manifest,
    image.manifest.mediaType,
  );
  await service.images.lock.run(() => service.images.setRef(withDigest(ref, digest), image.id));
  emit({ status: `${ref.tag ?? "latest"}: digest: ${digest} size: ${manifest.length}` });
  return { digest, size: manifest.length };
}
