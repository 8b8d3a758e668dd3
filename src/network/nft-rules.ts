/**
 * Berth's nftables tables (`ip berth`, and `ip6 berth` for IPv6 networks), and the only rules Berth ever writes: no other table is
 * read or changed. The table is made once; networks and published ports then come and go as
 * set, map and chain changes, so that nothing depends on rule handles.
 *  - NAT: sources of non-internal networks are masqueraded on their way out; published ports are
 *    DNAT'ed (from anywhere, the host itself included); loopback and hairpin traffic to a bridge
 *    is masqueraded so that replies come back the same way.
 *  - Isolation: a network's chain lets its traffic out to the world (or, internal, nowhere) but
 *    never to another Berth bridge; new connections into a bridge only through a published port.
 */
export const TABLE = "berth";

export function baseRuleset(): string {
  return `table ip ${TABLE} {
  set bridges { type ifname; }
  set subnets { type ipv4_addr; flags interval; }
  set nat_sources { type ipv4_addr; flags interval; }
  map ports { type inet_proto . inet_service : ipv4_addr . inet_service; }
  map ports_by_address { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
  map from_bridge { type ifname : verdict; }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports_by_address
    fib daddr type local dnat ip to meta l4proto . th dport map @ports
  }
  chain output {
    type nat hook output priority -100; policy accept;
    fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports_by_address
    fib daddr type local dnat ip to meta l4proto . th dport map @ports
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr @nat_sources oifname != @bridges masquerade
    oifname @bridges ip saddr 127.0.0.0/8 masquerade
    oifname @bridges ct status dnat ip saddr @subnets masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    iifname vmap @from_bridge
    oifname @bridges ct status dnat accept
    oifname @bridges drop
  }
}
`;
}

/**
 * The IPv6 table (`ip6 berth`), for networks with IPv6: the same isolation, and their subnets
 * masqueraded on the way out (NAT66, as docker does for a unique local prefix). No ports: a
 * published port is reached over IPv4. Made idempotently (`add` of what exists changes nothing).
 */
export function baseRuleset6(): string {
  return `add table ip6 ${TABLE}
add set ip6 ${TABLE} bridges { type ifname; }
add set ip6 ${TABLE} nat_sources { type ipv6_addr; flags interval; }
add map ip6 ${TABLE} from_bridge { type ifname : verdict; }
add chain ip6 ${TABLE} postrouting { type nat hook postrouting priority srcnat; policy accept; }
add chain ip6 ${TABLE} forward { type filter hook forward priority filter; policy accept; }
flush chain ip6 ${TABLE} postrouting
flush chain ip6 ${TABLE} forward
add rule ip6 ${TABLE} postrouting ip6 saddr @nat_sources oifname != @bridges masquerade
add rule ip6 ${TABLE} forward ct state established,related accept
add rule ip6 ${TABLE} forward iifname vmap @from_bridge
add rule ip6 ${TABLE} forward oifname @bridges drop
`;
}

export interface NetworkRules {
  id: string;
  bridge: string;
  subnet: string;
  internal: boolean;
}

const chainOf = (n: NetworkRules) => `net-${n.id.slice(0, 12)}`;

/**
 * What a network adds to a table (`ip`, or `ip6` for its IPv6 subnet): its bridge and subnet in
 * the sets, its forward chain.
 */
export function addNetworkRules(n: NetworkRules, family: "ip" | "ip6" = "ip"): string {
  const chain = chainOf(n);
  const t = `${family} ${TABLE}`;
  return [
    `add element ${t} bridges { "${n.bridge}" }`,
    ...(family === "ip" ? [`add element ${t} subnets { ${n.subnet} }`] : []),
    ...(n.internal ? [] : [`add element ${t} nat_sources { ${n.subnet} }`]),
    `add chain ${t} ${chain}`,
    `flush chain ${t} ${chain}`,
    `add rule ${t} ${chain} oifname "${n.bridge}" accept`,
    `add rule ${t} ${chain} oifname @bridges drop`,
    `add rule ${t} ${chain} ${n.internal ? "drop" : "accept"}`,
    `add element ${t} from_bridge { "${n.bridge}" : jump ${chain} }`,
    "",
  ].join("\n");
}

/** The same taken back, one statement per line so that each may fail alone (already gone). */
export function removeNetworkRules(n: NetworkRules, family: "ip" | "ip6" = "ip"): string[] {
  const chain = chainOf(n);
  const t = `${family} ${TABLE}`;
  return [
    `delete element ${t} from_bridge { "${n.bridge}" }`,
    `delete chain ${t} ${chain}`,
    `delete element ${t} nat_sources { ${n.subnet} }`,
    ...(family === "ip" ? [`delete element ${t} subnets { ${n.subnet} }`] : []),
    `delete element ${t} bridges { "${n.bridge}" }`,
  ];
}
