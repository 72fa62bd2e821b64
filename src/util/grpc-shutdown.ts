import type * as grpc from '@grpc/grpc-js';

/** Stops a gRPC server: in-flight calls get `graceMs` to finish, then it is forced down. */
export function shutdownGrpcServer(server: grpc.Server, graceMs = 2000): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
