/** Network commands: network create, ls, inspect, rm, prune, connect, disconnect. */
import { InvalidArgument } from "../../../errors.js";
import { contains, parseIp, parseSubnet } from "../../../network/ip.js";
import { bool, keyValueFlags, type OptionValues, str, strs } from "../../args.js";
import { formatList, renderTemplate } from "../format.js";
import { ipamConfig } from "../run-options.js";
import { type Command, type Context, filtersQuery, forEach } from "./shared.js";

const encode = encodeURIComponent;

interface Network {
  Name: string;
  Id: string;
  Driver: string;
  Scope: string;
  Internal: boolean;
  Created: string;
  Labels: Record<string, string>;
}

async function create(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (args.length !== 1) throw new InvalidArgument('"network create" requires exactly 1 argument.');
  const subnets = strs(o, "subnet");
  // As docker pairs them: each --gateway and --ip-range with the --subnet that holds it.
  const holder = (flag: string, address: string) => {
    const found = subnets.find((s) => {
      const subnet = parseSubnet(s);
      const { family, value } = parseIp(address.replace(/\/\d+$/, ""));
      return family === subnet.family && contains(subnet, value);
    });
    if (!found) throw new InvalidArgument(`--${flag} ${address} is in no --subnet given`);
    return found;
  };
  const configs = subnets.map(
    (Subnet) => ({ Subnet }) as { Subnet: string; Gateway?: string; IPRange?: string },
  );
  for (const gateway of strs(o, "gateway"))
    configs.find((c) => c.Subnet === holder("gateway", gateway))!.Gateway = gateway;
  for (const range of strs(o, "ip-range"))
    configs.find((c) => c.Subnet === holder("ip-range", range))!.IPRange = range;
  const options = keyValueFlags(strs(o, "opt"), "opt");
  if (options["mtu"]) {
    options["com.docker.network.driver.mtu"] = options["mtu"];
    delete options["mtu"];
  }
  const r = await ctx.api.call<{ Id: string }>("POST", "/networks/create", {
    body: {
      Name: args[0],
      Driver: str(o, "driver") ?? "bridge",
      Internal: bool(o, "internal"),
      EnableIPv6: bool(o, "ipv6"),
      Attachable: bool(o, "attachable"),
      Labels: keyValueFlags(strs(o, "label"), "label"),
      Options: options,
      IPAM: {
        Driver: "default",
        Config: configs,
      },
    },
  });
  process.stdout.write(`${r.Id}\n`);
  return 0;
}

async function ls(ctx: Context, o: OptionValues): Promise<number> {
  const list = await ctx.api.call<Network[]>("GET", "/networks", { query: filtersQuery(strs(o, "filter")) });
  list.sort((a, b) => a.Name.localeCompare(b.Name));
  const trunc = !bool(o, "no-trunc");
  if (bool(o, "quiet")) {
    process.stdout.write(list.map((n) => `${trunc ? n.Id.slice(0, 12) : n.Id}\n`).join(""));
    return 0;
  }
  const rows = list.map((n) => ({
    ...n,
    ID: trunc ? n.Id.slice(0, 12) : n.Id,
    Internal: String(n.Internal),
  }));
  process.stdout.write(
    formatList(rows, str(o, "format"), [
      ["NETWORK ID", "{{.ID}}"],
      ["NAME", "{{.Name}}"],
      ["DRIVER", "{{.Driver}}"],
      ["SCOPE", "{{.Scope}}"],
    ]),
  );
  return 0;
}

async function inspect(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (!args.length) throw new InvalidArgument('"network inspect" requires at least 1 argument.');
  const found: unknown[] = [];
  const code = await forEach(args, async (name) => {
    found.push(await ctx.api.call("GET", `/networks/${encode(name)}`));
  });
  const format = str(o, "format");
  process.stdout.write(
    format
      ? found.map((n) => `${renderTemplate(format, n)}\n`).join("")
      : `${JSON.stringify(found, null, 4)}\n`,
  );
  return code;
}

