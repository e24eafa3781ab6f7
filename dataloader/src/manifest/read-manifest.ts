// Reads index.json from a dataset root.
import { InvalidManifestError } from "../errors.js";
import type { ObjectStore } from "../source/object-store.js";
import { MANIFEST_FILE, parseManifest, type Manifest } from "./manifest-schema.js";

/** index.json of the dataset; without one, fails with a hint (see manifestFromListing for the slow fallback). */
export async function readManifest(store: ObjectStore): Promise<Manifest> {
  const location = `${store.uri.replace(/\/?$/, "/")}${MANIFEST_FILE}`;
  const bytes = await store.readIfExists(MANIFEST_FILE);
  if (bytes === undefined) throw new InvalidManifestError(location, "does not exist; write one with `gantry-data prepare`");
  return parseManifest(location, new TextDecoder().decode(bytes));
}

export async function writeManifest(store: ObjectStore, manifest: Manifest): Promise<void> {
  // Written last: a single-object PUT is atomic, so a reader sees either no dataset or all of it.
  await store.write(MANIFEST_FILE, new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`));
}
