/**
 * Jest runs in its native ESM mode (node --experimental-vm-modules, see the
 * `test` script) because @noble/ed25519 3 and level 10 are ESM-only; ts-jest
 * transpiles each file on its own (isolatedModules), and `npm test` type-checks
 * the whole project with tsc first.
 */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  testTimeout: 60000,
};
