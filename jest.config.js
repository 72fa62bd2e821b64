// Jest runs the TypeScript sources as native ES modules (node --experimental-vm-modules),
// transformed by SWC: @kubernetes/client-node 1.x ships as ESM only.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }],
};
const common = {
  // Only these are scanned: .devcluster/ holds etcd's *.snap files, which jest would take for
  // obsolete snapshots.
  roots: ['<rootDir>/src', '<rootDir>/test', '<rootDir>/tools', '<rootDir>/bench'],
  transform,
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testEnvironment: 'node',
  testEnvironmentOptions: { globalsCleanup: 'off' },
};

export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts', '<rootDir>/src/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'], setupFilesAfterEnv: ['<rootDir>/test/support/slow-tests.ts'] },
    { ...common, displayName: 'lifecycle', testMatch: ['<rootDir>/test/lifecycle/**/*.test.ts'], setupFilesAfterEnv: ['<rootDir>/test/support/slow-tests.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'], setupFilesAfterEnv: ['<rootDir>/test/support/slow-tests.ts'] },
    // The images `make images` builds, run with buildah (make test-images).
    { ...common, displayName: 'images', testMatch: ['<rootDir>/test/images/**/*.test.ts'], setupFilesAfterEnv: ['<rootDir>/test/support/slow-tests.ts'] },
  ],
};
