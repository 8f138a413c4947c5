/** Public surface of store/: the ports, their errors, and the embedded adapters. */
export * from './types.ts';
export { StoreError, isStoreError, type StoreErrorCode } from './errors.ts';
export { openEmbeddedStores, DEFAULT_EMBEDDED_STORE_OPTIONS, type EmbeddedStoreOptions, type EmbeddedStores } from './embedded/index.ts';
