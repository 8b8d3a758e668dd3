/**
 * The image part's errors: each names what the user gave (a reference, a digest, a registry)
 * and, where there is one, what to do about it.
 */
import { BerthError, Conflict, InvalidArgument, NotFound } from "../errors.js";

/** A reference that Docker's grammar refuses ("Busybox", "a:b:c", "x@sha256:short"). */
export class InvalidReference extends InvalidArgument {}

/** No image with that name, tag or ID in the local store. */
export class NoSuchImage extends NotFound {
  constructor(readonly reference: string) {
    super(`no such image: ${reference}`);
  }
}

/** Content whose digest or size is not what its descriptor said: a lying or broken source. */
export class DigestMismatch extends BerthError {
  constructor(message: string) {
    super("digest-mismatch", message);
  }
}

/** A manifest, config or archive that Berth cannot read: unknown media type, bad JSON, missing field. */
export class InvalidImage extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("invalid-image", message, options);
  }
}

/** The image is used by a container, or by another tag the caller did not mean to remove. */
export class ImageInUse extends Conflict {}

/** The registry refused or failed: carries the HTTP status and the registry's error codes. */
export class RegistryError extends BerthError {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(
      status === 401 || status === 403 ? "unauthorized" : status === 404 ? "not-found" : "registry",
      message,
      options,
    );
  }
}
