/**
 * An OTLP/gRPC trace receiver on loopback, standing in for the OpenTelemetry Collector: what a
 * process exports with OTEL_EXPORTER_OTLP_ENDPOINT pointed here is decoded and kept, so a test
 * can read the spans a real process made. It decodes only the fields the tests read.
 */
import { Server, ServerCredentials, type ServiceDefinition } from '@grpc/grpc-js';
import { BinaryReader, type WireType } from '@bufbuild/protobuf/wire';

export interface ReceivedSpan {
  readonly name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  /** The instrumentation scope: `@opentelemetry/instrumentation-pg`, `trading-platform`, … */
  readonly scope: string;
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  /** String and integer attributes (integers as numbers). */
  readonly attributes: Readonly<Record<string, string | number>>;
  /** The resource's string attributes (`service.name`, …). */
  readonly resource: Readonly<Record<string, string>>;
}

export interface OtlpReceiver {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string;
  readonly spans: readonly ReceivedSpan[];
  close(): Promise<void>;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Calls `field` for each field of the message in `bytes`, skipping what it does not read. */
function fields(
  bytes: Uint8Array,
  field: (no: number, reader: BinaryReader, wireType: WireType) => boolean,
): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    if (!field(no, reader, wireType)) reader.skip(wireType, no);
  }
}

/** KeyValue { key = 1; AnyValue value = 2 { string_value = 1; int_value = 3 } }. */
function keyValue(bytes: Uint8Array): [string, string | number | undefined] {
  let key = '';
  let value: string | number | undefined;
  fields(bytes, (no, reader) => {
    if (no === 1) key = reader.string();
    else if (no === 2) {
      fields(reader.bytes(), (valueNo, valueReader) => {
        if (valueNo === 1) value = valueReader.string();
        else if (valueNo === 3) value = Number(valueReader.int64());
        else return false;
        return true;
      });
    } else return false;
    return true;
  });
  return [key, value];
}

function span(bytes: Uint8Array, scope: string, resource: Record<string, string>): ReceivedSpan {
  const decoded = { name: '', kind: 0, traceId: '', spanId: '', parentSpanId: '' };
  const attributes: Record<string, string | number> = {};
  fields(bytes, (no, reader) => {
    if (no === 1) decoded.traceId = hex(reader.bytes());
    else if (no === 2) decoded.spanId = hex(reader.bytes());
    else if (no === 4) decoded.parentSpanId = hex(reader.bytes());
    else if (no === 5) decoded.name = reader.string();
    else if (no === 6) decoded.kind = reader.int32();
    else if (no === 9) {
      const [key, value] = keyValue(reader.bytes());
      if (value !== undefined) attributes[key] = value;
    } else return false;
    return true;
  });
  return { ...decoded, scope, attributes, resource };
}

/** ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1 }. */
export function decodeExportRequest(bytes: Uint8Array): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  fields(bytes, (no, reader) => {
    if (no !== 1) return false;
    // ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2 }
    const resource: Record<string, string> = {};
    const scopeSpans: Uint8Array[] = [];
    fields(reader.bytes(), (rsNo, rsReader) => {
      if (rsNo === 1) {
        fields(rsReader.bytes(), (resNo, resReader) => {
          if (resNo !== 1) return false;
          const [key, value] = keyValue(resReader.bytes());
          if (typeof value === 'string') resource[key] = value;
          return true;
        });
      } else if (rsNo === 2) scopeSpans.push(rsReader.bytes());
      else return false;
      return true;
    });
    // ScopeSpans { InstrumentationScope scope = 1 { name = 1 }; repeated Span spans = 2 }
    for (const bytesOfScope of scopeSpans) {
      let scope = '';
      const raw: Uint8Array[] = [];
      fields(bytesOfScope, (ssNo, ssReader) => {
        if (ssNo === 1) {
          fields(ssReader.bytes(), (scopeNo, scopeReader) => {
            if (scopeNo !== 1) return false;
            scope = scopeReader.string();
            return true;
          });
        } else if (ssNo === 2) raw.push(ssReader.bytes());
        else return false;
        return true;
      });
      spans.push(...raw.map((bytesOfSpan) => span(bytesOfSpan, scope, resource)));
    }
    return true;
  });
  return spans;
}

const TRACE_SERVICE: ServiceDefinition = {
  Export: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: Buffer) => value,
    requestDeserialize: (bytes: Buffer) => decodeExportRequest(bytes),
    // ExportTraceServiceResponse with no partial_success: the empty message.
    responseSerialize: () => Buffer.alloc(0),
    responseDeserialize: (bytes: Buffer) => bytes,
  },
};

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const server = new Server();
  server.addService(TRACE_SERVICE, {
    Export: (
      call: { request: ReceivedSpan[] },
      callback: (error: null, response: Record<string, never>) => void,
    ) => {
      spans.push(...call.request);
      callback(null, {});
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => {
      if (error === null) resolve(bound);
      else reject(error);
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => {
          resolve();
        });
      }),
  };
}
