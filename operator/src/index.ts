export { plan, DEFAULT_PLAN_CONFIG, type Action, type Plan, type PlanConfig, type StoredJob } from "./core/plan.js";
export type { Observed, ObservedNode, ObservedPod, PodPhase } from "./core/observed.js";
export { LABELS, podName, serviceName, pdbName, jobSelector } from "./core/names.js";
export { CONDITION } from "./core/conditions.js";
export { parallelLayout, layoutFits, layoutProblem, ranksFor, LayoutError, type ParallelLayout, type LayoutSpec } from "./core/layout.js";
export { elasticWorkers } from "./core/elastic-size.js";
