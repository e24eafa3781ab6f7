export * from "./schema/job.js";
export * from "./schema/status.js";
export * from "./schema/presets.js";
export { parseJob, describeIssues, formatPath, type JobIssue, type ParseResult, type ParseOptions } from "./parse.js";
export { CROSS_FIELD_RULES, totalRanks, modelParallelSize, type CrossFieldRule } from "./rules.js";
export { resolveModelShape, type ModelShape } from "./model-shape.js";
export { buildCrd } from "./crd/build.js";
export { EXIT, classifyExit, type ExitClass, type ExitVerdict } from "./contract/exit-codes.js";
export { POD_ENV, MASTER_PORT } from "./contract/pod-env.js";
