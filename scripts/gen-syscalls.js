#!/usr/bin/env node
// Generates src/runtime/seccomp/syscalls/*.ts: syscall name → number for each architecture Berth
// builds seccomp filters for. The tables are committed data; nothing reads the headers at build time.
//
//   node scripts/gen-syscalls.js [--include DIR] [--libseccomp-csv FILE]
//
// Sources, in order of authority:
//  1. The kernel UAPI headers on this machine (--include, default /usr/include, Debian's
//     linux-libc-dev): asm/unistd_64.h (x86_64), unistd_32.h (x86), unistd_x32.h (x32, numbers
//     already carry __X32_SYSCALL_BIT) and asm-generic/unistd.h (aarch64, evaluated with the
//     __ARCH_WANT_* switches of arch/arm64/include/uapi/asm/unistd.h).
//  2. libseccomp's src/syscalls.csv (--libseccomp-csv; https://github.com/seccomp/libseccomp),
//     which libseccomp keeps in step with the kernel's syscall .tbl files. It supplies the arm
//     (EABI) table, whose header no x86 machine carries, and the syscalls newer than the
//     installed headers (Docker's default profile names several: fchmodat2, mseal, statmount…).
//     It also lists the names that exist only on architectures Berth does not support, so the
//     compiler can tell "not on this architecture" from "no such syscall".
// Where two sources name the same syscall they must agree on the number, or this script fails.
// The committed tables come from Debian 12's linux-libc-dev 6.1.187 and libseccomp's syscalls.csv
// at commit 7e95f5b (v7.1.0-rc4, May 2026): fetch src/syscalls.csv from that repository to redo it.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const X32_SYSCALL_BIT = 0x40000000;

// arch/arm64/include/uapi/asm/unistd.h defines these before including asm-generic/unistd.h.
const ARM64_DEFINES = {
  __BITS_PER_LONG: 64,
  __ARCH_WANT_RENAMEAT: 1,
  __ARCH_WANT_NEW_STAT: 1,
  __ARCH_WANT_SET_GET_RLIMIT: 1,
  __ARCH_WANT_TIME32_SYSCALLS: 1,
  __ARCH_WANT_SYS_CLONE3: 1,
  __ARCH_WANT_MEMFD_SECRET: 1,
};

// Markers in asm-generic/unistd.h that are not syscalls.
const NOT_SYSCALLS = new Set(["syscalls", "arch_specific_syscall"]);

const ARCHES = [
  { file: "x86_64", constant: "X86_64", csv: "x86_64", what: "x86_64 (64-bit ABI, AUDIT_ARCH_X86_64)" },
  { file: "x86", constant: "X86", csv: "x86", what: "x86 (i386, AUDIT_ARCH_I386)" },
  {
    file: "x32",
    constant: "X32",
    csv: "x32",
    bit: X32_SYSCALL_BIT,
    what: "x32 (AUDIT_ARCH_X86_64 with __X32_SYSCALL_BIT set in the number)",
  },
  { file: "aarch64", constant: "AARCH64", csv: "aarch64", what: "aarch64 (AUDIT_ARCH_AARCH64)" },
  { file: "arm", constant: "ARM", csv: "arm", what: "arm EABI (AUDIT_ARCH_ARM)" },
];

function parseArgs(argv) {
  const opts = { include: "/usr/include", csv: undefined };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--include") opts.include = argv[++i];
    else if (argv[i] === "--libseccomp-csv") opts.csv = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return opts;
}

