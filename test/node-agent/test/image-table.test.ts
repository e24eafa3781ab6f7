import { describe, expect, it } from "vitest";
import { IMAGE_TABLE, parseImageRef, resolveImage } from "../image-table.js";

const ctx = { repoRoot: "/repo", nodeExecPath: "/usr/bin/node" };

describe("parseImageRef", () => {
  it.each([
    ["gantry/trainer", { repository: "gantry/trainer" }],
    ["gantry/trainer:v1", { repository: "gantry/trainer", tag: "v1" }],
    ["localhost:5000/gantry/trainer", { repository: "localhost:5000/gantry/trainer" }],
    ["localhost:5000/gantry/trainer:v2", { repository: "localhost:5000/gantry/trainer", tag: "v2" }],
    ["ghcr.io/gantry-dev/trainer:1.0@sha256:abc", { repository: "ghcr.io/gantry-dev/trainer", tag: "1.0", digest: "sha256:abc" }],
    ["gantry/trainer@sha256:abc", { repository: "gantry/trainer", digest: "sha256:abc" }],
  ])("%s", (image, ref) => {
    expect(parseImageRef(image)).toEqual(ref);
  });
});

describe("resolveImage", () => {
  it("runs the trainer from the checkout's sources with tsx, ignoring the pod's command and workingDir but appending its args", () => {
    const r = resolveImage({ image: "ghcr.io/gantry-dev/trainer:0.1.0", command: ["node", "dist/main.js"], args: ["--x"], workingDir: "/app" }, ctx);
    expect(r).toMatchObject({ ok: true, command: { argv: ["/usr/bin/node", "--import", "/repo/node_modules/tsx/dist/loader.mjs", "/repo/trainer/src/main.ts", "--x"], cwd: "/repo", env: { TSX_TSCONFIG_PATH: "/repo/tsconfig.json" } } });
  });

  it("matches every tag and digest of a mapped repository", () => {
    for (const image of ["gantry/trainer", "gantry/trainer:test", "gantry/trainer@sha256:00"]) expect(resolveImage({ image }, ctx).ok).toBe(true);
  });

  it("runs a host command's own argv, with its args and workingDir", () => {
    const r = resolveImage({ image: "gantry/host-command:any", command: ["/bin/echo", "a"], args: ["b"], workingDir: "/tmp" }, ctx);
    expect(r).toMatchObject({ ok: true, command: { argv: ["/bin/echo", "a", "b"], cwd: "/tmp" } });
  });

  it("refuses a host command without a command, and an image that is not in the table, naming it", () => {
    expect(resolveImage({ image: "gantry/host-command:1", args: ["x"] }, ctx)).toMatchObject({ ok: false, reason: "CommandRequired" });
    const r = resolveImage({ image: "nginx:1.27" }, ctx);
    expect(r).toMatchObject({ ok: false, reason: "ImageNotMapped" });
    expect(r.ok ? "" : r.message).toContain('"nginx:1.27"');
  });

  it("maps each repository once", () => {
    const all = IMAGE_TABLE.flatMap((r) => r.repositories);
    expect(new Set(all).size).toBe(all.length);
  });
});
