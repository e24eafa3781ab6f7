// Bytes tfjs allocated while `make` ran: what the memory accounting reports as measured, not computed from shapes.
import * as tf from "@tensorflow/tfjs-core";

export function allocatedBytes<T>(make: () => T): { value: T; bytes: number } {
  const before = tf.memory().numBytes;
  const value = make();
  return { value, bytes: tf.memory().numBytes - before };
}
