// Starts the TypeScript tokenizer worker when the package runs from its sources (tests, benchmarks): registers tsx in
// this thread, then loads the worker. The built package starts tokenize-worker.js directly.
import { URL } from "node:url";
import { register } from "tsx/esm/api";

register();
await import(new URL("./tokenize-worker.ts", import.meta.url).href);
