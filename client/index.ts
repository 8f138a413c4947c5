/** Public surface of the Parley client SDK. */
export { ParleyClient, MismatchedDevicesError, newMessageId } from './parley-client.ts';
export type { ClientOptions, DeviceCredentials, IdentitySigner, IncomingMessage, Receipt, SendResult } from './parley-client.ts';
export { backoffDelay, DEFAULT_BACKOFF } from './backoff.ts';
export type { BackoffOptions } from './backoff.ts';
export { libsignalIdentity } from './identity.ts';
