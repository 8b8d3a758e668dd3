/**
 * Platforms as `os/arch[/variant]` and the choice of one manifest from an index, like
 * containerd's platforms matcher: the OS and architecture must match; a requested variant must
 * match (arm64's default variant is v8); otherwise the best variant the host runs is taken.
 */
import { InvalidArgument } from "../errors.js";
import { InvalidImage } from "./errors.js";
import type { Descriptor, Platform } from "./manifest.js";

const ARCH: Record<string, string> = {
  x64: "amd64",
  ia32: "386",
  arm64: "arm64",
  arm: "arm",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
};

export function hostPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  if (architecture === "arm64") return { os: "linux", architecture, variant: "v8" };
  if (architecture === "arm") return { os: "linux", architecture, variant: "v7" };
  return { os: "linux", architecture };
}

export function parsePlatform(text: string): Platform {
  const parts = text.toLowerCase().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p)))
    throw new InvalidArgument(
      `invalid platform "${text}": expected os/arch[/variant], e.g. linux/amd64 or linux/arm/v7`,
    );
  let architecture = parts[1]!;
  if (architecture === "x86_64" || architecture === "x86-64") architecture = "amd64";
  if (architecture === "aarch64") architecture = "arm64";
  const variant = parts[2] ?? (architecture === "arm64" ? "v8" : undefined);
  return { os: parts[0]!, architecture, ...(variant ? { variant } : {}) };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

function normalVariant(p: Platform): string | undefined {
  if (p.architecture === "arm64") return p.variant ?? "v8";
  return p.variant || undefined;
}

/** The variants a host of `want` can run, best first (an armv7 host runs v6 and v5 too). */
function acceptableVariants(want: Platform): (string | undefined)[] {
  const v = normalVariant(want);
  if (want.architecture === "arm" && v) {
    const n = Number(v.slice(1));
    return Array.from({ length: n - 4 }, (_, i) => `v${n - i}`);
  }
  return [v];
}

/** The manifest for `want` in an index's entries; throws naming the platforms on offer. */
export function selectManifest(manifests: Descriptor[], want: Platform): Descriptor {
  const candidates = manifests.filter(
    (m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture,
  );
  for (const variant of acceptableVariants(want)) {
    const found = candidates.find((m) => normalVariant(m.platform!) === variant);
    if (found) return found;
  }
  // An index entry without a variant serves every variant of its architecture.
  const plain = candidates.find((m) => !m.platform!.variant);
  if (plain && want.architecture !== "arm") return plain;
  const offered = manifests.map((m) => (m.platform ? formatPlatform(m.platform) : "unknown")).join(", ");
  throw new InvalidImage(
    `no manifest for platform ${formatPlatform(want)} in the index (it has: ${offered || "none"})`,
  );
}
