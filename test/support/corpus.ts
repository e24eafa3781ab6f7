// A deterministic English-like corpus (words drawn by a fixed LCG), the same on every machine, for tests and the
// demo's fallback when Debian's license texts are missing.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const WORDS = ["the", "gantry", "trains", "a", "model", "on", "many", "pods", "and", "resumes", "exactly", "after", "preemption", "of", "spot", "nodes", "when", "capacity", "returns"];

export function corpus(docs: number, seed = 12345): string[] {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31);
  return Array.from({ length: docs }, () => Array.from({ length: 20 + (next() % 40) }, () => WORDS[next() % WORDS.length]).join(" "));
}

/** Writes `docs` documents as doc-NNN.txt files in `dir` and returns their paths, in order. */
export function writeCorpus(dir: string, docs: number, seed?: number): string[] {
  return corpus(docs, seed).map((doc, i) => {
    const file = join(dir, `doc-${String(i).padStart(3, "0")}.txt`);
    writeFileSync(file, doc);
    return file;
  });
}
