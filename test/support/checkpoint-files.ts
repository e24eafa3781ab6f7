// Reads what a trainer left in a local checkpoint directory straight from the files, without the trainer's reader:
// a step's manifest, the loss history, the committed step and a safetensors file's tensor names.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface ManifestFiles {
  step: number;
  files: Record<string, { sha256: string; bytes: number }>;
  extra: Record<string, string>;
  dataState: { consumedSamples: number };
}

export interface LossFile {
  train: { step: number; loss: number }[];
  validation: { step: number; loss: number }[];
}

export const stepName = (step: number): string => `step-${String(step).padStart(8, "0")}`;
export const stepDir = (ckpt: string, step: number): string => join(ckpt, stepName(step));
export const manifestPath = (ckpt: string, step: number): string => join(stepDir(ckpt, step), "manifest.json");

export function readManifest(ckpt: string, step: number): ManifestFiles {
  return JSON.parse(readFileSync(manifestPath(ckpt, step), "utf8")) as ManifestFiles;
}

export function readLosses(ckpt: string): LossFile {
  return JSON.parse(readFileSync(join(ckpt, "losses.json"), "utf8")) as LossFile;
}

/** The step that `latest` commits. */
export function latestStep(ckpt: string): number {
  return Number(readFileSync(join(ckpt, "latest"), "utf8").trim().replace("step-", ""));
}

/** Tensor names in a safetensors file's header. */
export function tensorNames(file: string): string[] {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  return Object.keys(JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>).filter((k) => k !== "__metadata__");
}
