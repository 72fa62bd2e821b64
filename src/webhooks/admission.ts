// AdmissionReview (admission.k8s.io/v1) shapes and parsing shared by the webhooks.

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
  name?: string;
  namespace?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  warnings?: string[];
  patchType?: 'JSONPatch';
  patch?: string;
}

export interface AdmissionReview {
  apiVersion: string;
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

export class BadReview extends Error {}

/** Parses a request body as an AdmissionReview with a request; throws BadReview saying what is wrong. */
export function parseReview(body: string): AdmissionReview & { request: AdmissionRequest } {
  let review: unknown;
  try {
    review = JSON.parse(body);
  } catch (err) {
    throw new BadReview(`body is not JSON: ${(err as Error).message}`);
  }
  const r = review as Partial<AdmissionReview>;
  if (typeof r !== 'object' || r === null || r.kind !== 'AdmissionReview') throw new BadReview('body is not an AdmissionReview (kind must be "AdmissionReview")');
  if (r.apiVersion !== 'admission.k8s.io/v1' && r.apiVersion !== 'admission.k8s.io/v1beta1') {
    throw new BadReview(`unsupported AdmissionReview apiVersion "${String(r.apiVersion)}" (want admission.k8s.io/v1)`);
  }
  const req = r.request;
  if (!req || typeof req.uid !== 'string' || !req.uid || typeof req.kind !== 'object') throw new BadReview('AdmissionReview has no request with a uid and a kind');
  return r as AdmissionReview & { request: AdmissionRequest };
}

export function reviewResponse(review: AdmissionReview, response: AdmissionResponse): AdmissionReview {
  return { apiVersion: review.apiVersion, kind: 'AdmissionReview', response };
}
