// Brings the local cluster up once per test run, or reuses a running one, and hands its environment to the tests.
// A cluster this run started is stopped at the end, unless GANTRY_KEEP_CLUSTER=1.
import type { TestProject } from "vitest/node";
import { clusterDown, clusterRunning, clusterUp, type ClusterEnv } from "../support/cluster-env.js";

declare module "vitest" {
  export interface ProvidedContext {
    cluster: ClusterEnv;
  }
}

export default function setup(project: TestProject): () => void {
  const wasRunning = clusterRunning();
  const env = clusterUp();
  project.provide("cluster", env);
  return () => {
    if (!wasRunning && process.env["GANTRY_KEEP_CLUSTER"] !== "1") clusterDown();
  };
}
