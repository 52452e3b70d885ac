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
} from './selection/index.js';
export type {
  Communicator,
  SharedRegion,
  AllgathervOptions,
  BackendName,
} from './communicator/communicator.js';
export type { NumericArray, NumericArrayConstructor, ReduceOp, DTypeName } from './communicator/dtypes.js';
export {
  CollectiveError,
  CommError,
  BackendError,
  WorkerError,
  type CommErrorCode,
  type BackendErrorKind,
  type SerializedError,
} from './communicator/errors.js';
export { createShmGroup, SHM_WORKER_DATA_KEY, type ShmGroupHandle } from './backends/shm/index.js';
export {
  train,
  type TrainOptions,
  type TrainContext,
  type ProgressEvent,
  type WorkerFunction,
} from './launch/train.js';
