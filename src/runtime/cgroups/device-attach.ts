/** Installing a device filter on a v2 cgroup through native/cgroup-device.c (bpf(2) is not in Node). */
import { spawnSync } from "node:child_process";
import { SystemError } from "../../errors.js";
import type { LinuxDeviceCgroup } from "../../oci/runtime-spec.js";
import { nativeBinary } from "../../util/native.js";
import { compileDeviceFilter } from "./device-filter.js";

export function applyDeviceRules(cgroupDir: string, rules: readonly LinuxDeviceCgroup[]): void {
  const program = compileDeviceFilter(rules);
  const helper = nativeBinary("berth-cgroup-device");
  const r = spawnSync(helper, ["attach", cgroupDir], { input: program, encoding: "utf8" });
  if (r.error) throw new SystemError(`start ${helper}: ${r.error.message}`);
  if (r.status !== 0) throw new SystemError(`device filter for ${cgroupDir}: ${r.stderr.trim()}`);
}
