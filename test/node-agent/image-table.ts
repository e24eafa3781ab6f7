// Which local command runs a container image. There is no container runtime here: an image reference is only a key
// into this table, and the process runs on this machine with the checkout's sources.
//
// Placeholders in `command`: {node} is this Node.js binary, {repo} the repository root, {tsx} tsx's loader (so
// TypeScript sources run without a build).
import { join } from "node:path";

/**
 * What a pod's own `command` does for an image:
 *   ignore    the table's command always runs and the pod's `command` and `workingDir` are ignored (they name paths
 *             inside the real image, for example the operator's trainerCommand); the pod's `args` are appended;
 *   require   the pod's `command` is the argv (spawned directly, never through a shell), `args` appended, in the
 *             container's `workingDir` when it sets one.
 */
export type PodCommandPolicy = "ignore" | "require";

export interface ImageRule {
  /** Image repositories, without tag or digest: every tag and digest of them matches. */
  repositories: readonly string[];
  /** argv before the container's args; empty when `podCommand` is "require". */
  command: readonly string[];
  podCommand: PodCommandPolicy;
  /** Working directory when the container names none; default the repository root. */
  cwd?: string;
  /** Added to the container's environment, under the pod's own variables. */
  env?: Readonly<Record<string, string>>;
  description: string;
}

const TSX_ENV = { TSX_TSCONFIG_PATH: "{repo}/tsconfig.json" } as const;

export const IMAGE_TABLE: readonly ImageRule[] = [
  {
    repositories: ["ghcr.io/gantry-dev/trainer", "gantry/trainer", "docker.io/gantry/trainer"],
    command: ["{node}", "--import", "{tsx}", "{repo}/trainer/src/main.ts"],
    podCommand: "ignore",
    env: TSX_ENV,
    description: "the trainer's pod entry point, from the checkout's sources",
  },
  {
    repositories: ["ghcr.io/gantry-dev/operator", "gantry/operator", "docker.io/gantry/operator"],
    command: ["{node}", "--import", "{tsx}", "{repo}/operator/src/cli/operator.ts"],
    podCommand: "ignore",
    env: TSX_ENV,
    description: "the operator, from the checkout's sources (for a Helm-installed operator on an agent node)",
  },
  {
    repositories: ["gantry/test-echo"],
    command: ["{node}", "{repo}/test/node-agent/fixtures/echo.mjs"],
    podCommand: "ignore",
    description: "the node agent's test program: prints its environment, serves or dials TCP, traps SIGTERM, exits as told",
  },
  {
    repositories: ["gantry/host-command"],
    command: [],
    podCommand: "require",
    description: "runs the pod's command itself on this machine (argv, no shell): for local experiments only",
  },
];

export interface ImageRef {
  repository: string;
  tag?: string;
  digest?: string;
}

/** Splits `repo[:tag][@digest]`; a colon before the last slash is a registry port, not a tag. */
export function parseImageRef(image: string): ImageRef {
  const at = image.indexOf("@");
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const rest = at >= 0 ? image.slice(0, at) : image;
  const colon = rest.lastIndexOf(":");
  const tagged = colon > rest.lastIndexOf("/");
  const ref: ImageRef = { repository: tagged ? rest.slice(0, colon) : rest };
  if (tagged) ref.tag = rest.slice(colon + 1);
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

export interface CommandContext {
  repoRoot: string;
  nodeExecPath: string;
}

export interface ResolvedCommand {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  rule: ImageRule;
}

export type ImageFailureReason = "ImageNotMapped" | "CommandRequired";

export type ImageResolution = { ok: true; command: ResolvedCommand } | { ok: false; reason: ImageFailureReason; message: string };

export interface ContainerCommand {
  image?: string;
  command?: readonly string[];
  args?: readonly string[];
  workingDir?: string;
}

function fill(s: string, ctx: CommandContext): string {
  return s
    .replaceAll("{node}", ctx.nodeExecPath)
    .replaceAll("{tsx}", join(ctx.repoRoot, "node_modules", "tsx", "dist", "loader.mjs"))
    .replaceAll("{repo}", ctx.repoRoot);
}

/** The argv, working directory and extra environment for a container, or why this machine cannot run its image. */
export function resolveImage(container: ContainerCommand, ctx: CommandContext, table: readonly ImageRule[] = IMAGE_TABLE): ImageResolution {
  const image = container.image ?? "";
  const { repository } = parseImageRef(image);
  const rule = table.find((r) => r.repositories.includes(repository));
  if (!rule) {
    const known = table.flatMap((r) => r.repositories).join(", ");
    return { ok: false, reason: "ImageNotMapped", message: `image "${image}" has no local command in the node agent's image table (test/node-agent/image-table.ts); known: ${known}` };
  }
  const args = container.args ?? [];
  let argv: string[];
  if (rule.podCommand === "require") {
    if (!container.command || container.command.length === 0) {
      return { ok: false, reason: "CommandRequired", message: `image "${image}" runs the pod's own command, and the container sets none` };
    }
    argv = [...container.command, ...args];
  } else {
    argv = [...rule.command.map((c) => fill(c, ctx)), ...args];
  }
  const env = Object.fromEntries(Object.entries(rule.env ?? {}).map(([k, v]) => [k, fill(v, ctx)]));
  // A workingDir is a path inside the real image, except for host commands, whose paths are this machine's.
  const cwd = rule.podCommand === "require" && container.workingDir ? container.workingDir : rule.cwd ? fill(rule.cwd, ctx) : ctx.repoRoot;
  return { ok: true, command: { argv, cwd, env, rule } };
}
