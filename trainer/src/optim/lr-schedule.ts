// The learning rate as a pure function of the step, so a resumed run needs nothing but the step to continue.

export interface LrSchedule {
  type: "cosine" | "linear" | "constant";
  peakLr: number;
  warmupSteps: number;
  /** Final LR as a fraction of the peak (cosine and linear). */
  minLrRatio: number;
  totalSteps: number;
}

/**
 * LR of optimizer step `step` (0-based): linear warmup reaching the peak at step warmupSteps − 1 (step 0 gets
 * peak/warmup, not 0, so no step is wasted), then decay from the peak at step warmupSteps to peak·minLrRatio at
 * step totalSteps, held there after.
 */
export function learningRate(s: LrSchedule, step: number): number {
  if (step < s.warmupSteps) return (s.peakLr * (step + 1)) / s.warmupSteps;
  if (s.type === "constant") return s.peakLr;
  const minLr = s.peakLr * s.minLrRatio;
  const progress = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps));
  const shape = s.type === "cosine" ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
  return minLr + (s.peakLr - minLr) * shape;
}
