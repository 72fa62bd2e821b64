// Which resources a NACK rejected. The protocol only says "this response was rejected", with a
// free-text error. Envoy names the culprits ("Error adding/updating listener(s) bad: ..."), so
// when the message names some of the resources that changed in the response, only those are
// held back and the others are sent again at once; otherwise every changed resource is held
// back. A NACK of such a retry holds back everything it changed: at most one retry per NACK,
// never a loop.

/** The names in `changed` to treat as rejected, given the client's error message. */
export function rejectedResources(changed: ReadonlySet<string>, message: string, wasRetry: boolean): Set<string> {
  if (wasRetry || changed.size <= 1) return new Set(changed);
  const named = [...changed].filter((name) => mentions(message, name));
  return named.length > 0 ? new Set(named) : new Set(changed);
}

/** Whether `message` mentions `name` as a whole word (not as part of a longer name). */
function mentions(message: string, name: string): boolean {
  if (!name) return false;
  let from = 0;
  for (;;) {
    const i = message.indexOf(name, from);
    if (i < 0) return false;
    const before = i === 0 ? '' : message[i - 1];
    const end = i + name.length;
    // A dot ends a sentence unless a name goes on after it.
    const after = message[end] === '.' ? (message[end + 1] ?? '') : (message[end] ?? '');
    if (!isNameChar(before) && !isNameChar(after)) return true;
    from = i + 1;
  }
}

function isNameChar(c: string): boolean {
  return c !== '' && /[A-Za-z0-9_.|\-/]/.test(c);
}
