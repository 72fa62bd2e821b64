// PEM text helpers for certificate chains. Node built-ins only: the sidecar agent imports this.

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** The PEM blocks of `text` of the given label (CERTIFICATE by default), each ending in "\n". */
export function splitPem(text: string, label = 'CERTIFICATE'): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(BLOCK)) if (m[1] === label) out.push(`${m[0]}\n`);
  return out;
}

/** DER bytes as PEM with 64-character lines. */
export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').trim();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** Normalises one PEM block (trailing newline, no surrounding text). */
export function normalisePem(pem: string, label = 'CERTIFICATE'): string {
  const blocks = splitPem(pem, label);
  if (blocks.length !== 1) throw new Error(`expected one PEM ${label} block, found ${blocks.length}`);
  return blocks[0];
}
