/** The console's pure access rules: tokens, cookies, origins, addresses and the passed-on paths. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConsoleAccess, cookieValue, secretsEqual } from "../../../src/console/access.js";
import { proxied } from "../../../src/console/api-paths.js";
import { parseListenAddress, requireTlsOffLoopback } from "../../../src/console/listen-address.js";
import { allowedHosts, checkOrigin } from "../../../src/console/request-origin.js";

test("the login token opens one session, once", () => {
  const access = new ConsoleAccess("c");
  const token = access.loginToken();
  assert.ok(token.length >= 40, "the token carries 256 random bits");
  assert.equal(access.exchange(`${token}x`), undefined);
  assert.equal(access.exchange(""), undefined);
  const session = access.exchange(token);
  assert.ok(session);
  assert.equal(access.exchange(token), undefined, "a used token opens nothing");
  assert.throws(() => access.loginToken());
  assert.equal(access.sessionOf(`other=1; c=${session.id}`), session);
  assert.equal(access.sessionOf(`c=${session.id}x`), undefined);
  assert.equal(access.sessionOf(undefined), undefined);
  assert.ok(access.csrfMatches(session, session.csrf));
  assert.ok(!access.csrfMatches(session, undefined));
  assert.ok(!access.csrfMatches(session, session.id));
  assert.match(access.setCookie(session, false), /^c=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/);
  assert.match(access.setCookie(session, true), /; Secure$/);
});

test("secrets compare by value, whatever their lengths", () => {
  assert.ok(secretsEqual("abc", "abc"));
  assert.ok(!secretsEqual("abc", "abcd"));
  assert.ok(!secretsEqual("", "a"));
  assert.equal(cookieValue("a=1; b = 2 ;c=3", "b"), "2");
  assert.equal(cookieValue("ab=1", "a"), undefined);
});

test("console addresses: IPs and localhost; anything off loopback needs TLS", () => {
  assert.deepEqual(parseListenAddress("127.0.0.1:9900"), {
    host: "127.0.0.1",
    port: 9900,
    loopback: true,
    wildcard: false,
  });
  assert.equal(parseListenAddress("localhost:1").host, "127.0.0.1");
  assert.equal(parseListenAddress("[::1]:80").loopback, true);
  assert.equal(parseListenAddress("0.0.0.0:80").wildcard, true);
  assert.equal(parseListenAddress("[::]:80").wildcard, true);
  for (const bad of ["9900", "nonsense", "127.0.0.1:99999", "example.com:80", "[zz]:1", "1.2.3.4:", "::1:80"])
    assert.throws(() => parseListenAddress(bad), /invalid console address/, bad);
  assert.throws(() => requireTlsOffLoopback(parseListenAddress("10.0.0.1:80"), false), /without TLS/);
  assert.throws(() => requireTlsOffLoopback(parseListenAddress("0.0.0.0:80"), false), /without TLS/);
  requireTlsOffLoopback(parseListenAddress("10.0.0.1:80"), true);
  requireTlsOffLoopback(parseListenAddress("127.0.0.2:80"), false);
});

test("a foreign Host (DNS rebinding) or Origin is refused; a change needs an Origin", () => {
  const hosts = allowedHosts(parseListenAddress("127.0.0.1:0"), 9900);
  const ok = (h: { host?: string; origin?: string }, required = false) =>
    checkOrigin(h, hosts, "http", required).ok;
  assert.ok(ok({ host: "127.0.0.1:9900" }));
  assert.ok(ok({ host: "localhost:9900", origin: "http://localhost:9900" }, true));
  assert.ok(!ok({ host: "evil.example:9900" }), "a rebound name");
  assert.ok(!ok({ host: "127.0.0.1:9901" }));
  assert.ok(!ok({}));
  assert.ok(!ok({ host: "127.0.0.1:9900", origin: "http://evil.example" }));
  assert.ok(!ok({ host: "127.0.0.1:9900", origin: "http://localhost:9900" }), "another origin of ours");
  assert.ok(!ok({ host: "127.0.0.1:9900", origin: "https://127.0.0.1:9900" }));
  assert.ok(!ok({ host: "127.0.0.1:9900", origin: "null" }));
  assert.ok(!ok({ host: "127.0.0.1:9900" }, true), "no Origin on a change");
  const wild = allowedHosts(parseListenAddress("0.0.0.0:0"), 443);
  assert.ok(
    checkOrigin({ host: "console.lan:443", origin: "https://console.lan:443" }, wild, "https", true).ok,
  );
  assert.ok(!checkOrigin({ host: "console.lan:443", origin: "https://evil:443" }, wild, "https", true).ok);
});

test("only the views' API calls are passed on", () => {
  for (const [method, path] of [
    ["GET", "/containers/json"],
    ["GET", "/containers/abc123/stats"],
    ["POST", "/containers/create"],
    ["POST", "/containers/web-1/restart"],
    ["DELETE", "/containers/abc"],
    ["GET", "/images/registry.local:5000/team/app:1.0/json"],
    ["GET", "/images/sha256:0123abcd/history"],
    ["POST", "/exec/abc/resize"],
    ["POST", "/services/s1/update"],
    ["POST", "/nodes/n1/update"],
  ])
    assert.ok(proxied(method!, path!), `${method} ${path}`);
  for (const [method, path] of [
    ["POST", "/build"],
    ["POST", "/images/create"],
    ["PUT", "/containers/abc/archive"],
    ["GET", "/containers/abc/archive"],
    ["POST", "/containers/abc/kill"],
    ["POST", "/exec/abc/start"],
    ["DELETE", "/images/busybox"],
    ["GET", "/containers/json/../../build"],
    ["GET", "/images/../containers/json"],
    ["GET", "/containers/%2e%2e/json"],
    ["GET", "/containers/a/b/json"],
    ["GET", "/containers//json"],
    ["POST", "/swarm/join"],
    ["POST", "/plugins/pull"],
    ["GET", "/containers/json?x"],
    ["PATCH", "/containers/json"],
  ])
    assert.ok(!proxied(method!, path!), `${method} ${path}`);
});
