// The echo app's gRPC side: service trellis.echo.Echo, method Echo, answering with the pod's
// identity like the HTTP side. The service is defined inline (no .proto file to ship).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const ECHO_SERVICE = 'trellis.echo.Echo';

type Descriptor = Parameters<typeof protoLoader.fromJSON>[0];

const packageDefinition = protoLoader.fromJSON(
  ({
    nested: {
      trellis: {
        nested: {
          echo: {
            nested: {
              EchoRequest: { fields: { message: { type: 'string', id: 1 } } },
              EchoResponse: {
                fields: {
                  message: { type: 'string', id: 1 },
                  pod: { type: 'string', id: 2 },
                  namespace: { type: 'string', id: 3 },
                  labels: { keyType: 'string', type: 'string', id: 4 },
                  authority: { type: 'string', id: 5 },
                },
              },
              Echo: { methods: { Echo: { requestType: 'EchoRequest', responseType: 'EchoResponse' } } },
            },
          },
        },
      },
    },
  } as unknown as Descriptor),
  { keepCase: true, defaults: true },
);

interface EchoPackage {
  trellis: { echo: { Echo: grpc.ServiceClientConstructor } };
}

export const echoPackage = grpc.loadPackageDefinition(packageDefinition) as unknown as EchoPackage;

export interface EchoReply {
  message: string;
  pod: string;
  namespace: string;
  labels: Record<string, string>;
  authority: string;
}

export function startGrpcEcho(port: number, identity: () => { pod: string; namespace: string; labels: Record<string, string> }): Promise<grpc.Server> {
  const server = new grpc.Server();
  server.addService(echoPackage.trellis.echo.Echo.service, {
    Echo: (call: grpc.ServerUnaryCall<{ message: string }, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      const authority = (call as unknown as { getHost?: () => string }).getHost?.() ?? '';
      cb(null, { message: call.request.message, ...identity(), authority });
    },
  });
  return new Promise((resolve, reject) =>
    server.bindAsync(`0.0.0.0:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve(server))),
  );
}

export function grpcEchoOnce(target: string, message: string, timeoutMs: number): Promise<EchoReply> {
  const client = new echoPackage.trellis.echo.Echo(target, grpc.credentials.createInsecure());
  return new Promise<EchoReply>((resolve, reject) => {
    (client as unknown as { Echo: (r: object, o: object, cb: (e: Error | null, r: EchoReply) => void) => void }).Echo({ message }, { deadline: Date.now() + timeoutMs }, (err, reply) => {
      client.close();
      if (err) reject(err);
      else resolve(reply);
    });
  });
}
