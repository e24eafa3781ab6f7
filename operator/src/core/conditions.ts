// metav1.Condition bookkeeping: a condition's lastTransitionTime moves only when its status does.
import type { Condition } from "@gantry/crds";

export const CONDITION = {
  invalid: "Invalid",
  gangScheduled: "GangScheduled",
  running: "Running",
  restarting: "Restarting",
  suspended: "Suspended",
  succeeded: "Succeeded",
  failed: "Failed",
} as const;

export function setCondition(
  conditions: readonly Condition[],
  next: { type: string; status: Condition["status"]; reason: string; message: string },
  now: Date,
  generation: number | undefined,
): Condition[] {
  const old = conditions.find((c) => c.type === next.type);
  const lastTransitionTime = old && old.status === next.status ? old.lastTransitionTime : now.toISOString();
  const condition: Condition = { ...next, lastTransitionTime };
  if (generation !== undefined) condition.observedGeneration = generation;
  return [...conditions.filter((c) => c.type !== next.type), condition].sort((a, b) => a.type.localeCompare(b.type));
}

export function conditionStatus(conditions: readonly Condition[] | undefined, type: string): Condition["status"] | undefined {
  return conditions?.find((c) => c.type === type)?.status;
}
