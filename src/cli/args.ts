/**
 * Command-line flags the way docker and runc read them: `--name value`, `--name=value`, `-n value`,
 * grouped short booleans (`-it`), repeatable flags, and options ending at the first positional
 * argument (so that `run IMAGE ls -l` leaves `-l` to the command).
 */
import { BerthError } from "../errors.js";

export class UsageError extends BerthError {
  constructor(message: string) {
    super("usage", message);
  }
}

export interface OptionSpec {
  name: string;
  short?: string;
  type: "boolean" | "string" | "strings";
  description: string;
  /** Shown in help as the value's name ("PATH"). */
  value?: string;
}

export type OptionValues = Record<string, boolean | string | string[] | undefined>;

export interface ParsedArgs {
  options: OptionValues;
  args: string[];
}

export function parseArgs(
  argv: readonly string[],
  specs: readonly OptionSpec[],
  interspersed = false,
): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const options: OptionValues = {};
  const args: string[] = [];
  const set = (spec: OptionSpec, value: string | true) => {
    if (spec.type === "strings")
      options[spec.name] = [...((options[spec.name] as string[]) ?? []), String(value)];
    else options[spec.name] = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--") && arg.length > 2) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const spec = byName.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
      if (spec.type === "boolean") {
        const v = eq < 0 ? "true" : arg.slice(eq + 1);
        if (v !== "true" && v !== "false")
          throw new UsageError(`invalid argument "${v}" for "--${name}" flag: expected true or false`);
        options[spec.name] = v === "true";
      } else if (eq >= 0) {
        set(spec, arg.slice(eq + 1));
      } else {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`);
        set(spec, argv[++i]!);
      }
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j]!;
        const spec = byShort.get(c);
        if (!spec) throw new UsageError(`unknown shorthand flag: '${c}' in ${arg}`);
        if (spec.type === "boolean") {
          options[spec.name] = true;
          continue;
        }
        const rest = arg.slice(j + 1).replace(/^=/, "");
        if (rest) set(spec, rest);
        else {
          if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: '${c}' in ${arg}`);
          set(spec, argv[++i]!);
        }
        break;
      }
      continue;
    }
    if (!interspersed) {
      args.push(...argv.slice(i));
      break;
    }
    args.push(arg);
  }
  return { options, args };
}

export function str(options: OptionValues, name: string): string | undefined {
  const v = options[name];
  return typeof v === "string" ? v : undefined;
}

export function strs(options: OptionValues, name: string): string[] {
  const v = options[name];
  return Array.isArray(v) ? v : [];
}

export function bool(options: OptionValues, name: string): boolean {
  return options[name] === true;
}

export function helpText(usage: string, description: string, specs: readonly OptionSpec[]): string {
  const lines = specs.map((s) => {
    const flag = `${s.short ? `-${s.short}, ` : "    "}--${s.name}${s.type === "boolean" ? "" : ` ${s.value ?? (s.type === "strings" ? "list" : "string")}`}`;
    return `  ${flag.padEnd(32)} ${s.description}`;
  });
  return `Usage:  ${usage}\n\n${description}\n${lines.length ? `\nOptions:\n${lines.join("\n")}\n` : ""}`;
}

/**
 * Repeated `KEY=VALUE` flags as a record. Docker takes a bare `KEY` for labels (an empty
 * value); elsewhere it is an error naming the flag.
 */
export function keyValueFlags(items: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq > 0) out[item.slice(0, eq)] = item.slice(eq + 1);
    else if (flag === "label" && item) out[item] = "";
    else throw new UsageError(`invalid argument "${item}" for "--${flag}" flag: expected KEY=VALUE`);
  }
  return out;
}
