/** Public surface of the SDK's end-to-end encryption (libsignal on a local SQLite store). */
export { SecureClient } from './secure-client.ts';
export type { SecureClientOptions, SecureMessage, SafetyNumber } from './secure-client.ts';
export { encodeContent, decodeContent, PADDING_BLOCK, CONTENT_VERSION } from './content.ts';
export type { Content, ContentType, MediaPointer, DecodedContent } from './content.ts';
export type { IdentityChangeEvent } from './signal-stores.ts';
export { uploadPreKeys, fetchPreKeyBundles } from './key-requests.ts';
export type { PreKeyUpload } from './key-requests.ts';
