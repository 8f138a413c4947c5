/** Public surface of the Parley client SDK. */
export { ParleyClient, MismatchedDevicesError, newMessageId } from './parley-client.ts';
export type { ClientOptions, DeviceCredentials, IdentitySigner, IncomingMessage, Receipt, SendResult } from './parley-client.ts';
export { backoffDelay, DEFAULT_BACKOFF } from './backoff.ts';
export type { BackoffOptions } from './backoff.ts';
export { libsignalIdentity } from './identity.ts';
export { SecureClient, encodeContent, decodeContent, uploadPreKeys, fetchPreKeyBundles } from './e2ee/index.ts';
export type { SecureClientOptions, SecureMessage, SafetyNumber, Content, ContentType, MediaPointer, IdentityChangeEvent, PreKeyUpload } from './e2ee/index.ts';
