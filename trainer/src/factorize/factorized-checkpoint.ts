// How a factorized model is recorded in a checkpoint: model.safetensors holds <name>.u and <name>.v in place of each
// factorized W, and the manifest's extra.factorized lists the factors, so a reader can rebuild the layout (or
// multiply the pairs out for tools that want the dense model).
import { z } from "zod";
import type { CheckpointManifest } from "../checkpoint/manifest.js";
import type { FactorPlan } from "./factorize-plan.js";

export const FACTORIZED_KEY = "factorized";
export const FACTORIZED_FROM_KEY = "factorizedFrom";

const Factors = z.array(z.strictObject({ name: z.string().min(1), dIn: z.int().min(1), dOut: z.int().min(1), rank: z.int().min(1) }));

/** extra fields that record `plan` (and where the dense model came from). */
export function factorizedExtra(plan: FactorPlan, from: string): Record<string, string> {
  return { [FACTORIZED_KEY]: JSON.stringify(plan.factors), [FACTORIZED_FROM_KEY]: from };
}

/** The plan a checkpoint was factorized with; undefined for a dense checkpoint; throws on a malformed record. */
export function planOfManifest(manifest: Pick<CheckpointManifest, "extra">): FactorPlan | undefined {
  const raw = manifest.extra?.[FACTORIZED_KEY];
  if (raw === undefined) return undefined;
  if (typeof raw !== "string") throw new Error(`extra.${FACTORIZED_KEY} must be a JSON string`);
  return { factors: Factors.parse(JSON.parse(raw)), kept: [] };
}
