// A checkpoint's PEFT config is checked field by field when read back, not cast.
import { describe, expect, it } from "vitest";
import { PEFT_EXTRA, PeftCheckpointError, peftManifestExtra, readPeftManifest, type PeftCheckpointInfo } from "../../src/peft/peft-manifest.js";

const info: PeftCheckpointInfo = { peft: { method: "lora", rank: 4, alpha: 8, dropout: 0, targets: ["q", "v"] }, base: { uri: "file:///b", format: "gantry", sha256: "ab" } };
const withConfig = (config: unknown) => ({ extra: { ...peftManifestExtra(info), [PEFT_EXTRA.config]: JSON.stringify(config) } });

describe("readPeftManifest", () => {
  it("reads back what peftManifestExtra wrote", () => {
    expect(readPeftManifest({ extra: peftManifestExtra(info) }, "c")).toEqual(info);
  });

  it("names the bad field of a malformed config", () => {
    const bad: [unknown, RegExp][] = [
      [{ ...info.peft, rank: 0 }, /peft\.config\.rank/],
      [{ ...info.peft, targets: ["q", "gate"] }, /peft\.config\.targets\.1/],
      [{ ...info.peft, dropout: "x" }, /peft\.config\.dropout/],
      [{ method: "lora", rank: 4, alpha: 8, targets: ["q"] }, /peft\.config\.dropout/],
      [{ method: "prefix" }, /peft\.config\.method/],
    ];
    for (const [config, field] of bad) {
      expect(() => readPeftManifest(withConfig(config), "c")).toThrow(PeftCheckpointError);
      expect(() => readPeftManifest(withConfig(config), "c")).toThrow(field);
    }
  });
});
