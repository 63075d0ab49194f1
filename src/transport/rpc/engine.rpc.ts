import type { ServiceImpl } from '@connectrpc/connect';
import type { OrderEngine } from '../../domain/orders/order-engine.port.js';
import type { EngineService } from '../../gen/trading/internal/v1/engine_pb.js';
import { fromSubmitRequest, toSubmitResponse } from '../../shared/grpc/engine-codec.js';

/**
 * `trading.internal.v1.EngineService`, served by ROLE=engine to api pods. The caller is another
 * service of the platform (mTLS when TLS is configured), not a user: the user id travels in
 * the request, already authenticated, validated and rate-limited by the api pod.
 */
export function engineRpc(engine: OrderEngine): ServiceImpl<typeof EngineService> {
  return {
    async submit(request) {
      return toSubmitResponse(await engine.submit(fromSubmitRequest(request)));
    },
  };
}
