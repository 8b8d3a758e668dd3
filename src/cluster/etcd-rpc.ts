/**
 * The part of etcd's v3 gRPC API that Berth calls, as a protobuf description written from etcd's
 * documented API (api/etcdserverpb/rpc.proto, mvccpb/kv.proto, authpb/auth.proto): only the
 * messages and fields used here, with etcd's own field names and numbers, so that a message
 * encodes as etcd expects. Names are etcd's original ones (`create_revision`, `ID`, `TTL`,
 * `peerURLs`, enum values `PUT`, `MOD`, `READWRITE`), the same its JSON gateway spoke.
 */
import protobuf from "protobufjs";

type Fields = Record<string, { type: string; id: number; rule?: "repeated" }>;

/** A field list from `name: "type id"` pairs ("repeated string 3" for a list). */
function fields(spec: Record<string, string>): Fields {
  const out: Fields = {};
  for (const [name, text] of Object.entries(spec)) {
    const parts = text.split(" ");
    const repeated = parts[0] === "repeated";
    const [type, id] = repeated ? parts.slice(1) : parts;
    out[name] = { type: type!, id: Number(id), ...(repeated ? { rule: "repeated" as const } : {}) };
  }
  return out;
}

const message = (spec: Record<string, string>, oneofs?: Record<string, string[]>) => ({
  fields: fields(spec),
  ...(oneofs
    ? { oneofs: Object.fromEntries(Object.entries(oneofs).map(([k, v]) => [k, { oneof: v }])) }
    : {}),
});
const header = "ResponseHeader 1";
const empty = message({});
const answer = message({ header });

const descriptor = {
  nested: {
    mvccpb: {
      nested: {
        KeyValue: message({
          key: "bytes 1",
          create_revision: "int64 2",
          mod_revision: "int64 3",
          version: "int64 4",
          value: "bytes 5",
          lease: "int64 6",
        }),
        Event: {
          ...message({ type: "EventType 1", kv: "KeyValue 2" }),
          nested: { EventType: { values: { PUT: 0, DELETE: 1 } } },
        },
      },
    },
    authpb: {
      nested: {
        Permission: {
          ...message({ permType: "Type 1", key: "bytes 2", range_end: "bytes 3" }),
          nested: { Type: { values: { READ: 0, WRITE: 1, READWRITE: 2 } } },
        },
      },
    },
    etcdserverpb: {
      nested: {
        ResponseHeader: message({
          cluster_id: "uint64 1",
          member_id: "uint64 2",
          revision: "int64 3",
          raft_term: "uint64 4",
        }),
        RangeRequest: message({ key: "bytes 1", range_end: "bytes 2", count_only: "bool 9" }),
        RangeResponse: message({
          header,
          kvs: "repeated mvccpb.KeyValue 2",
          more: "bool 3",
          count: "int64 4",
        }),
        PutRequest: message({ key: "bytes 1", value: "bytes 2", lease: "int64 3" }),
        PutResponse: answer,
        /** Every answer that carries only a header (auth changes). */
        Answer: answer,
        DeleteRangeRequest: message({ key: "bytes 1", range_end: "bytes 2" }),
        DeleteRangeResponse: message({ header, deleted: "int64 2" }),
        RequestOp: message(
          {
            request_range: "RangeRequest 1",
            request_put: "PutRequest 2",
            request_delete_range: "DeleteRangeRequest 3",
            request_txn: "TxnRequest 4",
          },
          { request: ["request_range", "request_put", "request_delete_range", "request_txn"] },
        ),
        ResponseOp: message(
          {
            response_range: "RangeResponse 1",
            response_put: "PutResponse 2",
            response_delete_range: "DeleteRangeResponse 3",
            response_txn: "TxnResponse 4",
          },
          { response: ["response_range", "response_put", "response_delete_range", "response_txn"] },
        ),
        Compare: {
          ...message(
            {
              result: "CompareResult 1",
              target: "CompareTarget 2",
              key: "bytes 3",
              create_revision: "int64 5",
              mod_revision: "int64 6",
              value: "bytes 7",
            },
            { target_union: ["create_revision", "mod_revision", "value"] },
          ),
          nested: {
            CompareResult: { values: { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } },
            CompareTarget: { values: { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } },
          },
        },
        TxnRequest: message({
          compare: "repeated Compare 1",
          success: "repeated RequestOp 2",
          failure: "repeated RequestOp 3",
        }),
        TxnResponse: message({ header, succeeded: "bool 2", responses: "repeated ResponseOp 3" }),
        WatchRequest: message(
          { create_request: "WatchCreateRequest 1" },
          { request_union: ["create_request"] },
        ),
        WatchCreateRequest: message({ key: "bytes 1", range_end: "bytes 2", start_revision: "int64 3" }),
        WatchResponse: message({
          header,
          watch_id: "int64 2",
          created: "bool 3",
          canceled: "bool 4",
          compact_revision: "int64 5",
          cancel_reason: "string 6",
          events: "repeated mvccpb.Event 11",
        }),
        LeaseGrantRequest: message({ TTL: "int64 1", ID: "int64 2" }),
        LeaseGrantResponse: message({ header, ID: "int64 2", TTL: "int64 3", error: "string 4" }),
        LeaseRevokeRequest: message({ ID: "int64 1" }),
        LeaseRevokeResponse: answer,
        LeaseKeepAliveRequest: message({ ID: "int64 1" }),
        LeaseKeepAliveResponse: message({ header, ID: "int64 2", TTL: "int64 3" }),
        Member: message({
          ID: "uint64 1",
          name: "string 2",
          peerURLs: "repeated string 3",
          clientURLs: "repeated string 4",
        }),
        MemberAddRequest: message({ peerURLs: "repeated string 1" }),
        MemberAddResponse: message({ header, member: "Member 2", members: "repeated Member 3" }),
        MemberRemoveRequest: message({ ID: "uint64 1" }),
        MemberRemoveResponse: message({ header, members: "repeated Member 2" }),
        MemberListRequest: empty,
        MemberListResponse: message({ header, members: "repeated Member 2" }),
        StatusRequest: empty,
        StatusResponse: message({ header, version: "string 2", dbSize: "int64 3", dbSizeInUse: "int64 9" }),
        AuthEnableRequest: empty,
        AuthenticateRequest: message({ name: "string 1", password: "string 2" }),
        AuthenticateResponse: message({ header, token: "string 2" }),
        AuthUserAddRequest: message({ name: "string 1", password: "string 2" }),
        AuthUserDeleteRequest: message({ name: "string 1" }),
        AuthUserGrantRoleRequest: message({ user: "string 1", role: "string 2" }),
        AuthUserRevokeRoleRequest: message({ name: "string 1", role: "string 2" }),
        AuthRoleAddRequest: message({ name: "string 1" }),
        AuthRoleDeleteRequest: message({ role: "string 1" }),
        AuthRoleGrantPermissionRequest: message({ name: "string 1", perm: "authpb.Permission 2" }),
      },
    },
  },
};

