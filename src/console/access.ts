/**
 * Who may use the console: the holder of the one-time token printed at start, exchanged once for
 * a session (an HttpOnly, SameSite=Strict cookie), and, for every call that changes something,
 * that session's CSRF token in a header. Secrets are compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const SECRET_BYTES = 32;

function secret(): string {
  return randomBytes(SECRET_BYTES).toString("base64url");
}

/**
 * Equal in time independent of where the strings differ: both are hashed first, so that their
 * lengths do not leak either (timingSafeEqual needs equal lengths).
 */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

export interface Session {
  id: string;
  csrf: string;
}

export class ConsoleAccess {
  /** Undefined once exchanged: a token seen in a log or a browser's history opens nothing later. */
  private token: string | undefined = secret();
  private readonly sessions: Session[] = [];

  /** Cookies are not separated by port: a console on another port must not overwrite this one's. */
  constructor(readonly cookieName: string) {}

  /** The token to print, once. */
  loginToken(): string {
    if (!this.token) throw new Error("the console's login token was already used");
    return this.token;
  }

  /** Exchanges the one-time token for a session; undefined when the token is wrong or used. */
  exchange(given: string): Session | undefined {
    const token = this.token;
    if (!token || !secretsEqual(given, token)) return undefined;
    this.token = undefined;
    const session = { id: secret(), csrf: secret() };
    this.sessions.push(session);
    return session;
  }

  /** The session whose id the request's cookie carries. */
  sessionOf(cookieHeader: string | undefined): Session | undefined {
    const id = cookieValue(cookieHeader, this.cookieName);
    if (id === undefined) return undefined;
    return this.sessions.find((s) => secretsEqual(id, s.id));
  }

  csrfMatches(session: Session, given: string | undefined): boolean {
    return given !== undefined && secretsEqual(given, session.csrf);
  }

  setCookie(session: Session, secure: boolean): string {
    return `${this.cookieName}=${session.id}; Path=/; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
  }
}

/** One cookie's value from a Cookie header (RFC 6265 §5.4 pairs). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}
