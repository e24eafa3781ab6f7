import { describe, expect, it } from "vitest";
import { EXIT, classifyExit } from "../src/index.js";

describe("the trainer's exit-code contract", () => {
  it.each([
    [EXIT.success, undefined, "success", "Completed"],
    [EXIT.badConfig, "Error", "permanent", "InvalidConfiguration"],
    [EXIT.badData, "Error", "permanent", "InvalidData"],
    [EXIT.retryable, "Error", "retryable", "WorkerFailed"],
    [EXIT.preempted, "Error", "preempted", "Preempted"],
    [137, "OOMKilled", "retryable", "OOMKilled"],
    [143, "Error", "retryable", "KilledBySignal15"],
    [1, undefined, "retryable", "WorkerFailed"],
  ] as const)("exit %i (%s) is %s with reason %s", (code, reason, kind, why) => {
    expect(classifyExit(code, reason)).toEqual({ kind, reason: why });
  });
});