export const networkCommands: Record<string, Command> = {
  "network create": {
    usage: "berth network create [OPTIONS] NETWORK",
    description: "Create a network",
    options: [
      {
        name: "driver",
        short: "d",
        type: "string",
        description: 'Driver to manage the Network (default "bridge")',
      },
      {
        name: "subnet",
        type: "strings",
        description: "Subnet in CIDR format that represents a network segment (one IPv4, one IPv6)",
      },
      { name: "gateway", type: "strings", description: "IPv4 or IPv6 Gateway for the master subnet" },
      { name: "ip-range", type: "strings", description: "Allocate container ip from a sub-range" },
      { name: "ipv6", type: "boolean", description: "Enable IPv6 networking" },
      { name: "internal", type: "boolean", description: "Restrict external access to the network" },
      { name: "attachable", type: "boolean", description: "Enable manual container attachment" },
      { name: "label", type: "strings", description: "Set metadata on a network" },
      { name: "opt", short: "o", type: "strings", description: "Set driver specific options (mtu=1400)" },
    ],
    action: create,
  },
  "network ls": {
    usage: "berth network ls [OPTIONS]",
    description: "List networks",
    options: [
      { name: "quiet", short: "q", type: "boolean", description: "Only display network IDs" },
      {
        name: "filter",
        short: "f",
        type: "strings",
        description: "Provide filter values (e.g. 'driver=bridge')",
      },
      { name: "format", type: "string", description: "Format output using a custom template" },
      { name: "no-trunc", type: "boolean", description: "Do not truncate the output" },
    ],
    action: ls,
  },
  "network inspect": {
    usage: "berth network inspect [OPTIONS] NETWORK [NETWORK...]",
    description: "Display detailed information on one or more networks",
    options: [
      { name: "format", short: "f", type: "string", description: "Format output using a custom template" },
    ],
    action: inspect,
  },
  "network rm": {
    usage: "berth network rm NETWORK [NETWORK...]",
    description: "Remove one or more networks",
    options: [],
    action: async (ctx, _o, args) => {
      if (!args.length) throw new InvalidArgument('"network rm" requires at least 1 argument.');
      return forEach(args, async (name) => {
        await ctx.api.call("DELETE", `/networks/${encode(name)}`);
        process.stdout.write(`${name}\n`);
      });
    },
  },
  "network prune": {
    usage: "berth network prune [OPTIONS]",
    description: "Remove all unused networks",
    options: [{ name: "force", short: "f", type: "boolean", description: "Do not prompt for confirmation" }],
    action: async (ctx, o) => {
      if (!bool(o, "force"))
        throw new InvalidArgument("network prune removes all unused networks: confirm with --force");
      const r = await ctx.api.call<{ NetworksDeleted: string[] | null }>("POST", "/networks/prune");
      if (r.NetworksDeleted?.length)
        process.stdout.write(`Deleted Networks:\n${r.NetworksDeleted.join("\n")}\n`);
      return 0;
    },
  },
  "network connect": {
    usage: "berth network connect [OPTIONS] NETWORK CONTAINER",
    description: "Connect a container to a network",
    options: [
      { name: "ip", type: "string", description: "IPv4 address (e.g., 172.30.100.104)" },
      { name: "ip6", type: "string", description: "IPv6 address (e.g., 2001:db8::33)" },
      { name: "alias", type: "strings", description: "Add network-scoped alias for the container" },
    ],
    action: async (ctx, o, args) => {
      if (args.length !== 2) throw new InvalidArgument('"network connect" requires exactly 2 arguments.');
      await ctx.api.call("POST", `/networks/${encode(args[0]!)}/connect`, {
        body: {
          Container: args[1],
          EndpointConfig: { ...ipamConfig(str(o, "ip"), str(o, "ip6")), Aliases: strs(o, "alias") },
        },
      });
      return 0;
    },
  },
  "network disconnect": {
    usage: "berth network disconnect [OPTIONS] NETWORK CONTAINER",
    description: "Disconnect a container from a network",
    options: [
      {
        name: "force",
        short: "f",
        type: "boolean",
        description: "Force the container to disconnect from a network",
      },
    ],
    action: async (ctx, o, args) => {
      if (args.length !== 2) throw new InvalidArgument('"network disconnect" requires exactly 2 arguments.');
      await ctx.api.call("POST", `/networks/${encode(args[0]!)}/disconnect`, {
        body: { Container: args[1], Force: bool(o, "force") },
      });
      return 0;
    },
  },
};
