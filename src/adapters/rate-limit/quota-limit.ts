export function assertLimit(limit: number, what = 'quota limit'): void {
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`${what} must be an integer ≥ 0, got ${limit}`);
  }
}
