/**
 * A real server image built on a Debian base (a debootstrapped bookworm tree imported as
 * debian:bookworm): a system user made by useradd, the server copied in with --chown by that
 * user's name, a cache mount, EXPOSE, USER and HEALTHCHECK; then the image runs with a
 * published port, answers HTTP from the host, and turns healthy.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DaemonFixture, ok } from "../helpers/daemon.js";
import { debianTree } from "../helpers/debian.js";
import { until } from "../helpers/wait.js";

const d = new DaemonFixture();
const ctx = mkdtempSync("/tmp/berth-build-debian-");

before(async () => {
  const tree = debianTree();
  await d.start();
  const tar = spawnSync("tar", ["-C", tree, "--numeric-owner", "--xattrs", "-c", "."], {
    maxBuffer: 1 << 30,
  });
  assert.equal(tar.status, 0, String(tar.stderr));
  ok(
    d.berth(["import", "-", "debian:bookworm"], { input: tar.stdout as unknown as string, timeout: 300_000 }),
  );
});
after(async () => {
  d.berth(["rm", "-f", "debian-server"]);
  await d.cleanup();
  rmSync(ctx, { recursive: true, force: true });
});

const SERVER = String.raw`use strict;
use IO::Socket::INET;
my $server = IO::Socket::INET->new(LocalAddr => "0.0.0.0:8080", Listen => 5, ReuseAddr => 1) or die "listen: $!";
while (my $client = $server->accept) {
  my $request = <$client>;
  my $who = getpwuid($<);
  my $body = "$ENV{GREETING}, served by $who from " . ($request =~ m{^GET (\S+)} ? $1 : "?") . "\n";
  print $client "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
  close $client;
}
`;

const DOCKERFILE = `FROM debian:bookworm
RUN useradd --system --create-home --shell /usr/sbin/nologin web
WORKDIR /srv
COPY --chown=web:web server.pl ./
RUN --mount=type=cache,target=/root/.cache perl -c server.pl && touch /root/.cache/checked
ENV GREETING="hello from debian"
EXPOSE 8080
USER web
HEALTHCHECK --interval=1s --timeout=2s CMD perl -MIO::Socket::INET -e 'exit !IO::Socket::INET->new("127.0.0.1:8080")'
CMD ["perl", "/srv/server.pl"]
`;

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

test("a Debian-based image with a real server: built, run with a published port, answering and healthy", async () => {
  writeFileSync(join(ctx, "Dockerfile"), DOCKERFILE);
  writeFileSync(join(ctx, "server.pl"), SERVER);
  const built = ok(d.berth(["build", "-t", "debian-server:1", ctx], { timeout: 300_000 }));
  assert.match(built.stdout, /server\.pl syntax OK/);
  assert.equal(
    ok(
      d.berth([
        "run",
        "--rm",
        "--network",
        "none",
        "debian-server:1",
        "stat",
        "-c",
        "%U:%G %a",
        "/srv/server.pl",
      ]),
    ).stdout,
    "web:web 644\n",
  );
  const config = JSON.parse(ok(d.berth(["inspect", "-f", "{{json .Config}}", "debian-server:1"])).stdout) as {
    User: string;
    WorkingDir: string;
    ExposedPorts: Record<string, unknown>;
    Env: string[];
  };
  assert.equal(config.User, "web");
  assert.equal(config.WorkingDir, "/srv");
  assert.deepEqual(Object.keys(config.ExposedPorts), ["8080/tcp"]);
  assert.ok(config.Env.includes("GREETING=hello from debian"));

  ok(d.berth(["run", "-d", "--name", "debian-server", "-p", "127.0.0.1::8080", "debian-server:1"]));
  const port = Number(
    ok(d.berth(["port", "debian-server", "8080"]))
      .stdout.trim()
      .split(":")
      .at(-1),
  );
  let answer = "";
  await until("the server's answer", async () => {
    answer = await httpGet(port, "/ping").catch(() => "");
    return answer !== "";
  });
  assert.equal(answer, "hello from debian, served by web from /ping\n");
  await until(
    "a healthy status",
    async () =>
      ok(d.berth(["inspect", "-f", "{{.State.Health.Status}}", "debian-server"])).stdout.trim() === "healthy",
    20_000,
  );
  ok(d.berth(["rm", "-f", "debian-server"]));

  // Unchanged: the rebuild runs nothing, even with the large base.
  const again = ok(d.berth(["build", "-t", "debian-server:1", ctx])).stdout;
  assert.doesNotMatch(again, /Running in/);
});
