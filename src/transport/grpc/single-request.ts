import { ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';

export const NO_REQUEST_MESSAGE = 'the call carried no request message; this method takes one';
export const EXTRA_REQUEST_MESSAGE =
  'the call carried more than one request message; this method takes one';

/**
 * Unary and server-streaming methods take exactly one request message. grpc-js answers a call
 * with none (a stream ended without a body) or with a second one UNIMPLEMENTED, a code that
 * blames the server (an error log line, SLO burn); the caller sent it, so it gets
 * INVALID_ARGUMENT here, before grpc-js's own check. List it after the observability
 * interceptor: that one then wraps it, and counts and logs this answer like any other.
 */
export const singleRequestInterceptor: ServerInterceptor = (descriptor, call) => {
  if (descriptor.requestStream) return new ServerInterceptingCall(call);
  let received = 0;
  let refused = false;
  const refuse = (details: string) => {
    refused = true;
    intercepting.sendStatus({ code: status.INVALID_ARGUMENT, details });
  };
  const intercepting = new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMessage(message, nextMessage) {
          received += 1;
          if (received === 1) nextMessage(message);
          else if (!refused) refuse(EXTRA_REQUEST_MESSAGE);
        },
        onReceiveHalfClose(nextHalfClose) {
          if (refused) return;
          if (received === 0) refuse(NO_REQUEST_MESSAGE);
          else nextHalfClose();
        },
      });
    },
  });
  return intercepting;
};
