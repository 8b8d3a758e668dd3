/** Runs the daemon with this process's arguments (what `berth serve` does). */
import { serve } from "./main.js";

serve(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`berth serve: ${err.message}\n`);
    process.exitCode = 1;
  },
);
