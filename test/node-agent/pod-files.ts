// Where a pod's files live on this machine: <stateDir>/pods/<namespace>_<name>_<uid>/, as the kubelet's
// /var/log/pods. Per container: <container>.log (stdout and stderr), <container>.termination-log (the message the
// container leaves, given to it as GANTRY_TERMINATION_LOG) and <container>.pid while it runs.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

export function podsRoot(stateDir: string): string {
  return join(stateDir, "pods");
}

export function podDirectory(stateDir: string, namespace: string, name: string, uid: string): string {
  return join(podsRoot(stateDir), `${namespace}_${name}_${uid}`);
}

export interface ContainerFiles {
  log: string;
  terminationLog: string;
  pid: string;
}

export function containerFiles(podDir: string, container: string): ContainerFiles {
  return { log: join(podDir, `${container}.log`), terminationLog: join(podDir, `${container}.termination-log`), pid: join(podDir, `${container}.pid`) };
}

/** The pid files in a pod's folder: a previous agent's processes that may still run. */
export function pidFiles(podDir: string): string[] {
  if (!existsSync(podDir)) return [];
  return readdirSync(podDir)
    .filter((f) => f.endsWith(".pid"))
    .map((f) => join(podDir, f));
}

/** Every pod folder under the root, with the uid its name ends in. */
export function podDirectories(stateDir: string): { dir: string; uid: string }[] {
  const root = podsRoot(stateDir);
  if (!existsSync(root)) return [];
  return readdirSync(root).map((d) => ({ dir: join(root, d), uid: d.slice(d.lastIndexOf("_") + 1) }));
}
