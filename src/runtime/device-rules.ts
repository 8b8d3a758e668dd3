/**
 * The device cgroup rules a container gets: the config's own, then access to the devices it is
 * given (the defaults and linux.devices), as runc adds them.
 */
import type { LinuxDeviceCgroup, LinuxResources, Spec } from "../oci/runtime-spec.js";
import { containerDevices } from "./rootfs.js";

const ALWAYS_ALLOWED: LinuxDeviceCgroup[] = [
  { allow: true, type: "c", major: null, minor: null, access: "m" },
  { allow: true, type: "b", major: null, minor: null, access: "m" },
  { allow: true, type: "c", major: 136, minor: null, access: "rwm" }, // /dev/pts/*
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" }, // /dev/ptmx
  { allow: true, type: "c", major: 10, minor: 200, access: "rwm" }, // /dev/net/tun
];

export function resourcesWithDeviceRules(spec: Spec): LinuxResources {
  const resources = spec.linux?.resources ?? {};
  const rules: LinuxDeviceCgroup[] = [...(resources.devices ?? []), ...ALWAYS_ALLOWED];
  for (const d of containerDevices(spec)) {
    if (d.type === "p") continue;
    rules.push({
      allow: true,
      type: d.type === "u" ? "c" : d.type,
      major: d.major ?? null,
      minor: d.minor ?? null,
      access: "rwm",
    });
  }
  return { ...resources, devices: rules };
}
