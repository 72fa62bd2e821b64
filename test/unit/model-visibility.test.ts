// exportTo: `*`, `.`, `~`, namespace names, and the mesh-wide default.
import { isVisibleTo, parseExportToAnnotation, visibilityOf, visibilityRank } from '../../src/model/visibility.js';

describe('visibilityOf / isVisibleTo', () => {
  test.each<[string[] | undefined, string[], string, boolean]>([
    // [exportTo, mesh default, client namespace, visible]  (owner is "a")
    [undefined, ['*'], 'a', true],
    [undefined, ['*'], 'b', true],
    [[], ['*'], 'b', true],
    [undefined, ['.'], 'a', true],
    [undefined, ['.'], 'b', false],
    [undefined, ['.', '*'], 'b', false], // Istio checks "." first
    [undefined, ['team-x'], 'team-x', false], // only . and * are honoured in the default
    [['*'], ['.'], 'b', true],
    [['.'], ['*'], 'a', true],
    [['.'], ['*'], 'b', false],
    [['a'], ['*'], 'a', true],
    [['a'], ['*'], 'b', false],
    [['.', 'b'], ['*'], 'a', true],
    [['.', 'b'], ['*'], 'b', true],
    [['.', 'b'], ['*'], 'c', false],
    [['b', 'c'], ['*'], 'a', false], // not even its own namespace
    [['b', 'c'], ['*'], 'c', true],
    [['~'], ['*'], 'a', false],
    [['~'], ['*'], 'b', false],
    [['*', '~'], ['*'], 'b', true], // * wins over ~
    [['.', '*'], ['*'], 'z', true],
  ])('exportTo %j, default %j: visible to %s = %s', (exportTo, defaults, client, want) => {
    expect(isVisibleTo(visibilityOf(exportTo, 'a', defaults), client)).toBe(want);
  });
});

describe('visibilityRank: private, then exported by name, then public', () => {
  test.each<[string[], string, string, number | undefined]>([
    [['.'], 'a', 'a', 0],
    [['a'], 'a', 'a', 0],
    [['.', 'b'], 'a', 'b', 1],
    [['.', 'b'], 'a', 'a', 0],
    [['*'], 'a', 'a', 2], // public stays public even for its own namespace
    [['*'], 'a', 'b', 2],
    [['b'], 'a', 'c', undefined],
    [['~'], 'a', 'a', undefined],
  ])('exportTo %j of an object in %s, client %s → %s', (exportTo, owner, client, want) => {
    expect(visibilityRank(visibilityOf(exportTo, owner, ['*']), owner, client)).toBe(want);
  });
});

test.each<[string | undefined, string[]]>([
  [undefined, []],
  ['', []],
  ['*', ['*']],
  ['.', ['.']],
  ['., team-b ,team-c', ['.', 'team-b', 'team-c']],
  ['~', ['~']],
])('parseExportToAnnotation(%j) = %j', (value, want) => {
  expect(parseExportToAnnotation(value)).toEqual(want);
});
