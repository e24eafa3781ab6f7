import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killRecordedProcess, processStartTime } from "../container-process.js";

const dir = mkdtempSync(join(tmpdir(), "agent-pids-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("pid records shared by several agents' state folder", () => {
  it("are killed only by the agent of the node that recorded them", async () => {
    const child = spawn("sleep", ["30"], { detached: true, stdio: "ignore" });
    const pid = child.pid ?? 0;
    const exited = new Promise((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    const file = join(dir, "c.pid");
    writeFileSync(file, `${pid} ${processStartTime(pid) ?? "-"} node-2\n`);
    expect(killRecordedProcess(file, "node-1")).toBe(false);
    expect(existsSync(file)).toBe(true);
    expect(killRecordedProcess(file, "node-2")).toBe(true);
    expect(await exited).toBe("SIGKILL");
    expect(existsSync(file)).toBe(false);
  });
});
