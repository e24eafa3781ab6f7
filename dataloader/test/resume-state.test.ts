import { describe, expect, it } from "vitest";
import { FingerprintMismatchError, InvalidResumeStateError, MissingResumeStateError, ResumeStateConflictError, anchorOf, parseResumeState, resolveResume, resumeKeys, stateAt, type ResumeState } from "@gantry/dataloader";

const input = { jobUid: "uid-1", attempt: 2, fingerprint: "sha256:aa", seed: 7, samplesPerEpoch: 100, globalBatch: 16, worldSize: 4, contextLength: 128, anchor: { step: 10, consumedSamples: 160 } };

describe("resume state", () => {
  it("counts consumed samples from the anchor and splits them into epoch and position", () => {
    const s = stateAt(20, input);
    expect(s).toMatchObject({ step: 20, consumedSamples: 320, epoch: 3, sampleInEpoch: 20, attempt: 2, cursors: [] });
    expect(anchorOf(s)).toEqual({ step: 20, consumedSamples: 320 });
    expect(parseResumeState("t", JSON.stringify(s))).toEqual(s);
  });

  it("rejects a state whose counters disagree, or that is not a state", () => {
    const s = { ...stateAt(20, input), sampleInEpoch: 21 };
    expect(() => parseResumeState("redis x", s)).toThrow(InvalidResumeStateError);
    expect(() => parseResumeState("redis x", s)).toThrow(/disagree with consumedSamples 320/);
    expect(() => parseResumeState("ckpt", "nope")).toThrow(/resume state from ckpt is invalid: not JSON/);
    expect(() => parseResumeState("ckpt", { version: 1 })).toThrow(/jobUid/);
  });

  it("names keys by job uid with a cluster hash tag", () => {
    expect(resumeKeys("abc-123")).toEqual({ head: "gantry:dataloader:{abc-123}:head", states: "gantry:dataloader:{abc-123}:states", steps: "gantry:dataloader:{abc-123}:steps" });
    expect(() => resumeKeys("a}b")).toThrow(RangeError);
  });
});

describe("choosing the resume state", () => {
  const at30: ResumeState = stateAt(30, input);
  const base = { jobUid: "uid-1", checkpointStep: 30, fingerprint: "sha256:aa" };

  it("starts fresh only without a checkpoint (or at step 0)", () => {
    expect(resolveResume({ ...base, checkpointStep: undefined, fromRedis: at30, fromCheckpoint: undefined })).toEqual({ kind: "fresh" });
    expect(resolveResume({ ...base, checkpointStep: 0, fromRedis: undefined, fromCheckpoint: undefined })).toEqual({ kind: "fresh" });
  });

  it("takes Redis's state for the checkpoint step, else the checkpoint's copy", () => {
    expect(resolveResume({ ...base, fromRedis: at30, fromCheckpoint: at30 })).toEqual({ kind: "resume", state: at30, origin: "redis" });
    expect(resolveResume({ ...base, fromRedis: undefined, fromCheckpoint: at30 })).toEqual({ kind: "resume", state: at30, origin: "checkpoint" });
    // Redis's newest state is for another step: the checkpoint's copy is the one that matches the weights.
    expect(resolveResume({ ...base, fromRedis: stateAt(40, input), fromCheckpoint: at30 })).toMatchObject({ origin: "checkpoint", state: { consumedSamples: 480 } });
  });

  it("refuses to restart from sample 0 when a checkpoint has no data state", () => {
    expect(() => resolveResume({ ...base, fromRedis: undefined, fromCheckpoint: undefined })).toThrow(MissingResumeStateError);
    expect(() => resolveResume({ ...base, fromRedis: undefined, fromCheckpoint: undefined })).toThrow(/no dataloader state for step 30/);
  });

  it("refuses a changed dataset and copies that disagree", () => {
    expect(() => resolveResume({ ...base, fingerprint: "sha256:bb", fromRedis: at30, fromCheckpoint: undefined })).toThrow(FingerprintMismatchError);
    expect(() => resolveResume({ ...base, fromRedis: { ...at30, consumedSamples: 481 }, fromCheckpoint: at30 })).toThrow(ResumeStateConflictError);
    // Differing only in who wrote it (attempt, world size) is no conflict.
    expect(resolveResume({ ...base, fromRedis: { ...at30, attempt: 3, worldSize: 8 }, fromCheckpoint: at30 })).toMatchObject({ origin: "redis" });
  });
});
