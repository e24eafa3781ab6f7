// Deterministic names and labels of everything the operator creates for a job, so creates are idempotent.
export const LABELS = {
  job: "gantry.dev/job",
  jobUid: "gantry.dev/job-uid",
  attempt: "gantry.dev/attempt",
  worker: "gantry.dev/worker",
  managedBy: "app.kubernetes.io/managed-by",
} as const;

export const MANAGER = "gantry-operator";

/** Worker pod: <job>-<attempt>-<worker>. Job names are at most 42 characters, so this fits in 63. */
export function podName(job: string, attempt: number, worker: number): string {
  return `${job}-${attempt}-${worker}`;
}

/** The headless Service that gives worker pods stable DNS names. */
export function serviceName(job: string): string {
  return job;
}

export function pdbName(job: string): string {
  return `${job}-gang`;
}

export function jobSelector(uid: string): string {
  return `${LABELS.jobUid}=${uid}`;
}
