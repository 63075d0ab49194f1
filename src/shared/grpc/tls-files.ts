/** PEM files of one end of a gRPC connection: the engine's server and its api clients share them. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /**
   * The CA the other end's certificate must be signed by. On a server, setting it makes
   * clients present a certificate (mTLS); on a client, unset means the system's CAs.
   */
  readonly caFile: string | undefined;
}
