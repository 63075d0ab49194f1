export function assertLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`quota limit must be an integer ≥ 0, got ${limit}`);
  }
}
