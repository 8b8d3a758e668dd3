/** The cluster scheduler's placement: pure filters and strategies over a load view. */
export {
  type Constraint,
  type ConstraintField,
  matchesConstraints,
  parseConstraints,
  parsePlacementPreference,
  spreadValue,
} from "./constraints.js";
export {
  ClusterLoad,
  type NodeLoad,
  type PlacedTask,
  type Placement,
  type PlacementRequest,
  place,
  placeMany,
  type SchedNode,
  type Strategy,
} from "./placement.js";
