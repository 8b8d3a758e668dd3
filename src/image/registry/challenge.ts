/**
 * `WWW-Authenticate` challenges (RFC 7235): `Bearer realm="…",service="…",scope="…"` from a
 * token-authenticated registry (Docker Hub, distribution with `auth.token`), `Basic realm="…"`
 * from one behind htpasswd. Parameter values may be quoted strings with backslash escapes, or
 * tokens; several challenges may share one header, separated by commas.
 */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let s = header.trim();
  let current: Challenge | undefined;
  while (s.length) {
    s = s.replace(/^[\s,]+/, "");
    const word = TOKEN.exec(s);
    if (!word) break;
    const rest = s.slice(word[0].length).replace(/^\s+/, "");
    if (rest.startsWith("=") && current) {
      // A parameter of the current challenge.
      const key = word[0].toLowerCase();
      let value = "";
      let after = rest.slice(1).replace(/^\s+/, "");
      if (after.startsWith('"')) {
        let i = 1;
        for (; i < after.length && after[i] !== '"'; i++) {
          if (after[i] === "\\" && i + 1 < after.length) i++;
          value += after[i];
        }
        after = after.slice(i + 1);
      } else {
        const t = /^[^,\s]*/.exec(after)![0];
        value = t;
        after = after.slice(t.length);
      }
      current.params[key] = value;
      s = after;
    } else {
      current = { scheme: word[0].toLowerCase(), params: {} };
      out.push(current);
      s = rest;
    }
  }
  return out;
}