/** A C header's `#define __NR_name value` lines, evaluated through its #if blocks. */
function readUnistdHeader(path, predefined = {}) {
  const macros = new Map(Object.entries(predefined));
  const table = new Map();
  const stack = []; // { active, taken } per open #if
  const active = () => stack.every((s) => s.active);
  const value = (text) => evaluate(text, macros);
  for (const raw of readFileSync(path, "utf8").split("\n")) {
    const line = raw.replace(/\/\*.*?\*\//g, "").trim();
    const m = /^#\s*(\w+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, directive, rest] = m;
    if (directive === "if" || directive === "ifdef" || directive === "ifndef") {
      let cond = false;
      if (active()) {
        if (directive === "if") cond = value(rest) !== 0;
        else cond = macros.has(rest.trim()) === (directive === "ifdef");
      }
      stack.push({ active: cond, taken: cond });
    } else if (directive === "elif") {
      const top = stack.at(-1);
      const cond = !top.taken && stack.slice(0, -1).every((s) => s.active) && value(rest) !== 0;
      top.active = cond;
      top.taken ||= cond;
    } else if (directive === "else") {
      const top = stack.at(-1);
      top.active = !top.taken && stack.slice(0, -1).every((s) => s.active);
      top.taken = true;
    } else if (directive === "endif") {
      stack.pop();
    } else if (!active()) {
      // skipped block
    } else if (directive === "undef") {
      macros.delete(rest.trim());
    } else if (directive === "define") {
      const d = /^(\w+)(\(?)\s*(.*)$/.exec(rest);
      if (!d || d[2] === "(") continue; // function-like macro
      macros.set(d[1], d[3]);
      const nr = /^__NR_(\w+)$/.exec(d[1]);
      if (nr && !NOT_SYSCALLS.has(nr[1])) table.set(nr[1], value(d[3]));
    }
  }
  if (stack.length) throw new Error(`${path}: unbalanced #if`);
  return table;
}

/** Evaluates a preprocessor expression made of numbers, macros, defined() and C operators. */
function evaluate(text, macros, depth = 0) {
  if (depth > 20) throw new Error(`macro recursion in ${text}`);
  const expr = text
    .replace(/\b(0x[\da-fA-F]+|\d+)[uUlL]+\b/g, "$1")
    .replace(/defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)/g, (_, a, b) => (macros.has(a ?? b) ? "1" : "0"))
    .replace(/\b[A-Za-z_]\w*\b/g, (name) =>
      macros.has(name) ? String(evaluate(String(macros.get(name)), macros, depth + 1)) : "0",
    );
  if (!/^[\s\dxXa-fA-F()!=<>&|+\-*]*$/.test(expr)) throw new Error(`cannot evaluate "${text}"`);
  if (expr.trim() === "") return 1;
  return Number(new Function(`return (${expr});`)());
}

/** libseccomp's syscalls.csv: header row of arch columns, then name,nr,kver,nr,kver,… ("PNR" = none). */
function readLibseccompCsv(path) {
  const [header, ...rows] = readFileSync(path, "utf8").trim().split("\n");
  const columns = header.split(",");
  const version = /\((.*?)\)/.exec(columns[0])?.[1] ?? "unknown version";
  const tables = new Map();
  for (let c = 1; c < columns.length; c += 2) tables.set(columns[c], new Map());
  for (const row of rows) {
    if (row.startsWith("#")) continue;
    const cells = row.split(",");
    for (let c = 1; c < columns.length; c += 2) {
      if (cells[c] !== "PNR") tables.get(columns[c]).set(cells[0], Number(cells[c]));
    }
  }
  return { version, tables };
}

function merge(arch, into, from, fromName) {
  for (const [name, nr] of from) {
    const have = into.get(name);
    if (have !== undefined && have !== nr)
      throw new Error(`${arch}: ${name} is ${have} in the headers but ${nr} in ${fromName}`);
    into.set(name, nr);
  }
}

function render(arch, table, sources) {
  const entries = [...table].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  const lines = entries.map(([name, nr]) => {
    const key = /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
    return `  ${key}: ${arch.bit ? `0x${nr.toString(16)}` : nr},`;
  });
  return `// Generated by scripts/gen-syscalls.js: do not edit.
// Sources: ${sources.join("; ")}.

/** Syscall numbers of ${arch.what}. */
export const ${arch.constant}: Readonly<Record<string, number>> = {
${lines.join("\n")}
};
`;
}

function renderOthers(names, source) {
  return `// Generated by scripts/gen-syscalls.js: do not edit.
// Source: ${source}.

/**
 * Syscalls that exist only on architectures Berth does not build filters for (mips, ppc, s390,
 * riscv64, loongarch64…). A profile naming one is not mistaken; its rule simply has nothing to do.
 */
export const OTHER_ARCHES_ONLY: ReadonlySet<string> = new Set([
${names.map((n) => `  ${JSON.stringify(n)},`).join("\n")}
]);
`;
}

const opts = parseArgs(process.argv.slice(2));
const asm = join(opts.include, "x86_64-linux-gnu/asm");
const version = readFileSync(join(opts.include, "linux/version.h"), "utf8");
const kernel = ["MAJOR", "PATCHLEVEL", "SUBLEVEL"]
  .map((k) => new RegExp(`LINUX_VERSION_${k} (\\d+)`).exec(version)?.[1])
  .join(".");
const headerSource = `Linux ${kernel} UAPI headers (${opts.include})`;
const headers = {
  x86_64: () => readUnistdHeader(join(asm, "unistd_64.h")),
  x86: () => readUnistdHeader(join(asm, "unistd_32.h")),
  x32: () => readUnistdHeader(join(asm, "unistd_x32.h"), { __X32_SYSCALL_BIT: X32_SYSCALL_BIT }),
  aarch64: () => readUnistdHeader(join(opts.include, "asm-generic/unistd.h"), ARM64_DEFINES),
};
const csv = opts.csv ? readLibseccompCsv(opts.csv) : undefined;
const csvSource = csv && `libseccomp src/syscalls.csv (${csv.version})`;

const outDir = new URL("../src/runtime/seccomp/syscalls/", import.meta.url);
const known = new Set();
for (const arch of ARCHES) {
  const table = new Map();
  const sources = [];
  if (headers[arch.file]) {
    merge(arch.file, table, headers[arch.file](), "headers");
    sources.push(headerSource);
  }
  const fromCsv = csv?.tables.get(arch.csv);
  if (fromCsv) {
    const numbered = new Map([...fromCsv].map(([name, nr]) => [name, nr | (arch.bit ?? 0)]));
    merge(arch.file, table, numbered, csvSource);
    sources.push(csvSource);
  }
  if (table.size === 0) throw new Error(`${arch.file}: no source (pass --libseccomp-csv)`);
  for (const name of table.keys()) known.add(name);
  writeFileSync(new URL(`${arch.file}.ts`, outDir), render(arch, table, sources));
  console.log(`${arch.file}: ${table.size} syscalls (${sources.join(" + ")})`);
}
const others = new Set();
for (const [column, table] of csv?.tables ?? []) {
  if (ARCHES.some((a) => a.csv === column)) continue;
  for (const name of table.keys()) if (!known.has(name)) others.add(name);
}
writeFileSync(
  new URL("other-arches.ts", outDir),
  renderOthers([...others].sort(), csvSource ?? "none (no --libseccomp-csv given)"),
);
console.log(`other architectures only: ${others.size} names`);
