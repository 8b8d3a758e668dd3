// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose variables are written ${VAR}, in plain strings
/** Compose variable interpolation, as docker's loader does it. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { interpolate, interpolateString } from "../../../../src/cli/berth/stack/interpolate.js";

const env: Record<string, string> = { TAG: "1.2", EMPTY: "", NAME: "web" };
const lookup = (n: string) => env[n];
const sub = (text: string, warnings: string[] = []) =>
  interpolateString(text, lookup, "services.web.image", warnings);

test("$VAR and ${VAR} are replaced by the variable's value", () => {
  assert.equal(sub("busybox:$TAG"), "busybox:1.2");
  assert.equal(sub("busybox:${TAG}-x"), "busybox:1.2-x");
  assert.equal(sub("$NAME$TAG"), "web1.2");
});

test("$$ is a literal dollar and is not interpolated further", () => {
  assert.equal(sub("echo $$HOME $${TAG}"), "echo $HOME ${TAG}");
});

test(":- takes the default when the variable is unset or empty; - only when unset", () => {
  assert.equal(sub("${MISSING:-def}"), "def");
  assert.equal(sub("${EMPTY:-def}"), "def");
  assert.equal(sub("${EMPTY-def}"), "");
  assert.equal(sub("${MISSING-def}"), "def");
  assert.equal(sub("${TAG:-def}"), "1.2");
  assert.equal(sub("${MISSING:-$TAG}"), "1.2");
});

test(":? and ? refuse a missing variable with the message given, naming the field", () => {
  assert.throws(() => sub("${MISSING:?set the tag}"), /services\.web\.image .*MISSING.*set the tag/);
  assert.throws(() => sub("${EMPTY:?no}"), /EMPTY/);
  assert.equal(sub("${EMPTY?no}"), "");
  assert.throws(() => sub("${MISSING?}"), /MISSING/);
});

test("an unset variable without default is blank, with docker's warning", () => {
  const warnings: string[] = [];
  assert.equal(sub("a${NOPE}b", warnings), "ab");
  assert.deepEqual(warnings, ['The "NOPE" variable is not set. Defaulting to a blank string.']);
});

test("malformed references are refused with the path and a hint to escape", () => {
  for (const bad of ["${", "${TAG", "${}", "${1X}", "$", "a $ b", "${TAG:x}", "${TAG!}"])
    assert.throws(
      () => sub(bad),
      /services\.web\.image has an invalid interpolation format.*escape any \$/,
      bad,
    );
});

test("every string value of a document is interpolated, keys and other scalars are not", () => {
  const doc = { services: { $TAG: { image: "x:$TAG", deploy: { replicas: 2 }, env: ["A=${NAME}"] } } };
  assert.deepEqual(interpolate(doc, lookup, "", []), {
    services: { $TAG: { image: "x:1.2", deploy: { replicas: 2 }, env: ["A=web"] } },
  });
  assert.throws(
    () => interpolate({ services: { web: { env: ["ok", "${"] } } }, lookup, "", []),
    /services\.web\.env\.1 has an invalid/,
  );
});
