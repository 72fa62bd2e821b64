// The syntax of a CEL expression (Common Expression Language, as its spec's grammar has it), for
// Telemetry's accessLogging filter: Istio's webhook parses the expression (no type check) and
// rejects it when it does not parse; Envoy compiles it when the listener arrives, so an
// expression that does not parse would otherwise cost the whole listener update. Pure.

type Token = { kind: 'num' | 'str' | 'ident' | 'op' | 'end'; text: string; at: number };

const RESERVED = new Set(['as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while']);
const OPERATORS = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '+', '-', '*', '/', '%', '!', '?', ':', '.', ',', '(', ')', '[', ']', '{', '}'];
const NUMBER = /^(?:0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d+|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?)/;
const IDENT = /^[_a-zA-Z][_a-zA-Z0-9]*/;

class CelSyntaxError extends Error {
  constructor(message: string, at: number) {
    super(`${message} at column ${at + 1}`);
  }
}

/** The end of a string literal starting at `i` (after any r/b prefix), or throws. */
function stringEnd(src: string, i: number, raw: boolean): number {
  const quote = src.startsWith(src[i]!.repeat(3), i) ? src[i]!.repeat(3) : src[i]!;
  let j = i + quote.length;
  while (j < src.length) {
    if (src.startsWith(quote, j)) return j + quote.length;
    if (quote.length === 1 && (src[j] === '\n' || src[j] === '\r')) break;
    j += !raw && src[j] === '\\' ? 2 : 1;
  }
  throw new CelSyntaxError('unterminated string', i);
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) i++;
    else if (src.startsWith('//', i)) while (i < src.length && src[i] !== '\n') i++;
    else if (c === '"' || c === "'" || /^[rRbB]{1,2}['"]/.test(src.slice(i, i + 3))) {
      const prefix = /^[rRbB]{0,2}/.exec(src.slice(i))![0];
      const end = stringEnd(src, i + prefix.length, /[rR]/.test(prefix));
      out.push({ kind: 'str', text: src.slice(i, end), at: i });
      i = end;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = NUMBER.exec(src.slice(i))![0];
      out.push({ kind: 'num', text: m, at: i });
      i += m.length;
    } else if (IDENT.test(src.slice(i))) {
      const m = IDENT.exec(src.slice(i))![0];
      out.push({ kind: m === 'in' ? 'op' : 'ident', text: m, at: i });
      i += m.length;
    } else {
      const op = OPERATORS.find((o) => src.startsWith(o, i));
      if (!op) throw new CelSyntaxError(`unexpected character ${JSON.stringify(c)}`, i);
      out.push({ kind: 'op', text: op, at: i });
      i += op.length;
    }
  }
  out.push({ kind: 'end', text: 'end of expression', at: src.length });
  return out;
}

const LEVELS: readonly (readonly string[])[] = [['||'], ['&&'], ['==', '!=', '<', '<=', '>', '>=', 'in'], ['+', '-'], ['*', '/', '%']];

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  private get tok(): Token {
    return this.tokens[this.pos]!;
  }
  private eat(text: string): boolean {
    if (this.tok.kind !== 'op' || this.tok.text !== text) return false;
    this.pos++;
    return true;
  }
  private expect(text: string): void {
    if (!this.eat(text)) throw new CelSyntaxError(`expected ${JSON.stringify(text)}, got ${JSON.stringify(this.tok.text)}`, this.tok.at);
  }
  private ident(): void {
    if (this.tok.kind !== 'ident' || RESERVED.has(this.tok.text)) throw new CelSyntaxError(`expected a name, got ${JSON.stringify(this.tok.text)}`, this.tok.at);
    this.pos++;
  }

  whole(): void {
    this.expr();
    if (this.tok.kind !== 'end') throw new CelSyntaxError(`unexpected ${JSON.stringify(this.tok.text)}`, this.tok.at);
  }

  private expr(): void {
    this.binary(0);
    if (this.eat('?')) {
      this.binary(0);
      this.expect(':');
      this.expr();
    }
  }

  private binary(level: number): void {
    if (level === LEVELS.length) return this.unary();
    this.binary(level + 1);
    while (this.tok.kind === 'op' && LEVELS[level]!.includes(this.tok.text)) {
      this.pos++;
      this.binary(level + 1);
    }
  }

  private unary(): void {
    while (this.eat('!') || this.eat('-'));
    this.member();
  }

  /** A list of expressions up to `close`, a trailing comma allowed; `pairs`: key ':' value. */
  private list(close: string, pairs: boolean): void {
    while (!this.eat(close)) {
      this.expr();
      if (pairs) {
        this.expect(':');
        this.expr();
      }
      if (!this.eat(',')) return this.expect(close);
    }
  }

  private member(): void {
    this.primary();
    for (;;) {
      if (this.eat('.')) {
        this.ident();
        if (this.eat('(')) this.list(')', false);
      } else if (this.eat('[')) {
        this.expr();
        this.expect(']');
      } else return;
    }
  }

  private primary(): void {
    const t = this.tok;
    if (t.kind === 'num' || t.kind === 'str') {
      this.pos++;
    } else if (this.eat('(')) {
      this.expr();
      this.expect(')');
    } else if (this.eat('[')) {
      this.list(']', false);
    } else if (this.eat('{')) {
      this.list('}', true);
    } else {
      this.eat('.');
      this.ident();
      if (this.eat('(')) return this.list(')', false);
      // A message literal: a qualified type name, then its fields.
      while (this.tok.text === '.' && this.tokens[this.pos + 1]?.kind === 'ident' && this.isMessageAhead()) {
        this.pos++;
        this.ident();
      }
      if (this.eat('{')) this.fieldInits();
    }
  }

  private isMessageAhead(): boolean {
    for (let i = this.pos; i + 1 < this.tokens.length; i += 2) {
      if (this.tokens[i]!.text !== '.' || this.tokens[i + 1]!.kind !== 'ident') return this.tokens[i]!.text === '{';
    }
    return false;
  }

  private fieldInits(): void {
    while (!this.eat('}')) {
      this.ident();
      this.expect(':');
      this.expr();
      if (!this.eat(',')) return this.expect('}');
    }
  }
}

/** Why `expression` is not CEL, or undefined when it parses. */
export function celSyntaxProblem(expression: string): string | undefined {
  if (expression.trim() === '') return 'is empty';
  try {
    new Parser(tokenize(expression)).whole();
    return undefined;
  } catch (err) {
    if (err instanceof CelSyntaxError) return err.message;
    throw err;
  }
}
