/**
 * `make(...texts)`, computed once for the last texts given: for values parsed from PEM (keys,
 * certificates) that a process uses again and again and that change only when its cluster
 * does. A `make` that throws keeps nothing.
 */
export function lastOne<A extends readonly string[], T>(make: (...texts: A) => T): (...texts: A) => T {
  let held: { texts: A; value: T } | undefined;
  return (...texts) => {
    if (!held || held.texts.some((t, i) => t !== texts[i])) held = { texts, value: make(...texts) };
    return held.value;
  };
}
