// Truncated SVD applied to a model: each planned W [d_in, d_out] becomes U [d_in, r] and V [r, d_out] with U·V the
// best rank-r approximation of W, and each replacement is reported with its Frobenius error (which Eckart–Young says
// is the tail of W's singular values).
import type { NamedArray } from "../checkpoint/named-array.js";
import type { ModelConfig } from "../model/model-config.js";
import { matchNamedArrays } from "../model/param-io.js";
import { paramLayout } from "../model/param-layout.js";
import { factorNames, factorizedLayout, type FactorPlan } from "./factorize-plan.js";
import { lowRankFactors, reconstructionError, svd, tailNorm } from "./svd.js";

export interface FactorReport {
  name: string;
  dIn: number;
  dOut: number;
  rank: number;
  /** ‖W‖_F, ‖W − U·V‖_F, and sqrt(Σ_{i ≥ r} σ_i²), the error Eckart–Young predicts. */
  norm: number;
  error: number;
  tail: number;
  /** Fraction of Σσ² kept by the first r singular values. */
  energyKept: number;
}

export interface FactorizedWeights {
  /** In factorizedLayout(config, plan) order. */
  weights: NamedArray[];
  reports: FactorReport[];
}

/** Factorizes the planned matrices of `weights` (a whole model of `config`, any order). */
export function factorizeWeights(config: ModelConfig, weights: readonly NamedArray[], plan: FactorPlan): FactorizedWeights {
  const dense = matchNamedArrays(paramLayout(config), weights);
  const byName = new Map(dense.map((a) => [a.name, a]));
  const planned = new Map(plan.factors.map((f) => [f.name, f]));
  const made = new Map<string, NamedArray>();
  const reports: FactorReport[] = [];
  for (const f of plan.factors) {
    const w = (byName.get(f.name) as NamedArray).data;
    const d = svd(w, f.dIn, f.dOut);
    const factors = lowRankFactors(d, f.rank);
    const names = factorNames(f.name);
    made.set(names.u, { name: names.u, shape: [f.dIn, f.rank], data: factors.a });
    made.set(names.v, { name: names.v, shape: [f.rank, f.dOut], data: factors.b });
    const energy = Array.from(d.s).reduce((s, x) => s + x * x, 0);
    const tail = tailNorm(d.s, f.rank);
    const norm = Math.sqrt(energy);
    reports.push({ name: f.name, dIn: f.dIn, dOut: f.dOut, rank: f.rank, norm, error: reconstructionError(w, factors, f.dIn, f.dOut), tail, energyKept: energy === 0 ? 1 : 1 - (tail * tail) / energy });
  }
  const out = factorizedLayout(config, plan).map((spec) => made.get(spec.name) ?? (byName.get(spec.name) as NamedArray));
  for (const name of planned.keys()) if (!made.has(factorNames(name).u)) throw new Error(`factor of ${name} was not made`);
  return { weights: out, reports };
}

/** The dense model again: each U·V multiplied out (Float64 accumulation), in paramLayout(config) order. */
export function expandFactors(config: ModelConfig, factorized: readonly NamedArray[], plan: FactorPlan): NamedArray[] {
  const arrays = matchNamedArrays(factorizedLayout(config, plan), factorized);
  const byName = new Map(arrays.map((a) => [a.name, a]));
  const planned = new Map(plan.factors.map((f) => [f.name, f]));
  return paramLayout(config).map((spec) => {
    const f = planned.get(spec.name);
    if (f === undefined) return byName.get(spec.name) as NamedArray;
    const names = factorNames(f.name);
    const u = (byName.get(names.u) as NamedArray).data;
    const v = (byName.get(names.v) as NamedArray).data;
    const w = new Float32Array(f.dIn * f.dOut);
    for (let i = 0; i < f.dIn; i++) {
      for (let j = 0; j < f.dOut; j++) {
        let x = 0;
        for (let c = 0; c < f.rank; c++) x += (u[i * f.rank + c] as number) * (v[c * f.dOut + j] as number);
        w[i * f.dOut + j] = x;
      }
    }
    return { name: spec.name, shape: [f.dIn, f.dOut], data: w };
  });
}
