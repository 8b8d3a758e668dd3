/**
 * Placement constraints (`docker service create --constraint node.labels.zone==east`) and
 * placement preferences (`--placement-pref spread=node.labels.zone`): parsing and matching
 * against one node. Follows swarmkit's `manager/constraint`: the key's prefix is matched without
 * regard to case, a label's name exactly, and every value without regard to case; a missing
 * attribute or label reads as "", so `!=` matches it and `==` (whose value cannot be empty) does
 * not. Unlike swarmkit, an unknown key is refused here rather than never matching, so a typo
 * fails at `service create` instead of leaving tasks pending for ever.
 */
import { InvalidArgument } from "../../errors.js";
import type { SchedNode } from "./placement.js";

export type ConstraintField =
  | "node.id"
  | "node.hostname"
  | "node.role"
  | "node.platform.os"
  | "node.platform.arch"
  | "node.labels"
  | "engine.labels";

export interface Constraint {
  /** As the user wrote it, for messages. */
  readonly expr: string;
  readonly field: ConstraintField;
  /** The label's name for node.labels / engine.labels, "" for the other fields. */
  readonly label: string;
  readonly op: "==" | "!=";
  /** Lower-cased: values compare without regard to case. */
  readonly value: string;
}

const FIELDS: readonly ConstraintField[] = [
  "node.id",
  "node.hostname",
  "node.role",
  "node.platform.os",
  "node.platform.arch",
];
const NODE_LABELS = "node.labels.";
const ENGINE_LABELS = "engine.labels.";

// swarmkit's key and value grammars. The value grammar leaves out `=`, `<`, `>`, `~` and `!`
// so that `a==b!=c` is an error and other operators can be added later.
const KEY = /^[a-z_][a-z0-9\-_.]+$/i;
const VALUE = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;

/** Parses `KEY==VALUE` / `KEY!=VALUE` expressions; throws InvalidArgument naming the bad one. */
export function parseConstraints(exprs: string[]): Constraint[] {
  return exprs.map(parseConstraint);
}

function parseConstraint(expr: string): Constraint {
  const fail = (why: string) => new InvalidArgument(`invalid constraint: ${JSON.stringify(expr)}: ${why}`);
  // `==` is looked for first, as swarmkit does, so `a!=b==c` is key `a!=b` (and then refused).
  const op = expr.includes("==") ? "==" : expr.includes("!=") ? "!=" : undefined;
  if (!op) throw fail("expected an operator, == or !=");
  const at = expr.indexOf(op);
  const key = expr.slice(0, at).trim();
  const value = expr.slice(at + op.length).trim();
  if (key === "") throw fail("missing key");
  if (!KEY.test(key)) throw fail(`invalid key ${JSON.stringify(key)}`);
  if (value === "") throw fail("missing value");
  if (!VALUE.test(value)) throw fail(`invalid value ${JSON.stringify(value)}`);

  const lower = key.toLowerCase();
  const field = FIELDS.find((f) => f === lower);
  if (field) return { expr, field, label: "", op, value: value.toLowerCase() };
  const label = labelKey(key);
  if (label) return { expr, ...label, op, value: value.toLowerCase() };
  throw fail(`unknown key ${key}`);
}

/** `node.labels.NAME` / `engine.labels.NAME` with NAME's case kept, or undefined. */
function labelKey(key: string): { field: "node.labels" | "engine.labels"; label: string } | undefined {
  for (const [prefix, field] of [
    [NODE_LABELS, "node.labels"],
    [ENGINE_LABELS, "engine.labels"],
  ] as const) {
    if (key.length > prefix.length && key.slice(0, prefix.length).toLowerCase() === prefix) {
      return { field, label: key.slice(prefix.length) };
    }
  }
  return undefined;
}

/** True when `node` satisfies every constraint. */
export function matchesConstraints(node: SchedNode, constraints: readonly Constraint[]): boolean {
  for (const c of constraints) {
    const equal = attribute(node, c).toLowerCase() === c.value;
    if (equal !== (c.op === "==")) return false;
  }
  return true;
}

function attribute(node: SchedNode, c: Constraint): string {
  switch (c.field) {
    case "node.id":
      return node.id;
    case "node.hostname":
      return node.hostname;
    case "node.role":
      return node.role;
    case "node.platform.os":
      return node.platform.os;
    case "node.platform.arch":
      return node.platform.architecture;
    case "node.labels":
      return node.labels[c.label] ?? "";
    case "engine.labels":
      return node.engineLabels[c.label] ?? "";
  }
}

/**
 * The label a `--placement-pref` spreads over: `spread=node.labels.zone` gives
 * `node.labels.zone`. Only node and engine labels can be spread over, as in swarmkit.
 */
export function parsePlacementPreference(pref: string): string {
  const eq = pref.indexOf("=");
  const strategy = eq < 0 ? "" : pref.slice(0, eq).trim().toLowerCase();
  const descriptor = eq < 0 ? "" : pref.slice(eq + 1).trim();
  if (strategy !== "spread") {
    throw new InvalidArgument(
      `invalid placement preference: ${JSON.stringify(pref)}: expected spread=node.labels.NAME or spread=engine.labels.NAME`,
    );
  }
  if (!labelKey(descriptor)) {
    throw new InvalidArgument(
      `invalid placement preference: ${JSON.stringify(pref)}: can only spread over node.labels.NAME or engine.labels.NAME`,
    );
  }
  return descriptor;
}

/** The value of a spread descriptor on `node`, "" when the label is missing (its own group). */
export function spreadValue(node: SchedNode, descriptor: string): string | undefined {
  const key = labelKey(descriptor);
  if (!key) return undefined;
  return (key.field === "node.labels" ? node.labels : node.engineLabels)[key.label] ?? "";
}
