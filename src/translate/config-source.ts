// Everything a sidecar gets comes over the one ADS stream.
import type { ConfigSource } from '../xds/generated/envoy/config/core/v3/ConfigSource.js';

export const ADS_CONFIG_SOURCE: ConfigSource = { ads: {}, resource_api_version: 'V3' };
