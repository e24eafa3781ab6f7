// Which weight matrices a factorization replaces, and at what rank: a pure decision over the model's parameter
// layout, so the CLI and the training mode agree on names and shapes. A factor pair is stored as <name>.u [d_in, r]
// and <name>.v [r, d_out] (x·W layout: x·W ≈ (x·U)·V), in the place of <name> in the layout order.
import type { ModelConfig } from "../model/model-config.js";
import { paramLayout, type ParamSpec } from "../model/param-layout.js";
import { ConfigError } from "../runtime/run-config.js";

/** The same module names as peft.lora.targetModules: attention q, k, v, o and MLP up (fc, and gate for SwiGLU), down. */
export const FACTOR_TARGETS = ["q", "k", "v", "o", "up", "down"] as const;
export type FactorTarget = (typeof FACTOR_TARGETS)[number];

const SUFFIXES: Record<FactorTarget, readonly string[]> = {
  q: ["attn.q"],
  k: ["attn.k"],
  v: ["attn.v"],
  o: ["attn.o"],
  up: ["mlp.fc", "mlp.gate"],
  down: ["mlp.proj"],
};

export interface FactorRequest {
  targets: readonly FactorTarget[];
  rank: number;
  /** Blocks to factorize; default all. */
  layers?: readonly number[];
}

/** One matrix of the plan: name, its [d_in, d_out] and the rank it gets. */
export interface PlannedFactor {
  name: string;
  dIn: number;
  dOut: number;
  rank: number;
}

export interface FactorPlan {
  factors: PlannedFactor[];
  /** Matrices that were asked for but kept dense, and why (a rank-r pair would not be smaller). */
  kept: { name: string; reason: string }[];
}

export class FactorPlanError extends ConfigError {
  constructor(reason: string) {
    super(`factorization: ${reason}`);
    this.name = "FactorPlanError";
  }
}

export const factorNames = (name: string): { u: string; v: string } => ({ u: `${name}.u`, v: `${name}.v` });

/**
 * The matrices `request` names in `config`, each at rank min(r, d_in, d_out). A matrix whose pair would hold as many
 * parameters as it does (r·(d_in + d_out) ≥ d_in·d_out) stays dense and is listed in `kept`.
 */
export function planFactorization(config: ModelConfig, request: FactorRequest): FactorPlan {
  if (!Number.isInteger(request.rank) || request.rank < 1) throw new FactorPlanError(`rank must be a positive integer, got ${request.rank}`);
  if (request.targets.length === 0) throw new FactorPlanError("name at least one target module");
  for (const t of request.targets) if (!FACTOR_TARGETS.includes(t)) throw new FactorPlanError(`unknown target ${String(t)}; use ${FACTOR_TARGETS.join(", ")}`);
  const layers = request.layers ?? Array.from({ length: config.layers }, (_, i) => i);
  for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= config.layers) throw new FactorPlanError(`layer ${l} is outside [0, ${config.layers})`);
  const wanted = new Set(layers.flatMap((l) => request.targets.flatMap((t) => SUFFIXES[t].map((s) => `h.${l}.${s}`))));
  const plan: FactorPlan = { factors: [], kept: [] };
  for (const spec of paramLayout(config)) {
    if (!wanted.has(spec.name)) continue;
    const [dIn, dOut] = spec.shape as [number, number];
    const rank = Math.min(request.rank, dIn, dOut);
    if (rank * (dIn + dOut) >= dIn * dOut) plan.kept.push({ name: spec.name, reason: `rank ${rank} × (${dIn} + ${dOut}) is not fewer than ${dIn} × ${dOut} parameters` });
    else plan.factors.push({ name: spec.name, dIn, dOut, rank });
  }
  return plan;
}

/** The model's layout with each planned matrix replaced, in place, by its .u and .v factors. */
export function factorizedLayout(config: ModelConfig, plan: FactorPlan): ParamSpec[] {
  const byName = new Map(plan.factors.map((f) => [f.name, f]));
  return paramLayout(config).flatMap((spec): ParamSpec[] => {
    const f = byName.get(spec.name);
    if (f === undefined) return [spec];
    const names = factorNames(f.name);
    // Only used when training factorized from scratch; a factorized checkpoint brings its own values.
    const init = spec.init.kind === "normal" ? { kind: "normal" as const, std: Math.sqrt(spec.init.std / Math.sqrt(f.rank)) } : spec.init;
    return [
      { name: names.u, shape: [f.dIn, f.rank], init },
      { name: names.v, shape: [f.rank, f.dOut], init },
    ];
  });
}

const count = (specs: readonly ParamSpec[]) => specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);

export interface ParameterReduction {
  before: number;
  after: number;
  /** after / before. */
  ratio: number;
  /** Parameters of the replaced matrices, before and after. */
  matricesBefore: number;
  matricesAfter: number;
}

export function parameterReduction(config: ModelConfig, plan: FactorPlan): ParameterReduction {
  const before = count(paramLayout(config));
  const after = count(factorizedLayout(config, plan));
  const matricesBefore = plan.factors.reduce((n, f) => n + f.dIn * f.dOut, 0);
  const matricesAfter = plan.factors.reduce((n, f) => n + f.rank * (f.dIn + f.dOut), 0);
  return { before, after, ratio: after / before, matricesBefore, matricesAfter };
}
