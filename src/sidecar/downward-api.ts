// The downward API's file format for a pod's labels or annotations: lines of key="value", the
// value escaped as a Go string literal (which JSON string syntax reads for these values).

export function parseDownwardApiLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([^=]+)="(.*)"$/.exec(line.trim());
    if (m) out[m[1]] = JSON.parse(`"${m[2]}"`) as string;
  }
  return out;
}
