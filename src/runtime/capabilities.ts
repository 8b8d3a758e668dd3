/**
 * Capability names (as OCI configs spell them) ↔ bit numbers from <linux/capability.h>, and the
 * five sets of a process as 64-bit masks for the native init.
 */
import { readFileSync } from "node:fs";
import { InvalidArgument } from "../errors.js";
import type { Capabilities } from "../oci/runtime-spec.js";

export const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
] as const;

export type CapabilityName = (typeof CAPABILITIES)[number];

const NUMBERS = new Map<string, number>(CAPABILITIES.map((name, i) => [name, i]));

/** Docker's default capability set for containers (moby's oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: readonly CapabilityName[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

let lastCap: number | undefined;

/** The highest capability number this kernel knows. */
export function hostLastCap(): number {
  if (lastCap === undefined) {
    try {
      lastCap = Number.parseInt(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8"), 10);
    } catch {
      lastCap = CAPABILITIES.length - 1;
    }
  }
  return lastCap;
}

/** Accepts "CAP_NET_ADMIN", "NET_ADMIN" or "net_admin" (docker's --cap-add spelling). */
export function normalizeCapability(name: string): string {
  const upper = name.toUpperCase();
  return upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
}

export function capabilityNumber(name: string, where = "capability"): number {
  const n = NUMBERS.get(normalizeCapability(name));
  if (n === undefined) throw new InvalidArgument(`${where}: unknown capability "${name}"`);
  return n;
}

export interface CapabilityMasks {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

/**
 * Masks for the five sets; `warn` hears of ambient capabilities left out. Capabilities newer than the running kernel are left out, as runc
 * does, so one config runs on old and new kernels alike.
 */
export function capabilityMasks(
  caps: Capabilities,
  last = hostLastCap(),
  where = "process.capabilities",
  warn: (message: string) => void = () => {},
): CapabilityMasks {
  const mask = (names: string[] | undefined, set: string): bigint => {
    let m = 0n;
    for (const name of names ?? []) {
      const n = capabilityNumber(name, `${where}.${set}`);
      if (n <= last) m |= 1n << BigInt(n);
    }
    return m;
  };
  const masks = {
    bounding: mask(caps.bounding, "bounding"),
    effective: mask(caps.effective, "effective"),
    permitted: mask(caps.permitted, "permitted"),
    inheritable: mask(caps.inheritable, "inheritable"),
    ambient: mask(caps.ambient, "ambient"),
  };
  // The kernel refuses an ambient capability that is not both permitted and inheritable; runc
  // only warns about those (configs from `runc spec` ask for them), so leave them out here.
  const raisable = masks.permitted & masks.inheritable;
  for (const [i, name] of CAPABILITIES.entries())
    if ((masks.ambient >> BigInt(i)) & 1n && !((raisable >> BigInt(i)) & 1n))
      warn(`${where}.ambient: ${name} is not both permitted and inheritable, so it cannot be raised`);
  masks.ambient &= raisable;
  return masks;
}

/** Every capability this kernel knows, by name (for privileged containers). */
export function allCapabilities(last = hostLastCap()): string[] {
  return CAPABILITIES.filter((_, i) => i <= last);
}

/**
 * The capabilities this process may hand on: its bounding set. A privileged container gets
 * these rather than every capability the kernel knows, since asking for more makes capset fail
 * (root on some hosts runs without CAP_SYS_RESOURCE, for one).
 */
export function grantableCapabilities(status = readFileSync("/proc/self/status", "utf8")): string[] {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
  if (!m) return allCapabilities();
  const mask = BigInt(`0x${m[1]}`);
  return allCapabilities().filter((_, i) => (mask >> BigInt(i)) & 1n);
}