const root = protobuf.Root.fromJSON(descriptor);

/** One etcd method: its gRPC path and the types of its request and its answer. */
export interface Rpc {
  path: string;
  request: protobuf.Type;
  response: protobuf.Type;
}

function rpc(service: string, method: string, request: string, response: string): Rpc {
  return {
    path: `/etcdserverpb.${service}/${method}`,
    request: root.lookupType(`etcdserverpb.${request}`),
    response: root.lookupType(`etcdserverpb.${response}`),
  };
}

/** The methods Berth calls; streams (watch, lease keep-alive) are used as such by the client. */
export const RPC = {
  range: rpc("KV", "Range", "RangeRequest", "RangeResponse"),
  put: rpc("KV", "Put", "PutRequest", "PutResponse"),
  deleteRange: rpc("KV", "DeleteRange", "DeleteRangeRequest", "DeleteRangeResponse"),
  txn: rpc("KV", "Txn", "TxnRequest", "TxnResponse"),
  watch: rpc("Watch", "Watch", "WatchRequest", "WatchResponse"),
  leaseGrant: rpc("Lease", "LeaseGrant", "LeaseGrantRequest", "LeaseGrantResponse"),
  leaseRevoke: rpc("Lease", "LeaseRevoke", "LeaseRevokeRequest", "LeaseRevokeResponse"),
  leaseKeepAlive: rpc("Lease", "LeaseKeepAlive", "LeaseKeepAliveRequest", "LeaseKeepAliveResponse"),
  memberList: rpc("Cluster", "MemberList", "MemberListRequest", "MemberListResponse"),
  memberAdd: rpc("Cluster", "MemberAdd", "MemberAddRequest", "MemberAddResponse"),
  memberRemove: rpc("Cluster", "MemberRemove", "MemberRemoveRequest", "MemberRemoveResponse"),
  status: rpc("Maintenance", "Status", "StatusRequest", "StatusResponse"),
  authenticate: rpc("Auth", "Authenticate", "AuthenticateRequest", "AuthenticateResponse"),
  authEnable: rpc("Auth", "AuthEnable", "AuthEnableRequest", "Answer"),
  userAdd: rpc("Auth", "UserAdd", "AuthUserAddRequest", "Answer"),
  userDelete: rpc("Auth", "UserDelete", "AuthUserDeleteRequest", "Answer"),
  userGrantRole: rpc("Auth", "UserGrantRole", "AuthUserGrantRoleRequest", "Answer"),
  userRevokeRole: rpc("Auth", "UserRevokeRole", "AuthUserRevokeRoleRequest", "Answer"),
  roleAdd: rpc("Auth", "RoleAdd", "AuthRoleAddRequest", "Answer"),
  roleDelete: rpc("Auth", "RoleDelete", "AuthRoleDeleteRequest", "Answer"),
  roleGrantPermission: rpc("Auth", "RoleGrantPermission", "AuthRoleGrantPermissionRequest", "Answer"),
} as const;

export type RpcName = keyof typeof RPC;

/** A message's bytes from a plain object (bytes as Buffers, 64-bit numbers as strings). */
export function encode(type: protobuf.Type, body: object): Buffer {
  return Buffer.from(type.encode(type.fromObject(body)).finish());
}

/** A plain object from a message's bytes: 64-bit numbers and enums as strings, bytes as Buffers. */
export function decode<T>(type: protobuf.Type, bytes: Buffer): T {
  return type.toObject(type.decode(bytes), { longs: String, enums: String }) as T;
}
