/** A task record for unit tests of what reads tasks (the signature, the node agent). */
import type { TaskRecord } from "../../src/cluster/types.js";

/** Task t1 of service s1, slot 1, assigned to `nodeId` and desired running. */
export function assignedTask(nodeId: string): TaskRecord {
  return {
    ID: "t1",
    Version: { Index: 7 },
    CreatedAt: "",
    UpdatedAt: "",
    Labels: {},
    Spec: { ContainerSpec: { Image: "busybox", Args: ["sleep", "1"] } },
    ServiceID: "s1",
    Slot: 1,
    NodeID: nodeId,
    Status: { Timestamp: "", State: "assigned", Message: "", PortStatus: {} },
    DesiredState: "running",
    SpecVersion: 1,
  } as TaskRecord;
}
