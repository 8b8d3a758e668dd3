/**
 * The plugin part's errors, with dockerd's messages (daemon/pkg/plugin/errors.go) where clients
 * or users know them, and its statuses: not found 404, enabled/disabled/in use/exists 409, bad
 * input 400.
 */
import { Conflict, InvalidArgument, NotFound, SystemError } from "../errors.js";

export class NoSuchPlugin extends NotFound {
  constructor(readonly reference: string) {
    super(`plugin "${reference}" not found`);
  }
}

/** An id prefix that more than one plugin starts with. */
export class AmbiguousPlugin extends InvalidArgument {
  constructor(reference: string) {
    super(`multiple plugins found for "${reference}"`);
  }
}

export class PluginEnabled extends Conflict {
  constructor(name: string, context?: string) {
    super(`${context ? `${context}: ` : ""}plugin ${name} is enabled`);
  }
}

export class PluginDisabled extends Conflict {
  constructor(name: string, context?: string) {
    super(`${context ? `${context}: ` : ""}plugin ${name} found but disabled`);
  }
}

/** Volumes (or other objects) still use the plugin: disable and remove need force. */
export class PluginInUse extends Conflict {
  constructor(name: string) {
    super(`plugin ${name} is in use`);
  }
}

export class PluginExists extends Conflict {
  constructor(name: string) {
    super(`plugin ${name} already exists`);
  }
}

/** A config.json that is not a plugin config Berth can run: the field and what is wrong. */
export class InvalidPluginConfig extends InvalidArgument {
  constructor(message: string) {
    super(`invalid plugin config: ${message}`);
  }
}

/** The body of `plugin create` (or a pulled layer) that Berth refuses to unpack. */
export class InvalidPluginArchive extends InvalidArgument {}

/** A `plugin set` argument that the plugin does not allow, or that does not parse. */
export class InvalidPluginSetting extends InvalidArgument {}

/** `plugin install` granted other privileges than the plugin asks for. */
export class PrivilegesMismatch extends InvalidArgument {}

/** The plugin lacks the capability a caller needs ("volumedriver"). */
export class PluginCapabilityMissing extends InvalidArgument {
  constructor(name: string, capability: string, context?: string) {
    super(`${context ? `${context}: ` : ""}plugin ${name} does not provide "${capability}" capability`);
  }
}

/** The plugin's process did not start, or did not come to listen on its socket in time. */
export class PluginStartFailed extends SystemError {}

/** A plugin's answer (an `Err`, a bad reply, a refused connection) to a call Berth made. */
export class PluginCallFailed extends SystemError {}

/** The plugin answered 404 without an `Err`: it does not implement the method. */
export class PluginMethodMissing extends PluginCallFailed {}
