/**
 * Public surface of the Parley wire protocol, shared by the server gateway and
 * the client SDK. Pure: no I/O. The specification is README.md beside this file.
 */
export {
  PROTOCOL_VERSION, SUPPORTED_VERSIONS, FrameKind, CiphertextType, ReceiptStatus, CLIENT_KINDS, SERVER_KINDS, FRAME_NAMES,
} from './frames.ts';
export type {
  Frame, ClientFrame, ServerFrame, UserId, DeviceId, MessageId, RequestId, DeliverySeq, Timestamp,
  HelloFrame, ChallengeFrame, RegisterFrame, AuthFrame, WelcomeFrame, PingFrame, PongFrame, ErrorFrame, OkFrame,
  SendFrame, SentFrame, DeliverFrame, AckFrame, ReceiptFrame, ReceiptNoticeFrame, MismatchedDevicesFrame,
  PreKeyUploadFrame, PreKeyFetchFrame, PreKeyBundlesFrame, PreKeysLowFrame, LinkDeviceFrame, LinkTokenFrame,
  DeviceEnvelope, PreKey, SignedPreKey, PreKeyBundle,
} from './frames.ts';
export { encodeFrame, decodeFrame } from './codec.ts';
export type { DecodeResult, DecodeError } from './codec.ts';
export {
  DEFAULT_LIMITS, resolveLimits, NONCE_BYTES, EC_PUBLIC_KEY_BYTES, SIGNATURE_BYTES, MAX_REGISTRATION_ID,
  MIN_LINK_TOKEN_BYTES, MAX_LINK_TOKEN_BYTES,
} from './limits.ts';
export type { ProtocolLimits } from './limits.ts';
export { nextState, authResult, isAuthenticated, INITIAL_STATE } from './state.ts';
export type { ConnectionState, Transition } from './state.ts';
export { CloseCode, CLOSE_REASONS } from './close-codes.ts';
export type { CloseReason } from './close-codes.ts';
export { recordViolation, DEFAULT_VIOLATION_POLICY, FATAL_CODES, NO_VIOLATIONS } from './violations.ts';
export type { ViolationPolicy, ViolationRecord, ViolationAction } from './violations.ts';
export { authSignedBytes, registerSignedBytes, AUTH_DOMAIN, REGISTER_DOMAIN } from './signing.ts';
export { ERROR_CODES, ParleyError, isParleyError, errorCodeFromWire } from './errors.ts';
export type { ErrorCode, ErrorCodeInfo } from './errors.ts';
export { errorFrame } from './error-frame.ts';
