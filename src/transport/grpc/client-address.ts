import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { Metadata } from '@grpc/grpc-js';
import { peerAddress } from '../rpc/call-context.js';

/**
 * The client's address behind trusted proxies, on the gRPC port: the peer itself unless it is
 * in `trustedProxies`, else the rightmost `x-forwarded-for` hop that is not (proxy-addr's walk,
 * the one Fastify's `trustProxy` makes for `request.ip` on the HTTP port). A client cannot
 * choose its address by sending the header: an untrusted peer's is ignored, and a trusted
 * proxy appends the address it saw after whatever the client wrote.
 */
export type ClientAddressOf = (peer: string, forwardedFor: string | undefined) => string;

export function clientAddressOf(trustedProxies: readonly string[]): ClientAddressOf {
  if (trustedProxies.length === 0) return (peer) => peer;
  const trust = proxyAddr.compile([...trustedProxies]);
  return (peer, forwardedFor) => {
    if (forwardedFor === undefined) return peer;
    // proxy-addr reads only these two fields of the request it is given.
    const request = {
      headers: { 'x-forwarded-for': forwardedFor },
      socket: { remoteAddress: peer },
    };
    return proxyAddr(request as unknown as IncomingMessage, trust);
  };
}

/** The client address of a grpc-js call from its peer ("ipv4:1.2.3.4:5678") and metadata. */
export function clientAddressOfCall(
  peer: string,
  metadata: Metadata | undefined,
  clientAddress: ClientAddressOf,
): string {
  const forwardedFor = (metadata?.get('x-forwarded-for') ?? []).filter(
    (value): value is string => typeof value === 'string',
  );
  return clientAddress(
    peerAddress(peer),
    forwardedFor.length === 0 ? undefined : forwardedFor.join(', '),
  );
}
