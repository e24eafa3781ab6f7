// The Redis key contract for resume state, namespaced by job uid. The {uid} hash tag keeps a job's keys in one
// Redis Cluster slot, which the commit script needs to touch them atomically.

export interface ResumeKeys {
  /** Hash {attempt, step}: the fence, the newest committed (attempt, step). */
  head: string;
  /** Hash step -> ResumeState JSON. */
  states: string;
  /** Sorted set of committed steps (score = member = step), to find and trim them. */
  steps: string;
}

export function resumeKeys(jobUid: string): ResumeKeys {
  if (jobUid === "" || /[{}\s]/.test(jobUid)) throw new RangeError(`job uid ${JSON.stringify(jobUid)} cannot name Redis keys`);
  const base = `gantry:dataloader:{${jobUid}}`;
  return { head: `${base}:head`, states: `${base}:states`, steps: `${base}:steps` };
}
