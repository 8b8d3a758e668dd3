/** The snapshot part's errors. */
import { BerthError, NotFound, SystemError } from "../errors.js";

/** A layer tar that Berth refuses to unpack: an entry escaping the layer, a bad link, a bad tar. */
export class InvalidLayer extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("invalid-layer", message, options);
  }
}

export class NoSuchSnapshot extends NotFound {
  constructor(readonly key: string) {
    super(`no such snapshot: ${key}`);
  }
}

/** The file-operations helper or mount(8) failed: carries its message. */
export class SnapshotSystemError extends SystemError {}

/** The directory a batch was to write in is not in the tree (berth-fsops exit status 3). */
export class MissingDirectory extends NotFound {}
