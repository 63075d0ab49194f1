import ipaddr from 'ipaddr.js';

/**
 * The key a per-address limit (login, registration, WebSocket connections) counts a client
 * address under. An IPv6 client is given a whole /64 (RFC 6177) and can rotate through it at
 * will, so its /64 is one key; an IPv4 address, or an IPv4 client on a dual-stack socket
 * (`::ffff:1.2.3.4`), is its own. Whatever is not an address (a trusted proxy forwarding junk)
 * shares one key, so rotating junk cannot escape the limits.
 */
export const NOT_AN_ADDRESS = 'not-an-address';

export function addressKey(address: string): string {
  if (!ipaddr.isValid(address)) return NOT_AN_ADDRESS;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${parsed.toString()}/64`).toString()}/64`;
}
