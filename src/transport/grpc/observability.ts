import {
  context,
  propagation,
  ROOT_CONTEXT,
  type Context,
  type TextMapGetter,
} from '@opentelemetry/api';
import type { Metadata } from '@grpc/grpc-js';
import {
  ServerInterceptingCall,
  status,
  type ServerInterceptor,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import type { Logger } from '../../telemetry/index.js';
import { DEPENDENCY_KEY, SHUTDOWN_DEPENDENCY } from '../../shared/grpc/error-metadata.js';
import { grpcType, methodLabels, parsePath } from '../../shared/grpc/method-labels.js';
import { observeCall, type CallObservation, type RpcServerMetrics } from '../rpc/call-observer.js';
import { clientAddressOfCall, type ClientAddressOf } from './client-address.js';

/**
 * One interceptor for every service on the grpc-js server (ours, Health, reflection): the
 * `grpc_server_*` metrics, span and log line of call-observer.ts, with the span context the
 * handler runs in.
 */

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (carrier) => Object.keys(carrier.getMap()),
  get: (carrier, key) => {
    const values = carrier.get(key).filter((v): v is string => typeof v === 'string');
    return values.length === 0 ? undefined : values;
  },
};

/**
 * A call's observation, keyed by its Metadata object: that object travels unchanged from this
 * interceptor to the handler, whereas async context may not (grpc-js can run a handler after
 * an asynchronous step, and with telemetry off there is no context manager at all).
 */
const calls = new WeakMap<Metadata, CallObservation>();

/** The span context of the call whose request metadata this is. */
export const callContextFor = (metadata: Metadata): Context | undefined =>
  calls.get(metadata)?.context;

/** Records who is calling on the call's span and in its log line. */
export function annotateCall(metadata: Metadata, facts: { userId: string }): void {
  calls.get(metadata)?.annotate(facts);
}

/** Zero-valued series for every method of a grpc-js service definition. */
export function initializeMetrics(metrics: RpcServerMetrics, definition: ServiceDefinition): void {
  for (const method of Object.values(definition)) metrics.initialize(methodLabels(method), 'grpc');
}

export function observabilityInterceptor(
  metrics: RpcServerMetrics,
  logger: Logger,
  clientAddress: ClientAddressOf,
): ServerInterceptor {
  return (descriptor, call) => {
    const { service, method } = parsePath(descriptor.path);
    const labels = {
      grpc_type: grpcType(descriptor.requestStream, descriptor.responseStream),
      grpc_service: service,
      grpc_method: method,
    };
    let observation: CallObservation | undefined;
    const observe = (parent: Context, metadata?: Metadata) => {
      observation ??= observeCall({
        metrics,
        logger,
        method: labels,
        transport: 'grpc',
        peer: clientAddressOfCall(call.getPeer(), metadata, clientAddress),
        parent,
      });
      return observation;
    };
    const spanContext = () => observation?.context ?? ROOT_CONTEXT;

    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const started = observe(
              propagation.extract(ROOT_CONTEXT, metadata, metadataGetter),
              metadata,
            );
            calls.set(metadata, started);
            context.with(started.context, () => {
              nextMetadata(metadata);
            });
          },
          onReceiveMessage(message, nextMessage) {
            observation?.received();
            context.with(spanContext(), () => {
              nextMessage(message);
            });
          },
          onReceiveHalfClose(nextHalfClose) {
            context.with(spanContext(), () => {
              nextHalfClose();
            });
          },
          onCancel() {
            observe(ROOT_CONTEXT).finish(status.CANCELLED, 'cancelled by the client');
          },
        });
      },
      sendMessage(message, next) {
        observation?.sent();
        next(message);
      },
      sendStatus(statusObject, next) {
        const [dependency] = statusObject.metadata?.get(DEPENDENCY_KEY) ?? [];
        observe(ROOT_CONTEXT).finish(
          statusObject.code,
          statusObject.details,
          statusObject.code === status.UNAVAILABLE && dependency === SHUTDOWN_DEPENDENCY,
        );
        next(statusObject);
      },
    });
  };
}
