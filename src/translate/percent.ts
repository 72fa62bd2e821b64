// Istio percentages (0.0–100.0, or the deprecated integer percents) as Envoy FractionalPercents.
import type { Percent } from '../model/http-routes.js';
import type { FractionalPercent } from '../xds/generated/envoy/type/v3/FractionalPercent.js';

/** A percentage as a fraction of a million (Istio's precision); undefined percentage means 100%. */
export function fractionalPercent(p: Percent | undefined, deprecatedInt?: number | null): FractionalPercent {
  if (p?.value !== undefined) return { numerator: Math.round(p.value * 10000), denominator: 'MILLION' };
  if (deprecatedInt !== undefined && deprecatedInt !== null) return { numerator: deprecatedInt, denominator: 'HUNDRED' };
  return { numerator: 100, denominator: 'HUNDRED' };
}
