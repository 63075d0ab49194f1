import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { SeededRandom } from '../../src/tools/seeded-random.js';

/**
 * Seeded generators of hostile bytes for the fuzzer: protobuf messages of a schema with
 * hostile values (and now and then a field of the wrong wire type), truncated or random bytes,
 * and gRPC length-prefixed frames whose prefix lies.
 */

/** Strings a careless or hostile client sends: control characters, NUL, odd unicode, huge. */
const HOSTILE_STRINGS: readonly string[] = [
  '',
  ' ',
  'nul\u0000x',
  '\u0000',
  '\u0001\u0002\u0003\u0007\u001b[31m',
  'line\r\nbreak',
  '\t\v\f',
  '\u202eRTL override',
  '\ufeffBOM',
  '\u200b\u200c\u200d',
  '😀'.repeat(50),
  'e\u0301\u0301\u0301',
  '\ud800',
  '\udfff lone',
  '%00%ff%',
  "'; DROP TABLE orders; --",
  '../../etc/passwd',
  '{"a":1}',
  'BTC-USD',
  'btc-usd',
  'BTC-USD\u0000',
  'X'.repeat(300),
  'Y'.repeat(70_000),
];

const INT32_EDGES = [0, -1, 1, 2_147_483_647, -2_147_483_648, 42];
const INT64_EDGES = [
  0n,
  -1n,
  1n,
  9_223_372_036_854_775_807n,
  -9_223_372_036_854_775_808n,
  1_000_000_000_000_000_000n,
  61_000n,
];
const UINT64_EDGES = [0n, 1n, 18_446_744_073_709_551_615n, 9_223_372_036_854_775_808n, 100n];
const DOUBLE_EDGES = [0, -0, -1, Number.NaN, Infinity, -Infinity, 1e308, 5e-324];

export function randomBytes(random: SeededRandom, max: number): Uint8Array {
  const bytes = new Uint8Array(random.int(0, max));
  for (let i = 0; i < bytes.length; i++) bytes[i] = random.int(0, 255);
  return bytes;
}

export function hostileString(random: SeededRandom): string {
  if (random.chance(0.2)) {
    // Random code points, controls and surrogates included.
    let text = '';
    for (let i = random.int(1, 40); i > 0; i--) text += String.fromCharCode(random.int(0, 0xffff));
    return text;
  }
  return random.pick(HOSTILE_STRINGS);
}

/** A message of `schema` with hostile values; `mistype` is the chance of a wrong wire type. */
export function hostileMessage(
  random: SeededRandom,
  schema: DescMessage,
  mistype = 0.1,
  depth = 0,
): Uint8Array {
  const writer = new BinaryWriter();
  const oneofsDone = new Set<string>();
  for (const field of schema.fields) {
    if (field.oneof !== undefined) {
      if (oneofsDone.has(field.oneof.name) || !random.chance(0.5)) continue;
      oneofsDone.add(field.oneof.name);
    } else if (random.chance(0.3)) continue;
    const repeat = field.fieldKind === 'list' ? random.pick([0, 1, 2, 3, 200]) : 1;
    for (let i = 0; i < repeat; i++) {
      if (random.chance(mistype)) wrongWireType(random, writer, field.number);
      else writeField(random, writer, field, mistype, depth);
    }
  }
  if (random.chance(0.1)) wrongWireType(random, writer, random.int(1, 2_000));
  return writer.finish();
}

function writeField(
  random: SeededRandom,
  writer: BinaryWriter,
  field: DescField,
  mistype: number,
  depth: number,
): void {
  const message =
    field.fieldKind === 'message' || (field.fieldKind === 'list' && field.listKind === 'message')
      ? field.message
      : undefined;
  if (message !== undefined) {
    const body = depth < 3 ? hostileMessage(random, message, mistype, depth + 1) : new Uint8Array();
    writer.tag(field.number, WireType.LengthDelimited).bytes(body);
    return;
  }
  if (field.fieldKind === 'map') {
    writer.tag(field.number, WireType.LengthDelimited).bytes(randomBytes(random, 16));
    return;
  }
  const isEnum =
    field.fieldKind === 'enum' || (field.fieldKind === 'list' && field.listKind === 'enum');
  if (isEnum) {
    writer
      .tag(field.number, WireType.Varint)
      .int32(random.pick([0, 1, 2, 3, 7, -1, 999, 2_147_483_647]));
    return;
  }
  const scalar =
    field.fieldKind === 'scalar' || field.fieldKind === 'list' ? field.scalar : undefined;
  writeScalar(random, writer, field.number, scalar ?? ScalarType.BYTES);
}

