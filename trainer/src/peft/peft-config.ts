// What a PEFT job trains, resolved once from spec.peft: pure.
import type { JobSpec } from "@gantry/crds";
import type { LinearSite } from "./low-rank-linear.js";

/** spec.peft.lora.targetModules: the linears LoRA may adapt (a subset of the model's linear sites). */
export type LoraTarget = Exclude<LinearSite, "gate">;
/** Canonical order of targets: the parameter order never depends on how the spec lists them. */
export const LORA_TARGETS: readonly LoraTarget[] = ["q", "k", "v", "o", "up", "down"];

export interface LoraConfig {
  method: "lora";
  rank: number;
  alpha: number;
  /** Dropout on the LoRA path's input. */
  dropout: number;
  /** Deduplicated, in LORA_TARGETS order. */
  targets: LoraTarget[];
}

export type AdapterPlacement = "attention" | "mlp" | "both";

export interface AdapterConfig {
  method: "adapter";
  /** Width m of the bottleneck. */
  bottleneck: number;
  placement: AdapterPlacement;
}

export type PeftConfig = LoraConfig | AdapterConfig;

/** LoRA's scale on B·A: alpha / r. */
export const loraScale = (c: Pick<LoraConfig, "alpha" | "rank">): number => c.alpha / c.rank;

/** The PEFT configuration of a spec, or undefined for a job without spec.peft. */
export function peftConfigFromSpec(spec: Pick<JobSpec, "peft">): PeftConfig | undefined {
  const p = spec.peft;
  if (p === undefined) return undefined;
  if (p.method === "adapter") return { method: "adapter", bottleneck: p.adapter.bottleneck, placement: p.adapter.placement };
  const wanted = new Set<string>(p.lora.targetModules);
  return { method: "lora", rank: p.lora.rank, alpha: p.lora.alpha, dropout: p.lora.dropout, targets: LORA_TARGETS.filter((t) => wanted.has(t)) };
}

/** Whether adapters sit after attention, after the MLP, or both. */
export const adapterSites = (placement: AdapterPlacement): ("attn" | "mlp")[] => (placement === "both" ? ["attn", "mlp"] : placement === "attention" ? ["attn"] : ["mlp"]);
