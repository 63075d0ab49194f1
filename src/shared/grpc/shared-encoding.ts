/**
 * Messages that many calls send unchanged (a market stream entry, the same for every
 * subscriber of a pod): marked once where they are built, then encoded by the first call that
 * sends one and the same bytes handed to every other call, instead of an encoding per call.
 */
const encodings = new WeakMap<object, { bytes: Buffer | undefined }>();

/** Marks `message` as sent unchanged to many calls; returns it. */
export function sharedMessage<T extends object>(message: T): T {
  if (!encodings.has(message)) encodings.set(message, { bytes: undefined });
  return message;
}

/** `encode(message)`, once per message marked shared. */
export function encodeOnce<T extends object>(message: T, encode: (message: T) => Buffer): Buffer {
  const slot = encodings.get(message);
  if (slot === undefined) return encode(message);
  slot.bytes ??= encode(message);
  return slot.bytes;
}
