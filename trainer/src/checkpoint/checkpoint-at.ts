// The checkpoint a URI names, for commands and loaders that take either form: a step directory
// (…/step-00000100) as it is, or a checkpoint root, whose newest whole checkpoint is read.
import { CheckpointReader, type LoadedCheckpoint } from "./checkpoint-reader.js";
import { openCheckpointStore, type CheckpointS3Client } from "./checkpoint-store.js";
import { parseStepDirName } from "./layout.js";

export interface CheckpointAt {
  loaded: LoadedCheckpoint;
  /** The step directory's URI, for messages. */
  location: string;
}

/** Undefined when a root holds no whole checkpoint; a named step directory that is not whole throws as load() does. */
export async function readCheckpointAt(uri: string, s3?: CheckpointS3Client): Promise<CheckpointAt | undefined> {
  const trimmed = uri.replace(/\/+$/, "");
  const at = trimmed.lastIndexOf("/");
  const step = parseStepDirName(trimmed.slice(at + 1));
  if (step !== undefined) return { loaded: await new CheckpointReader(openCheckpointStore(trimmed.slice(0, at), s3)).load(step), location: trimmed };
  const loaded = await new CheckpointReader(openCheckpointStore(trimmed, s3)).latest();
  return loaded === undefined ? undefined : { loaded, location: `${trimmed}/${loaded.dir}` };
}
