// What a PEFT checkpoint records in its manifest's `extra`, besides the model shape: the method and its settings,
// and the base it was trained on (the pretrained reference and a content hash). The weights file holds the adapters
// alone; these entries are how a resume, `gantry-train merge` and gantry-generate know that.
//   peft.method        "lora" | "adapter"
//   peft.config        the PeftConfig as JSON
//   peft.base.uri      spec.model.pretrained.uri
//   peft.base.format   "gantry" | "hf-safetensors"
//   peft.base.sha256   weightsHash of the base in paramLayout order
import type { CheckpointManifest } from "../checkpoint/manifest.js";
import { ConfigError } from "../runtime/run-config.js";
import { z } from "zod";
import { LORA_TARGETS, type LoraTarget, type PeftConfig } from "./peft-config.js";

// What a manifest's peft.config must hold; a checkpoint is input from elsewhere, so it is checked, not cast.
const PEFT_CONFIG_SCHEMA = z.discriminatedUnion("method", [
  z.object({ method: z.literal("lora"), rank: z.number().int().positive(), alpha: z.number().positive(), dropout: z.number().min(0).lt(1), targets: z.array(z.enum(LORA_TARGETS as [LoraTarget, ...LoraTarget[]])).min(1) }),
  z.object({ method: z.literal("adapter"), bottleneck: z.number().int().positive(), placement: z.enum(["attention", "mlp", "both"]) }),
]);


export interface PeftBaseRef {
  uri: string;
  format: "gantry" | "hf-safetensors";
  sha256: string;
}

export interface PeftCheckpointInfo {
  peft: PeftConfig;
  base: PeftBaseRef;
}

export const PEFT_EXTRA = { method: "peft.method", config: "peft.config", baseUri: "peft.base.uri", baseFormat: "peft.base.format", baseSha256: "peft.base.sha256" } as const;

/** A checkpoint's PEFT entries are missing or malformed, or a checkpoint is used where its kind does not fit. */
export class PeftCheckpointError extends ConfigError {
  constructor(
    readonly location: string,
    readonly reason: string,
  ) {
    super(`checkpoint ${location}: ${reason}`);
    this.name = "PeftCheckpointError";
  }
}

/** The base this run loaded is not the one the checkpoint was trained on. */
export class BaseMismatchError extends ConfigError {
  constructor(
    readonly location: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`checkpoint ${location} was trained on a base with sha256 ${expected}, but model.pretrained now holds ${actual}: the adapters belong to other weights`);
    this.name = "BaseMismatchError";
  }
}

export function peftManifestExtra(info: PeftCheckpointInfo): Record<string, string> {
  return {
    [PEFT_EXTRA.method]: info.peft.method,
    [PEFT_EXTRA.config]: JSON.stringify(info.peft),
    [PEFT_EXTRA.baseUri]: info.base.uri,
    [PEFT_EXTRA.baseFormat]: info.base.format,
    [PEFT_EXTRA.baseSha256]: info.base.sha256,
  };
}

/** The PEFT entries of a manifest; undefined for a plain (full-model) checkpoint. */
export function readPeftManifest(manifest: Pick<CheckpointManifest, "extra">, location: string): PeftCheckpointInfo | undefined {
  const extra = manifest.extra ?? {};
  if (extra[PEFT_EXTRA.method] === undefined) return undefined;
  const str = (key: string): string => {
    const v = extra[key];
    if (typeof v !== "string" || v === "") throw new PeftCheckpointError(location, `manifest extra.${key} is missing`);
    return v;
  };
  let json: unknown;
  try {
    json = JSON.parse(str(PEFT_EXTRA.config));
  } catch (err) {
    if (err instanceof PeftCheckpointError) throw err;
    throw new PeftCheckpointError(location, `manifest extra.${PEFT_EXTRA.config} is not JSON`);
  }
  const checked = PEFT_CONFIG_SCHEMA.safeParse(json);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const field = issue === undefined || issue.path.length === 0 ? "" : `.${issue.path.join(".")}`;
    throw new PeftCheckpointError(location, `manifest extra.${PEFT_EXTRA.config}${field}: ${issue?.message ?? "invalid"}`);
  }
  const peft: PeftConfig = checked.data;
  if (peft.method !== str(PEFT_EXTRA.method)) throw new PeftCheckpointError(location, `extra.${PEFT_EXTRA.method} and extra.${PEFT_EXTRA.config} disagree`);
  const format = str(PEFT_EXTRA.baseFormat);
  if (format !== "gantry" && format !== "hf-safetensors") throw new PeftCheckpointError(location, `unknown base format ${format}`);
  return { peft, base: { uri: str(PEFT_EXTRA.baseUri), format, sha256: str(PEFT_EXTRA.baseSha256) } };
}

/** Throws when `manifest` is a PEFT checkpoint: for tools that need whole weights (gantry-generate, a pretrained start). */
export function assertPlainCheckpoint(manifest: Pick<CheckpointManifest, "extra">, location: string): void {
  const info = readPeftManifest(manifest, location);
  if (info !== undefined) {
    throw new PeftCheckpointError(location, `holds ${info.peft.method} adapters only, not a whole model; run \`gantry-train merge --checkpoint ${location} --out DIR\` for a plain checkpoint`);
  }
}

/** Throws BaseMismatchError unless the loaded base is the checkpoint's. */
export function verifyBase(info: PeftCheckpointInfo, loadedSha256: string, location: string): void {
  if (info.base.sha256 !== loadedSha256) throw new BaseMismatchError(location, info.base.sha256, loadedSha256);
}
