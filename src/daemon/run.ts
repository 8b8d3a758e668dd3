/** Runs the daemon with this process's arguments (what `berth serve` does). */
import { serve } from "./main.js";

serve(process.argv.slice(2)).then(
  // Exit now: the channels to running containers' monitors would keep the process alive, and
  // closing them is all that ending does to the containers (they keep running).
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`berth serve: ${err.message}\n`);
    process.exitCode = 1;
  },
);
