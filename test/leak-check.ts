/**
 * Run after the integration suite: fails when Berth's tests left anything behind on the host.
 * The same checks as the repository's before-stop hook.
 *
 * With --clear-stale, run before the suite under the host lock: clears what an earlier run left
 * when it was cut short, and says what it found, so that the checks after the suite (and the
 * tests that look at the host's shared cgroup parent or namespaces) see this run's state alone.
 */
import { clearStale, describe, findLeftovers } from "./host-leftovers.js";

const found = findLeftovers();
if (process.argv[2] === "--clear-stale") {
  if (found.processes.length)
    console.error(
      `Berth processes are running; an earlier run's leftovers are left alone:\n${describe(found).join("\n")}`,
    );
  else if (describe(found).length) {
    clearStale(found);
    const rest = describe(findLeftovers());
    console.error(
      `cleared what an earlier, cut-short run left:\n${describe(found).join("\n")}` +
        (rest.length ? `\nstill there:\n${rest.join("\n")}` : ""),
    );
  }
} else {
  const leaks = describe(found);
  if (leaks.length) {
    console.error(`the test suite leaked:\n${leaks.join("\n")}`);
    process.exit(1);
  }
  console.log("leak check: no mounts, cgroups, links, namespaces, rules or processes left behind");
}
