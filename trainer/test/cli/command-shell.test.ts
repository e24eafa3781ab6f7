import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FlagError, asUri, cliExit, parseBackendFlag, parsePortFlag, runCommand, s3ClientFromEnv, usageExit } from "../../src/cli/command-shell.js";
import { DecodingOptionError } from "../../src/inference/errors.js";
import { ModelLoadError } from "../../src/model-source/model-checks.js";
import { exitFor } from "../../src/run/exit-code.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the shell every gantry-* command shares", () => {
  it("checks --backend against the backend names and --port as an integer 0-65535; a bad value is exit 2 naming the allowed ones", () => {
    expect(parseBackendFlag("wasm")).toBe("wasm");
    expect(() => parseBackendFlag("gpu")).toThrow('--backend must be one of tfjs-node-gpu, tfjs-node, wasm, cpu, not "gpu"');
    expect(parsePortFlag("0")).toBe(0);
    expect(parsePortFlag("65535")).toBe(65535);
    for (const bad of ["65536", "-1", "8.5", "", "abc"]) expect(() => parsePortFlag(bad)).toThrow(FlagError);
    expect(cliExit(new FlagError("--port", "x", "an integer from 0 to 65535"))).toEqual({ code: 2, message: '--port must be an integer from 0 to 65535, not "x"' });
    expect(exitFor(new FlagError("--port", "x", "an integer")).code).toBe(2);
  });

  it("maps bad model input to exit 2 and leaves the rest to the trainer's map", () => {
    expect(cliExit(new DecodingOptionError("--tokens", "x", "an integer ≥ 0"))).toEqual({ code: 2, message: new DecodingOptionError("--tokens", "x", "an integer ≥ 0").message });
    expect(cliExit(new ModelLoadError("file:///m", "no such file"))).toEqual({ code: 2, message: "file:///m: no such file" });
    const other = new Error("disk on fire");
    expect(cliExit(other)).toEqual(exitFor(other));
  });

  it("runs the work: its code when it returns, `<tool>: message` on stderr and the mapped code when it throws", async () => {
    const printed: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void printed.push(line));
    expect(await runCommand("gantry-x", () => Promise.resolve(0))).toBe(0);
    expect(await runCommand("gantry-x", () => Promise.reject(new ModelLoadError("s3://b/m", "no whole checkpoint there")))).toBe(2);
    expect(await runCommand("gantry-x", () => Promise.reject(new Error("boom")), () => ({ code: 7, message: "mapped" }))).toBe(7);
    expect(printed).toEqual(["gantry-x: s3://b/m: no whole checkpoint there", "gantry-x: mapped"]);
    expect(usageExit("usage: gantry-x", true)).toBe(0);
    expect(usageExit("usage: gantry-x", undefined)).toBe(2);
    expect(printed.slice(2)).toEqual(["usage: gantry-x", "usage: gantry-x"]);
  });

  it("turns paths into file URIs, keeps URIs, and opens no S3 client for local URIs", () => {
    expect(asUri("s3://bucket/prefix")).toBe("s3://bucket/prefix");
    expect(asUri("file:///tmp/x")).toBe("file:///tmp/x");
    expect(asUri("runs/a")).toBe(pathToFileURL(resolve("runs/a")).href);
    expect(s3ClientFromEnv(["file:///tmp/x", ""], "gantry-x")).toBeUndefined();
  });

  it("opens S3 from the AWS names or gantry-data's S3_ACCESS_KEY/S3_SECRET_KEY, and names both when neither is set", () => {
    for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_ACCESS_KEY", "S3_SECRET_KEY"]) vi.stubEnv(k, undefined);
    vi.stubEnv("S3_ENDPOINT", "http://127.0.0.1:9");
    expect(() => s3ClientFromEnv(["s3://b/p"], "gantry-x")).toThrow(/AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY are not set \(set S3_ENDPOINT .* or S3_ACCESS_KEY\/S3_SECRET_KEY\)/);
    vi.stubEnv("S3_ACCESS_KEY", "k");
    vi.stubEnv("S3_SECRET_KEY", "s");
    expect(s3ClientFromEnv(["s3://b/p"], "gantry-x")).toBeDefined();
    vi.unstubAllEnvs();
  });
});

