// An XdsServer on a loopback port and the AdsClients a test opens against it, for tests of the
// server over real gRPC: `close()` ends the clients and the server.
import { XdsServer, type XdsServerOptions } from '../../src/xds/server.js';
import { AdsClient, type AdsClientOptions } from './ads-client.js';

export class LoopbackXds {
  private readonly clients: AdsClient[] = [];

  private constructor(
    readonly server: XdsServer,
    /** host:port, for a gRPC client of one's own. */
    readonly target: string,
  ) {}

  static async start(opts: XdsServerOptions): Promise<LoopbackXds> {
    const server = new XdsServer(opts);
    return new LoopbackXds(server, `127.0.0.1:${await server.listen('127.0.0.1:0')}`);
  }

  /** A client of this server, closed by close(). */
  client(opts: AdsClientOptions): AdsClient {
    const c = new AdsClient(this.target, opts);
    this.clients.push(c);
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.clients.splice(0)) c.close();
    await this.server.close();
  }
}
