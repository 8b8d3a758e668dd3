/**
 * Berth's nftables table (`ip berth`), and the only rules Berth ever writes: no other table is
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

export interface NetworkRules {
  id: string;
  bridge: string;
  subnet: string;
  internal: boolean;
}

const chainOf = (n: NetworkRules) => `net-${n.id.slice(0, 12)}`;

/** What a network adds to the table: its bridge and subnet in the sets, its forward chain. */
export function addNetworkRules(n: NetworkRules): string {
  const chain = chainOf(n);
  return [
    `add element ip ${TABLE} bridges { "${n.bridge}" }`,
    `add element ip ${TABLE} subnets { ${n.subnet} }`,
    ...(n.internal ? [] : [`add element ip ${TABLE} nat_sources { ${n.subnet} }`]),
    `add chain ip ${TABLE} ${chain}`,
    `flush chain ip ${TABLE} ${chain}`,
    `add rule ip ${TABLE} ${chain} oifname "${n.bridge}" accept`,
    `add rule ip ${TABLE} ${chain} oifname @bridges drop`,
    `add rule ip ${TABLE} ${chain} ${n.internal ? "drop" : "accept"}`,
    `add element ip ${TABLE} from_bridge { "${n.bridge}" : jump ${chain} }`,
    "",
  ].join("\n");
}

/** The same taken back, one statement per line so that each may fail alone (already gone). */
export function removeNetworkRules(n: NetworkRules): string[] {
  const chain = chainOf(n);
  return [
    `delete element ip ${TABLE} from_bridge { "${n.bridge}" }`,
    `delete chain ip ${TABLE} ${chain}`,
    `delete element ip ${TABLE} nat_sources { ${n.subnet} }`,
    `delete element ip ${TABLE} subnets { ${n.subnet} }`,
    `delete element ip ${TABLE} bridges { "${n.bridge}" }`,
  ];
}
