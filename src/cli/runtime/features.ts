/**
 * `berth-runtime features`: what this runtime implements, as the runtime spec's features
 * document (features.md) that `runc features` prints. Every list is read from the code that
 * applies it, so the document cannot claim more than the runtime does.
 */
import { OCI_VERSION } from "../../oci/runtime-spec.js";
import { CAPABILITIES } from "../../runtime/capabilities.js";
import { knownMountOptions } from "../../runtime/mount-options.js";
import { NAMESPACES } from "../../runtime/namespaces.js";
import { ACTIONS } from "../../runtime/seccomp/actions.js";
import { SECCOMP_ARCHES } from "../../runtime/seccomp/arch.js";
import { FLAGS, OPERATORS } from "../../runtime/seccomp/profile.js";
import type { Command } from "./main.js";

/** The features document (runtime-spec features.md). */
export function featuresDocument(): Record<string, unknown> {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_VERSION,
    hooks: ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
    mountOptions: knownMountOptions(),
    linux: {
      namespaces: Object.keys(NAMESPACES),
      capabilities: [...CAPABILITIES],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: {
        enabled: true,
        // SCMP_ACT_NOTIFY is refused: there is no seccomp agent to hand the listener to.
        actions: Object.keys(ACTIONS).filter((a) => a !== "SCMP_ACT_NOTIFY"),
        operators: Object.keys(OPERATORS),
        archs: SECCOMP_ARCHES.map((a) => a.name),
        knownFlags: Object.keys(FLAGS),
        supportedFlags: Object.keys(FLAGS),
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
  };
}

export const features: Command = {
  usage: "features",
  description: "Print what this runtime supports, as the OCI features document (JSON).",
  options: [],
  arity: [0, 0],
  async run() {
    process.stdout.write(`${JSON.stringify(featuresDocument(), null, 2)}\n`);
    return 0;
  },
};
