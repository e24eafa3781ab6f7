// The progress record contract: what the trainer writes to Redis and how it reads in status.
import { describe, expect, it } from "vitest";
import { progressFromRecord, progressKey } from "../src/contract/progress.js";

describe("progress records", () => {
  it("are keyed by job uid", () => {
    expect(progressKey("1234-abcd")).toBe("gantry:job:1234-abcd:progress");
  });

  it("read as status.progress, with the loss formatted for kubectl get", () => {
    expect(progressFromRecord({ step: "7", loss: "2.000049", tokensPerSecond: "99.5", checkpointStep: "5", checkpointUri: "file:///c/5", checkpointTime: "2026-12-01T10:00:00Z" })).toEqual({
      step: 7,
      loss: "2.000",
      tokensPerSecond: 100,
      lastCheckpoint: { step: 5, uri: "file:///c/5", time: "2026-12-01T10:00:00Z" },
    });
  });

  it("are ignored when missing or malformed", () => {
    expect(progressFromRecord({})).toBeUndefined();
    expect(progressFromRecord({ step: "-1" })).toBeUndefined();
    expect(progressFromRecord({ step: "ten" })).toBeUndefined();
  });
});
