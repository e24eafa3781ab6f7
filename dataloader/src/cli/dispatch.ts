// gantry-data's subcommands: `prepare` (token shards) and `distill` (a corpus from a teacher endpoint). Each prints
// its own usage with a bad argument (exit 2); any other failure prints its message (exit 1).
import { DISTILL_USAGE } from "./distill-args.js";
import { PREPARE_USAGE, UsageError } from "./prepare-args.js";

export const GANTRY_DATA_USAGE = `usage: gantry-data <command> [options]

  prepare   tokenize JSONL or text files into token shards and index.json (gantry-data prepare --help)
  distill   generate a training corpus from a teacher's answers at an OpenAI-compatible endpoint (gantry-data distill --help)
`;

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const COMMANDS = {
  // Imported on use: prepare loads the tokenizers, distill does not need them.
  prepare: { usage: PREPARE_USAGE, run: async (argv: readonly string[]) => (await import("./prepare-command.js")).runPrepare(argv) },
  distill: { usage: DISTILL_USAGE, run: async (argv: readonly string[]) => (await import("./distill-command.js")).runDistill(argv) },
} as const;

export async function gantryData(argv: readonly string[], io: Io = { out: (t) => console.log(t), err: (t) => console.error(t) }): Promise<number> {
  const name = argv[0];
  const command = name === "prepare" || name === "distill" ? COMMANDS[name] : undefined;
  if (command === undefined) {
    const help = name === "--help" || name === "-h";
    (help ? io.out : io.err)(name === undefined || help ? GANTRY_DATA_USAGE : `unknown command ${name}\n\n${GANTRY_DATA_USAGE}`);
    return help ? 0 : 2;
  }
  if (argv.includes("--help")) {
    io.out(command.usage);
    return 0;
  }
  try {
    return await command.run(argv.slice(1));
  } catch (err) {
    io.err(err instanceof UsageError ? `${err.message}\n\n${command.usage}` : err instanceof Error ? err.message : String(err));
    return err instanceof UsageError ? 2 : 1;
  }
}
