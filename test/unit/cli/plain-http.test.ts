import assert from "node:assert/strict";
import { test } from "node:test";
import { MalformedAnswer, parseAnswer } from "../../../src/cli/berth/plain-http.js";

const answer = (text: string) => parseAnswer(Buffer.from(text, "latin1"));

test("an answer with Content-Length, without a body, and read to its end", () => {
  assert.deepEqual(answer('HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{"Id":"ab"}'), {
    status: 201,
    body: Buffer.from('{"Id":"ab"}'),
  });
  assert.equal(answer("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").body.length, 0);
  assert.equal(answer("HTTP/1.0 200 OK\r\n\r\nto the end").body.toString(), "to the end");
});

test("a chunked answer is joined", () => {
  const r = answer(
    "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
  );
  assert.equal(r.status, 404);
  assert.equal(r.body.toString(), "hello world");
});

test("what is not a whole answer is refused", () => {
  for (const bad of [
    "HTTP/1.1 200 OK\r\nContent-Length: 3",
    "SSH-2.0-OpenSSH\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  ])
    assert.throws(() => answer(bad), MalformedAnswer);
});
