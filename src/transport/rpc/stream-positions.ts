import type { StreamPosition } from '../../domain/streams/stream-subscription.js';
import { DomainError } from '../../domain/errors.js';

/** Wire positions (uint64) as the gateway's numbers; one position per stream. */
export function positionsOf(
  positions: readonly { stream: string; epoch: bigint; seq: bigint }[],
): StreamPosition[] {
  const seen = new Set<string>();
  return positions.map((p) => {
    if (seen.has(p.stream)) {
      throw new DomainError('invalid_argument', `two positions for ${p.stream}; send one`, {
        field: 'positions',
      });
    }
    seen.add(p.stream);
    if (p.seq > BigInt(Number.MAX_SAFE_INTEGER) || p.epoch > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new DomainError('invalid_argument', `position of ${p.stream} is out of range`, {
        field: 'positions',
      });
    }
    return { stream: p.stream, epoch: Number(p.epoch), seq: Number(p.seq) };
  });
}
