// One container as a local process: spawned from an argv (never a shell) in a process group of its own, its stdout
// and stderr appended to a log file, its pid recorded on disk so that a restarted agent can find it.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { constants } from "node:os";

export interface ContainerSpawn {
  argv: readonly string[];
  cwd: string;
  env: Readonly<Record<string, string>>;
  logFile: string;
  pidFile: string;
  /** The agent's node, recorded with the pid: agents of other nodes share the state folder and must not touch it. */
  node: string;
}

export interface ContainerExit {
  exitCode: number;
  /** The signal that ended it, as a number, when one did. */
  signal?: number;
  finishedAt: Date;
  /** Set when the process could not be started at all. */
  startError?: string;
}

export class ContainerProcess {
  readonly startedAt = new Date();
  private exitInfo: ContainerExit | undefined;
  private readonly child: ChildProcess;
  readonly done: Promise<ContainerExit>;

  constructor(spec: ContainerSpawn) {
    const [file, ...args] = spec.argv;
    const fd = openSync(spec.logFile, "a");
    try {
      // detached: the child leads a new process group (setsid), so a signal to -pid reaches all it forks.
      this.child = spawn(file ?? "", args, { cwd: spec.cwd, env: { ...spec.env }, detached: true, stdio: ["ignore", fd, fd] });
    } finally {
      closeSync(fd);
    }
    const pid = this.child.pid;
    if (pid !== undefined) writeFileSync(spec.pidFile, `${pid} ${processStartTime(pid) ?? "-"} ${spec.node}\n`);
    this.done = new Promise((resolve) => {
      const finish = (e: ContainerExit) => {
        this.exitInfo ??= e;
        rmSync(spec.pidFile, { force: true });
        resolve(this.exitInfo);
      };
      this.child.on("error", (err) => finish({ exitCode: 128, finishedAt: new Date(), startError: err.message }));
      this.child.on("exit", (code, signal) => {
        // A container ends with its main process: whatever it forked and left behind goes with it.
        if (pid !== undefined) {
          try {
            process.kill(-pid, "SIGKILL");
          } catch {
            // The group is empty already.
          }
        }
        const num = signal ? constants.signals[signal] : undefined;
        finish({ exitCode: code ?? 128 + (num ?? 0), finishedAt: new Date(), ...(num !== undefined ? { signal: num } : {}) });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get exit(): ContainerExit | undefined {
    return this.exitInfo;
  }

  /** Signals the whole process group; a group that has gone already is not an error. */
  signal(sig: NodeJS.Signals): void {
    if (this.exitInfo || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      // ESRCH: it exited between the check and the signal.
    }
  }
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks after boot. Tells a reused pid apart. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19];
  } catch {
    return undefined;
  }
}

/**
 * Kills the process group a previous agent recorded in `pidFile`, if that very process still runs, and removes the
 * file. Returns whether a process was killed.
 */
export function killRecordedProcess(pidFile: string, node: string): boolean {
  if (!existsSync(pidFile)) return false;
  const [pidText, recordedStart, owner] = readFileSync(pidFile, "utf8").trim().split(" ");
  // Another live agent's container: not ours to kill, nor its record to remove.
  if (owner !== undefined && owner !== node) return false;
  const started = recordedStart === "-" ? undefined : recordedStart;
  rmSync(pidFile, { force: true });
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 1) return false;
  const now = processStartTime(pid);
  if (now === undefined || (started !== undefined && started !== "" && now !== started)) return false;
  try {
    process.kill(-pid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
}