function writeScalar(random: SeededRandom, writer: BinaryWriter, no: number, type: ScalarType) {
  switch (type) {
    case ScalarType.STRING:
      writer.tag(no, WireType.LengthDelimited).string(hostileString(random));
      return;
    case ScalarType.BYTES:
      writer.tag(no, WireType.LengthDelimited).bytes(randomBytes(random, 64));
      return;
    case ScalarType.BOOL:
      // A "bool" of any varint value.
      writer
        .tag(no, WireType.Varint)
        .uint64(random.pick([0n, 1n, 2n, 18_446_744_073_709_551_615n]));
      return;
    case ScalarType.DOUBLE:
      writer.tag(no, WireType.Bit64).double(random.pick(DOUBLE_EDGES));
      return;
    case ScalarType.FLOAT:
      writer.tag(no, WireType.Bit32).float(random.pick(DOUBLE_EDGES));
      return;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      if (type === ScalarType.SFIXED64)
        writer.tag(no, WireType.Bit64).sfixed64(random.pick(INT64_EDGES));
      else if (type === ScalarType.SINT64)
        writer.tag(no, WireType.Varint).sint64(random.pick(INT64_EDGES));
      else writer.tag(no, WireType.Varint).int64(random.pick(INT64_EDGES));
      return;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      if (type === ScalarType.FIXED64)
        writer.tag(no, WireType.Bit64).fixed64(random.pick(UINT64_EDGES));
      else writer.tag(no, WireType.Varint).uint64(random.pick(UINT64_EDGES));
      return;
    default:
      // 32-bit integers, now and then a 64-bit value that does not fit.
      if (random.chance(0.2)) writer.tag(no, WireType.Varint).int64(random.pick(INT64_EDGES));
      else writer.tag(no, WireType.Varint).int32(random.pick(INT32_EDGES));
  }
}

/** Field `no` with a wire type and payload picked at random, whatever the schema says. */
function wrongWireType(random: SeededRandom, writer: BinaryWriter, no: number): void {
  switch (random.int(0, 4)) {
    case 0:
      writer.tag(no, WireType.Varint).uint64(random.pick(UINT64_EDGES));
      return;
    case 1:
      writer.tag(no, WireType.Bit64).fixed64(random.pick(UINT64_EDGES));
      return;
    case 2:
      writer.tag(no, WireType.Bit32).fixed32(random.int(0, 4_294_967_295));
      return;
    case 3:
      writer.tag(no, WireType.LengthDelimited).bytes(randomBytes(random, 32));
      return;
    default:
      // A group start with no end, or an end with no start.
      writer.tag(no, random.chance(0.5) ? WireType.StartGroup : WireType.EndGroup);
  }
}

/** A body for a method taking `schema`: hostile but well-formed, truncated, or random bytes. */
export function hostileBody(random: SeededRandom, schema: DescMessage): Uint8Array {
  const roll = random.next();
  if (roll < 0.45) return hostileMessage(random, schema, 0);
  if (roll < 0.65) return hostileMessage(random, schema, 0.3);
  if (roll < 0.85) {
    const whole = hostileMessage(random, schema, 0);
    return whole.subarray(0, random.int(0, Math.max(0, whole.length - 1)));
  }
  return randomBytes(random, random.chance(0.9) ? 64 : 4_096);
}

/**
 * A gRPC (or gRPC-Web) length-prefixed body for `message`: mostly honest, otherwise a prefix
 * that claims more or fewer bytes than follow, a huge length, a compressed flag with no
 * encoding, a cut header, no message or two.
 */
export function lengthPrefixed(random: SeededRandom, message: Uint8Array): Uint8Array {
  const frame = (flag: number, length: number, body: Uint8Array) => {
    const header = Buffer.alloc(5);
    header.writeUInt8(flag, 0);
    header.writeUInt32BE(length >>> 0, 1);
    return Buffer.concat([header, body]);
  };
  switch (random.int(0, 9)) {
    case 0:
      return frame(0, message.length + random.int(1, 100), message);
    case 1:
      return frame(0, Math.max(0, message.length - random.int(1, 5)), message);
    case 2:
      return frame(0, random.pick([0xffffffff, 0x7fffffff, 16 * 1_048_576]), message);
    case 3:
      return frame(random.pick([1, 2, 0x80, 0xff]), message.length, message);
    case 4:
      return frame(0, message.length, message).subarray(0, random.int(0, 4));
    case 5:
      return new Uint8Array();
    case 6:
      return Buffer.concat([frame(0, message.length, message), frame(0, message.length, message)]);
    default:
      return frame(0, message.length, message);
  }
}
