/**
 * Public surface of `supervisors/`: an OTP-faithful supervision runtime on nact.
 * See README.md beside this file for the one-page guide.
 */
export type { Ref, Protocol, MonitorRef, ExitReason, ExitSignal, ExitMessage, DownMessage, SystemMessage, CrashInfo, CrashSite, CallbackName } from './types.ts';
export { isNormalExit, sameRef, describeReason, CrashSignal } from './types.ts';
export type { Behaviour, ActorContext, From, InitResult, CallResult, NoReplyResult, CodeChangeResult, Awaitable, Vsn } from './behaviour.ts';
export { ActorError, CallError, ACTOR_ERROR_CODES, type ActorErrorCode } from './errors.ts';
export { ActorSystem, startSystem, systemOf, DEFAULT_SYSTEM_OPTIONS, type SystemOptions } from './system.ts';
export { setRemoteRouter, deliverDown, deliverExit, onLocalExit, type RemoteRouter } from './system.ts';
export type { StartResult } from './runtime-messages.ts';
export { startLink, start, call, cast, castSoon, send, reply, stop, isAlive, okRef, DEFAULT_CALL_TIMEOUT_MS, type SpawnParent, type StartOptions } from './gen-server.ts';
export { exit, kill, awaitExit } from './signals.ts';
export { LocalRegistry, type Registry } from './registry.ts';
export { ReportStream, logReports, type Report, type ReportKind, type ReportListener, type ReportLogger } from './reports.ts';
export { addRestart, intensityExceeded } from './restart-intensity.ts';
export { worker, fullChildSpec, DEFAULT_CHILD_SPEC, type ChildSpec, type FullChildSpec, type RestartType, type Shutdown, type ChildType, type StartFn, type WorkerOptions } from './child-spec.ts';
export { startChild, terminateChild, restartChild, deleteChild, whichChildren, countChildren, type ChildInfo, type ChildCounts, type SupervisorProtocol } from './supervisor-api.ts';
export { startSupervisor, supervisorChild, DEFAULT_SUPERVISOR_FLAGS, type Strategy, type SupervisorSpec, type SupervisorChildOptions } from './supervisor.ts';
export { startDynamicSupervisor, dynamicSupervisorChild, DEFAULT_DYNAMIC_SUPERVISOR, type DynamicSupervisorSpec, type DynamicSupervisorChildOptions } from './dynamic-supervisor.ts';
export {
  startPartitionedSupervisor,
  startPartitionedChild,
  terminatePartitionedChild,
  partitionFor,
  countPartitionedChildren,
  whichPartitionedChildren,
  DEFAULT_PARTITIONED_SUPERVISOR,
  type PartitionedSupervisor,
  type PartitionedSupervisorSpec,
} from './partitioned-supervisor.ts';
export { getState, getStatus, suspend, resume, changeCode, estimateBytes, type ProcessStatus } from './sys.ts';
export { DEFAULT_SCHEDULER } from './scheduler.ts';
