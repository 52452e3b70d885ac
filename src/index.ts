// The public surface of `collective`, and nothing else.
export {
  init,
  availableBackends,
  describeEnvironment,
  type InitOptions,
  type BackendChoice,
  type BackendInfo,
  type EnvironmentReport,
  type LauncherName,
  type NodeLayout,
  type Sourced,
  type SourcedTimeouts,
  type Timeouts,
  type SelectionWarning,
} from './selection/index.js';
export type {
  Communicator,
  SharedRegion,
  AllgathervOptions,
  BackendName,
  KnownBackendName,
} from './communicator/communicator.js';
export type {
  RootedCollectives,
  GathervOptions,
  ScattervOptions,
  AlltoallvOptions,
} from './communicator/rooted/api.js';
export { ANY_SOURCE, ANY_TAG, MAX_TAG } from './communicator/messages/layer.js';
export type {
  MessageStatus,
  PointToPoint,
  RecvResult,
  RecvObjectResult,
  SendrecvOptions,
} from './communicator/messages/api.js';
export type { NumericArray, NumericArrayConstructor, ReduceOp, DTypeName } from './communicator/dtypes.js';
export {
  CollectiveError,
  CommError,
  BackendError,
  WorkerError,
  type CommErrorCode,
  type BackendErrorKind,
  type SerializedError,
  type CommErrorJSON,
  type BackendErrorJSON,
} from './communicator/errors.js';
export {
  createShmGroup,
  SHM_WORKER_DATA_KEY,
  type ShmGroup,
  type ShmGroupHandle,
  type ShmGroupOptions,
} from './backends/shm/index.js';
export {
  train,
  type TrainOptions,
  type TrainContext,
  type ProgressEvent,
  type WorkerFunction,
} from './launch/train.js';
export type { TrainBackendChoice } from './launch/train-options.js';
