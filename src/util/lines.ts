/**
 * Splits text that arrives in pieces (a JSON-lines stream: events, stats, progress) into its
 * complete lines, non-blank and trimmed, and the unfinished rest. Pure, for Node and the browser.
 */
export function takeLines(text: string): { lines: string[]; rest: string } {
  const end = text.lastIndexOf("\n");
  if (end < 0) return { lines: [], rest: text };
  const lines = text
    .slice(0, end)
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return { lines, rest: text.slice(end + 1) };
}
