// What an Envoy subscribes to after CDS and LDS, read straight from the resources' bytes (no full
// decode: a simulated client sees thousands of clusters per push): the EDS names of its EDS
// clusters, and the RDS names of the HTTP connection managers in its listeners.
import protobuf from 'protobufjs';

const WIRE_VARINT = 0;
const WIRE_BYTES = 2;
/** envoy.config.cluster.v3.Cluster.DiscoveryType.EDS */
const DISCOVERY_EDS = 3;
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

/** Calls `each(field, reader)` for every field of a message; `each` must consume the value or return false to have it skipped. */
function fields(bytes: Uint8Array, each: (field: number, wire: number, r: protobuf.Reader) => boolean): void {
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (!each(tag >>> 3, tag & 7, r)) r.skipType(tag & 7);
  }
}

/** The EDS name of a Cluster (its eds_cluster_config.service_name, else its name), or undefined if it is not an EDS cluster. */
export function edsNameOfCluster(cluster: Uint8Array): string | undefined {
  let name = '';
  let serviceName = '';
  let type = 0;
  fields(cluster, (field, wire, r) => {
    if (field === 1 && wire === WIRE_BYTES) name = r.string();
    else if (field === 2 && wire === WIRE_VARINT) type = r.int32();
    else if (field === 3 && wire === WIRE_BYTES) {
      fields(r.bytes(), (f, w, inner) => {
        if (f === 2 && w === WIRE_BYTES) serviceName = inner.string();
        else return false;
        return true;
      });
    } else return false;
    return true;
  });
  return type === DISCOVERY_EDS ? serviceName || name : undefined;
}

/** The RDS route_config_name of an HttpConnectionManager, if it uses RDS. */
function rdsNameOfHcm(hcm: Uint8Array): string | undefined {
  let out: string | undefined;
  fields(hcm, (field, wire, r) => {
    if (field !== 3 || wire !== WIRE_BYTES) return false;
    fields(r.bytes(), (f, w, inner) => {
      if (f !== 2 || w !== WIRE_BYTES) return false;
      out = inner.string();
      return true;
    });
    return true;
  });
  return out;
}

/** RDS names of the HCM filters of one FilterChain. */
function rdsNamesOfChain(chain: Uint8Array, out: Set<string>): void {
  fields(chain, (field, wire, r) => {
    if (field !== 3 || wire !== WIRE_BYTES) return false; // FilterChain.filters
    fields(r.bytes(), (f, w, filter) => {
      if (f !== 4 || w !== WIRE_BYTES) return false; // Filter.typed_config (Any)
      let typeUrl = '';
      let value: Uint8Array | undefined;
      fields(filter.bytes(), (af, aw, any) => {
        if (af === 1 && aw === WIRE_BYTES) typeUrl = any.string();
        else if (af === 2 && aw === WIRE_BYTES) value = any.bytes();
        else return false;
        return true;
      });
      if (typeUrl === HCM_TYPE && value) {
        const name = rdsNameOfHcm(value);
        if (name) out.add(name);
      }
      return true;
    });
    return true;
  });
}

/** The RDS names a Listener's filter chains (and default filter chain) ask for. */
export function rdsNamesOfListener(listener: Uint8Array, out = new Set<string>()): Set<string> {
  fields(listener, (field, wire, r) => {
    if ((field !== 3 && field !== 25) || wire !== WIRE_BYTES) return false; // filter_chains, default_filter_chain
    rdsNamesOfChain(r.bytes(), out);
    return true;
  });
  return out;
}

/** The sorted EDS names of a set of clusters. */
export function edsNames(clusters: Iterable<Uint8Array>): string[] {
  const out = new Set<string>();
  for (const c of clusters) {
    const n = edsNameOfCluster(c);
    if (n) out.add(n);
  }
  return [...out].sort();
}

/** The sorted RDS names of a set of listeners. */
export function rdsNames(listeners: Iterable<Uint8Array>): string[] {
  const out = new Set<string>();
  for (const l of listeners) rdsNamesOfListener(l, out);
  return [...out].sort();
}
