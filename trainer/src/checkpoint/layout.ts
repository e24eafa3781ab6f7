// Where a checkpoint's objects live under the checkpoint URI, and which step directories to keep: pure.
//   <uri>/step-00000100/model.safetensors      weights
//   <uri>/step-00000100/optimizer.safetensors  AdamW moments (m.<name>, v.<name>) and optimizer scalars
//   <uri>/step-00000100/manifest.json          written last: the directory is committed once it exists
//   <uri>/latest                               "step-00000100", written after the manifest

export const MODEL_FILE = "model.safetensors";
export const OPTIMIZER_FILE = "optimizer.safetensors";
export const MANIFEST_FILE = "manifest.json";
export const LATEST_KEY = "latest";
export const DATA_FILES = [MODEL_FILE, OPTIMIZER_FILE] as const;

/** Zero-padded to 8 digits so that listings sort by step (up to step 99,999,999). */
export function stepDirName(step: number): string {
  if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`step must be a non-negative integer, got ${step}`);
  return `step-${String(step).padStart(8, "0")}`;
}

export function parseStepDirName(name: string): number | undefined {
  const m = /^step-(\d{8,})$/.exec(name.trim());
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

export const stepKey = (step: number, file: string): string => `${stepDirName(step)}/${file}`;

export interface StepListing {
  step: number;
  /** Keys (relative to the checkpoint root) of the objects in this step directory. */
  keys: string[];
  /** Its manifest exists: it was committed, though its files may still turn out corrupt. */
  committed: boolean;
}

/** Groups a listing of the checkpoint root by step directory, newest first; other keys are ignored. */
export function groupSteps(keys: Iterable<string>): StepListing[] {
  const byStep = new Map<number, StepListing>();
  for (const key of keys) {
    const slash = key.indexOf("/");
    if (slash < 0) continue;
    const step = parseStepDirName(key.slice(0, slash));
    if (step === undefined) continue;
    const entry = byStep.get(step) ?? { step, keys: [], committed: false };
    entry.keys.push(key);
    if (key.slice(slash + 1) === MANIFEST_FILE) entry.committed = true;
    byStep.set(step, entry);
  }
  return [...byStep.values()].sort((a, b) => b.step - a.step);
}

/**
 * The step directories to delete once `justCommitted` is committed: committed ones beyond the newest `keep`
 * (counting `justCommitted`), and uncommitted leftovers older than it. Newer uncommitted directories are left
 * alone: they may belong to a writer still running, and a later save of that step overwrites them.
 */
export function planRetention(steps: readonly StepListing[], justCommitted: number, keep: number): StepListing[] {
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be at least 1, got ${keep}`);
  const committed = steps.filter((s) => s.committed || s.step === justCommitted).map((s) => s.step);
  const kept = new Set([justCommitted, ...committed.filter((s) => s !== justCommitted).sort((a, b) => b - a).slice(0, keep - 1)]);
  return steps.filter((s) => !kept.has(s.step) && (s.committed || s.step < justCommitted));
}
