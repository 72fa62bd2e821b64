// gRPC service definitions of the discovery services, with our own (de)serialisers: requests
// are decoded by protobufjs; responses are already-encoded Buffers on the server side (see
// wire.ts) and decoded objects on the client side (tests, benchmarks).
import type * as grpc from '@grpc/grpc-js';
import { TypeUrl } from './types.js';
import {
  decodeDeltaRequest,
  decodeDeltaResponse,
  decodeSotwRequest,
  decodeSotwResponse,
  encodeDeltaRequest,
  encodeSotwRequest,
  type DeltaDiscoveryRequest__Output,
  type DeltaDiscoveryResponse__Output,
  type DiscoveryRequest__Output,
  type DiscoveryResponse__Output,
} from './wire.js';
import type { DeltaDiscoveryRequest } from './generated/envoy/service/discovery/v3/DeltaDiscoveryRequest.js';
import type { DiscoveryRequest } from './generated/envoy/service/discovery/v3/DiscoveryRequest.js';

/** Server side: handlers receive decoded requests and write Buffers. */
type SotwMethod = grpc.MethodDefinition<DiscoveryRequest | DiscoveryRequest__Output, Buffer | DiscoveryResponse__Output>;
type DeltaMethod = grpc.MethodDefinition<DeltaDiscoveryRequest | DeltaDiscoveryRequest__Output, Buffer | DeltaDiscoveryResponse__Output>;

const identity = (b: Buffer | DiscoveryResponse__Output | DeltaDiscoveryResponse__Output): Buffer => b as Buffer;

function sotw(path: string, responseStream: boolean, requestStream: boolean): SotwMethod {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: (r) => encodeSotwRequest(r as DiscoveryRequest),
    requestDeserialize: decodeSotwRequest,
    responseSerialize: identity,
    responseDeserialize: decodeSotwResponse,
  };
}

function delta(path: string): DeltaMethod {
  return {
    path,
    requestStream: true,
    responseStream: true,
    requestSerialize: (r) => encodeDeltaRequest(r as DeltaDiscoveryRequest),
    requestDeserialize: decodeDeltaRequest,
    responseSerialize: identity,
    responseDeserialize: decodeDeltaResponse,
  };
}

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

export const adsDefinition = {
  StreamAggregatedResources: sotw(`/${ADS_SERVICE}/StreamAggregatedResources`, true, true),
  DeltaAggregatedResources: delta(`/${ADS_SERVICE}/DeltaAggregatedResources`),
} satisfies grpc.ServiceDefinition;

/** The per-type services: one stream per resource type, same logic as ADS. */
export interface PerTypeService {
  readonly short: string;
  readonly typeUrl: TypeUrl;
  readonly service: string;
  readonly stream: string;
  readonly delta: string;
  readonly fetch: string;
}

export const PER_TYPE_SERVICES: readonly PerTypeService[] = [
  { short: 'cds', typeUrl: TypeUrl.Cluster, service: 'envoy.service.cluster.v3.ClusterDiscoveryService', stream: 'StreamClusters', delta: 'DeltaClusters', fetch: 'FetchClusters' },
  { short: 'lds', typeUrl: TypeUrl.Listener, service: 'envoy.service.listener.v3.ListenerDiscoveryService', stream: 'StreamListeners', delta: 'DeltaListeners', fetch: 'FetchListeners' },
  { short: 'rds', typeUrl: TypeUrl.Route, service: 'envoy.service.route.v3.RouteDiscoveryService', stream: 'StreamRoutes', delta: 'DeltaRoutes', fetch: 'FetchRoutes' },
  { short: 'eds', typeUrl: TypeUrl.Endpoint, service: 'envoy.service.endpoint.v3.EndpointDiscoveryService', stream: 'StreamEndpoints', delta: 'DeltaEndpoints', fetch: 'FetchEndpoints' },
  { short: 'sds', typeUrl: TypeUrl.Secret, service: 'envoy.service.secret.v3.SecretDiscoveryService', stream: 'StreamSecrets', delta: 'DeltaSecrets', fetch: 'FetchSecrets' },
];

export function perTypeDefinition(s: PerTypeService): grpc.ServiceDefinition {
  return {
    [s.stream]: sotw(`/${s.service}/${s.stream}`, true, true),
    [s.delta]: delta(`/${s.service}/${s.delta}`),
    [s.fetch]: sotw(`/${s.service}/${s.fetch}`, false, false),
  };
}
