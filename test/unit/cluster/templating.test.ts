import assert from "node:assert/strict";
import { test } from "node:test";
import { checkTemplate, renderTemplate, type TemplateContext } from "../../../src/cluster/templating.js";

const context: TemplateContext = {
  Service: { ID: "svc1", Name: "web", Labels: { tier: "front", "com.example.team": "blue" } },
  Node: { ID: "node1", Hostname: "host-a", Platform: { Architecture: "x86_64", OS: "linux" } },
  Task: { ID: "task1", Name: "web.2.task1", Slot: "2" },
};
const functions = {
  env: (n: string) => ({ PORT: "8080" })[n] ?? "",
  secret: (n: string) => {
    if (n !== "db_password") throw new Error(`no secret ${n}`);
    return "s3cret";
  },
  config: (n: string) => `config ${n}`,
};
const render = (t: string) => renderTemplate(t, context, functions);

test("a template prints the service, node and task it is rendered for", () => {
  assert.equal(
    render(
      "{{.Service.Name}} on {{ .Node.Hostname }} ({{.Node.Platform.OS}}/{{.Node.Platform.Architecture}}) as {{.Task.Name}} slot {{.Task.Slot}}",
    ),
    "web on host-a (linux/x86_64) as web.2.task1 slot 2",
  );
  assert.equal(render("{{.Service.Labels.tier}}|{{.Service.Labels.nope}}"), "front|<no value>");
  assert.equal(render("{{.Service.Labels}}"), "map[com.example.team:blue tier:front]");
  assert.equal(render('{{index .Service.Labels "com.example.team"}}'), "blue");
});

test("env, secret and config functions; trim markers and comments", () => {
  assert.equal(
    render('port={{env "PORT"}} pw={{ secret "db_password" }} {{config "app.conf"}}'),
    "port=8080 pw=s3cret config app.conf",
  );
  assert.equal(render('a  {{- /* a comment */ -}}  b\n{{- "" | printf}}'.split("\n")[0]!), "ab");
  assert.equal(render("x {{/* nothing */}}y"), "x y");
  assert.equal(render("no actions at all { }"), "no actions at all { }");
});

test("actions Berth does not render are refused with their text, and bad ones with the reason", () => {
  for (const [template, message] of [
    ["{{if .Service.Name}}x{{end}}", /\{\{if \.Service\.Name\}\} is not supported/],
    ["{{range .Service.Labels}}{{.}}{{end}}", /is not supported/],
    ["{{.Service.Name | printf}}", /is not supported/],
    ["{{$x := 1}}", /is not supported/],
    ["{{.Service.Owner}}", /can't evaluate field Owner/],
    ["{{env PORT}}", /PORT is not a quoted string/],
    ["{{.Service.Name", /unclosed action/],
    ['{{env "PORT}}', /unterminated string|not a quoted string/],
  ] as const)
    assert.throws(() => checkTemplate(template), message, template);
  checkTemplate('{{.Service.Labels.anything}} {{secret "x"}}');
});
