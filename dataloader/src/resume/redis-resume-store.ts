// Resume state in Redis: commits fenced by (attempt, step) in one Lua script, so a stale writer from an older attempt
// can never overwrite what a newer attempt committed, and a job's keys change together or not at all.
import type { Redis } from "ioredis";
import { StaleCommitError } from "../errors.js";
import { resumeKeys, type ResumeKeys } from "./redis-keys.js";
import { parseResumeState, type ResumeState } from "./resume-state.js";

// KEYS: head, states, steps. ARGV: attempt, step, state JSON, steps to keep.
// Returns {1, attempt, step} when written, {2, ...} when the same state was already there, {0, headAttempt, headStep} when stale.
const COMMIT = `
local headAttempt = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '-1')
local headStep = tonumber(redis.call('HGET', KEYS[1], 'step') or '-1')
local attempt = tonumber(ARGV[1])
local step = tonumber(ARGV[2])
if attempt == headAttempt and step == headStep and redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[3] then
  return {2, headAttempt, headStep}
end
if attempt < headAttempt or (attempt == headAttempt and step <= headStep) then
  return {0, headAttempt, headStep}
end
local later = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[2], '+inf')
for _, s in ipairs(later) do redis.call('HDEL', KEYS[2], s) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '(' .. ARGV[2], '+inf')
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], step, ARGV[2])
redis.call('HSET', KEYS[1], 'attempt', ARGV[1], 'step', ARGV[2])
local keep = tonumber(ARGV[4])
local n = redis.call('ZCARD', KEYS[3])
if n > keep then
  local old = redis.call('ZRANGE', KEYS[3], 0, n - keep - 1)
  for _, s in ipairs(old) do redis.call('HDEL', KEYS[2], s) end
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, n - keep - 1)
end
return {1, attempt, step}
`;

// KEYS: head, states, steps. ARGV: attempt, resume step (-1 for a fresh start). Raises the fence to a new attempt
// before it commits anything, so the old attempt's late commits are refused from the moment the new one starts, and
// drops the states the old attempt committed after the resume step: that future was abandoned.
const CLAIM = `
local headAttempt = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '-1')
local headStep = tonumber(redis.call('HGET', KEYS[1], 'step') or '-1')
local attempt = tonumber(ARGV[1])
if attempt < headAttempt then return {0, headAttempt, headStep} end
if attempt > headAttempt then
  local later = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[2], '+inf')
  for _, s in ipairs(later) do redis.call('HDEL', KEYS[2], s) end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '(' .. ARGV[2], '+inf')
  redis.call('HSET', KEYS[1], 'attempt', ARGV[1], 'step', '-1')
  return {1, attempt, -1}
end
return {1, headAttempt, headStep}
`;

export interface Head {
  attempt: number;
  /** -1 after a claim, before the attempt's first commit. */
  step: number;
}

export class RedisResumeStore {
  readonly keys: ResumeKeys;

  constructor(
    private readonly redis: Redis,
    readonly jobUid: string,
    /** Committed steps kept; older ones are trimmed (the checkpoint's embedded copy still resumes them). */
    readonly keep = 64,
  ) {
    this.keys = resumeKeys(jobUid);
  }

  /**
   * Starts `attempt`, resuming after `resumeStep` steps (-1 or omitted for a fresh start): fences out every older
   * attempt and forgets states they committed past `resumeStep`. Throws StaleCommitError when a newer attempt holds the fence.
   */
  async claim(attempt: number, resumeStep = -1): Promise<Head> {
    const [ok, headAttempt, headStep] = (await this.redis.eval(CLAIM, 3, this.keys.head, this.keys.states, this.keys.steps, String(attempt), String(resumeStep))) as [number, number, number];
    if (ok === 0) throw new StaleCommitError(this.jobUid, attempt, -1, headAttempt, headStep);
    return { attempt: headAttempt, step: headStep };
  }

  /** Writes `state` for its step if it passes the fence, and returns it for the checkpoint manifest. */
  async commit(state: ResumeState): Promise<ResumeState> {
    if (state.jobUid !== this.jobUid) throw new RangeError(`state of job ${state.jobUid} committed to the store of job ${this.jobUid}`);
    const json = JSON.stringify(state);
    const [ok, headAttempt, headStep] = (await this.redis.eval(COMMIT, 3, this.keys.head, this.keys.states, this.keys.steps, String(state.attempt), String(state.step), json, String(this.keep))) as [
      number,
      number,
      number,
    ];
    if (ok === 0) throw new StaleCommitError(this.jobUid, state.attempt, state.step, headAttempt, headStep);
    return state;
  }

  /** The state committed for `step`, or undefined when Redis has none (never written, trimmed, or lost). */
  async read(step: number): Promise<ResumeState | undefined> {
    const json = await this.redis.hget(this.keys.states, String(step));
    return json === null ? undefined : parseResumeState(`redis ${this.keys.states}[${step}]`, json);
  }

  async head(): Promise<Head | undefined> {
    const h = await this.redis.hmget(this.keys.head, "attempt", "step");
    if (h[0] === null || h[0] === undefined || h[1] === null || h[1] === undefined) return undefined;
    return { attempt: Number(h[0]), step: Number(h[1]) };
  }

  /** Removes every key of the job, for when the job is deleted. */
  async clear(): Promise<void> {
    await this.redis.del(this.keys.head, this.keys.states, this.keys.steps);
  }
}
